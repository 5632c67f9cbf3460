//! One run of one target's week: plan, write, publish, wait out the swaps,
//! publish what they decided. The engine decides what to do next; the
//! ledger records every move before anything that depends on it is sent;
//! the platform seam does the talking.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

mod changes;
mod drive;
#[cfg(test)]
mod on_memory;
mod swaps;

use swaps::{apply_swaps, apply_swaps_while_writing, give_up};

use super::journal::RunJournal;
use super::ledger::{DryRun, Ledger, LedgerError, StoreSink};
use super::locks::{KeyedLocks, LockKey};
use super::progress::{Phase, ProgressView};
use super::report::{AgentNote, Report, UnpublishedAgent};
use super::unknown::UnknownAgents;
use crate::api::stats::StatsSnapshot;
use crate::api::PlatformError;
use crate::clock::SharedClock;
use crate::config::TargetSettings;
use crate::domain::lifecycle::{AgentState, Event, StateKind};
use crate::domain::plan::{ContentHash, Swap};
use crate::domain::{AgentId, ScheduleId, SwapId};
use crate::platform::{
    Outgoing, Platform, PlatformRun, PublishBatch, Publishing, RunRefused, RunWriter, Schedule,
    WriteOutcome,
};
use crate::preflight::{self, Refusal};
use crate::source::WeekPlan;
use crate::store::{AgentRow, NewRun, Outcome, RunId, Store, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub week: NaiveDate,
    /// Read and plan only; send nothing and record nothing.
    pub dry_run: bool,
    /// Wait for pending swaps until they resolve or the deadline passes.
    pub wait: bool,
    /// Publish a week the platform shows published though the store has
    /// no record of it (a new or emptied store): approved trades are
    /// listed and applied before anything is written, as in every run.
    pub adopt: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The run's task panicked: a defect. The daemon releases the target,
    /// and the run, still open in the store, resumes at the next trigger.
    #[error("the run stopped on an internal error (a defect: please report it): {0}")]
    Panicked(String),
}

/// Why a run stops before its end: the platform refused the client, or
/// could not be reached within the retry budget; what it answered makes the
/// run's input wrong; or the ledger failed.
enum Halt {
    Platform(PlatformError),
    Refused(Refusal),
    Ledger(LedgerError),
}

impl From<LedgerError> for Halt {
    fn from(e: LedgerError) -> Self {
        Halt::Ledger(e)
    }
}

impl From<PlatformError> for Halt {
    fn from(e: PlatformError) -> Self {
        Halt::Platform(e)
    }
}

/// What an engine is made of.
pub struct EngineParts {
    pub platform: Arc<dyn Platform>,
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    /// One run per target at a time, whoever starts it.
    pub locks: Arc<KeyedLocks>,
    pub progress: ProgressView,
    /// Cancelled on shutdown: no new request starts, the ones sent finish,
    /// and the run is left open for the next start to resume.
    pub cancel: CancellationToken,
}

pub struct Engine {
    parts: EngineParts,
}

