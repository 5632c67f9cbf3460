//! Genesys Cloud WFM behind the platform seam (genesys-cloud/CONTRACT.md).
//!
//! - **Writing** is one update of the week's schedule for every agent
//!   whose week differs from what the platform holds: each such agent's
//!   old shifts deleted by id and its new ones added, with its version, in
//!   one gzip upload followed to its end on the notifications websocket
//!   (re-reading the schedule's version without one). An agent whose week
//!   is already what the platform holds is not sent again.
//! - **Durability**: each update is journaled (`platform::journal`) before
//!   each step that depends on it: the upload key before the upload, the
//!   upload before `…/update`, the `operationId` before it is followed,
//!   then its end, with the agents and content hashes it carries. After a
//!   crash or `kill -9`, the next run settles what was left in flight
//!   before it writes (`recovery`): it drops an upload never confirmed,
//!   sends a recent confirmed upload's key to `…/update` (never an older
//!   one), follows a submitted operation, and re-checks each against what
//!   it carried, so a completed operation is never uploaded again and a
//!   running one is waited for, not raced.
//! - **Publishing** sets the whole schedule's one-way `published` flag, in
//!   an update of its own, once every agent not deferred has been written;
//!   agents deferred by a trade are written later into the published
//!   schedule, where they are visible at once.
//! - **Trades**: `Matched` defers both agents; an `Approved` trade was
//!   applied by the platform, and is applied to the plan too (the shift
//!   moves with its activity), so the next write keeps the traded shifts
//!   and sends only what the plan changes beyond them; a trade approved
//!   between the run's listing and a write holds its agents until the run
//!   has applied it, so pre-trade shifts are never sent back; `Denied`,
//!   `Expired`, `Canceled`: the original weeks stand; `Unmatched` defers
//!   nobody.

mod access;
mod http;
mod inspect;
mod operation;
mod recovery;
mod setup;
mod trades;
mod weeks;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::Method;
use tokio_util::sync::CancellationToken;

use super::journal::{CarriedWeek, Journal};
use super::{
    Activity, HeldWeeks, Outgoing, Platform, PlatformRun, PublishBatch, Publishing, RunRefused,
    RunWriter, Schedule, WriteOutcome,
};
use crate::api::stats::StatsSnapshot;
use crate::api::{PlatformClient, PlatformError};
use crate::clock::SharedClock;
use crate::config::{Settings, TargetSettings};
use crate::domain::plan::{Swap, SwapStatus};
use crate::domain::{AgentId, SwapId};
use crate::echo::echo;
use crate::publish::{KeyedLocks, LockKey};
use crate::source::WeekPlan;
use http::GenesysHttp;
pub use inspect::Identity;
use operation::{Ended, Updater};
use setup::Facts;
pub use setup::Unit;
use wire::{ScheduleMeta, Upload, Version};

/// How many times an update is built from a fresh read and sent.
const UPDATE_ATTEMPTS: u32 = 3;

/// How old a trade listing may be for a write to use it rather than list
/// again: a write follows its poll within moments; older, a trade may have
/// been decided since.
const LISTING_REUSE: Duration = Duration::from_secs(5);

/// A trade listing and when it was taken.
type Listing = (DateTime<Utc>, Vec<Swap>);

#[derive(Clone)]
pub struct GenesysCloud {
    http: GenesysHttp,
    clock: SharedClock,
    /// One unapplied update per business unit at a time, across runs.
    locks: Arc<KeyedLocks>,
    /// How long an update may take to end.
    deadline: Duration,
    /// One trade listing's share of the trade-jobs budget.
    poll_floor: Duration,
}

/// One run of a target's week on Genesys Cloud, prepared.
struct GenesysRun {
    /// The run's own view: its calls count in its own statistics.
    http: GenesysHttp,
    clock: SharedClock,
    locks: Arc<KeyedLocks>,
    deadline: Duration,
    poll_floor: Duration,
    /// What preparation learned: the business unit, schedule, users.
    facts: Facts,
    schedule: Schedule,
    /// Trades already approved when the run last listed them.
    approved: Mutex<BTreeSet<SwapId>>,
    /// The run's last trade listing and when it was taken, for the write
    /// that follows a poll at once; none before the first.
    listing: Mutex<Option<Listing>>,
}

