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
use super::{Activity, Outgoing, Platform, PublishBatch, Publishing, Schedule, WriteOutcome};
use crate::api::stats::StatsSnapshot;
use crate::api::{PlatformClient, PlatformError};
use crate::clock::SharedClock;
use crate::config::{Settings, TargetSettings};
use crate::echo::echo;
use crate::plan::{Swap, SwapStatus};
use crate::preflight::Refusal;
use crate::publish::KeyedLocks;
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
    /// What this run learned in `prepare`.
    facts: Arc<Mutex<Option<Facts>>>,
    /// Trades already approved when the run last listed them.
    approved: Arc<Mutex<BTreeSet<String>>>,
    /// The run's last trade listing and when it was taken, for the write
    /// that follows a poll at once.
    listing: Arc<Mutex<Option<Listing>>>,
    /// Where this run records its updates (`recover` hands it over).
    journal: Arc<Mutex<Option<Arc<dyn Journal>>>>,
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
            facts: Arc::new(Mutex::new(None)),
            approved: Arc::new(Mutex::new(BTreeSet::new())),
            listing: Arc::new(Mutex::new(None)),
            journal: Arc::new(Mutex::new(None)),
        }
    }

    fn facts(&self) -> Result<Facts, PlatformError> {
        self.facts
            .lock()
            .expect("run facts")
            .clone()
            .ok_or_else(|| {
                PlatformError::Setup(
                    "Genesys Cloud: a run's calls came before its preparation".into(),
                )
            })
    }

    /// Sends and follows this run's updates, journaling each step.
    fn updater<'a>(&'a self, facts: &'a Facts) -> Result<Updater<'a>, PlatformError> {
        let journal = self.journal.lock().expect("run journal").clone();
        let journal = journal.ok_or_else(|| {
            PlatformError::Setup(
                "Genesys Cloud: a run's writes came before its operations journal".into(),
            )
        })?;
        Ok(Updater {
            http: &self.http,
            clock: &self.clock,
            facts,
            deadline: self.deadline,
            journal,
        })
    }

    /// One unapplied update per business unit at a time, across runs.
    async fn unit_lock(&self, facts: &Facts) -> tokio::sync::OwnedMutexGuard<()> {
        self.locks
            .lock(&format!("business-unit:{}", facts.business_unit))
            .await
    }

    /// The week's schedule as it is now: its version and published flag.
    async fn schedule(&self, facts: &Facts) -> Result<ScheduleMeta, PlatformError> {
        self.http
            .json(Method::GET, &facts.schedule_path(), None::<&()>)
            .await
    }

    fn failed(facts: &Facts, last: Option<(String, String)>) -> PlatformError {
        let (operation_id, status) = last.unwrap_or_default();
        PlatformError::OperationFailed {
            what: format!("update of schedule {}", facts.schedule_id),
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
        facts: &Facts,
        weeks: &[Outgoing],
        fresh: bool,
    ) -> Result<BTreeMap<String, String>, PlatformError> {
        let seen = self.approved.lock().expect("approved trades").clone();
        let trades = match self.recent_listing().filter(|_| !fresh) {
            Some(trades) => trades,
            None => self.list_trades(facts).await?,
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
    async fn list_trades(&self, facts: &Facts) -> Result<Vec<Swap>, PlatformError> {
        let trades = trades::query(&self.http, &self.clock, facts).await?;
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
        facts: &Facts,
        weeks: &[Outgoing],
        version: u64,
    ) -> Result<Option<(Upload, Vec<CarriedWeek>)>, PlatformError> {
        let user = |agent: &str| {
            facts
                .users
                .get(agent)
                .cloned()
                .unwrap_or_else(|| agent.to_owned())
        };
        let users: Vec<String> = weeks.iter().map(|w| user(&w.agent_id)).collect();
        let current = weeks::read(&self.http, &self.clock, facts, &users).await?;
        let (agent_schedules, carried): (Vec<_>, Vec<_>) = weeks
            .iter()
            .filter_map(|w| {
                let id = user(&w.agent_id);
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

    /// Writes every agent of `weeks` a trade does not hold, in one update
    /// built from a fresh read (trades included) for each attempt: a trade
    /// approved or an edit made meanwhile is never overwritten.
    async fn write_all(
        &self,
        weeks: Vec<Outgoing>,
    ) -> Result<Vec<(String, WriteOutcome)>, PlatformError> {
        let facts = self.facts()?;
        let updater = self.updater(&facts)?;
        let _unit = self.unit_lock(&facts).await;
        let mut last = None;
        for attempt in 0..UPDATE_ATTEMPTS {
            // A failed attempt may have met a trade approved meanwhile.
            let held = self.held_by_trades(&facts, &weeks, attempt > 0).await?;
            let sending: Vec<Outgoing> = weeks
                .iter()
                .filter(|w| !held.contains_key(&w.agent_id))
                .cloned()
                .collect();
            let meta = self.schedule(&facts).await?;
            let ended = match self
                .changes(&facts, &sending, meta.metadata.version)
                .await?
            {
                None => Ended::Complete,
                Some((upload, carried)) => updater.send(&upload, carried).await?,
            };
            match ended {
                Ended::Complete => {
                    return Ok(weeks
                        .into_iter()
                        .map(|w| match held.get(&w.agent_id) {
                            Some(swap_id) => (
                                w.agent_id,
                                WriteOutcome::Held {
                                    swap_id: swap_id.clone(),
                                },
                            ),
                            None => (w.agent_id, WriteOutcome::Written),
                        })
                        .collect())
                }
                Ended::Failed {
                    operation_id,
                    status,
                } => {
                    tracing::warn!(operation = %echo(&operation_id), status = %echo(&status), "schedule update failed: reading again and retrying");
                    last = Some((operation_id, status));
                }
            }
        }
        Err(Self::failed(&facts, last))
    }

    /// Sets the schedule's `published` flag, once.
    async fn publish_all(&self, agents: Vec<String>) -> Result<PublishBatch, PlatformError> {
        let facts = self.facts()?;
        let updater = self.updater(&facts)?;
        let _unit = self.unit_lock(&facts).await;
        let mut last = None;
        for _ in 0..UPDATE_ATTEMPTS {
            let meta = self.schedule(&facts).await?;
            if meta.published {
                return Ok(PublishBatch {
                    published: agents,
                    ..PublishBatch::default()
                });
            }
            tracing::info!(schedule = %facts.schedule_id, "publishing the schedule");
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
        Err(Self::failed(&facts, last))
    }
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
    fn for_run(&self) -> Arc<dyn Platform> {
        Arc::new(GenesysCloud {
            http: self.http.for_run(),
            facts: Arc::new(Mutex::new(None)),
            approved: Arc::new(Mutex::new(BTreeSet::new())),
            listing: Arc::new(Mutex::new(None)),
            journal: Arc::new(Mutex::new(None)),
            ..self.clone()
        })
    }

    fn stats(&self) -> StatsSnapshot {
        self.http.client().stats()
    }

    fn activity(&self) -> Activity {
        self.http.client().activity()
    }

    /// `published` is one flag for the whole schedule: set once every
    /// agent not deferred is written.
    fn publishing(&self) -> Publishing {
        Publishing::WholeSchedule
    }

    /// Each poll lists trades with a query job, which has a budget of its
    /// own (5 a minute): polling faster would spend it and stall the run.
    fn poll_floor(&self) -> Duration {
        self.poll_floor
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), PlatformError>> {
        Box::pin(async move { self.http.client().tokens().probe().await.map(|_| ()) })
    }

    fn prepare<'a>(
        &'a self,
        target: &'a TargetSettings,
        plan: &'a WeekPlan,
    ) -> BoxFuture<'a, Result<Schedule, Refusal>> {
        Box::pin(async move {
            let facts = setup::prepare(&self.http, target, plan).await?;
            let schedule = Schedule {
                id: facts.schedule_id.clone(),
                published: facts.published,
            };
            *self.facts.lock().expect("run facts") = Some(facts);
            Ok(schedule)
        })
    }

    fn recover<'a>(
        &'a self,
        journal: Arc<dyn Journal>,
    ) -> BoxFuture<'a, Result<(), PlatformError>> {
        Box::pin(async move {
            *self.journal.lock().expect("run journal") = Some(journal);
            let facts = self.facts()?;
            let updater = self.updater(&facts)?;
            let _unit = self.unit_lock(&facts).await;
            recovery::settle(&updater).await
        })
    }

    fn swaps<'a>(
        &'a self,
        _schedule: &'a Schedule,
    ) -> BoxFuture<'a, Result<Vec<Swap>, PlatformError>> {
        Box::pin(async move {
            let swaps = self.list_trades(&self.facts()?).await?;
            let approved = swaps.iter().filter(|s| s.status == SwapStatus::Approved);
            self.approved
                .lock()
                .expect("approved trades")
                .extend(approved.map(|s| s.id.clone()));
            Ok(swaps)
        })
    }

    fn write<'a>(
        &'a self,
        _schedule: &'a Schedule,
        weeks: Vec<Outgoing>,
        _cancel: CancellationToken,
    ) -> BoxStream<'a, Result<(String, WriteOutcome), PlatformError>> {
        // One update for every agent: nothing to leave unstarted on a stop;
        // the token's cancellable clock ends its waits.
        once_all(self.write_all(weeks))
    }

    fn publish<'a>(
        &'a self,
        _schedule: &'a Schedule,
        agents: Vec<String>,
        _cancel: CancellationToken,
    ) -> BoxStream<'a, Result<PublishBatch, PlatformError>> {
        once_all(async move { Ok(vec![self.publish_all(agents).await?]) })
    }
}
