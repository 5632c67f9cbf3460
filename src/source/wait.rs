//! Waiting for a week's source file that is not there yet: exports from
//! planning tools are routinely late, and a run that refused at once would
//! lose the week until someone noticed.
//!
//! The file counts as complete once its size and mtime have stayed the same
//! for the settle time, measured on the run's [`Clock`](crate::clock::Clock).
//! That rule covers both ways exporters write: a file renamed into place is
//! complete from the start and only waits out the settle time; one written in
//! place is taken only after its writer has paused that long. Only the exact
//! path is looked at, so the partial or temporary files an exporter renames
//! from (`*.partial`, `*.tmp`, dot-files) are never taken for it.
//!
//! A `notify` watcher on the file's directory only shortens the wait (it wakes
//! the loop when the file's name changes); a bounded poll on the clock is the
//! fallback where watching is not supported, the directory does not exist
//! yet, or an event is lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{SourceError, SourceProblem};
use crate::clock::SharedClock;
use crate::config::{SourceWaitSettings, TargetSettings};
use crate::domain::TargetName;

/// The longest the loop sleeps between two looks at the file.
const POLL: Duration = Duration::from_secs(10);

/// What to wait for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub path: PathBuf,
    pub since: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// When the wait counts as late (the webhook is told); None when that
    /// would be at or past the deadline.
    pub late_at: Option<DateTime<Utc>>,
    pub settle: Duration,
    /// The content hash of a file already tried and refused: only another
    /// content counts as arrived.
    pub unless_hash: Option<String>,
}

impl Watch {
    /// `target`'s file for `week`, waited for from `now` until the target's
    /// `source_wait`, never past `cap` (the deferral deadline).
    pub fn for_target(
        target: &TargetSettings,
        week: NaiveDate,
        now: DateTime<Utc>,
        cap: DateTime<Utc>,
    ) -> Watch {
        let wait = &target.source_wait;
        let (deadline, late_at) = window(now, wait, cap);
        Watch {
            path: target.source.path_for(week),
            since: now,
            deadline,
            late_at,
            settle: wait.settle,
            unless_hash: None,
        }
    }
}

/// The deadline of a wait started at `now`, and when it counts as late.
fn window(
    now: DateTime<Utc>,
    wait: &SourceWaitSettings,
    cap: DateTime<Utc>,
) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    let after = |d: Duration| now + TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
    let deadline = wait.wait.map_or(cap, |w| after(w).min(cap)).max(now);
    let late_at = Some(after(wait.grace)).filter(|at| *at < deadline);
    (deadline, late_at)
}