/// A run's updates, each journaled before each step that depends on it.
struct GenesysWriter {
    run: Arc<GenesysRun>,
    journal: Arc<dyn Journal>,
}

impl GenesysCloud {
    pub fn new(
        client: PlatformClient,
        settings: &Settings,
        clock: SharedClock,
        locks: Arc<KeyedLocks>,
    ) -> Self {
        GenesysCloud {
            http: GenesysHttp::new(client),
            clock,
            locks,
            deadline: settings.retry.max_elapsed,
            poll_floor: {
                let jobs = &settings.rate_limits.trade_jobs;
                jobs.per / jobs.requests.max(1)
            },
        }
    }
}

impl GenesysWriter {
    /// Sends and follows this run's updates, journaling each step.
    fn updater(&self) -> Updater<'_> {
        let run = &self.run;
        Updater {
            http: &run.http,
            clock: &run.clock,
            facts: &run.facts,
            deadline: run.deadline,
            journal: self.journal.clone(),
        }
    }
}

impl GenesysRun {
    /// One unapplied update per business unit at a time, across runs.
    async fn unit_lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.locks
            .lock(LockKey::BusinessUnit(self.facts.business_unit.clone()))
            .await
    }

    /// The week's schedule as it is now: its version and published flag.
    async fn schedule_now(&self) -> Result<ScheduleMeta, PlatformError> {
        let path = self.facts.schedule_path();
        self.http.json(Method::GET, &path, None::<&()>).await
    }

    fn failed(&self, last: Option<(String, String)>) -> PlatformError {
        let (operation_id, status) = last.unwrap_or_default();
        PlatformError::OperationFailed {
            what: format!("update of schedule {}", self.facts.schedule_id),
            operation_id,
            status,
            hint: format!("{UPDATE_ATTEMPTS} times, each built from a fresh read: the data is likely refused (an activity, a user not in the business unit, overlapping shifts); check the schedule in Genesys Cloud"),
        }
    }

    /// The agents of `weeks` a trade holds now: `Matched` (awaiting a
    /// decision), or `Approved` since the run last listed trades (the
    /// platform has changed their weeks; the run must read them first).
    async fn held_by_trades(
        &self,
        weeks: &[Outgoing],
        fresh: bool,
    ) -> Result<BTreeMap<AgentId, SwapId>, PlatformError> {
        let seen = self.approved.lock().expect("approved trades").clone();
        let trades = match self.recent_listing().filter(|_| !fresh) {
            Some(trades) => trades,
            None => self.list_trades().await?,
        };
        let mut held = BTreeMap::new();
        for t in trades {
            let holds = match t.status {
                SwapStatus::Pending => true,
                SwapStatus::Approved => !seen.contains(&t.id),
                _ => false,
            };
            for w in weeks.iter().filter(|w| holds && t.involves(&w.agent_id)) {
                held.insert(w.agent_id.clone(), t.id.clone());
            }
        }
        Ok(held)
    }

    /// The run's trades, listed now by a query job (which spends the
    /// trade-jobs budget) and remembered.
    async fn list_trades(&self) -> Result<Vec<Swap>, PlatformError> {
        let trades = trades::query(&self.http, &self.clock, &self.facts).await?;
        *self.listing.lock().expect("trade listing") = Some((self.clock.now(), trades.clone()));
        Ok(trades)
    }

    /// The last listing, if it was taken a moment ago: a write right after
    /// a poll uses the poll's listing instead of spending another job.
    fn recent_listing(&self) -> Option<Vec<Swap>> {
        let listing = self.listing.lock().expect("trade listing");
        let (at, trades) = listing.as_ref()?;
        let age = (self.clock.now() - *at).to_std().unwrap_or_default();
        (age < LISTING_REUSE).then(|| trades.clone())
    }

    /// The agents of `weeks` whose week differs from what the platform
    /// holds now, as an update with the weeks it carries, or None when
    /// every one is as planned.
    async fn changes(
        &self,
        weeks: &[Outgoing],
        version: u64,
    ) -> Result<Option<(Upload, Vec<CarriedWeek>)>, PlatformError> {
        let facts = &self.facts;
        let users: Vec<String> = weeks.iter().map(|w| facts.user_of(&w.agent_id)).collect();
        let current = weeks::read(&self.http, &self.clock, facts, &users).await?;
        let (agent_schedules, carried): (Vec<_>, Vec<_>) = weeks
            .iter()
            .filter_map(|w| {
                let id = facts.user_of(&w.agent_id);
                let held = current.get(&id);
                let same = held.is_some_and(|c| weeks::week_of(c, facts).hash() == w.week.hash());
                let carried = CarriedWeek {
                    agent_id: w.agent_id.clone(),
                    hash: w.week.hash().clone(),
                };
                (!same).then(|| (weeks::upload(&id, &w.week, held, facts), carried))
            })
            .unzip();
        if agent_schedules.is_empty() {
            return Ok(None);
        }
        tracing::info!(
            agents = agent_schedules.len(),
            of = weeks.len(),
            "writing agents' weeks"
        );
        let upload = Upload {
            metadata: Version { version },
            published: None,
            agent_schedules,
        };
        Ok(Some((upload, carried)))
    }
}

