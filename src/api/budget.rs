//! The advertised budget of one bucket: what the platform's rate-limit
//! headers say it will still accept, kept as a log of our own calls.
//!
//! The platform counts in fixed windows, sliding windows or token buckets,
//! and its reset comes in whole seconds, which for a one-second window says
//! almost nothing about where the window ends. What holds for all three is
//! this: a client that never sends more than `limit` calls within any span
//! of `window` is never refused (a fixed window and a token bucket of the
//! same limit both accept everything a sliding window does). So the budget
//! logs when each call left, lets a call go only while the last `window`
//! holds fewer than `limit` of them (calls still in flight included), and
//! learns `window` as the longest reset advertised: the full window for a
//! fixed or sliding window, the time to refill an emptied token bucket.
//! Each answer is then checked against the log: when the platform counts
//! more calls than we sent (another consumer of the same client, a window
//! misaligned by travel), the difference is reserved until that answer's
//! reset. Before the first answer one call goes alone, so that a burst at
//! start cannot overrun a budget nobody has read yet.
//!
//! A call is logged when the gate lets it go, and logged again, later, when
//! its request really leaves ([`Slot`]): between the two it may wait for a
//! token, a connection or a core, and a log that kept the gate's time would
//! free its place in the window too early by that much.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;

use super::classify::Advertised;
use crate::clock::{delta, SharedClock};

/// How long other calls wait for the first call's answer before one more
/// may try (the first may hang until its timeout).
const PROBE_PATIENCE: TimeDelta = TimeDelta::seconds(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// No answer yet; `probe` is when the one call in the air left.
    Nothing {
        probe: Option<DateTime<Utc>>,
    },
    /// The platform answered without rate-limit headers: the configured
    /// rate and the pacer govern alone.
    Unadvertised,
    Advertised {
        limit: u64,
        window: Duration,
    },
}

#[derive(Debug)]
struct State {
    known: Known,
    /// The calls of the last window, by when they hold their place until.
    sends: VecDeque<Sent>,
    /// The next slot's number.
    next_slot: u64,
    /// Calls the platform counted that the log does not, until when.
    reserved: Option<(u64, DateTime<Utc>)>,
    /// This bucket's round trips.
    trips: Trips,
}

/// Whether a call may leave now, or until when it waits (`None`: until an
/// answer arrives).
enum Decision {
    Go(Slot),
    Wait(Option<DateTime<Utc>>),
}

/// A call in the log: when it left (when the gate let it go, until it
/// says), and until when it holds its place (later, for a call whose
/// answer showed it may have reached the platform late).
#[derive(Debug, Clone, Copy)]
struct Sent {
    slot: u64,
    left: DateTime<Utc>,
    held: DateTime<Utc>,
}

impl Sent {
    fn new(slot: u64, at: DateTime<Utc>) -> Self {
        Sent {
            slot,
            left: at,
            held: at,
        }
    }
}

/// A call the budget let go: its place in the log, if it took one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(Option<u64>);

/// Travel time varies from call to call: a call that left just over a
/// window after another may still land in the same window. So each answer
/// moves its call's place in the log later by how much longer its round
/// trip took than the bucket's fastest of late: at most that much more of
/// it went on the way there. Calls are then kept apart by the window and
/// this margin, for a call that goes faster than the fastest seen, or whose
/// platform's work went faster than the fastest's (the ceiling before
/// [`MARGIN_ANSWERS`] answers). 5 ms left one pair of publishes in 99
/// exactly a window apart as the platform counted them (50,000 agents at
/// 100 ms).
///
/// One margin for all calls, the spread of the round trips (slowest less
/// fastest), held every call apart by the slowest's delay; capped at
/// [`margin_ceiling`], it fell short of a first burst of 256 new
/// connections on two cores, whose slowest took 60 ms longer than the
/// fastest (30 of 10,000 calls refused by a sliding window).
const MARGIN_FLOOR: TimeDelta = TimeDelta::milliseconds(8);

/// Answers before the fastest of them bounds the margin.
const MARGIN_ANSWERS: u64 = 2;

