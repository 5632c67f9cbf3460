//! What the client knows of each schedule's publish lock, so that writes
//! wait for it instead of meeting a `409 schedule_locked`. A write that
//! meets the lock waits for the `Retry-After` the platform sends, in whole
//! seconds: a second lost by every worker at every publish, for a lock of
//! a fraction of one. So writes to a schedule wait while this client's
//! publish of it is in flight, and after its answer for the time the
//! platform keeps the lock (CONTRACT §3: "a few seconds"), learned from
//! the writes themselves: the longest time after an answer a write still
//! met the lock, and the shortest it did not.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::clock::{delta, SharedClock};

/// How close the two bounds must be before writes go at the one known
/// to be clear, rather than trying the middle.
const PRECISION: Duration = Duration::from_millis(5);

/// Until a write has gone through after an answer, one write probes the
/// lock every this long, without waiting for the answer to the one before:
/// waiting for it, a probe went every round trip (120 ms at 100 ms
/// latency), and the first lock's end was found that much late.
const PROBE_STEP: Duration = Duration::from_millis(20);

/// How long the platform keeps the lock after answering a publish, as
/// offsets from when the platform sent its answer to when a write arrived.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Hold {
    /// The latest offset at which a write met the lock.
    locked: Duration,
    /// The earliest offset at which a write did not, once one has.
    clear: Option<Duration>,
}

impl Hold {
    fn met_lock(&mut self, offset: Duration) {
        self.locked = self.locked.max(offset);
        // Locked where it was once clear: the platform holds it longer now.
        if self.clear.is_some_and(|c| c <= offset) {
            self.clear = None;
        }
    }

    fn went_through(&mut self, offset: Duration) {
        if offset <= self.locked {
            // Clear where it was once locked: the platform holds it less now.
            self.locked = Duration::ZERO;
        }
        self.clear = Some(self.clear.map_or(offset, |c| c.min(offset)));
    }

    /// When writes go after the next answer: midway between the bounds, so
    /// that each publish halves what is not known, and at the clear bound
    /// once the two are close.
    fn next_try(&self) -> Duration {
        match self.clear {
            None => self.locked,
            Some(c) if c.saturating_sub(self.locked) <= PRECISION => c,
            Some(c) => self.locked + (c.saturating_sub(self.locked)) / 2,
        }
    }
}

#[derive(Debug, Default)]
struct ScheduleLock {
    /// This client's publishes of the schedule sent and not yet answered.
    publishing: usize,
    /// When the last successful publish's answer came back.
    answered: Option<DateTime<Utc>>,
    hold: Hold,
    /// When the last write probing the lock left.
    probed: Option<DateTime<Utc>>,
    /// When a write last tried midway between the bounds: until its answer
    /// moves them, the others wait for the clear bound.
    tried: Option<DateTime<Utc>>,
    /// When this client's next publish of it is due to leave: writes that
    /// could still be on their way then wait for it (and its hold).
    due: Option<DateTime<Utc>>,
}

impl ScheduleLock {
    /// When a write may go, seen at `now` (see [`PublishLocks::writable`]);
    /// `Probe` means one may, claiming the probe.
    fn writable(&self, now: DateTime<Utc>, round_trip: Duration, jitter: Duration) -> Writable {
        let publish_near = self.due.is_some_and(|due| now + delta(jitter) >= due);
        if self.publishing > 0 || publish_near {
            return Writable::AfterPublish;
        }
        let Some(answered) = self.answered else {
            return Writable::Now;
        };
        // Later by the jitter: a write that went through early on a slow
        // way there makes the clear bound look earlier than it is.
        let after = |hold: Duration| answered + delta(hold) + delta(jitter) - delta(round_trip);
        let next_try = self.hold.next_try();
        let at = after(next_try);
        match self.hold.clear {
            _ if at > now => Writable::At(at),
            Some(clear) if next_try == clear || after(clear) <= now => Writable::Now,
            // Midway between the bounds one write tries; the others wait
            // for the clear bound or its answer. All trying at once, a
            // second's calls (at a hidden 200/s, sent together) met the
            // lock 151 at a time.
            Some(clear) if self.tried == Some(at) => Writable::At(after(clear)),
            Some(_) => Writable::Try(at),
            None => match self.probed.map(|p| p + delta(PROBE_STEP)) {
                Some(next) if next > now => Writable::At(next),
                _ => Writable::Probe,
            },
        }
    }
}

