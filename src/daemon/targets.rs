//! What the daemon knows of each target, between runs and during them, in
//! one map behind one lock (the shape of mini-redis's `Shared { state }`):
//! a target's running flag, phase, next run, retry and unrecorded week are
//! read and changed together, never from five maps that can disagree.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Retry, RunPhase};
use crate::domain::TargetName;

/// One target, as the daemon sees it now.
#[derive(Debug, Clone, Default)]
pub struct TargetState {
    /// A run of the target is claimed or under way.
    pub running: bool,
    /// What the running run is doing (waiting for its source...).
    pub phase: Option<RunPhase>,
    /// When the cron fires next.
    pub next_run: Option<DateTime<Utc>>,
    /// The failed run waiting to be tried again, or being tried.
    pub retry: Option<Retry>,
    /// The week whose last run was refused because the platform shows it
    /// published and the store knows nothing of it.
    pub unrecorded: Option<NaiveDate>,
}

/// Every target's state.
#[derive(Debug, Default)]
pub struct Targets(Mutex<BTreeMap<TargetName, TargetState>>);

impl Targets {
    /// Changes `target`'s state (a target not seen yet starts from the
    /// default), and returns what `change` says.
    pub fn update<R>(&self, target: &TargetName, change: impl FnOnce(&mut TargetState) -> R) -> R {
        let mut all = self.0.lock().expect("targets");
        change(all.entry(target.clone()).or_default())
    }

    /// What `read` says of `target`'s state, or of the default one.
    pub fn read<R>(&self, target: &TargetName, read: impl FnOnce(&TargetState) -> R) -> R {
        let all = self.0.lock().expect("targets");
        match all.get(target) {
            Some(state) => read(state),
            None => read(&TargetState::default()),
        }
    }

    /// What `read` says of every target's state.
    pub fn all<R>(&self, read: impl FnOnce(&BTreeMap<TargetName, TargetState>) -> R) -> R {
        read(&self.0.lock().expect("targets"))
    }

    /// Each target's next run: those `next` names, and none for the others.
    pub fn set_next_runs(&self, next: &BTreeMap<TargetName, DateTime<Utc>>) {
        let mut all = self.0.lock().expect("targets");
        for (name, state) in all.iter_mut() {
            state.next_run = next.get(name).copied();
        }
        for (name, at) in next {
            all.entry(name.clone()).or_default().next_run = Some(*at);
        }
    }
}

/// A target's name as a metric's `target` label: its text.
impl From<TargetName> for metrics::SharedString {
    fn from(name: TargetName) -> Self {
        name.into_string().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_runs_replace_the_old_ones_and_other_fields_stay() {
        let targets = Targets::default();
        let name = |s: &str| TargetName::new(s).unwrap();
        targets.update(&name("a"), |s| s.running = true);
        let at = DateTime::<Utc>::UNIX_EPOCH;
        targets.set_next_runs(&BTreeMap::from([(name("a"), at), (name("b"), at)]));
        targets.set_next_runs(&BTreeMap::from([(name("b"), at)]));
        assert_eq!(
            targets.read(&name("a"), |s| (s.running, s.next_run)),
            (true, None)
        );
        assert_eq!(targets.read(&name("b"), |s| s.next_run), Some(at));
        assert!(!targets.read(&name("never-seen"), |s| s.running));
    }
}