/// The margin before round trips are known, and the most their spread
/// counts for in the jitter (a platform whose work takes longer on some
/// calls than others would otherwise hold writes back for no reason). A
/// margin of 5 ms and 0.5% logged from the gate let a sliding-window server
/// refuse 2–16 calls of 1,200 with 64 workers on two busy cores
/// (tests/pacing.rs); this refused none.
fn margin_ceiling(window: Duration) -> TimeDelta {
    delta(window / 100 + Duration::from_millis(25))
}

/// Round trips the jitter needs before their spread is taken as it is.
/// From [`TRIPS_FIRST`] answers up to these, the spread is widened by
/// √(TRIPS_NEEDED ÷ answers): the range of a few draws falls short of that
/// of sixteen by about that much (for normally distributed trips the
/// expected range of 4 is 0.58 of that of 16, of 8, 0.81; for exponential
/// ones, 0.55 and 0.78), and a bucket of one call a second would otherwise
/// spend its first 16 periods at the ceiling (35 ms each, half a second of
/// a 10,000-agent run).
const TRIPS_NEEDED: u64 = 16;

/// Round trips below which their spread says nothing: the ceiling holds.
const TRIPS_FIRST: u64 = 4;

/// Answers the spread is taken over, however old.
///
/// Not more: a publish's round trip varies with the platform's work on it
/// far more than its way there does, and the spread of 64 of them kept
/// publishes 26 ms apart on average where 8 ms was enough.
const TRIPS_KEPT: u64 = 16;

/// The slowest and fastest round trips of the answers kept: two monotonic
/// queues of (answer's number, answered at, trip).
#[derive(Debug, Default)]
struct Trips {
    slowest: VecDeque<TripEntry>,
    fastest: VecDeque<TripEntry>,
    seen: u64,
}

type TripEntry = (u64, DateTime<Utc>, TimeDelta);

/// Appends `entry` to a monotonic queue, first dropping the entries it
/// outranks: they can never be the front while it is kept.
fn ranked(
    queue: &mut VecDeque<TripEntry>,
    entry: TripEntry,
    outranks: fn(TimeDelta, TimeDelta) -> bool,
) {
    while queue.back().is_some_and(|(_, _, d)| outranks(entry.2, *d)) {
        queue.pop_back();
    }
    queue.push_back(entry);
}

impl Trips {
    fn add(&mut self, at: DateTime<Utc>, trip: TimeDelta) {
        let entry = (self.seen, at, trip);
        ranked(&mut self.slowest, entry, |newer, older| newer >= older);
        ranked(&mut self.fastest, entry, |newer, older| newer <= older);
        self.seen += 1;
    }

    /// Forgets answers from before `since` that are not among the last
    /// [`TRIPS_KEPT`].
    fn forget_before(&mut self, since: DateTime<Utc>) {
        let recent = self.seen.saturating_sub(TRIPS_KEPT);
        for queue in [&mut self.slowest, &mut self.fastest] {
            while queue
                .front()
                .is_some_and(|(n, at, _)| *at < since && *n < recent)
            {
                queue.pop_front();
            }
        }
    }

    fn fastest(&self) -> Option<TimeDelta> {
        self.fastest.front().map(|(_, _, trip)| *trip)
    }

    fn spread(&self) -> Option<TimeDelta> {
        let (_, _, slowest) = self.slowest.front()?;
        let (_, _, fastest) = self.fastest.front()?;
        let spread = *slowest - *fastest;
        match self.seen {
            n if n < TRIPS_FIRST => None,
            n if n < TRIPS_NEEDED => {
                let widen = (TRIPS_NEEDED as f64 / n as f64).sqrt();
                Some(delta(spread.to_std().unwrap_or_default().mul_f64(widen)))
            }
            _ => Some(spread),
        }
    }
}

impl State {
    fn decide(&mut self, now: DateTime<Utc>) -> Decision {
        let (limit, window) = match &mut self.known {
            Known::Unadvertised => return Decision::Go(Slot(None)),
            Known::Nothing { probe } => {
                return match *probe {
                    Some(p) if now < p + PROBE_PATIENCE => Decision::Wait(Some(p + PROBE_PATIENCE)),
                    _ => {
                        *probe = Some(now);
                        Decision::Go(Slot(None))
                    }
                }
            }
            Known::Advertised { limit, window } => (*limit, *window),
        };
        match self.room(now, limit, window) {
            Ok(()) => {
                let slot = self.next_slot;
                self.next_slot += 1;
                self.sends.push_back(Sent::new(slot, now));
                Decision::Go(Slot(Some(slot)))
            }
            Err(until) => Decision::Wait(until),
        }
    }

