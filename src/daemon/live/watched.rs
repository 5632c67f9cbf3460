//! The daemon's platform, seen through: every call goes to the platform
//! unchanged, and what a run's calls return (agents written, published,
//! the trades listed) and its client's counters (429s, lock waits) are
//! noted in the run's [`RunWatch`], from `begin_run` on.
//!
//! Its `Platform` and `PlatformRun` methods have the signatures of every
//! platform's (platform/simple, platform/genesys): the trait's, repeated
//! because each implementation is its own.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{Event, Live, RunWatch};
use crate::api::stats::StatsSnapshot;
use crate::api::trouble::Activity;
use crate::api::PlatformError;
use crate::config::TargetSettings;
use crate::domain::plan::Swap;
use crate::domain::AgentId;
use crate::platform::journal::Journal;
use crate::platform::{
    HeldWeeks, Outgoing, Platform, PlatformRun, PublishBatch, Publishing, RunRefused, RunWriter,
    Schedule, WriteOutcome,
};
use crate::source::WeekPlan;

/// How often a run's client counters are read into its timeline.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// `platform`, with each run's calls noted in `live`.
pub fn watch(platform: Arc<dyn Platform>, live: Arc<Live>) -> Arc<dyn Platform> {
    Arc::new(Watched {
        inner: platform,
        live,
    })
}

struct Watched {
    inner: Arc<dyn Platform>,
    live: Arc<Live>,
}

/// Turns a run's client counters into events of its timeline.
struct Sampler {
    run: Arc<RunWatch>,
    live: Arc<Live>,
    /// The counters as last read: (rate limited, lock waits).
    last: Mutex<(u64, u64)>,
}

impl Sampler {
    fn sample(&self, stats: StatsSnapshot) {
        let now = (stats.rate_limited + stats.masked_rate_limited, stats.locked);
        let before = std::mem::replace(&mut *self.last.lock().expect("sampled counters"), now);
        let at = self.live.now();
        let more = |n: u64, b: u64| u32::try_from(n.saturating_sub(b)).unwrap_or(u32::MAX);
        self.run
            .count(at, Event::RateLimited, more(now.0, before.0));
        self.run.count(at, Event::LockWait, more(now.1, before.1));
    }
}

/// Reads the run's counters every [`SAMPLE_EVERY`] until the run's view
/// is gone.
fn sample_while_running(sampler: Weak<Sampler>, platform: Weak<dyn PlatformRun>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        loop {
            every.tick().await;
            match (sampler.upgrade(), platform.upgrade()) {
                (Some(s), Some(p)) => s.sample(p.stats()),
                _ => return,
            }
        }
    });
}

/// One run's view, watched from its beginning.
struct WatchedRun {
    inner: Arc<dyn PlatformRun>,
    sampler: Arc<Sampler>,
}

impl Drop for WatchedRun {
    /// The counts of the run's last moments, between the last sample and
    /// its end.
    fn drop(&mut self) {
        self.sampler.sample(self.inner.stats());
    }
}

impl Platform for Watched {
    fn ready(&self) -> BoxFuture<'_, Result<(), PlatformError>> {
        self.inner.ready()
    }

    fn begin_run<'a>(
        &'a self,
        target: &'a TargetSettings,
        plan: &'a WeekPlan,
    ) -> BoxFuture<'a, Result<Arc<dyn PlatformRun>, RunRefused>> {
        Box::pin(async move {
            let sampler = Arc::new(Sampler {
                run: self.live.begin(&target.name),
                live: self.live.clone(),
                last: Mutex::new((0, 0)),
            });
            let inner = match self.inner.begin_run(target, plan).await {
                Ok(inner) => inner,
                Err(refused) => {
                    sampler.sample(refused.stats);
                    return Err(refused);
                }
            };
            sampler.sample(inner.stats());
            sample_while_running(Arc::downgrade(&sampler), Arc::downgrade(&inner));
            Ok(Arc::new(WatchedRun { inner, sampler }) as Arc<dyn PlatformRun>)
        })
    }
}

impl PlatformRun for WatchedRun {
    fn schedule(&self) -> &Schedule {
        self.inner.schedule()
    }

    fn stats(&self) -> StatsSnapshot {
        self.inner.stats()
    }

    fn activity(&self) -> Activity {
        self.inner.activity()
    }

    fn poll_floor(&self) -> Duration {
        self.inner.poll_floor()
    }

    fn swaps(&self) -> BoxFuture<'_, Result<Vec<Swap>, PlatformError>> {
        Box::pin(async move {
            let swaps = self.inner.swaps().await?;
            self.sampler.run.listed(&swaps, self.sampler.live.now());
            Ok(swaps)
        })
    }

    fn held_weeks(&self, agents: Vec<AgentId>) -> BoxFuture<'_, Result<HeldWeeks, PlatformError>> {
        self.inner.held_weeks(agents)
    }

    fn writer(
        self: Arc<Self>,
        journal: Arc<dyn Journal>,
    ) -> BoxFuture<'static, Result<Box<dyn RunWriter>, PlatformError>> {
        Box::pin(async move {
            let inner = self.inner.clone().writer(journal).await?;
            Ok(Box::new(WatchedWriter { inner, run: self }) as Box<dyn RunWriter>)
        })
    }
}

/// A run's writes and publishes, counted in its timeline.
struct WatchedWriter {
    inner: Box<dyn RunWriter>,
    run: Arc<WatchedRun>,
}

impl RunWriter for WatchedWriter {
    fn publishing(&self) -> Publishing {
        self.inner.publishing()
    }

    fn write(
        &self,
        weeks: Vec<Outgoing>,
        cancel: CancellationToken,
    ) -> BoxStream<'_, Result<(AgentId, WriteOutcome), PlatformError>> {
        let (run, live) = (self.run.sampler.run.clone(), self.run.sampler.live.clone());
        self.inner
            .write(weeks, cancel)
            .inspect(move |item| {
                if let Ok((_, WriteOutcome::Written)) = item {
                    run.count(live.now(), Event::Write, 1);
                }
            })
            .boxed()
    }

    fn publish(
        &self,
        agents: Vec<AgentId>,
        cancel: CancellationToken,
    ) -> BoxStream<'_, Result<PublishBatch, PlatformError>> {
        let (run, live) = (self.run.sampler.run.clone(), self.run.sampler.live.clone());
        self.inner
            .publish(agents, cancel)
            .inspect(move |item| {
                if let Ok(batch) = item {
                    let count = u32::try_from(batch.published.len()).unwrap_or(u32::MAX);
                    run.count(live.now(), Event::Publish, count);
                }
            })
            .boxed()
    }
}
