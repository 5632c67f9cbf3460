//! The simple contract (CONTRACT.md) behind the platform seam: one `PUT`
//! per agent with bounded concurrency, publishes of at most 500 agents,
//! never two publishes of one schedule at once, approved trades applied to
//! the plan by the publisher (CONTRACT §4).

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

pub mod answers;
pub mod api;
pub mod model;

pub use api::SimpleApi;

use super::journal::Journal;
use super::{
    HeldAgent, HeldWeeks, Outgoing, Platform, PlatformRun, PublishBatch, Publishing, RunRefused,
    RunWriter, Schedule, WriteOutcome,
};
use crate::api::scopes::PUBLICATION;
use crate::api::stats::StatsSnapshot;
use crate::api::trouble::Activity;
use crate::api::{PlatformClient, PlatformError};
use crate::config::TargetSettings;
use crate::domain::lifecycle::{Unpublished, UnpublishedKind};
use crate::domain::plan::{AgentWeek, Span, Swap, SwapParty, SwapStatus};
use crate::domain::{AgentId, ScheduleId};
use crate::preflight::{self, Refusal, ScheduleFacts, ScheduleState};
use crate::publish::{KeyedLocks, LockKey};
use crate::source::WeekPlan;
use api::PublishOutcome;
use model::ScheduleInfo;

/// The platform's limit on agents per publish call.
const PUBLISH_BATCH: usize = 500;

#[derive(Clone)]
pub struct SimpleContract {
    api: SimpleApi,
    concurrency: usize,
    /// Shared by every run of the process, whatever client it uses.
    locks: Arc<KeyedLocks>,
}

/// One run of a target's week on the simple contract.
struct SimpleRun {
    /// The run's own view: its calls count in its own statistics.
    api: SimpleApi,
    schedule: Schedule,
    concurrency: usize,
    locks: Arc<KeyedLocks>,
}

/// A run's writes: the simple contract's end when they are answered, so
/// there is nothing in flight to settle and no journal to keep.
struct SimpleWriter(Arc<SimpleRun>);

impl SimpleContract {
    pub fn new(client: PlatformClient, concurrency: usize, locks: Arc<KeyedLocks>) -> Self {
        SimpleContract {
            api: SimpleApi::new(client),
            concurrency: concurrency.max(1),
            locks,
        }
    }

    pub fn api(&self) -> &SimpleApi {
        &self.api
    }

    /// The schedule as the platform describes it, for the preflight checks.
    pub fn facts(info: ScheduleInfo) -> ScheduleFacts {
        ScheduleFacts {
            id: info.id,
            org_id: info.org_id,
            week_start: info.week_start,
            time_zone: info.time_zone,
            state: match info.state.as_str() {
                "draft" => ScheduleState::Draft,
                "published" => ScheduleState::Published,
                _ => ScheduleState::Other,
            },
        }
    }

    /// The run's rights and schedule, checked before its first write.
    async fn prepare(
        api: &SimpleApi,
        target: &TargetSettings,
        week: chrono::NaiveDate,
    ) -> Result<Schedule, Refusal> {
        api.require_scopes(&PUBLICATION).await?;
        let id = ScheduleId::from(target.schedule_id_for(week));
        let facts = Self::facts(api.schedule(id.as_str()).await?);
        let mismatches = preflight::mismatches(&facts, target, week, None);
        if !mismatches.is_empty() {
            return Err(Refusal::Schedule {
                schedule_id: id.into_string(),
                mismatches,
            });
        }
        Ok(Schedule {
            id,
            published: facts.state == ScheduleState::Published,
        })
    }
}

impl SimpleRun {
    async fn publish_chunk(&self, mut batch: Vec<AgentId>) -> Result<PublishBatch, PlatformError> {
        let schedule_id = &self.schedule.id;
        // Never two publishes of one schedule at once, even from two targets.
        let _schedule = {
            let _waiting = self.api.client().waiting_for_lock();
            self.locks
                .lock(LockKey::Schedule(schedule_id.clone()))
                .await
        };
        let mut out = PublishBatch::default();
        while !batch.is_empty() {
            match self.api.publish(schedule_id.as_str(), &batch).await {
                Ok(PublishOutcome::Published { agent_ids, .. }) => {
                    let confirmed: BTreeSet<&AgentId> = agent_ids.iter().collect();
                    for agent in batch.drain(..) {
                        if confirmed.contains(&agent) {
                            out.published.push(agent);
                        } else {
                            out.refused.push((agent, Unpublished::not_confirmed()));
                        }
                    }
                }
                Ok(PublishOutcome::Deferred { pending }) => {
                    batch.retain(|a| !pending.iter().any(|p| p.agent_id == *a));
                    out.held.extend(pending.into_iter().map(|p| HeldAgent {
                        agent: p.agent_id,
                        swap: p.swap_id,
                    }));
                }
                Err(e) if e.is_run_level() => return Err(e),
                Err(e) => {
                    let why = refused(&e);
                    out.refused
                        .extend(batch.drain(..).map(|a| (a, why.clone())));
                }
            }
        }
        Ok(out)
    }
}

fn refused(e: &PlatformError) -> Unpublished {
    Unpublished::new(UnpublishedKind::Refused, e.to_string())
}

// The signatures are the trait's, as in platform/genesys's and
// daemon/live/watched.rs's implementations; what each one does differs.
impl Platform for SimpleContract {
    fn ready(&self) -> BoxFuture<'_, Result<(), PlatformError>> {
        Box::pin(async move { self.api.client().tokens().probe().await.map(|_| ()) })
    }

    fn begin_run<'a>(
        &'a self,
        target: &'a TargetSettings,
        plan: &'a WeekPlan,
    ) -> BoxFuture<'a, Result<Arc<dyn PlatformRun>, RunRefused>> {
        Box::pin(async move {
            let api = self.api.for_run();
            match Self::prepare(&api, target, plan.week_start).await {
                Ok(schedule) => Ok(Arc::new(SimpleRun {
                    api,
                    schedule,
                    concurrency: self.concurrency,
                    locks: self.locks.clone(),
                }) as Arc<dyn PlatformRun>),
                Err(refusal) => Err(RunRefused {
                    refusal,
                    stats: api.client().stats(),
                }),
            }
        })
    }
}