/// When a write to a schedule may go.
#[derive(Debug, PartialEq, Eq)]
enum Writable {
    Now,
    At(DateTime<Utc>),
    /// After this client's publish of it is answered.
    AfterPublish,
    /// Now, as the probe of its step: nothing says yet when the lock ends.
    Probe,
    /// Now, as the one write trying the lock midway between its bounds at
    /// the time given.
    Try(DateTime<Utc>),
}

#[derive(Debug)]
pub struct PublishLocks {
    clock: SharedClock,
    schedules: Mutex<HashMap<String, ScheduleLock>>,
    changed: Notify,
}

/// What this client holds on a schedule's lock until dropped: a publish
/// due to leave, a publish in flight. Dropped, it
/// undoes what it held and wakes the writes waiting.
pub struct Held<'a> {
    locks: &'a PublishLocks,
    schedule: String,
    release: fn(&mut ScheduleLock),
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.locks.with(&self.schedule, self.release);
        self.locks.changed.notify_waiters();
    }
}

/// A publish waiting for its bucket, until dropped.
pub type Due<'a> = Held<'a>;
/// A publish in flight, until dropped.
pub type Publishing<'a> = Held<'a>;

impl PublishLocks {
    pub fn new(clock: SharedClock) -> Self {
        PublishLocks {
            clock,
            schedules: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        }
    }

    fn with<T>(&self, schedule: &str, f: impl FnOnce(&mut ScheduleLock) -> T) -> T {
        let mut all = self.schedules.lock().expect("publish locks");
        f(all.entry(schedule.to_owned()).or_default())
    }

    /// `round_trip` is the shortest seen: a write leaves that much before
    /// the time it is to arrive, counted from the answer's departure.
    /// `jitter` is how much later than another a call may arrive: a write
    /// leaving within it of a publish may arrive after the publish.
    fn writable(&self, schedule: &str, round_trip: Duration, jitter: Duration) -> Writable {
        let now = self.clock.now();
        self.with(schedule, |s| {
            let writable = s.writable(now, round_trip, jitter);
            match writable {
                Writable::Probe => s.probed = Some(now),
                Writable::Try(at) => s.tried = Some(at),
                _ => {}
            }
            writable
        })
    }

    /// Whether a write to `schedule` may go now, without waiting or probing.
    pub fn clear(&self, schedule: &str, round_trip: Duration, jitter: Duration) -> bool {
        let now = self.clock.now();
        self.with(schedule, |s| {
            s.writable(now, round_trip, jitter) == Writable::Now
        })
    }

    /// Waits until a write to `schedule` may go; true when the write is the
    /// probe of the lock for its step.
    pub async fn wait_writable(
        &self,
        schedule: &str,
        round_trip: Duration,
        jitter: Duration,
    ) -> bool {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.writable(schedule, round_trip, jitter) {
                Writable::Now => return false,
                Writable::Probe | Writable::Try(_) => return true,
                Writable::AfterPublish => changed.await,
                Writable::At(at) => {
                    // Or sooner, when a write's answer moves the bounds.
                    tokio::select! {
                        _ = self.clock.sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
            }
        }
    }

    /// How long a write that met the lock waits: up to the point known to
    /// be clear, or a probe's step while none is, never longer than the
    /// platform's `Retry-After`.
    pub fn after_refusal(&self, schedule: &str, hint: Duration, round_trip: Duration) -> Duration {
        let now = self.clock.now();
        self.with(schedule, |s| {
            let Some(answered) = s.answered else {
                return hint;
            };
            let Some(clear) = s.hold.clear else {
                return PROBE_STEP.min(hint);
            };
            let at = answered + delta(clear) - delta(round_trip);
            (at - now).to_std().unwrap_or_default().min(hint)
        })
    }

    /// A publish of `schedule` is due to leave at `at`, when its bucket
    /// allows: from just before then, writes wait for it until the guard
    /// drops.
    pub fn due(&self, schedule: &str, at: DateTime<Utc>) -> Due<'_> {
        self.with(schedule, |s| s.due = Some(at));
        self.held(schedule, |s| s.due = None)
    }

