//! The one seam between the publication engine and a WFM platform: what a
//! publication needs, in the publisher's own types. The engine never sees a
//! URL, a wire type or a platform's way of batching; each platform's
//! adapter decides those (per-agent `PUT`s and 500-agent publishes for the
//! simple contract; one gzip upload, an asynchronous operation and a
//! whole-schedule publish flag for Genesys Cloud).

mod genesys;
pub mod journal;
pub mod memory;
pub mod simple;

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
use crate::domain::lifecycle::Unpublished;
use crate::domain::plan::{AgentWeek, Swap};
use crate::domain::{AgentId, ScheduleId, SwapId};
use crate::preflight::Refusal;
use crate::publish::KeyedLocks;
use crate::source::WeekPlan;

pub use genesys::{GenesysCloud, Identity, Unit};
pub use simple::{SimpleApi, SimpleContract};

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
    pub id: ScheduleId,
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
        swap_id: SwapId,
    },
    /// The platform refused this agent (and only this agent).
    Refused(Unpublished),
}

/// What one publish call decided, agent by agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishBatch {
    pub published: Vec<AgentId>,
    /// Agents a pending swap holds.
    pub held: Vec<HeldAgent>,
    pub refused: Vec<(AgentId, Unpublished)>,
}

/// An agent a pending swap holds back from publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAgent {
    pub agent: AgentId,
    pub swap: SwapId,
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
    pub agent_id: AgentId,
    pub week: AgentWeek,
}

/// What the platform holds of agents' weeks now, for a dry run's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldWeeks {
    /// Read from the platform: each agent it holds a schedule for, with
    /// its week there; an agent absent holds no shift.
    Read(std::collections::BTreeMap<AgentId, AgentWeek>),
    /// The platform's contract has no read of an agent's shifts (the
    /// simple contract: a `PUT` per agent, and no `GET`).
    Unreadable,
}

/// A platform, as publication runs use it. Each run of a target's week
/// begins with [`Platform::begin_run`], which checks everything that must
/// hold before the first write and hands back the run's own view: what the
/// run may do follows from the values it holds, not from the order of its
/// calls. Errors returned as `Err` concern the run as a whole (scopes,
/// organization, an outage); what concerns one agent comes back in that
/// agent's outcome.
pub trait Platform: Send + Sync {
    /// Whether a run could start now: the platform's credentials work.
    fn ready(&self) -> BoxFuture<'_, Result<(), PlatformError>>;

    /// A run of `target`'s week: the client's rights, a schedule that is
    /// the week and zone the source file was written for, and every agent
    /// and activity of `plan` known to the platform, checked; or why the
    /// run cannot go, with what it cost.
    fn begin_run<'a>(
        &'a self,
        target: &'a TargetSettings,
        plan: &'a WeekPlan,
    ) -> BoxFuture<'a, Result<Arc<dyn PlatformRun>, RunRefused>>;
}

/// Why a run could not begin, and the requests that found it out.
#[derive(Debug)]
pub struct RunRefused {
    pub refusal: Refusal,
    pub stats: StatsSnapshot,
}

/// One run's view of the platform, prepared: its schedule, its own
/// statistics, the swaps. Writing needs [`PlatformRun::writer`] first, so
/// a dry run, which never asks for one, cannot write.
pub trait PlatformRun: Send + Sync {
    /// The week's schedule, as preparation found or created it.
    fn schedule(&self) -> &Schedule;

    /// This run's statistics: its own requests, and the shared token's
    /// requests and gate holds made while it ran.
    fn stats(&self) -> StatsSnapshot;

    /// This run's statistics and what the platform's workers wait for now,
    /// for the run's progress.
    fn activity(&self) -> Activity;

    /// The shortest interval between two swap listings that the platform's
    /// limits allow a run (one listing a poll).
    fn poll_floor(&self) -> Duration {
        Duration::ZERO
    }

    /// Every swap of the schedule, in every state.
    fn swaps(&self) -> BoxFuture<'_, Result<Vec<Swap>, PlatformError>>;

    /// What the platform holds now of `agents`' weeks in the run's
    /// schedule: read only, for a dry run's plan of what would change.
    fn held_weeks(&self, agents: Vec<AgentId>) -> BoxFuture<'_, Result<HeldWeeks, PlatformError>>;

    /// The run's writes and publishes, recorded in `journal`: first, what
    /// a stopped process left in flight on the schedule is settled
    /// (finished, or re-checked and ended). A platform whose writes end
    /// when they are answered keeps no journal.
    fn writer(
        self: Arc<Self>,
        journal: Arc<dyn journal::Journal>,
    ) -> BoxFuture<'static, Result<Box<dyn RunWriter>, PlatformError>>;
}

/// What a run sends: agents' weeks, then their publication.
pub trait RunWriter: Send + Sync {
    /// Whether written agents can be published while others are written.
    fn publishing(&self) -> Publishing;

    /// Writes agents' weeks; yields each agent's outcome as it is known.
    /// Starts nothing new once `cancel` is cancelled.
    fn write(
        &self,
        weeks: Vec<Outgoing>,
        cancel: CancellationToken,
    ) -> BoxStream<'_, Result<(AgentId, WriteOutcome), PlatformError>>;

    /// Publishes written agents; yields one batch of decisions per call
    /// the platform answered. Starts nothing new once `cancel` is cancelled.
    fn publish(
        &self,
        agents: Vec<AgentId>,
        cancel: CancellationToken,
    ) -> BoxStream<'_, Result<PublishBatch, PlatformError>>;
}