/// Everything one run needs, and nothing another run shares.
struct RunContext<'a> {
    target: &'a TargetSettings,
    options: RunOptions,
    /// The platform as this run sees it: its statistics are this run's.
    platform: Arc<dyn PlatformRun>,
    schedule: Schedule,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Self {
        Engine { parts }
    }

    pub fn platform(&self) -> &dyn Platform {
        &*self.parts.platform
    }

    pub fn clock(&self) -> &SharedClock {
        &self.parts.clock
    }

    /// Cancelled when the run is to stop (shutdown).
    pub fn cancel(&self) -> &CancellationToken {
        &self.parts.cancel
    }

    /// Runs `target` for one week to its end (or, without waiting, until
    /// only deferred agents are left). Every log line of the run carries
    /// the target, the week and, once known, the run id.
    pub async fn run(
        &self,
        target: &TargetSettings,
        options: RunOptions,
    ) -> Result<Report, EngineError> {
        let _target = self
            .parts
            .locks
            .lock(LockKey::Target(target.name.clone()))
            .await;
        let span = tracing::info_span!(
            "run",
            target = %target.name,
            week = %options.week,
            run = tracing::field::Empty
        );
        let started = std::time::Instant::now();
        let ran = self.run_locked(target, options).instrument(span).await;
        if let Some(outcome) = ran.as_ref().ok().and_then(|r| r.outcome) {
            time_run(target, outcome, started.elapsed());
        }
        ran
    }

    async fn run_locked(
        &self,
        target: &TargetSettings,
        options: RunOptions,
    ) -> Result<Report, EngineError> {
        let mut report = Report::for_week(target, options.week, options.dry_run);
        report.started_at = Some(self.parts.clock.now());
        let plan = match preflight::source(target, options.week) {
            Ok(plan) => plan,
            Err(refusal) => {
                let nothing = StatsSnapshot::default();
                return self.refuse(report, target, options, "", &refusal, nothing);
            }
        };
        let platform = match self.parts.platform.begin_run(target, &plan).await {
            Ok(platform) => platform,
            Err(RunRefused { refusal, stats }) => {
                let hash = plan.source_hash.clone();
                return self.refuse(report, target, options, &hash, &refusal, stats);
            }
        };
        let schedule = platform.schedule().clone();
        // The platform may have found or created the schedule.
        report.schedule_id = schedule.id.clone();
        if schedule.published && !options.adopt && self.unrecorded(target, &plan, &schedule)? {
            let refusal = Refusal::Unrecorded {
                schedule_id: schedule.id,
                target: target.name.clone(),
                week: options.week,
            };
            let hash = plan.source_hash.clone();
            return self.refuse(report, target, options, &hash, &refusal, platform.stats());
        }
        let ctx = RunContext {
            target,
            options,
            platform,
            schedule,
        };
        let listing = list_swaps_ahead(&ctx);
        // The ledger takes the plan's weeks over, rather than a copy.
        let (mut ledger, run) = self.open_ledger(&ctx, plan)?;
        report.published_earlier = ledger.count(StateKind::Published);
        let published = self.parts.store.published_hashes(&ctx.schedule.id)?;
        let driven = match self.writer(&ctx, run).await {
            Ok(writer) => {
                let writer = writer.as_deref();
                self.drive(&ctx, &mut ledger, &published, listing, writer)
                    .await
            }
            Err(e) => Err(e),
        };
        let mut outcome = ended(driven, &mut report)?;
        if options.dry_run && outcome == Outcome::Running && !self.parts.cancel.is_cancelled() {
            outcome = self.plan_changes(&ctx, &ledger, &mut report).await?;
        }
        summarise(&ledger, &mut report);
        report.client = ctx.platform.stats();
        // A dry run records nothing: it has no outcome.
        report.outcome = (!options.dry_run || outcome != Outcome::Running).then_some(outcome);
        report.interrupted = self.parts.cancel.is_cancelled();
        report.finished_at = Some(self.parts.clock.now());
        count_run(target, outcome);
        ledger.finish();
        if let Some(run) = run.filter(|_| outcome != Outcome::Running) {
            let summary = report.render();
            let now = self.parts.clock.now();
            self.parts.store.finish_run(run, outcome, &summary, now)?;
        }
        Ok(report)
    }

    /// Whether the store knows nothing of publishing `target`'s week: no
    /// unfinished run of it that planned its agents, no content published
    /// to its schedule.
    fn unrecorded(
        &self,
        target: &TargetSettings,
        plan: &WeekPlan,
        schedule: &Schedule,
    ) -> Result<bool, StoreError> {
        let store = &self.parts.store;
        // A run that failed before it planned anything knows nothing either.
        let open = store.open_run(&target.name, plan.week_start)?;
        Ok(open.is_none_or(|o| o.agents.is_empty())
            && store.published_hashes(&schedule.id)?.is_empty())
    }

    /// Records `target`'s week as refused without reading its source file:
    /// the file did not arrive complete before the wait's deadline, and a
    /// file still being written must not be read. Nothing is sent.
    pub fn refuse_unread(
        &self,
        target: &TargetSettings,
        options: RunOptions,
        refusal: &Refusal,
    ) -> Result<Report, EngineError> {
        let report = Report::for_week(target, options.week, options.dry_run);
        self.refuse(
            report,
            target,
            options,
            "",
            refusal,
            StatsSnapshot::default(),
        )
    }

    fn refuse(
        &self,
        mut report: Report,
        target: &TargetSettings,
        options: RunOptions,
        source_hash: &str,
        refusal: &Refusal,
        stats: StatsSnapshot,
    ) -> Result<Report, EngineError> {
        report.client = stats;
        if let Refusal::Platform(PlatformError::Cancelled) = refusal {
            // Stopped before anything was sent: nothing to record or refuse.
            report.outcome = Some(Outcome::Running);
            report.interrupted = true;
            report.problems = std::iter::once(PlatformError::Cancelled.to_string()).collect();
            return Ok(report);
        }
        report.problems = refusal.problems();
        let transient = refusal.is_transient();
        // A cause that passes fails the run, resumable: tried again later.
        let outcome = match transient {
            true => Outcome::Failed,
            false => Outcome::Refused,
        };
        report.refused = (!transient).then(|| refusal.kind());
        report.outcome = Some(outcome);
        count_run(target, outcome);
        if !options.dry_run {
            let source = target.source.path_for(options.week).display().to_string();
            let run = self.new_run(target, options, &report.schedule_id, &source, source_hash);
            let why = report.problems.joined("\n", "problems");
            let now = self.parts.clock.now();
            let store = &self.parts.store;
            match transient {
                // A retry that failed before it planned anything: the run it
                // retries stays the week's open run, this failure its latest
                // word. A new empty run would hide it, and the next attempt
                // would start over and send its written agents again.
                true => match store.open_run(&target.name, options.week)? {
                    Some(open) if !open.agents.is_empty() => {
                        store.finish_run(open.run.id, outcome, &why, now)?
                    }
                    _ => {
                        let id = store.create_run(&run, &[])?;
                        store.finish_run(id, outcome, &why, now)?;
                    }
                },
                false => {
                    self.parts.store.refused_run(&run, &why)?;
                }
            }
        }
        Ok(report)
    }

    fn new_run<'a>(
        &self,
        target: &'a TargetSettings,
        options: RunOptions,
        schedule_id: &'a ScheduleId,
        source: &'a str,
        source_hash: &'a str,
    ) -> NewRun<'a> {
        NewRun {
            target: &target.name,
            week_start: options.week,
            schedule_id,
            source,
            source_hash,
            started_at: self.parts.clock.now(),
        }
    }

    /// Resumes the target's unfinished run for the week, or starts one. A run
    /// whose source file changed since is superseded, not resumed. A dry run
    /// plans afresh and records nothing.
    fn open_ledger(
        &self,
        ctx: &RunContext<'_>,
        plan: WeekPlan,
    ) -> Result<(Ledger, Option<RunId>), StoreError> {
        // Where each agent is in the file served the platform's preparation.
        let WeekPlan {
            agents,
            source,
            source_hash,
            week_start,
            lines,
        } = plan;
        drop(lines);
        let store = &self.parts.store;
        let schedule_id = &ctx.schedule.id;
        let start = |rows: Vec<AgentRow>, applied: Vec<SwapId>, sink| {
            let platform = ctx.platform.clone();
            let activity = Arc::new(move || platform.activity());
            let progress =
                self.parts
                    .progress
                    .start(activity, self.parts.clock.clone(), ctx.target.time_zone);
            Ledger::new(sink, schedule_id, rows, applied, progress)
        };
        if ctx.options.dry_run {
            let ledger = start(Ledger::planned(agents), Vec::new(), Box::new(DryRun));
            return Ok((ledger, None));
        }
        if let Some(open) = store.open_run(&ctx.target.name, week_start)? {
            let same = open.run.source_hash == source_hash && open.run.schedule_id == *schedule_id;
            // A run that failed before it planned anything has nothing to resume.
            if same && !open.agents.is_empty() {
                tracing::Span::current().record("run", open.run.id);
                tracing::info!("resuming the unfinished run");
                let sink = Box::new(StoreSink {
                    store: store.clone(),
                    run: open.run.id,
                });
                let ledger = start(open.agents, open.applied_swaps, sink);
                return Ok((ledger, Some(open.run.id)));
            }
            let why = match same {
                true => "it stopped before it planned anything; a new run took over",
                false => "the source file changed; a new run took over",
            };
            tracing::info!(run = open.run.id, "starting over: {why}");
            store.finish_run(
                open.run.id,
                Outcome::Superseded,
                why,
                self.parts.clock.now(),
            )?;
        }
        let source = source.display().to_string();
        let rows = Ledger::planned(agents);
        let new = self.new_run(ctx.target, ctx.options, schedule_id, &source, &source_hash);
        let run = store.create_run(&new, &rows)?;
        tracing::Span::current().record("run", run);
        let sink = Box::new(StoreSink {
            store: store.clone(),
            run,
        });
        Ok((start(rows, Vec::new(), sink), Some(run)))
    }

    /// What the run sends with, recorded in its journal, once what a
    /// stopped process left in flight is settled. A dry run (no run
    /// recorded) gets none: it sends nothing.
    async fn writer(
        &self,
        ctx: &RunContext<'_>,
        run: Option<RunId>,
    ) -> Result<Option<Box<dyn RunWriter>>, Halt> {
        let Some(run) = run else { return Ok(None) };
        let journal = Arc::new(RunJournal {
            store: self.parts.store.clone(),
            run,
        });
        Ok(Some(ctx.platform.clone().writer(journal).await?))
    }
}