    /// Whether the log has room for a call at `now`, or until when it has
    /// none (`None`: until an answer says more).
    fn room(
        &mut self,
        now: DateTime<Utc>,
        limit: u64,
        window: Duration,
    ) -> Result<(), Option<DateTime<Utc>>> {
        let span = delta(window) + self.margin(window);
        while self.sends.front().is_some_and(|c| c.held + span <= now) {
            self.sends.pop_front();
        }
        let reserved = match self.reserved {
            Some((n, until)) if until > now => n,
            _ => 0,
        };
        if (self.sends.len() as u64) + reserved < limit {
            return Ok(());
        }
        let freed = self.sends.front().map(|c| c.held + span);
        let unreserved = self.reserved.map(|(_, until)| until).filter(|u| *u > now);
        Err(match (freed, unreserved) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// When a call would next go, where the budget is advertised.
    fn next_go(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Known::Advertised { limit, window } = self.known else {
            return None;
        };
        match self.room(now, limit, window) {
            Ok(()) => Some(now),
            Err(until) => until,
        }
    }

    /// The call of `slot` will not leave: its place is free again.
    fn unused(&mut self, slot: u64) {
        if let Some(i) = self.sends.iter().rposition(|c| c.slot == slot) {
            self.sends.remove(i);
        }
    }

    /// The call of `slot` left at `at`: its place in the log moves there,
    /// keeping the log in order.
    fn left(&mut self, slot: u64, at: DateTime<Utc>) {
        let Some(i) = self.sends.iter().rposition(|c| c.slot == slot) else {
            return;
        };
        if self.sends[i].left < at {
            self.sends[i].left = at;
            self.held_until(i, at);
        }
    }

    /// The call at `i` holds its place until `at`, if that is later,
    /// keeping the log in order.
    fn held_until(&mut self, i: usize, at: DateTime<Utc>) {
        if self.sends[i].held >= at {
            return;
        }
        let Some(mut call) = self.sends.remove(i) else {
            return;
        };
        call.held = at;
        let after = self.sends.iter().rposition(|c| c.held <= at);
        self.sends.insert(after.map_or(0, |a| a + 1), call);
    }

    /// How much more than a window the log keeps calls apart, once each
    /// answered call's place has moved by its own delay.
    fn margin(&self, window: Duration) -> TimeDelta {
        if self.trips.seen < MARGIN_ANSWERS {
            margin_ceiling(window)
        } else {
            MARGIN_FLOOR
        }
    }

    /// How much later than another a call may arrive: the spread of the
    /// round trips, within the floor and the ceiling.
    fn jitter(&self, window: Duration) -> TimeDelta {
        let ceiling = margin_ceiling(window);
        self.trips
            .spread()
            .map_or(ceiling, |s| s.clamp(MARGIN_FLOOR, ceiling))
    }

    /// The call of `slot`, which left at `sent_at`, was answered after
    /// `trip`: its place in the log moves later by what it took over the
    /// fastest trip kept.
    fn timed(&mut self, slot: Slot, sent_at: DateTime<Utc>, trip: TimeDelta) {
        let at = sent_at + trip;
        self.trips.add(at, trip);
        if let Known::Advertised { window, .. } = self.known {
            self.trips.forget_before(at - delta(window * 2));
        }
        let delay = self.trips.fastest().map_or(TimeDelta::zero(), |f| trip - f);
        let Slot(Some(slot)) = slot else { return };
        if delay > TimeDelta::zero() {
            if let Some(i) = self.sends.iter().rposition(|c| c.slot == slot) {
                self.held_until(i, sent_at + delay);
            }
        }
    }

    fn observe(&mut self, sent_at: DateTime<Utc>, arrived: DateTime<Utc>, adv: Advertised) {
        let window = match self.known {
            Known::Advertised { limit, window } if limit == adv.limit => window.max(adv.reset),
            _ => adv.reset,
        };
        self.known = Known::Advertised {
            limit: adv.limit,
            window,
        };
        if self.sends.is_empty() {
            // The first answer: its own call was never logged.
            let slot = self.next_slot;
            self.next_slot += 1;
            self.sends.push_back(Sent::new(slot, sent_at));
        }
        let span = delta(window);
        let logged = self
            .sends
            .iter()
            .filter(|c| c.left > sent_at - span && c.left <= sent_at)
            .count() as u64;
        let expected = adv.limit.saturating_sub(logged);
        let excess = expected.saturating_sub(adv.remaining);
        if excess == 0 {
            return;
        }
        let until = arrived + delta(adv.reset);
        self.reserved = Some(match self.reserved {
            Some((n, u)) if u > arrived => (n.max(excess), u.max(until)),
            _ => (excess, until),
        });
    }
}

pub struct Budget {
    state: Mutex<State>,
    answered: Notify,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            state: Mutex::new(State {
                known: Known::Nothing { probe: None },
                sends: VecDeque::new(),
                next_slot: 0,
                reserved: None,
                trips: Trips::default(),
            }),
            answered: Notify::new(),
        }
    }
}

