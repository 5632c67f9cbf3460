//! The one seam between the publication engine and a WFM platform: what a
//! publication needs, in the publisher's own types. The engine never sees a
//! URL, a wire type or a platform's way of batching; each platform's
//! adapter decides those (per-agent `PUT`s and 500-agent publishes for the
//! simple contract; one gzip upload, an asynchronous operation and a
//! whole-schedule publish flag for Genesys Cloud).

mod genesys;
pub mod journal;
mod simple;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

use crate::api::stats::StatsSnapshot;
use crate::api::trouble::Activity;
use crate::api::{PlatformClient, PlatformError};
use crate::clock::SharedClock;
use crate::config::{PlatformKind, Settings, TargetSettings};
use crate::plan::{AgentWeek, Swap};
use crate::preflight::Refusal;
use crate::publish::lifecycle::Unpublished;
use crate::publish::KeyedLocks;
use crate::source::WeekPlan;

pub use genesys::{GenesysCloud, Identity, Unit};
pub use simple::SimpleContract;

/// The platform the configuration names, ready for runs: its token is
/// refreshed in the background until the last handle is dropped.
/// `locks` keeps two runs of the process from publishing one schedule at
/// once.
/// `cancel` ends the client's token and retry waits at once (a stop).
pub fn connect(
    settings: &Settings,
    clock: SharedClock,
    locks: Arc<KeyedLocks>,
    cancel: CancellationToken,
    gate: Option<crate::api::SendGate>,
) -> Result<Arc<dyn Platform>, PlatformError> {
    let client = PlatformClient::with_cancel(settings, clock.clone(), cancel)?;
    if let Some(gate) = gate {
        client.set_send_gate(gate);
    }
    // The refresher stops by itself once the client is dropped.
    drop(client.tokens().spawn_refresher());
    Ok(match settings.platform.kind {
        PlatformKind::Simple => Arc::new(SimpleContract::new(
            client,
            settings.workers.concurrency,
            locks,
        )),
        PlatformKind::GenesysCloud { .. } => {
            Arc::new(GenesysCloud::new(client, settings, clock, locks))
        }
    })
}

/// The week's schedule on the platform, as prepared for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: String,
    /// Whether the platform shows it published already (the simple
    /// contract's `state`, Genesys Cloud's `published` flag): by this
    /// publisher, or by someone or something else.
    pub published: bool,
}

/// What became of one agent's week sent to the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// A pending swap holds the agent.
    Held {
        swap_id: String,
    },
    /// The platform refused this agent (and only this agent).
    Refused(Unpublished),
}

/// What one publish call decided, agent by agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishBatch {
    pub published: Vec<String>,
    /// Agents a pending swap holds: (agent, swap).
    pub held: Vec<(String, String)>,
    pub refused: Vec<(String, Unpublished)>,
}

/// How a platform publishes, for the engine to place its publishes among
/// the writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publishing {
    /// Written agents are published in calls of at most `batch` agents,
    /// which may go while later agents are still being written.
    Incremental { batch: usize },
    /// One publish covers the whole schedule: it goes once every agent not
    /// deferred has been written.
    WholeSchedule,
}

/// One agent's week to write.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub agent_id: String,
    pub week: AgentWeek,
}

/// A platform, as one publication run uses it. Errors returned as `Err`
/// concern the run as a whole (scopes, organization, an outage); what
/// concerns one agent comes back in that agent's outcome.
pub trait Platform: Send + Sync {
    /// A view of the same platform whose calls also count in a fresh set
    /// of statistics: one per run, so that a report counts its own run.
    fn for_run(&self) -> Arc<dyn Platform>;

    /// This view's statistics (the run's, for a view from `for_run`).
    fn stats(&self) -> StatsSnapshot;

    /// This view's statistics and what the platform's workers wait for
    /// now, for a run's progress.
    fn activity(&self) -> Activity;

    /// Whether written agents can be published while others are written.
    fn publishing(&self) -> Publishing;

    /// The shortest interval between two swap listings that the platform's
    /// limits allow a run (one listing a poll).
    fn poll_floor(&self) -> Duration {
        Duration::ZERO
    }

    /// Whether a run could start now: the platform's credentials work.
    fn ready(&self) -> BoxFuture<'_, Result<(), PlatformError>>;

    /// Everything that must hold before the first write: the client's
    /// rights, a schedule that is the week and zone the source file was
    /// written for, and every agent and activity of `plan` known to the
    /// platform.
    fn prepare<'a>(
        &'a self,
        target: &'a TargetSettings,
        plan: &'a WeekPlan,
    ) -> BoxFuture<'a, Result<Schedule, Refusal>>;

    /// Every swap of the schedule, in every state.
    fn swaps<'a>(
        &'a self,
        schedule: &'a Schedule,
    ) -> BoxFuture<'a, Result<Vec<Swap>, PlatformError>>;

    /// Writes agents' weeks; yields each agent's outcome as it is known.
    /// Starts nothing new once `cancel` is cancelled.
    fn write<'a>(
        &'a self,
        schedule: &'a Schedule,
        weeks: Vec<Outgoing>,
        cancel: CancellationToken,
    ) -> BoxStream<'a, Result<(String, WriteOutcome), PlatformError>>;

    /// Takes the run's journal of platform operations and settles what a
    /// stopped process left in flight on the run's schedule (finished, or
    /// re-checked and ended), before the run's first write. Called once
    /// per run, after `prepare`. A platform whose writes end when they are
    /// answered keeps no journal.
    fn recover<'a>(
        &'a self,
        _journal: Arc<dyn journal::Journal>,
    ) -> BoxFuture<'a, Result<(), PlatformError>> {
        Box::pin(async { Ok(()) })
    }

    /// Publishes written agents; yields one batch of decisions per call
    /// the platform answered. Starts nothing new once `cancel` is cancelled.
    fn publish<'a>(
        &'a self,
        schedule: &'a Schedule,
        agents: Vec<String>,
        cancel: CancellationToken,
    ) -> BoxStream<'a, Result<PublishBatch, PlatformError>>;
}