/// How a run that got under way ended, its problems in the report.
fn ended(driven: Result<Outcome, Halt>, report: &mut Report) -> Result<Outcome, EngineError> {
    Ok(match driven {
        Ok(o) => o,
        Err(Halt::Ledger(e)) => return Err(e.into()),
        // Stopped, not failed: the next start resumes the run.
        Err(Halt::Platform(PlatformError::Cancelled)) => Outcome::Running,
        // A missing grant found mid-run: retrying changes nothing.
        Err(Halt::Platform(e)) if e.is_access() => {
            let refusal = Refusal::Platform(e);
            report.problems = refusal.problems();
            report.refused = Some(refusal.kind());
            Outcome::Refused
        }
        Err(Halt::Platform(e)) => {
            report.problems.push(e.to_string());
            Outcome::Failed
        }
        Err(Halt::Refused(refusal)) => {
            report.problems = refusal.problems();
            report.refused = Some(refusal.kind());
            Outcome::Refused
        }
    })
}

/// How long a run took, from the target's lock to its report, by how it
/// ended (a run that waits for swaps takes up to its deferral deadline).
fn time_run(target: &TargetSettings, outcome: Outcome, took: std::time::Duration) {
    metrics::histogram!("wfm_run_duration_seconds", "target" => target.name.clone(), "outcome" => outcome.to_string())
        .record(took.as_secs_f64());
}

