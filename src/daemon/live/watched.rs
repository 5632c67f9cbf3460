//! The daemon's platform, seen through: every call goes to the platform
//! unchanged, and what a run's calls return (agents written, published,
//! the trades listed) and its client's counters (429s, lock waits) are
//! noted in the run's [`RunWatch`]. A run's view learns its target from
//! `prepare`, the first call of every run that gets as far as the platform.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{Event, Live, RunWatch};
use crate::api::stats::StatsSnapshot;
use crate::api::trouble::Activity;
use crate::api::PlatformError;
use crate::config::TargetSettings;
use crate::plan::Swap;
use crate::platform::journal::Journal;
use crate::platform::{Outgoing, Platform, PublishBatch, Publishing, Schedule, WriteOutcome};
use crate::preflight::Refusal;
use crate::source::WeekPlan;

/// How often a run's client counters are read into its timeline.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// `platform`, with each run's calls noted in `live`.
pub fn watch(platform: Arc<dyn Platform>, live: Arc<Live>) -> Arc<dyn Platform> {
    Arc::new(Watched {
        inner: platform,
        live,
        sampler: OnceLock::new(),
    })
}

struct Watched {
    inner: Arc<dyn Platform>,
    live: Arc<Live>,
    /// Set by `prepare`: the run this view serves.
    sampler: OnceLock<Arc<Sampler>>,
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
fn sample_while_running(sampler: Weak<Sampler>, platform: Weak<dyn Platform>) {
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

impl Watched {
    fn run(&self) -> Option<Arc<RunWatch>> {
        self.sampler.get().map(|s| s.run.clone())
    }
}

impl Drop for Watched {
    /// The counts of the run's last moments, between the last sample and
    /// its end.
    fn drop(&mut self) {
        if let Some(sampler) = self.sampler.get() {
            sampler.sample(self.inner.stats());
        }
    }
}

impl Platform for Watched {
    fn for_run(&self) -> Arc<dyn Platform> {
        watch(self.inner.for_run(), self.live.clone())
    }

    fn stats(&self) -> StatsSnapshot {
        self.inner.stats()
    }

    fn activity(&self) -> Activity {
        self.inner.activity()
    }

    fn publishing(&self) -> Publishing {
        self.inner.publishing()
    }

    fn poll_floor(&self) -> Duration {
        self.inner.poll_floor()
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), PlatformError>> {
        self.inner.ready()
    }

    fn prepare<'a>(
        &'a self,
        target: &'a TargetSettings,
        plan: &'a WeekPlan,
    ) -> BoxFuture<'a, Result<Schedule, Refusal>> {
        let sampler = Arc::new(Sampler {
            run: self.live.begin(&target.name),
            live: self.live.clone(),
            last: Mutex::new((0, 0)),
        });
        sampler.sample(self.inner.stats());
        let weak = Arc::downgrade(&sampler);
        if self.sampler.set(sampler).is_ok() {
            sample_while_running(weak, Arc::downgrade(&self.inner));
        }
        self.inner.prepare(target, plan)
    }

    fn swaps<'a>(
        &'a self,
        schedule: &'a Schedule,
    ) -> BoxFuture<'a, Result<Vec<Swap>, PlatformError>> {
        Box::pin(async move {
            let swaps = self.inner.swaps(schedule).await?;
            if let Some(run) = self.run() {
                run.listed(&swaps, self.live.now());
            }
            Ok(swaps)
        })
    }

    fn write<'a>(
        &'a self,
        schedule: &'a Schedule,
        weeks: Vec<Outgoing>,
        cancel: CancellationToken,
    ) -> BoxStream<'a, Result<(String, WriteOutcome), PlatformError>> {
        let written = self.inner.write(schedule, weeks, cancel);
        let Some(run) = self.run() else {
            return written;
        };
        let live = self.live.clone();
        written
            .inspect(move |item| {
                if let Ok((_, WriteOutcome::Written)) = item {
                    run.count(live.now(), Event::Write, 1);
                }
            })
            .boxed()
    }

    fn recover<'a>(
        &'a self,
        journal: Arc<dyn Journal>,
    ) -> BoxFuture<'a, Result<(), PlatformError>> {
        self.inner.recover(journal)
    }

    fn publish<'a>(
        &'a self,
        schedule: &'a Schedule,
        agents: Vec<String>,
        cancel: CancellationToken,
    ) -> BoxStream<'a, Result<PublishBatch, PlatformError>> {
        let published = self.inner.publish(schedule, agents, cancel);
        let Some(run) = self.run() else {
            return published;
        };
        let live = self.live.clone();
        published
            .inspect(move |item| {
                if let Ok(batch) = item {
                    let count = u32::try_from(batch.published.len()).unwrap_or(u32::MAX);
                    run.count(live.now(), Event::Publish, count);
                }
            })
            .boxed()
    }
}