impl PlatformRun for SimpleRun {
    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn stats(&self) -> StatsSnapshot {
        self.api.client().stats()
    }

    fn activity(&self) -> Activity {
        self.api.client().activity()
    }

    fn swaps(&self) -> BoxFuture<'_, Result<Vec<Swap>, PlatformError>> {
        Box::pin(async move {
            let swaps = self.api.swaps(self.schedule.id.as_str(), None).await?;
            Ok(swaps.into_iter().map(domain_swap).collect())
        })
    }

    /// The contract has a `PUT` of an agent's week and no `GET` of it.
    fn held_weeks(&self, _agents: Vec<AgentId>) -> BoxFuture<'_, Result<HeldWeeks, PlatformError>> {
        Box::pin(async { Ok(HeldWeeks::Unreadable) })
    }

    fn writer(
        self: Arc<Self>,
        _journal: Arc<dyn Journal>,
    ) -> BoxFuture<'static, Result<Box<dyn RunWriter>, PlatformError>> {
        Box::pin(async move { Ok(Box::new(SimpleWriter(self)) as Box<dyn RunWriter>) })
    }
}

impl RunWriter for SimpleWriter {
    /// Each publish names its agents (CONTRACT §3), so the written ones go
    /// while later ones are written; the client holds writes back while
    /// the schedule's lock is held.
    fn publishing(&self) -> Publishing {
        Publishing::Incremental {
            batch: PUBLISH_BATCH,
        }
    }

    fn write(
        &self,
        weeks: Vec<Outgoing>,
        cancel: CancellationToken,
    ) -> BoxStream<'_, Result<(AgentId, WriteOutcome), PlatformError>> {
        let run = &self.0;
        let schedule_id: Arc<str> = run.schedule.id.as_str().into();
        futures::stream::iter(weeks)
            .take_while(move |_| std::future::ready(!cancel.is_cancelled()))
            .map(move |w| {
                // Each write its own task, so that the workers' requests are
                // built and sent on every core: polled by the run's one task,
                // 256 workers at 100 ms latency sent 160 writes a round trip.
                // Dropped with the stream, the tasks stop what is in the air.
                let (api, schedule_id) = (run.api.clone(), schedule_id.clone());
                let task = tokio::spawn(
                    async move {
                        let outcome = write_one(&api, &schedule_id, &w).await?;
                        Ok((w.agent_id, outcome))
                    }
                    .in_current_span(),
                );
                let task = AbortOnDropHandle::new(task);
                async move {
                    match task.await {
                        Ok(written) => written,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(_) => Err(PlatformError::Cancelled),
                    }
                }
            })
            .buffer_unordered(run.concurrency)
            .boxed()
    }

    fn publish(
        &self,
        agents: Vec<AgentId>,
        cancel: CancellationToken,
    ) -> BoxStream<'_, Result<PublishBatch, PlatformError>> {
        let chunks: Vec<Vec<AgentId>> = agents.chunks(PUBLISH_BATCH).map(|c| c.to_vec()).collect();
        futures::stream::iter(chunks)
            .take_while(move |_| std::future::ready(!cancel.is_cancelled()))
            .then(move |chunk| self.0.publish_chunk(chunk))
            .boxed()
    }
}

/// One agent's week written, and what became of it; `Err` concerns the run.
async fn write_one(
    api: &SimpleApi,
    schedule_id: &str,
    w: &Outgoing,
) -> Result<WriteOutcome, PlatformError> {
    let shifts = wire_shifts(&w.week);
    Ok(
        match api.write_agent(schedule_id, &w.agent_id, &shifts).await {
            Ok(api::WriteOutcome::Written { .. }) => WriteOutcome::Written,
            Ok(api::WriteOutcome::Deferred { swap_id }) => WriteOutcome::Held { swap_id },
            Err(e) if e.is_run_level() => return Err(e),
            // CONTRACT §3: a PUT's 404 is an unknown agent.
            Err(e @ PlatformError::NotFound { .. }) => WriteOutcome::Refused(Unpublished::new(
                UnpublishedKind::UnknownAgent,
                e.to_string(),
            )),
            Err(e) => WriteOutcome::Refused(refused(&e)),
        },
    )
}

fn wire_shifts(week: &AgentWeek) -> Vec<model::Shift> {
    week.shifts()
        .iter()
        .map(|s| model::Shift {
            start_time: s.start,
            end_time: s.end,
            activity: Some(s.activity.to_string()),
        })
        .collect()
}

fn domain_swap(s: model::Swap) -> Swap {
    let party = |p: model::SwapParty| SwapParty {
        agent_id: p.agent_id.into(),
        shift: p.shift.map(|s| Span {
            start: s.start_time,
            end: s.end_time,
        }),
    };
    Swap {
        id: s.id.into(),
        status: match s.status {
            model::SwapStatus::Pending => SwapStatus::Pending,
            model::SwapStatus::Approved => SwapStatus::Approved,
            model::SwapStatus::Denied => SwapStatus::Denied,
            model::SwapStatus::Expired => SwapStatus::Expired,
            model::SwapStatus::Canceled => SwapStatus::Canceled,
        },
        requester: party(s.requester),
        recipient: party(s.recipient),
        updated_at: s.updated_at,
    }
}
