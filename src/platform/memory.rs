//! A platform held in memory, for tests of the engine alone: no HTTP, no
//! token, no clock of its own. It keeps what the engine wrote and
//! published, in the order it was sent, and swaps a test decides; a pending
//! swap holds its agents as the contracts say.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::journal::Journal;
use super::{
    HeldAgent, HeldWeeks, Outgoing, Platform, PlatformRun, PublishBatch, Publishing, RunRefused,
    RunWriter, Schedule, WriteOutcome,
};
use crate::api::stats::StatsSnapshot;
use crate::api::trouble::Activity;
use crate::api::PlatformError;
use crate::config::TargetSettings;
use crate::domain::lifecycle::{Unpublished, UnpublishedKind};
use crate::domain::plan::{AgentWeek, Swap, SwapStatus};
use crate::domain::{AgentId, SwapId};
use crate::source::WeekPlan;

/// What the engine sent, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Write(AgentId),
    Publish(Vec<AgentId>),
}

/// The platform's state, as a test sets it up and reads it back.
#[derive(Debug)]
pub struct Memory {
    pub publishing: Publishing,
    /// Whether the week's schedule shows published at the start of a run.
    pub published_already: bool,
    /// The schedule's swaps, in every state: a test decides them.
    pub swaps: Vec<Swap>,
    /// Set: every pending swap is decided so when the first publish
    /// arrives, as a platform's reviewer may decide while a run writes.
    pub decided_at_first_publish: Option<SwapStatus>,
    /// Agents the platform does not know: their writes are refused.
    pub unknown: BTreeSet<AgentId>,
    /// Set: every publish fails, as one does once the client's retries
    /// against a platform that is down are spent.
    pub publishes_fail: bool,
    /// Each write's answer comes this long (real time) after the one
    /// before: done on the platform when sent, answered later.
    pub answer_after: Option<std::time::Duration>,
    /// Each agent's week as last written.
    pub written: BTreeMap<AgentId, AgentWeek>,
    pub published: BTreeSet<AgentId>,
    pub sent: Vec<Sent>,
}

impl Memory {
    pub fn new(publishing: Publishing) -> Self {
        Memory {
            publishing,
            published_already: false,
            swaps: Vec::new(),
            decided_at_first_publish: None,
            unknown: BTreeSet::new(),
            publishes_fail: false,
            answer_after: None,
            written: BTreeMap::new(),
            published: BTreeSet::new(),
            sent: Vec::new(),
        }
    }

    /// The pending swap that holds `agent`, if one does.
    fn holding(&self, agent: &AgentId) -> Option<SwapId> {
        let pending = self
            .swaps
            .iter()
            .filter(|s| s.status == SwapStatus::Pending);
        pending
            .filter(|s| s.involves(agent))
            .map(|s| s.id.clone())
            .next()
    }
}

/// A platform in memory; clones share it.
#[derive(Clone)]
pub struct MemoryPlatform(pub Arc<Mutex<Memory>>);

impl MemoryPlatform {
    pub fn new(memory: Memory) -> Self {
        MemoryPlatform(Arc::new(Mutex::new(memory)))
    }

    /// Reads or changes the platform's state.
    pub fn with<R>(&self, f: impl FnOnce(&mut Memory) -> R) -> R {
        f(&mut self.0.lock().expect("memory platform"))
    }
}

struct MemoryRun {
    platform: MemoryPlatform,
    schedule: Schedule,
}

impl Platform for MemoryPlatform {
    fn ready(&self) -> BoxFuture<'_, Result<(), PlatformError>> {
        Box::pin(async { Ok(()) })
    }

    fn begin_run<'a>(
        &'a self,
        target: &'a TargetSettings,
        plan: &'a WeekPlan,
    ) -> BoxFuture<'a, Result<Arc<dyn PlatformRun>, RunRefused>> {
        let schedule = Schedule {
            id: target.schedule_id_for(plan.week_start).into(),
            published: self.with(|m| m.published_already),
        };
        let run = MemoryRun {
            platform: self.clone(),
            schedule,
        };
        Box::pin(async move { Ok(Arc::new(run) as Arc<dyn PlatformRun>) })
    }
}

