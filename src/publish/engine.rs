//! One run of one target's week: plan, write, publish, wait out the swaps,
//! publish what they decided. Every state change is committed to the store
//! before anything that depends on it is sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::locks::KeyedLocks;
use super::progress::Progress;
use super::report::Report;
use super::trade::{self, Resolution};
use crate::api::model::{Shift, Swap, SwapStatus};
use crate::api::scopes::PUBLICATION;
use crate::api::{PlatformClient, PlatformError, PublishOutcome, WriteOutcome};
use crate::clock::SharedClock;
use crate::config::TargetSettings;
use crate::source::{self, content_hash, WeekPlan};
use crate::store::{
    AgentChange, AgentRecord, AgentStatus, NewRun, Outcome, RunId, Store, StoreError, TradeChange,
};

/// The platform's limit on agents per publish call.
const PUBLISH_BATCH: usize = 500;

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub week: NaiveDate,
    /// Read and plan only; send nothing and record nothing.
    pub dry_run: bool,
    /// Wait for pending swaps until they resolve or the deadline passes.
    pub wait: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a run stops before its end: the platform refused the client, or
/// could not be reached within the retry budget.
struct Stop(PlatformError);

enum Halt {
    Stop(Stop),
    Store(StoreError),
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        Halt::Store(e)
    }
}

impl From<Stop> for Halt {
    fn from(s: Stop) -> Self {
        Halt::Stop(s)
    }
}

/// Errors about the client or the platform as a whole, as opposed to one
/// agent's week: no point going on with the other agents.
fn is_run_level(e: &PlatformError) -> bool {
    !matches!(
        e,
        PlatformError::Invalid { .. }
            | PlatformError::NotFound { .. }
            | PlatformError::Forbidden { .. }
            | PlatformError::Unexpected { .. }
            | PlatformError::Malformed { .. }
            | PlatformError::PendingSwap { .. }
    )
}

#[derive(Debug, Clone)]
struct Agent {
    shifts: Vec<Shift>,
    hash: String,
    status: AgentStatus,
    reason: Option<String>,
    swap_id: Option<String>,
    trade: Option<String>,
    was_deferred: bool,
}

impl From<AgentRecord> for Agent {
    fn from(r: AgentRecord) -> Self {
        Agent {
            shifts: r.shifts,
            hash: r.content_hash,
            status: r.status,
            reason: r.reason,
            swap_id: r.swap_id,
            trade: r.trade,
            was_deferred: r.was_deferred,
        }
    }
}

struct RunState {
    id: Option<RunId>,
    schedule_id: String,
    agents: BTreeMap<String, Agent>,
    applied: BTreeSet<String>,
    unchanged: usize,
}

pub struct Engine {
    client: PlatformClient,
    store: Arc<dyn Store>,
    clock: SharedClock,
    concurrency: usize,
    locks: Arc<KeyedLocks>,
    progress: Arc<dyn Progress>,
    /// Cancelled on shutdown: no new request starts, the ones sent finish,
    /// and the run is left open for the next start to resume.
    cancel: CancellationToken,
}

impl Engine {
    pub fn new(
        client: PlatformClient,
        store: Arc<dyn Store>,
        clock: SharedClock,
        concurrency: usize,
        locks: Arc<KeyedLocks>,
        progress: Arc<dyn Progress>,
        cancel: CancellationToken,
    ) -> Self {
        Engine {
            client,
            store,
            clock,
            concurrency: concurrency.max(1),
            locks,
            progress,
            cancel,
        }
    }

    pub fn client(&self) -> &PlatformClient {
        &self.client
    }