    /// A publish of `schedule` leaves now; writes wait until the guard drops.
    pub fn publishing(&self, schedule: &str) -> Publishing<'_> {
        self.with(schedule, |s| s.publishing += 1);
        self.held(schedule, |s| s.publishing = s.publishing.saturating_sub(1))
    }

    fn held(&self, schedule: &str, release: fn(&mut ScheduleLock)) -> Held<'_> {
        Held {
            locks: self,
            schedule: schedule.to_owned(),
            release,
        }
    }

    /// A publish of `schedule` was answered with success now.
    pub fn published(&self, schedule: &str) {
        let now = self.clock.now();
        self.with(schedule, |s| s.answered = Some(now));
    }

    /// A write to `schedule` that left at `sent_at` met the lock or not.
    pub fn observe_write(
        &self,
        schedule: &str,
        sent_at: DateTime<Utc>,
        round_trip: Duration,
        locked: bool,
    ) {
        self.with(schedule, |s| {
            let Some(answered) = s.answered else { return };
            // Left before the answer came back, or while another publish
            // ran: it says nothing of the time after an answer.
            if sent_at < answered || s.publishing > 0 {
                return;
            }
            let offset = (sent_at - answered).to_std().unwrap_or_default() + round_trip;
            if locked {
                s.hold.met_lock(offset);
            } else {
                s.hold.went_through(offset);
            }
        });
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Locks on a manual clock, and the clock's start.
    fn at_start() -> (
        DateTime<Utc>,
        std::sync::Arc<crate::clock::ManualClock>,
        PublishLocks,
    ) {
        let t0: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().unwrap();
        let clock = std::sync::Arc::new(crate::clock::ManualClock::new(t0));
        let locks = PublishLocks::new(clock.clone());
        (t0, clock, locks)
    }

    #[test]
    fn the_hold_is_found_by_halving_what_is_not_known() {
        let mut hold = Hold::default();
        assert_eq!(hold.next_try(), ms(0));
        hold.met_lock(ms(10));
        hold.went_through(ms(1050));
        assert_eq!(hold.next_try(), ms(530));
        hold.went_through(ms(530));
        assert_eq!(hold.next_try(), ms(270));
        hold.met_lock(ms(270));
        hold.met_lock(ms(396));
        hold.went_through(ms(500));
        assert_eq!(hold.next_try(), ms(448));
        hold.met_lock(ms(498));
        // Close enough: the clear bound.
        assert_eq!(hold.next_try(), ms(500));
    }

    #[test]
    fn a_hold_that_changes_is_learned_again() {
        let mut hold = Hold::default();
        hold.met_lock(ms(400));
        hold.went_through(ms(402));
        assert_eq!(hold.next_try(), ms(402));
        // Longer now: the clear bound is forgotten.
        hold.met_lock(ms(700));
        assert_eq!(hold.next_try(), ms(700));
        // Shorter now: the locked bound is forgotten.
        hold.went_through(ms(100));
        assert_eq!(hold.next_try(), ms(50));
    }

    #[tokio::test]
    async fn writes_wait_while_a_publish_is_in_flight_and_for_the_hold_after_it() {
        let (t0, clock, locks) = at_start();
        let rtt = ms(40);
        assert_eq!(locks.writable("s", rtt, ms(10)), Writable::Now);
        let publishing = locks.publishing("s");
        assert_eq!(locks.writable("s", rtt, ms(10)), Writable::AfterPublish);
        locks.published("s");
        drop(publishing);
        // Nothing learned yet: one write probes at once, the next a step
        // later, whether the first is answered or not; met by the lock, a
        // probe tries again shortly.
        assert_eq!(locks.writable("s", rtt, ms(10)), Writable::Probe);
        let step = t0 + delta(PROBE_STEP);
        assert_eq!(locks.writable("s", rtt, ms(10)), Writable::At(step));
        clock.advance(PROBE_STEP);
        assert_eq!(locks.writable("s", rtt, ms(10)), Writable::Probe);
        locks.observe_write("s", t0, rtt, true);
        assert_eq!(locks.after_refusal("s", ms(1000), rtt), PROBE_STEP);
        let later = t0 + TimeDelta::milliseconds(1000);
        locks.observe_write("s", later, rtt, false);
        // Halfway between 40 ms (locked) and 1,040 ms (clear) after the
        // answer left, less the round trip, and later by the jitter: a write
        // that went through on a slow way there showed a clear bound earlier
        // than the platform's (at exactly the bound, writes met the lock
        // tens of times a publish).
        let publishing = locks.publishing("s");
        locks.published("s");
        drop(publishing);
        assert_eq!(
            locks.writable("s", rtt, ms(10)),
            Writable::At(step + TimeDelta::milliseconds(540 - 40 + 10))
        );
        // A write that meets the lock waits until the point known clear.
        assert_eq!(locks.after_refusal("s", ms(1000), rtt), ms(1000));
        assert_eq!(locks.after_refusal("s", ms(300), rtt), ms(300));
        // A write that got its turn from the budget meanwhile is not clear
        // to go until then either.
        assert!(!locks.clear("s", rtt, ms(10)));
        // There, one write tries; the others wait for the clear bound,
        // or for the try's answer.
        clock.advance(ms(511));
        assert!(!locks.clear("s", rtt, ms(10)));
        let midway = step + TimeDelta::milliseconds(540 - 40 + 10);
        assert_eq!(locks.writable("s", rtt, ms(10)), Writable::Try(midway));
        let clear = step + TimeDelta::milliseconds(1040 - 40 + 10);
        assert_eq!(locks.writable("s", rtt, ms(10)), Writable::At(clear));
        // Its answer, a round trip later: through.
        clock.advance(rtt);
        locks.observe_write("s", midway, rtt, false);
        assert!(locks.clear("s", rtt, ms(10)));
    }

    #[tokio::test]
    async fn a_try_that_meets_the_lock_leaves_the_others_waiting_for_the_clear_bound() {
        let (t0, clock, locks) = at_start();
        let (rtt, jitter) = (ms(40), ms(10));
        locks.with("s", |s| {
            s.hold.met_lock(ms(40));
            s.hold.went_through(ms(1040));
        });
        let publishing = locks.publishing("s");
        locks.published("s");
        drop(publishing);
        clock.advance(ms(511));
        let midway = t0 + TimeDelta::milliseconds(540 - 40 + 10);
        assert_eq!(locks.writable("s", rtt, jitter), Writable::Try(midway));
        let clear = t0 + TimeDelta::milliseconds(1040 - 40 + 10);
        assert_eq!(locks.writable("s", rtt, jitter), Writable::At(clear));
        // Met by the lock: a write tries midway between the new bounds
        // (551 and 1,040 ms), the others still wait for the clear bound.
        locks.observe_write("s", midway, rtt, true);
        let bounds = locks.with("s", |s| s.hold);
        assert_eq!((bounds.locked, bounds.clear), (ms(550), Some(ms(1040))));
        let next = t0 + delta(ms(795)) - TimeDelta::milliseconds(40 - 10);
        assert_eq!(locks.writable("s", rtt, jitter), Writable::At(next));
        clock.advance(ms(795 - 40 + 10 - 511));
        assert_eq!(locks.writable("s", rtt, jitter), Writable::Try(next));
        assert_eq!(locks.writable("s", rtt, jitter), Writable::At(clear));
        clock.advance(ms(1040 - 795));
        assert!(locks.clear("s", rtt, jitter));
    }

    #[tokio::test]
    async fn writes_stop_just_before_a_publish_is_due_to_leave() {
        let (t0, clock, locks) = at_start();
        let (rtt, jitter) = (ms(40), ms(10));
        let due = locks.due("s", t0 + TimeDelta::milliseconds(500));
        // Well before it, writes go; other schedules are not held.
        assert_eq!(locks.writable("s", rtt, jitter), Writable::Now);
        clock.advance(ms(491));
        assert_eq!(locks.writable("s", rtt, jitter), Writable::AfterPublish);
        assert_eq!(locks.writable("t", rtt, jitter), Writable::Now);
        // The publish gave up waiting: writes go again.
        drop(due);
        assert_eq!(locks.writable("s", rtt, jitter), Writable::Now);
    }
}