impl GenesysWriter {
    /// Writes every agent of `weeks` a trade does not hold, in one update
    /// built from a fresh read (trades included) for each attempt: a trade
    /// approved or an edit made meanwhile is never overwritten.
    async fn write_all(
        &self,
        weeks: Vec<Outgoing>,
    ) -> Result<Vec<(AgentId, WriteOutcome)>, PlatformError> {
        let run = &self.run;
        let updater = self.updater();
        let _unit = run.unit_lock().await;
        let mut last = None;
        for attempt in 0..UPDATE_ATTEMPTS {
            // A failed attempt may have met a trade approved meanwhile.
            let held = run.held_by_trades(&weeks, attempt > 0).await?;
            let sending: Vec<Outgoing> = weeks
                .iter()
                .filter(|w| !held.contains_key(&w.agent_id))
                .cloned()
                .collect();
            let meta = run.schedule_now().await?;
            let ended = match run.changes(&sending, meta.metadata.version).await? {
                None => Ended::Complete,
                Some((upload, carried)) => updater.send(&upload, carried).await?,
            };
            match ended {
                Ended::Complete => return Ok(outcomes(weeks, &held)),
                Ended::Failed {
                    operation_id,
                    status,
                } => {
                    tracing::warn!(operation = %echo(&operation_id), status = %echo(&status), "schedule update failed: reading again and retrying");
                    last = Some((operation_id, status));
                }
            }
        }
        Err(run.failed(last))
    }

    /// Sets the schedule's `published` flag, once.
    async fn publish_all(&self, agents: Vec<AgentId>) -> Result<PublishBatch, PlatformError> {
        let run = &self.run;
        let updater = self.updater();
        let _unit = run.unit_lock().await;
        let mut last = None;
        for _ in 0..UPDATE_ATTEMPTS {
            let meta = run.schedule_now().await?;
            if meta.published {
                return Ok(PublishBatch {
                    published: agents,
                    ..PublishBatch::default()
                });
            }
            tracing::info!(schedule = %run.facts.schedule_id, "publishing the schedule");
            let upload = Upload {
                metadata: Version {
                    version: meta.metadata.version,
                },
                published: Some(true),
                agent_schedules: Vec::new(),
            };
            match updater.send(&upload, Vec::new()).await? {
                Ended::Complete => {}
                Ended::Failed {
                    operation_id,
                    status,
                } => last = Some((operation_id, status)),
            }
        }
        Err(run.failed(last))
    }
}

/// Each agent of a completed update: written, or held by its trade.
fn outcomes(
    weeks: Vec<Outgoing>,
    held: &BTreeMap<AgentId, SwapId>,
) -> Vec<(AgentId, WriteOutcome)> {
    weeks
        .into_iter()
        .map(|w| match held.get(&w.agent_id) {
            Some(swap_id) => {
                let held = WriteOutcome::Held {
                    swap_id: swap_id.clone(),
                };
                (w.agent_id, held)
            }
            None => (w.agent_id, WriteOutcome::Written),
        })
        .collect()
}

/// A stream of one future's results, or of its one error.
fn once_all<'a, T: Send + 'a>(
    work: impl std::future::Future<Output = Result<Vec<T>, PlatformError>> + Send + 'a,
) -> BoxStream<'a, Result<T, PlatformError>> {
    stream::once(work)
        .flat_map(|result| match result {
            Ok(items) => stream::iter(items.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(e) => stream::iter(vec![Err(e)]),
        })
        .boxed()
}

