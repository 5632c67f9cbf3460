//! How much the round trips of one bucket vary, and so how far apart the
//! budget keeps calls a window apart: a call may reach the platform later
//! than another by as much as its trip took longer.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::delta;

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
pub(super) const MARGIN_FLOOR: TimeDelta = TimeDelta::milliseconds(8);

/// Answers before the fastest of them bounds the margin.
pub(super) const MARGIN_ANSWERS: u64 = 2;

/// The margin before round trips are known, and the most their spread
/// counts for in the jitter (a platform whose work takes longer on some
/// calls than others would otherwise hold writes back for no reason). A
/// margin of 5 ms and 0.5% logged from the gate let a sliding-window server
/// refuse 2–16 calls of 1,200 with 64 workers on two busy cores
/// (tests/pacing.rs); this refused none.
pub(super) fn margin_ceiling(window: Duration) -> TimeDelta {
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
pub(super) struct Trips {
    slowest: VecDeque<TripEntry>,
    fastest: VecDeque<TripEntry>,
    pub(super) seen: u64,
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
    pub(super) fn add(&mut self, at: DateTime<Utc>, trip: TimeDelta) {
        let entry = (self.seen, at, trip);
        ranked(&mut self.slowest, entry, |newer, older| newer >= older);
        ranked(&mut self.fastest, entry, |newer, older| newer <= older);
        self.seen += 1;
    }

    /// Forgets answers from before `since` that are not among the last
    /// [`TRIPS_KEPT`].
    pub(super) fn forget_before(&mut self, since: DateTime<Utc>) {
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

    pub(super) fn fastest(&self) -> Option<TimeDelta> {
        self.fastest.front().map(|(_, _, trip)| *trip)
    }

    /// The slowest less the fastest, widened while few answers are known
    /// (`None`: too few to say anything).
    pub(super) fn spread(&self) -> Option<TimeDelta> {
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