impl PlatformRun for MemoryRun {
    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn stats(&self) -> StatsSnapshot {
        StatsSnapshot::default()
    }

    fn activity(&self) -> Activity {
        Activity::default()
    }

    fn swaps(&self) -> BoxFuture<'_, Result<Vec<Swap>, PlatformError>> {
        let swaps = self.platform.with(|m| m.swaps.clone());
        Box::pin(async move { Ok(swaps) })
    }

    fn held_weeks(&self, agents: Vec<AgentId>) -> BoxFuture<'_, Result<HeldWeeks, PlatformError>> {
        let written = self.platform.with(|m| {
            agents
                .into_iter()
                .filter_map(|a| m.written.get(&a).map(|w| (a, w.clone())))
                .collect()
        });
        Box::pin(async move { Ok(HeldWeeks::Read(written)) })
    }

    fn writer(
        self: Arc<Self>,
        _journal: Arc<dyn Journal>,
    ) -> BoxFuture<'static, Result<Box<dyn RunWriter>, PlatformError>> {
        let writer = MemoryWriter(self.platform.clone());
        Box::pin(async move { Ok(Box::new(writer) as Box<dyn RunWriter>) })
    }
}

struct MemoryWriter(MemoryPlatform);

impl RunWriter for MemoryWriter {
    fn publishing(&self) -> Publishing {
        self.0.with(|m| m.publishing)
    }

    fn write(
        &self,
        weeks: Vec<Outgoing>,
        _cancel: CancellationToken,
    ) -> BoxStream<'_, Result<(AgentId, WriteOutcome), PlatformError>> {
        let (outcomes, after): (Vec<_>, _) = self.0.with(|m| {
            let done = weeks.into_iter().map(|w| Ok(write_one(m, w))).collect();
            (done, m.answer_after)
        });
        match after {
            None => stream::iter(outcomes).boxed(),
            Some(after) => stream::iter(outcomes)
                .then(move |answer| async move {
                    tokio::time::sleep(after).await;
                    answer
                })
                .boxed(),
        }
    }

    fn publish(
        &self,
        agents: Vec<AgentId>,
        _cancel: CancellationToken,
    ) -> BoxStream<'_, Result<PublishBatch, PlatformError>> {
        if self.0.with(|m| m.publishes_fail) {
            let down = PlatformError::Unavailable {
                endpoint: "publish (in memory)".into(),
                attempts: 1,
                elapsed_secs: 0,
                reason: "publishes_fail".into(),
            };
            return stream::iter(vec![Err(down)]).boxed();
        }
        let batch = self.0.with(|m| {
            m.sent.push(Sent::Publish(agents.clone()));
            let mut batch = PublishBatch::default();
            for agent in agents {
                match m.holding(&agent) {
                    Some(swap) => batch.held.push(HeldAgent { agent, swap }),
                    None => {
                        m.published.insert(agent.clone());
                        batch.published.push(agent);
                    }
                }
            }
            if let Some(status) = m.decided_at_first_publish.take() {
                let pending = m
                    .swaps
                    .iter_mut()
                    .filter(|s| s.status == SwapStatus::Pending);
                pending.for_each(|s| s.status = status);
            }
            batch
        });
        stream::iter(vec![Ok(batch)]).boxed()
    }
}

fn write_one(m: &mut Memory, w: Outgoing) -> (AgentId, WriteOutcome) {
    m.sent.push(Sent::Write(w.agent_id.clone()));
    if m.unknown.contains(&w.agent_id) {
        let why = Unpublished::new(UnpublishedKind::UnknownAgent, "404 in memory");
        return (w.agent_id, WriteOutcome::Refused(why));
    }
    if let Some(swap_id) = m.holding(&w.agent_id) {
        return (w.agent_id, WriteOutcome::Held { swap_id });
    }
    m.written.insert(w.agent_id.clone(), w.week);
    (w.agent_id, WriteOutcome::Written)
}