impl Budget {
    /// Waits until the advertised budget has room for one more call, and
    /// counts it as sent from now, until [`Budget::left`] says when.
    pub async fn acquire(&self, clock: &SharedClock) -> Slot {
        loop {
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            let decision = self.state.lock().expect("budget").decide(clock.now());
            match decision {
                Decision::Go(slot) => return slot,
                Decision::Wait(None) => answered.await,
                Decision::Wait(Some(until)) => {
                    let wait = (until - clock.now()).to_std().unwrap_or_default();
                    tokio::select! {
                        _ = clock.sleep(wait) => {}
                        _ = answered => {}
                    }
                }
            }
        }
    }

    /// The call `slot` was given will not leave after all.
    pub fn unused(&self, slot: Slot) {
        if let Slot(Some(slot)) = slot {
            self.state.lock().expect("budget").unused(slot);
        }
        self.answered.notify_waiters();
    }

    /// The call `slot` was given left at `at`.
    pub fn left(&self, slot: Slot, at: DateTime<Utc>) {
        if let Slot(Some(slot)) = slot {
            self.state.lock().expect("budget").left(slot, at);
        }
    }

    /// An answer, after `trip`, to the call of `slot`, which left at
    /// `sent_at` and reached the platform at about `arrived`, with what it
    /// advertised, if anything.
    pub fn observe(
        &self,
        slot: Slot,
        sent_at: DateTime<Utc>,
        arrived: DateTime<Utc>,
        trip: TimeDelta,
        advertised: Option<Advertised>,
    ) {
        let mut state = self.state.lock().expect("budget");
        state.timed(slot, sent_at, trip);
        match advertised {
            Some(adv) => state.observe(sent_at, arrived, adv),
            None if matches!(state.known, Known::Nothing { .. }) => {
                state.known = Known::Unadvertised;
            }
            None => {}
        }
        drop(state);
        self.answered.notify_waiters();
    }

    /// When a call would next go, if the platform advertises this bucket's
    /// budget (otherwise nothing says).
    pub fn next_go(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.state.lock().expect("budget").next_go(now)
    }

    /// How much later than another a call may arrive: the margin the log
    /// keeps (its ceiling where the window is not known yet).
    pub fn jitter(&self) -> Duration {
        let state = self.state.lock().expect("budget");
        let window = match state.known {
            Known::Advertised { window, .. } => window,
            _ => Duration::ZERO,
        };
        state.jitter(window).to_std().unwrap_or_default()
    }

    /// Whether the platform advertises this bucket's budget: then the
    /// budget alone paces it, and the configured rate stands aside.
    pub fn advertised(&self) -> bool {
        let state = self.state.lock().expect("budget");
        matches!(state.known, Known::Advertised { .. })
    }

    /// A call got no answer: if it was the first, another may try at once.
    pub fn unanswered(&self) {
        let mut state = self.state.lock().expect("budget");
        if let Known::Nothing { probe } = &mut state.known {
            *probe = None;
        }
        drop(state);
        self.answered.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(ms)
    }

    fn fresh() -> State {
        State {
            known: Known::Nothing { probe: None },
            sends: VecDeque::new(),
            next_slot: 0,
            reserved: None,
            trips: Trips::default(),
        }
    }

    fn advertised(limit: u64, remaining: u64, reset_secs: u64) -> Advertised {
        Advertised {
            limit,
            remaining,
            reset: Duration::from_secs(reset_secs),
        }
    }