/// Counts a run that ended, refused ones included, by how it ended.
fn count_run(target: &TargetSettings, outcome: Outcome) {
    metrics::counter!("wfm_runs_total", "target" => target.name.clone(), "outcome" => outcome.to_string())
        .increment(1);
}

/// The first listing of the schedule's swaps, started while the ledger
/// opens: at 10,000 agents opening it took 75 ms, which the listing's round
/// trip no longer waits behind.
type SwapsAhead = AbortOnDropHandle<Result<Vec<Swap>, PlatformError>>;

fn list_swaps_ahead(ctx: &RunContext<'_>) -> SwapsAhead {
    let platform = ctx.platform.clone();
    AbortOnDropHandle::new(tokio::spawn(async move { platform.swaps().await }))
}

fn summarise(ledger: &Ledger, report: &mut Report) {
    report.agents = ledger.agent_count();
    for row in ledger.rows() {
        let id = row.agent_id.clone();
        match &row.state {
            AgentState::Published if row.was_deferred => {
                report.deferred_then_published.push(AgentNote {
                    agent: id,
                    note: row
                        .trade
                        .clone()
                        .unwrap_or_else(|| "its swap resolved".into()),
                })
            }
            AgentState::Published => report.published += 1,
            AgentState::Unpublished(why) => report.push_unpublished(UnpublishedAgent {
                agent_id: id,
                kind: Some(why.kind),
                reason: why.detail.clone(),
                swap_id: why.swap_id.clone(),
            }),
            // The swap's id, as the platform gave it: echoed where shown.
            AgentState::Deferred { swap_id } => report.still_deferred.push(AgentNote {
                agent: id,
                note: swap_id.to_string(),
            }),
            AgentState::Planned | AgentState::Written if report.dry_run => report.to_publish += 1,
            // A stopped run's agents are not unpublished: the run that
            // resumes it sends them.
            AgentState::Planned => report.not_reached += 1,
            AgentState::Written => report.written += 1,
        }
    }
    report.unchanged = ledger.unchanged();
    report.published = report.published.saturating_sub(ledger.unchanged());
}

/// When deferred agents are given up on: `deferral.deadline` before the
/// week's first local midnight.
pub fn deferral_deadline(target: &TargetSettings, week: NaiveDate) -> DateTime<Utc> {
    crate::domain::week::starts_at(week, target.time_zone)
        - TimeDelta::from_std(target.deferral.deadline).unwrap_or(TimeDelta::zero())
}
