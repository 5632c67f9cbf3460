//! What the daemon's runs are doing now, as only the process sees it: each
//! target's current (or last) run second by second, and the shift trades
//! its platform listed, with when each was last seen. The store keeps the
//! agents' states; this keeps what the store has no place for, for the
//! status page.

mod timeline;
mod watched;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

pub use timeline::{Event, Second, Timeline};
pub use watched::watch;

use crate::clock::SharedClock;
use crate::domain::plan::Swap;
use crate::domain::{SwapId, TargetName};

/// A trade as the platform last listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenSwap {
    pub swap: Swap,
    /// When a listing last had it.
    pub seen_at: DateTime<Utc>,
}

/// One run of one target, as it goes.
#[derive(Debug)]
pub struct RunWatch {
    pub started: DateTime<Utc>,
    timeline: Mutex<Timeline>,
    swaps: Mutex<BTreeMap<SwapId, SeenSwap>>,
}

impl RunWatch {
    fn new(started: DateTime<Utc>) -> Self {
        let mut timeline = Timeline::default();
        timeline.reach(started);
        RunWatch {
            started,
            timeline: Mutex::new(timeline),
            swaps: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn count(&self, at: DateTime<Utc>, kind: Event, count: u32) {
        self.timeline.lock().expect("timeline").add(at, kind, count);
    }

    /// Keeps a listing of the schedule's trades: each one listed is seen
    /// at `at`; one no longer listed keeps when it was last seen.
    pub fn listed(&self, swaps: &[Swap], at: DateTime<Utc>) {
        let mut seen = self.swaps.lock().expect("swaps seen");
        for swap in swaps {
            let entry = SeenSwap {
                swap: swap.clone(),
                seen_at: at,
            };
            seen.insert(swap.id.clone(), entry);
        }
    }

    /// The run's seconds; while it runs (`to`), up to `to`.
    pub fn seconds(&self, to: Option<DateTime<Utc>>) -> Vec<Second> {
        let mut timeline = self.timeline.lock().expect("timeline");
        if let Some(now) = to {
            timeline.reach(now);
        }
        timeline.seconds()
    }

    pub fn swap(&self, id: &SwapId) -> Option<SeenSwap> {
        self.swaps.lock().expect("swaps seen").get(id).cloned()
    }
}

/// Each target's latest run, as its platform view reported it.
#[derive(Debug)]
pub struct Live {
    clock: SharedClock,
    runs: Mutex<BTreeMap<TargetName, Arc<RunWatch>>>,
}

impl Live {
    pub fn new(clock: SharedClock) -> Arc<Self> {
        Arc::new(Live {
            clock,
            runs: Mutex::new(BTreeMap::new()),
        })
    }

    /// A run of `target` starts: it replaces the last one's watch.
    fn begin(&self, target: &TargetName) -> Arc<RunWatch> {
        let watch = Arc::new(RunWatch::new(self.clock.now()));
        let mut runs = self.runs.lock().expect("live runs");
        runs.insert(target.clone(), watch.clone());
        watch
    }

    /// `target`'s current run, or its last one in this process.
    pub fn run(&self, target: &TargetName) -> Option<Arc<RunWatch>> {
        self.runs.lock().expect("live runs").get(target).cloned()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