    fn goes(d: Decision) -> bool {
        matches!(d, Decision::Go(_))
    }

    #[test]
    fn one_call_alone_until_the_first_answer() {
        let mut s = fresh();
        assert!(goes(s.decide(at(0))));
        assert!(!goes(s.decide(at(1))));
        s.observe(at(0), at(10), advertised(3, 2, 1));
        assert!(goes(s.decide(at(20))));
        assert!(goes(s.decide(at(21))));
        // Three calls in the window: the fourth waits until the first is a
        // window (and the margin) old.
        match s.decide(at(22)) {
            Decision::Wait(Some(until)) => assert_eq!(until, at(1_035)),
            _ => panic!("the fourth call must wait"),
        }
        assert!(goes(s.decide(at(1_035))));
    }

    #[test]
    fn calls_the_log_does_not_know_are_reserved_until_the_reset() {
        let mut s = fresh();
        assert!(goes(s.decide(at(0))));
        // Someone else used 7 of 10 already.
        s.observe(at(0), at(10), advertised(10, 2, 1));
        assert!(goes(s.decide(at(20))));
        assert!(goes(s.decide(at(21))));
        assert!(!goes(s.decide(at(22))));
        // The reserve ends with the reset the answer advertised.
        assert!(goes(s.decide(at(1_035))));
    }

    #[test]
    fn a_platform_without_headers_leaves_the_configured_rate_alone() {
        let mut s = fresh();
        assert!(goes(s.decide(at(0))));
        s.known = Known::Unadvertised;
        assert!((0..1_000).all(|i| goes(s.decide(at(i)))));
    }

    #[test]
    fn the_window_is_the_longest_reset_advertised() {
        let mut s = fresh();
        assert!(goes(s.decide(at(0))));
        // A token bucket of 3 refilling one every 10 s answers 10 s, then 20 s.
        s.observe(at(0), at(10), advertised(3, 2, 10));
        assert!(goes(s.decide(at(20))));
        s.observe(at(20), at(30), advertised(3, 1, 20));
        assert!(goes(s.decide(at(40))));
        assert!(!goes(s.decide(at(15_000))));
    }

    /// Known to allow `limit` a second, with these round trips of calls
    /// that left at these times (ms).
    fn timed(limit: u64, trips: &[(i64, i64)]) -> State {
        let mut s = fresh();
        s.known = Known::Advertised {
            limit,
            window: Duration::from_secs(1),
        };
        for &(when, trip) in trips {
            s.timed(Slot(None), at(when), TimeDelta::milliseconds(trip));
        }
        s
    }

    fn waits_until(d: Decision) -> Option<DateTime<Utc>> {
        match d {
            Decision::Wait(until) => until,
            Decision::Go(_) => panic!("the call must wait"),
        }
    }

    #[test]
    fn the_jitter_is_the_spread_of_the_round_trips() {
        let jitter = |s: &State| s.jitter(Duration::from_secs(1));
        // Too few answers: the ceiling, 25 ms + 1%.
        let s = timed(1, &[(0, 20), (1, 21), (2, 28)]);
        assert_eq!(jitter(&s), TimeDelta::milliseconds(35));
        // Four: their spread, twice over (√(16 ÷ 4)); eight: √2 times.
        let s = timed(1, &[(0, 20), (1, 21), (2, 28), (3, 24)]);
        assert_eq!(jitter(&s), TimeDelta::milliseconds(16));
        let trips: Vec<_> = (0..8).map(|i| (i, 20 + i % 2 * 10)).collect();
        let s = timed(1, &trips);
        assert_eq!(jitter(&s).num_microseconds(), Some(14_142));
        // Trips within 3 ms of each other: the floor; a slower one widens
        // it to the spread, but never past the ceiling.
        let trips: Vec<_> = (0..16).map(|i| (i, 20 + i % 4)).collect();
        let mut s = timed(1, &trips);
        assert_eq!(jitter(&s), MARGIN_FLOOR);
        s.timed(Slot(None), at(8), TimeDelta::milliseconds(32));
        assert_eq!(jitter(&s), TimeDelta::milliseconds(12));
        s.timed(Slot(None), at(9), TimeDelta::milliseconds(400));
        assert_eq!(jitter(&s), TimeDelta::milliseconds(35));
    }