impl Watch {
    /// The refusal of a run whose file did not arrive complete in time,
    /// naming the file.
    pub fn never_arrived(&self, target: &TargetName) -> SourceError {
        SourceError::new(vec![SourceProblem {
            file: self.path.clone(),
            line: None,
            message: format!(
                "the week's source file did not arrive complete by {}: put it there and trigger a run, or fix targets.{target}.source",
                self.deadline
            ),
        }])
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitEnd {
    /// The file is complete; its content hash (hex SHA-256, as
    /// [`WeekPlan::source_hash`](super::WeekPlan)).
    Ready { hash: String },
    /// The deadline passed without a complete (new) file.
    DeadlinePassed,
    /// The run was cancelled (shutdown).
    Cancelled,
}

/// What a run's report says about a wait it went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waited {
    pub path: PathBuf,
    pub since: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// When the file was found complete; None: it never arrived.
    pub arrived: Option<DateTime<Utc>>,
}

impl Waited {
    pub fn new(watch: &Watch, arrived: Option<DateTime<Utc>>) -> Self {
        Waited {
            path: watch.path.clone(),
            since: watch.since,
            deadline: watch.deadline,
            arrived,
        }
    }
}

/// A file's size and mtime: unchanged for the settle time means complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// Hex SHA-256 of the file's bytes, read a buffer at a time (a week's
/// file may be large); None if it cannot be read (gone again).
pub fn content_hash(path: &Path) -> Option<String> {
    // Never blocking on a FIFO swapped in: the reading refuses links itself.
    let mut file = super::open_plain(path, true).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    Some(hex::encode(hasher.finalize()))
}

/// Waits until `watch.path` is complete (and, with `unless_hash`, differs
/// from the file already tried), the deadline passes, or `cancel` fires.
pub async fn until_ready(
    watch: &Watch,
    clock: &SharedClock,
    cancel: &CancellationToken,
) -> WaitEnd {
    let wake = Arc::new(Notify::new());
    let mut watcher = None;
    // The stamp last seen and since when it has not changed.
    let mut seen: Option<(Stamp, DateTime<Utc>)> = None;
    // A complete file whose content is the one already tried.
    let mut tried: Option<Stamp> = None;
    loop {
        if watcher.is_none() {
            watcher = watch_directory(&watch.path, &wake);
        }
        let now = clock.now();
        let current = stamp(&watch.path);
        match (current, seen) {
            (None, _) => seen = None,
            (Some(s), Some((last, since))) if s == last => {
                if settled(since, watch.settle, now) && tried != Some(s) {
                    match content_hash(&watch.path) {
                        Some(hash) if Some(&hash) != watch.unless_hash.as_ref() => {
                            return WaitEnd::Ready { hash }
                        }
                        _ => tried = Some(s),
                    }
                }
            }
            (Some(s), _) => seen = Some((s, now)),
        }
        if now >= watch.deadline {
            return WaitEnd::DeadlinePassed;
        }
        let nap = next_look(now, watch, seen.map(|(_, since)| since));
        tokio::select! {
            _ = clock.sleep(nap) => {}
            _ = wake.notified() => {}
            _ = cancel.cancelled() => return WaitEnd::Cancelled,
        }
    }
}

fn settled(since: DateTime<Utc>, settle: Duration, now: DateTime<Utc>) -> bool {
    now - since >= TimeDelta::from_std(settle).unwrap_or(TimeDelta::MAX)
}

/// How long to sleep: the poll at most, and no later than the deadline or
/// the moment a file seen unchanged would have settled.
fn next_look(
    now: DateTime<Utc>,
    watch: &Watch,
    unchanged_since: Option<DateTime<Utc>>,
) -> Duration {
    let settle = TimeDelta::from_std(watch.settle).unwrap_or(TimeDelta::MAX);
    let settles_at = unchanged_since
        .map(|since| since + settle)
        // Already settled (and tried): nothing to look at before a change.
        .filter(|at| *at > now);
    let next = settles_at.map_or(watch.deadline, |at| at.min(watch.deadline));
    (next - now).to_std().unwrap_or_default().min(POLL)
}

/// Watches the file's directory, waking `wake` on any event naming the file.
/// None where watching is not supported or the directory is not there yet:
/// the poll is then all there is, and the next look tries again.
fn watch_directory(path: &Path, wake: &Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = path.parent().filter(|d| d.is_dir())?;
    let name = path.file_name()?.to_owned();
    let wake = wake.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let names_the_file = event
            .map(|e| {
                e.paths
                    .iter()
                    .any(|p| p.file_name() == Some(name.as_os_str()))
            })
            // An error may mean lost events: look again rather than miss one.
            .unwrap_or(true);
        if names_the_file {
            wake.notify_one();
        }
    };
    let mut watcher = notify::recommended_watcher(handler)
        .inspect_err(|e| tracing::debug!(error = %e, "cannot watch files here: polling"))
        .ok()?;
    watcher
        .watch(dir, notify::RecursiveMode::NonRecursive)
        .inspect_err(|e| tracing::debug!(dir = %dir.display(), error = %e, "cannot watch the source directory: polling"))
        .ok()?;
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn settings(wait: Option<u64>, grace: u64) -> SourceWaitSettings {
        SourceWaitSettings {
            wait: wait.map(Duration::from_secs),
            grace: Duration::from_secs(grace),
            settle: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_wait_ends_at_source_wait_never_past_the_cap() {
        let (now, cap) = (at("2026-11-26T12:00:00Z"), at("2026-11-29T18:00:00Z"));
        let (deadline, late) = window(now, &settings(None, 3600), cap);
        assert_eq!((deadline, late), (cap, Some(at("2026-11-26T13:00:00Z"))));
        let (deadline, _) = window(now, &settings(Some(7200), 3600), cap);
        assert_eq!(deadline, at("2026-11-26T14:00:00Z"));
        // Longer than the cap: capped, so it never meets next week's run.
        let (deadline, _) = window(now, &settings(Some(30 * 86400), 3600), cap);
        assert_eq!(deadline, cap);
        // A grace at or past the deadline is never reached.
        let (deadline, late) = window(now, &settings(Some(0), 3600), cap);
        assert_eq!((deadline, late), (now, None));
        // Started after the cap (a late catch-up): refused at once.
        let later = at("2026-11-30T12:00:00Z");
        assert_eq!(window(later, &settings(None, 0), cap).0, later);
    }

    fn watch(dir: &Path, now: DateTime<Utc>) -> Watch {
        Watch {
            path: dir.join("2026-11-30.csv"),
            since: now,
            deadline: now + TimeDelta::days(1),
            late_at: None,
            settle: Duration::from_secs(5),
            unless_hash: None,
        }
    }

    #[tokio::test]
    async fn cancelling_ends_the_wait_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let manual = ManualClock::new(at("2026-11-26T12:00:00Z"));
        let clock: SharedClock = Arc::new(manual.clone());
        let cancel = CancellationToken::new();
        let w = watch(dir.path(), clock.now());
        // The clock never moves: only the cancellation can end this wait.
        let cancelling = async {
            tokio::task::yield_now().await;
            cancel.cancel();
        };
        let (end, ()) = tokio::join!(until_ready(&w, &clock, &cancel), cancelling);
        assert_eq!(end, WaitEnd::Cancelled);
    }

    /// Waits on `w` while the manual clock moves a day, an hour at a time.
    async fn wait_a_day(w: &Watch, manual: &ManualClock) -> WaitEnd {
        let clock: SharedClock = Arc::new(manual.clone());
        let cancel = CancellationToken::new();
        let advancing = async {
            for _ in 0..25 {
                tokio::task::yield_now().await;
                manual.advance(Duration::from_secs(3600));
            }
        };
        tokio::join!(until_ready(w, &clock, &cancel), advancing).0
    }

    #[tokio::test]
    async fn a_file_with_the_refused_content_has_not_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let manual = ManualClock::new(at("2026-11-26T12:00:00Z"));
        let mut w = watch(dir.path(), manual.now());
        std::fs::write(&w.path, "refused").unwrap();
        w.unless_hash = content_hash(&w.path);
        assert_eq!(wait_a_day(&w, &manual).await, WaitEnd::DeadlinePassed);

        std::fs::write(&w.path, "corrected").unwrap();
        w.deadline = manual.now() + TimeDelta::days(1);
        let hash = content_hash(&w.path).unwrap();
        assert_eq!(wait_a_day(&w, &manual).await, WaitEnd::Ready { hash });
    }
}