    /// Runs `target` for one week to its end (or, without waiting, until
    /// only deferred agents are left).
    pub async fn run(
        &self,
        target: &TargetSettings,
        options: RunOptions,
    ) -> Result<Report, EngineError> {
        // One run per target at a time, whoever starts it.
        let _target = self.locks.lock(&format!("target:{}", target.name)).await;
        let week = options.week;
        let schedule_id = target.schedule_id_for(week);
        let mut report = Report {
            target: target.name.clone(),
            week_start: Some(week),
            schedule_id: schedule_id.clone(),
            dry_run: options.dry_run,
            ..Report::default()
        };
        let source_path = target.source.path_for(week).display().to_string();
        let new_run = |hash| NewRun {
            target: &target.name,
            week_start: week,
            schedule_id: &schedule_id,
            source: &source_path,
            source_hash: hash,
            started_at: self.clock.now(),
        };
        fn pin<'a, F: Fn(&'a str) -> NewRun<'a>>(f: F) -> F {
            f
        }
        let new_run = pin(new_run);

        let plan = match source::load_week(target, week) {
            Ok(plan) => plan,
            Err(e) => {
                report.problems = e.problems.iter().map(|p| p.to_string()).collect();
                return self.refuse(report, &new_run(""), options).await;
            }
        };
        if let Err(e) = self.preflight(target, &schedule_id, week).await {
            report.problems.push(e.to_string());
            return self
                .refuse(report, &new_run(&plan.source_hash), options)
                .await;
        }
        let published = self.store.published_hashes(&schedule_id)?;
        let mut state = if options.dry_run {
            self.fresh_state(None, &schedule_id, &plan)
        } else {
            self.open_or_create(target, &plan, &schedule_id, &new_run(&plan.source_hash))?
        };
        report.agents = state.agents.len();
        self.progress.start(
            state.agents.len() as u64,
            state
                .agents
                .values()
                .filter(|a| a.status == AgentStatus::Published)
                .count() as u64,
        );

        let outcome = self.drive(target, &mut state, &published, options).await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(Halt::Store(e)) => return Err(e.into()),
            Err(Halt::Stop(Stop(e))) => {
                report.problems.push(e.to_string());
                Outcome::Failed
            }
        };
        self.summarise(&state, &mut report);
        report.client = self.client.stats();
        report.outcome = Some(outcome);
        metrics::counter!("wfm_runs_total", "target" => target.name.clone(), "outcome" => outcome.to_string())
            .increment(1);
        if let Some(id) = state.id {
            if outcome != Outcome::Running {
                self.store
                    .finish_run(id, outcome, &report.render(), self.clock.now())?;
            }
        }
        self.progress.finish();
        Ok(report)
    }

    async fn refuse(
        &self,
        mut report: Report,
        run: &NewRun<'_>,
        options: RunOptions,
    ) -> Result<Report, EngineError> {
        report.outcome = Some(Outcome::Refused);
        report.client = self.client.stats();
        if !options.dry_run {
            self.store.refused_run(run, &report.problems.join("\n"))?;
        }
        Ok(report)
    }

    /// Everything that must hold before the first write: the scopes, and a
    /// schedule that is the week and zone the source file was written for.
    async fn preflight(
        &self,
        target: &TargetSettings,
        schedule_id: &str,
        week: NaiveDate,
    ) -> Result<(), PlatformError> {
        self.client.require_scopes(&PUBLICATION).await?;
        let info = self.client.schedule(schedule_id).await?;
        if info.week_start != week {
            return Err(PlatformError::Malformed {
                endpoint: format!("GET schedule {schedule_id}"),
                message: format!(
                    "its week starts {} but the run is for {week}: fix targets.{}.schedule_id or week_start_day",
                    info.week_start, target.name
                ),
            });
        }
        if info.time_zone != target.time_zone.name() {
            return Err(PlatformError::Malformed {
                endpoint: format!("GET schedule {schedule_id}"),
                message: format!(
                    "the platform keeps it in {} but targets.{}.time_zone is {}: the source file's local times would be misread",
                    info.time_zone,
                    target.name,
                    target.time_zone.name()
                ),
            });
        }
        Ok(())
    }

    fn fresh_state(&self, id: Option<RunId>, schedule_id: &str, plan: &WeekPlan) -> RunState {
        RunState {
            id,
            schedule_id: schedule_id.to_owned(),
            agents: plan
                .agents
                .iter()
                .map(|(a, shifts)| {
                    (
                        a.clone(),
                        Agent {
                            hash: content_hash(shifts),
                            shifts: shifts.clone(),
                            status: AgentStatus::Planned,
                            reason: None,
                            swap_id: None,
                            trade: None,
                            was_deferred: false,
                        },
                    )
                })
                .collect(),
            applied: BTreeSet::new(),
            unchanged: 0,
        }
    }

    /// Resumes the target's unfinished run for the week, or starts one. A run
    /// whose source file changed since is superseded, not resumed.
    fn open_or_create(
        &self,
        target: &TargetSettings,
        plan: &WeekPlan,
        schedule_id: &str,
        new_run: &NewRun<'_>,
    ) -> Result<RunState, StoreError> {
        if let Some((run, agents)) = self.store.open_run(&target.name, plan.week_start)? {
            if run.source_hash == plan.source_hash && run.schedule_id == schedule_id {
                tracing::info!(run = run.id, target = %target.name, "resuming the unfinished run");
                return Ok(RunState {
                    id: Some(run.id),
                    schedule_id: schedule_id.to_owned(),
                    agents: agents
                        .into_iter()
                        .map(|a| (a.agent_id.clone(), Agent::from(a)))
                        .collect(),
                    applied: self.store.applied_swaps(run.id)?.into_iter().collect(),
                    unchanged: 0,
                });
            }
            tracing::info!(run = run.id, "the source file changed: starting over");
            self.store.finish_run(
                run.id,
                Outcome::Superseded,
                "the source file changed; a new run took over",
                self.clock.now(),
            )?;
        }
        let mut state = self.fresh_state(None, schedule_id, plan);
        let rows: Vec<(String, Vec<Shift>, String)> = state
            .agents
            .iter()
            .map(|(a, s)| (a.clone(), s.shifts.clone(), s.hash.clone()))
            .collect();
        state.id = Some(self.store.create_run(new_run, &rows)?);
        Ok(state)
    }

    async fn drive(
        &self,
        target: &TargetSettings,
        state: &mut RunState,
        published: &BTreeMap<String, String>,
        options: RunOptions,
    ) -> Result<Outcome, Halt> {
        let deadline = deferral_deadline(target, options.week);
        self.poll_swaps(state, options.dry_run).await?;
        if options.dry_run {
            state.unchanged = state
                .agents
                .iter()
                .filter(|(id, a)| {
                    a.status == AgentStatus::Planned && published.get(*id) == Some(&a.hash)
                })
                .count();
            return Ok(Outcome::Running);
        }
        loop {
            self.write_planned(state, published).await?;
            self.publish_written(state).await?;
            if self.cancel.is_cancelled() {
                return Ok(Outcome::Running);
            }
            let deferred = state
                .agents
                .values()
                .filter(|a| a.status == AgentStatus::Deferred)
                .count();
            if deferred == 0 {
                break;
            }
            if !options.wait {
                return Ok(Outcome::Running);
            }
            let now = self.clock.now();
            if now >= deadline {
                self.give_up(state, deadline)?;
                break;
            }
            self.progress.note(&format!(
                "{deferred} agents wait for shift swaps (deadline {deadline})"
            ));
            let wait = (deadline - now)
                .to_std()
                .unwrap_or_default()
                .min(target.deferral.poll_interval);
            tokio::select! {
                _ = self.clock.sleep(wait) => {}
                _ = self.cancel.cancelled() => return Ok(Outcome::Running),
            }
            self.poll_swaps(state, false).await?;
        }
        let failed = state
            .agents
            .values()
            .any(|a| a.status == AgentStatus::Failed);
        Ok(if failed {
            Outcome::Partial
        } else {
            Outcome::Success
        })
    }

    fn set(
        &self,
        state: &mut RunState,
        agent: &str,
        status: AgentStatus,
        reason: Option<String>,
        swap_id: Option<String>,
    ) -> Result<(), StoreError> {
        match status {
            AgentStatus::Deferred => metrics::counter!("wfm_agents_deferred_total").increment(1),
            AgentStatus::Failed => metrics::counter!("wfm_agents_failed_total").increment(1),
            _ => {}
        }
        if let Some(id) = state.id {
            self.store.update_agent(
                id,
                &AgentChange {
                    agent_id: agent,
                    status,
                    reason: reason.as_deref(),
                    swap_id: swap_id.as_deref(),
                },
            )?;
        }
        if let Some(a) = state.agents.get_mut(agent) {
            a.status = status;
            a.reason = reason;
            if swap_id.is_some() {
                a.swap_id = swap_id;
            }
            a.was_deferred |= status == AgentStatus::Deferred;
        }
        Ok(())
    }

    /// One paginated listing of the schedule's swaps: resolves the deferrals
    /// whose swap is decided, and defers every agent with a pending one.
    async fn poll_swaps(&self, state: &mut RunState, dry_run: bool) -> Result<(), Halt> {
        let swaps = self
            .client
            .swaps(&state.schedule_id, None)
            .await
            .map_err(Stop)?;
        let by_id: HashMap<&str, &Swap> = swaps.iter().map(|s| (s.id.as_str(), s)).collect();
        // Every approved swap of the week changes its agents' weeks: the
        // platform leaves the traded week for us to publish (CONTRACT §4),
        // whether or not this run saw it pending. Other resolutions only
        // matter to the agents waiting on them.
        let waited_on: BTreeSet<&str> = state
            .agents
            .values()
            .filter(|a| a.status == AgentStatus::Deferred)
            .filter_map(|a| a.swap_id.as_deref())
            .collect();
        let mut decided: Vec<&Swap> = swaps
            .iter()
            .filter(|s| !state.applied.contains(&s.id))
            .filter(|s| match s.status {
                SwapStatus::Pending => false,
                SwapStatus::Approved => {
                    state.agents.contains_key(&s.requester.agent_id)
                        || state.agents.contains_key(&s.recipient.agent_id)
                }
                _ => waited_on.contains(s.id.as_str()),
            })
            .collect();
        decided.sort_by_key(|s| (s.updated_at, s.id.clone()));
        let vanished: Vec<String> = state
            .agents
            .iter()
            .filter(|(_, a)| a.status == AgentStatus::Deferred)
            .filter(|(_, a)| {
                a.swap_id
                    .as_deref()
                    .is_some_and(|id| !by_id.contains_key(id))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for swap in decided {
            self.resolve(state, swap)?;
        }
        for agent in vanished {
            // The platform no longer lists the swap: like a cancellation,
            // the original week stands.
            self.set(state, &agent, AgentStatus::Planned, None, None)?;
        }
        let pending: Vec<(String, String)> = state
            .agents
            .iter()
            .filter(|(_, a)| matches!(a.status, AgentStatus::Planned | AgentStatus::Written))
            .filter_map(|(id, _)| {
                swaps
                    .iter()
                    .find(|s| s.status == SwapStatus::Pending && s.involves(id))
                    .map(|s| (id.clone(), s.id.clone()))
            })
            .collect();
        for (agent, swap_id) in pending {
            if dry_run {
                if let Some(a) = state.agents.get_mut(&agent) {
                    a.status = AgentStatus::Deferred;
                    a.swap_id = Some(swap_id);
                }
            } else {
                tracing::info!(%agent, swap = %swap_id, "deferred: pending shift swap");
                self.set(state, &agent, AgentStatus::Deferred, None, Some(swap_id))?;
            }
        }
        Ok(())
    }

    fn resolve(&self, state: &mut RunState, swap: &Swap) -> Result<(), StoreError> {
        let plan: BTreeMap<String, Vec<Shift>> =
            [&swap.requester.agent_id, &swap.recipient.agent_id]
                .into_iter()
                .filter_map(|a| state.agents.get(a).map(|s| (a.clone(), s.shifts.clone())))
                .collect();
        let resolution = swap.status.as_str().to_owned();
        match trade::resolve(&plan, swap) {
            Resolution::Apply(weeks) => {
                let change = TradeChange {
                    swap_id: swap.id.clone(),
                    resolution,
                    agents: weeks
                        .into_iter()
                        .map(|(a, w, note)| {
                            let hash = content_hash(&w);
                            (a, w, hash, note)
                        })
                        .collect(),
                };
                if let Some(id) = state.id {
                    self.store.apply_trade(id, &change)?;
                }
                for (agent, shifts, hash, note) in change.agents {
                    tracing::info!(%agent, swap = %swap.id, %note, "swap resolved");
                    if let Some(a) = state.agents.get_mut(&agent) {
                        if a.hash != hash || a.status == AgentStatus::Deferred {
                            a.status = AgentStatus::Planned;
                            a.reason = None;
                        }
                        a.shifts = shifts;
                        a.hash = hash;
                        a.trade = Some(note);
                    }
                }
            }
            Resolution::Mismatch(reason) => {
                tracing::warn!(swap = %swap.id, %reason, "swap does not match the plan");
                if let Some(id) = state.id {
                    self.store.apply_trade(
                        id,
                        &TradeChange {
                            swap_id: swap.id.clone(),
                            resolution,
                            agents: Vec::new(),
                        },
                    )?;
                }
                for agent in plan.keys() {
                    self.set(
                        state,
                        agent,
                        AgentStatus::Failed,
                        Some(reason.clone()),
                        None,
                    )?;
                }
            }
        }
        state.applied.insert(swap.id.clone());
        Ok(())
    }

    async fn write_planned(
        &self,
        state: &mut RunState,
        published: &BTreeMap<String, String>,
    ) -> Result<(), Halt> {
        let mut todo = Vec::new();
        let unchanged: Vec<(String, String)> = state
            .agents
            .iter()
            .filter(|(_, a)| a.status == AgentStatus::Planned)
            .filter(|(id, a)| published.get(*id) == Some(&a.hash))
            .map(|(id, a)| (id.clone(), a.hash.clone()))
            .collect();
        if !unchanged.is_empty() {
            // Published before with this very content: nothing to send.
            if let Some(id) = state.id {
                self.store
                    .mark_published(id, &state.schedule_id, &unchanged)?;
            }
            for (agent, _) in &unchanged {
                if let Some(a) = state.agents.get_mut(agent) {
                    a.status = AgentStatus::Published;
                }
            }
            state.unchanged += unchanged.len();
            self.progress.published(unchanged.len() as u64);
        }
        for (id, a) in &state.agents {
            if a.status == AgentStatus::Planned {
                todo.push((id.clone(), a.shifts.clone()));
            }
        }
        let schedule_id = state.schedule_id.clone();
        let cancel = self.cancel.clone();
        let mut results = futures::stream::iter(todo)
            .take_while(move |_| std::future::ready(!cancel.is_cancelled()))
            .map(|(agent, shifts)| {
                let client = self.client.clone();
                let schedule_id = schedule_id.clone();
                async move {
                    let result = client.write_agent(&schedule_id, &agent, &shifts).await;
                    (agent, result)
                }
            })
            .buffer_unordered(self.concurrency);
        while let Some((agent, result)) = results.next().await {
            match result {
                Ok(WriteOutcome::Written { .. }) => {
                    self.set(state, &agent, AgentStatus::Written, None, None)?;
                    metrics::counter!("wfm_agents_written_total").increment(1);
                    self.progress.written();
                }
                Ok(WriteOutcome::Deferred { swap_id }) => {
                    self.set(state, &agent, AgentStatus::Deferred, None, Some(swap_id))?;
                }
                Err(e) if is_run_level(&e) => return Err(Stop(e).into()),
                Err(e) => {
                    tracing::warn!(%agent, error = %e, "agent's week refused");
                    self.set(
                        state,
                        &agent,
                        AgentStatus::Failed,
                        Some(e.to_string()),
                        None,
                    )?;
                }
            }
        }
        Ok(())
    }

    async fn publish_written(&self, state: &mut RunState) -> Result<(), Halt> {
        let written: Vec<String> = state
            .agents
            .iter()
            .filter(|(_, a)| a.status == AgentStatus::Written)
            .map(|(id, _)| id.clone())
            .collect();
        if written.is_empty() {
            return Ok(());
        }
        // Never two publishes of one schedule at once, even from two targets.
        let _schedule = self
            .locks
            .lock(&format!("schedule:{}", state.schedule_id))
            .await;
        for chunk in written.chunks(PUBLISH_BATCH) {
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            let mut batch = chunk.to_vec();
            while !batch.is_empty() {
                match self.client.publish(&state.schedule_id, &batch).await {
                    Ok(PublishOutcome::Published { agent_ids, .. }) => {
                        let confirmed: BTreeSet<&String> = agent_ids.iter().collect();
                        let done: Vec<(String, String)> = batch
                            .iter()
                            .filter(|a| confirmed.contains(a))
                            .filter_map(|a| {
                                state.agents.get(a).map(|s| (a.clone(), s.hash.clone()))
                            })
                            .collect();
                        if let Some(id) = state.id {
                            self.store.mark_published(id, &state.schedule_id, &done)?;
                        }
                        for (agent, _) in &done {
                            if let Some(a) = state.agents.get_mut(agent) {
                                a.status = AgentStatus::Published;
                            }
                        }
                        self.progress.published(done.len() as u64);
                        metrics::counter!("wfm_agents_published_total")
                            .increment(done.len() as u64);
                        for agent in batch.iter().filter(|a| !confirmed.contains(a)) {
                            self.set(
                                state,
                                agent,
                                AgentStatus::Failed,
                                Some("the platform accepted the publish but did not list this agent as published".into()),
                                None,
                            )?;
                        }
                        batch.clear();
                    }
                    Ok(PublishOutcome::Deferred { pending }) => {
                        for p in &pending {
                            self.set(
                                state,
                                &p.agent_id,
                                AgentStatus::Deferred,
                                None,
                                Some(p.swap_id.clone()),
                            )?;
                        }
                        batch.retain(|a| !pending.iter().any(|p| &p.agent_id == a));
                    }
                    Err(e) if is_run_level(&e) => return Err(Stop(e).into()),
                    Err(e) => {
                        let reason = e.to_string();
                        for agent in std::mem::take(&mut batch) {
                            self.set(
                                state,
                                &agent,
                                AgentStatus::Failed,
                                Some(reason.clone()),
                                None,
                            )?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn give_up(&self, state: &mut RunState, deadline: DateTime<Utc>) -> Result<(), StoreError> {
        let waiting: Vec<(String, Option<String>)> = state
            .agents
            .iter()
            .filter(|(_, a)| a.status == AgentStatus::Deferred)
            .map(|(id, a)| (id.clone(), a.swap_id.clone()))
            .collect();
        for (agent, swap) in waiting {
            let reason = format!(
                "swap {} still pending at the deferral deadline {deadline}: unpublished; resolve the swap, then run `wfm-publisher publish` for this target and week again",
                swap.as_deref().unwrap_or("(unknown)")
            );
            tracing::error!(%agent, %reason, "unpublished");
            self.set(state, &agent, AgentStatus::Failed, Some(reason), None)?;
        }
        Ok(())
    }

    fn summarise(&self, state: &RunState, report: &mut Report) {
        for (id, a) in &state.agents {
            match a.status {
                AgentStatus::Published if a.was_deferred => report.deferred_then_published.push((
                    id.clone(),
                    a.trade
                        .clone()
                        .unwrap_or_else(|| "its swap resolved".into()),
                )),
                AgentStatus::Published => report.published += 1,
                AgentStatus::Failed => report.unpublished.push((
                    id.clone(),
                    a.reason.clone().unwrap_or_else(|| "unknown".into()),
                )),
                AgentStatus::Deferred => report.still_deferred.push((
                    id.clone(),
                    format!(
                        "waiting for shift swap {}",
                        a.swap_id.as_deref().unwrap_or("(unknown)")
                    ),
                )),
                AgentStatus::Planned | AgentStatus::Written if report.dry_run => {
                    report.published += 1
                }
                AgentStatus::Planned | AgentStatus::Written => report.unpublished.push((
                    id.clone(),
                    "the run stopped before it was published; the next run resumes it".into(),
                )),
            }
        }
        report.unchanged = state.unchanged;
        report.published = report.published.saturating_sub(state.unchanged);
    }
}

/// When deferred agents are given up on: `deferral.deadline` before the
/// week's first local midnight.
pub fn deferral_deadline(target: &TargetSettings, week: NaiveDate) -> DateTime<Utc> {
    let start = week
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(target.time_zone).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| week.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    start - TimeDelta::from_std(target.deferral.deadline).unwrap_or(TimeDelta::zero())
}