    #[test]
    fn a_slow_call_holds_its_place_for_as_long_as_it_was_slow() {
        let trips: Vec<_> = (0..16).map(|i| (i, 20)).collect();
        let mut s = timed(2, &trips);
        // Past the first answers, calls are kept a window and 8 ms apart,
        // whatever the round trips' spread.
        let Decision::Go(Slot(Some(first))) = s.decide(at(100)) else {
            panic!("the first call goes");
        };
        s.left(first, at(100));
        assert!(goes(s.decide(at(110))));
        // The first took 32 ms more than the fastest: it may have reached
        // the platform that much later, and holds its place that long.
        s.timed(Slot(Some(first)), at(100), TimeDelta::milliseconds(52));
        assert_eq!(waits_until(s.decide(at(600))), Some(at(110 + 1_008)));
        assert!(goes(s.decide(at(1_118))));
        let free = 100 + 32 + 1_000 + 8;
        assert_eq!(waits_until(s.decide(at(1_119))), Some(at(free)));
        assert!(goes(s.decide(at(free))));
        // The answer still counts the call where it left: the platform's
        // count matches the log, and nothing more is held back.
        let trips: Vec<_> = (0..16).map(|i| (i, 20)).collect();
        let mut s = timed(1, &trips);
        let Decision::Go(Slot(Some(slot))) = s.decide(at(100)) else {
            panic!("the call goes");
        };
        s.left(slot, at(100));
        s.timed(Slot(Some(slot)), at(100), TimeDelta::milliseconds(52));
        s.observe(at(100), at(150), advertised(1, 0, 1));
        assert!(goes(s.decide(at(100 + 32 + 1_008))));
        // Before two answers, the ceiling keeps them apart.
        let mut s = timed(1, &[(0, 20)]);
        assert!(goes(s.decide(at(100))));
        assert_eq!(waits_until(s.decide(at(200))), Some(at(100 + 1_035)));
    }

    #[test]
    fn a_slow_trip_counts_for_two_windows_and_the_last_answers() {
        let slow = |s: &State| s.jitter(Duration::from_secs(1)) == TimeDelta::milliseconds(10);
        let mut trips: Vec<_> = (0..16).map(|i| (i, 20)).collect();
        trips.push((20, 30));
        // A hundred fast answers within the next window: a call of a
        // window ago may have gone the slow way.
        trips.extend((21..121).map(|i| (i, 20)));
        let mut s = timed(1000, &trips);
        assert!(slow(&s));
        // Two windows on, and a hundred answers since: forgotten.
        s.timed(Slot(None), at(2_100), TimeDelta::milliseconds(20));
        assert_eq!(s.jitter(Duration::from_secs(1)), MARGIN_FLOOR);
        // A bucket of one call a second keeps its last 16 answers however
        // old: two windows hold only two or three of them.
        let mut trips: Vec<_> = (0..16).map(|i| (i * 1_000, 300)).collect();
        trips.push((16_000, 310));
        trips.extend((17..32).map(|i| (i * 1_000, 300)));
        let mut s = timed(1, &trips);
        assert!(slow(&s));
        s.timed(Slot(None), at(32_000), TimeDelta::milliseconds(300));
        assert_eq!(s.jitter(Duration::from_secs(1)), MARGIN_FLOOR);
    }

    #[test]
    fn a_call_holds_its_place_from_when_it_left_not_from_the_gate() {
        let mut s = timed(2, &[]);
        let Decision::Go(Slot(Some(first))) = s.decide(at(0)) else {
            panic!("the first call goes");
        };
        assert!(goes(s.decide(at(10))));
        // The first waited half a second for a token before it left.
        s.left(first, at(500));
        // The second's place is free a window and the margin after it
        // left; the first's only that long after it really left.
        assert!(goes(s.decide(at(1_045))));
        assert_eq!(waits_until(s.decide(at(1_046))), Some(at(1_535)));
    }

    #[test]
    fn a_call_that_does_not_leave_gives_its_place_back() {
        let mut s = timed(1, &[]);
        let Decision::Go(Slot(Some(first))) = s.decide(at(0)) else {
            panic!("the first call goes");
        };
        assert!(!goes(s.decide(at(10))));
        // It found its schedule locked after all, and waits for the lock.
        s.unused(first);
        assert!(goes(s.decide(at(20))));
    }
}