impl Platform for GenesysCloud {
    fn ready(&self) -> BoxFuture<'_, Result<(), PlatformError>> {
        Box::pin(async move { self.http.client().tokens().probe().await.map(|_| ()) })
    }

    fn begin_run<'a>(
        &'a self,
        target: &'a TargetSettings,
        plan: &'a WeekPlan,
    ) -> BoxFuture<'a, Result<Arc<dyn PlatformRun>, RunRefused>> {
        Box::pin(async move {
            let http = self.http.for_run();
            let facts = match setup::prepare(&http, target, plan).await {
                Ok(facts) => facts,
                Err(refusal) => {
                    let stats = http.client().stats();
                    return Err(RunRefused { refusal, stats });
                }
            };
            let schedule = Schedule {
                id: facts.schedule_id.clone(),
                published: facts.published,
            };
            Ok(Arc::new(GenesysRun {
                http,
                clock: self.clock.clone(),
                locks: self.locks.clone(),
                deadline: self.deadline,
                poll_floor: self.poll_floor,
                facts,
                schedule,
                approved: Mutex::default(),
                listing: Mutex::default(),
            }) as Arc<dyn PlatformRun>)
        })
    }
}

impl PlatformRun for GenesysRun {
    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn stats(&self) -> StatsSnapshot {
        self.http.client().stats()
    }

    fn activity(&self) -> Activity {
        self.http.client().activity()
    }

    /// Each poll lists trades with a query job, which has a budget of its
    /// own (5 a minute): polling faster would spend it and stall the run.
    fn poll_floor(&self) -> Duration {
        self.poll_floor
    }

    fn swaps(&self) -> BoxFuture<'_, Result<Vec<Swap>, PlatformError>> {
        Box::pin(async move {
            let swaps = self.list_trades().await?;
            let approved = swaps.iter().filter(|s| s.status == SwapStatus::Approved);
            self.approved
                .lock()
                .expect("approved trades")
                .extend(approved.map(|s| s.id.clone()));
            Ok(swaps)
        })
    }

    /// The agents' schedules as the update's fresh read gets them.
    fn held_weeks(&self, agents: Vec<AgentId>) -> BoxFuture<'_, Result<HeldWeeks, PlatformError>> {
        Box::pin(async move {
            let facts = &self.facts;
            let users: Vec<String> = agents.iter().map(|a| facts.user_of(a)).collect();
            let current = weeks::read(&self.http, &self.clock, facts, &users).await?;
            let held = agents
                .into_iter()
                .zip(users)
                .filter_map(|(agent, user)| {
                    let week = weeks::week_of(current.get(&user)?, facts);
                    Some((agent, week))
                })
                .collect();
            Ok(HeldWeeks::Read(held))
        })
    }

    /// Settles what a stopped process left in flight on the schedule
    /// before the run's first write.
    fn writer(
        self: Arc<Self>,
        journal: Arc<dyn Journal>,
    ) -> BoxFuture<'static, Result<Box<dyn RunWriter>, PlatformError>> {
        Box::pin(async move {
            let writer = GenesysWriter { run: self, journal };
            {
                let _unit = writer.run.unit_lock().await;
                recovery::settle(&writer.updater()).await?;
            }
            Ok(Box::new(writer) as Box<dyn RunWriter>)
        })
    }
}

impl RunWriter for GenesysWriter {
    /// `published` is one flag for the whole schedule: set once every
    /// agent not deferred is written.
    fn publishing(&self) -> Publishing {
        Publishing::WholeSchedule
    }

    fn write(
        &self,
        weeks: Vec<Outgoing>,
        _cancel: CancellationToken,
    ) -> BoxStream<'_, Result<(AgentId, WriteOutcome), PlatformError>> {
        // One update for every agent: nothing to leave unstarted on a stop;
        // the token's cancellable clock ends its waits.
        once_all(self.write_all(weeks))
    }

    fn publish(
        &self,
        agents: Vec<AgentId>,
        _cancel: CancellationToken,
    ) -> BoxStream<'_, Result<PublishBatch, PlatformError>> {
        once_all(async move { Ok(vec![self.publish_all(agents).await?]) })
    }
}
