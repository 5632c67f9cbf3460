//! The budget's log of the calls of the last window, and what it decides:
//! whether a call may leave now, or until when it waits.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::reserve::Reserve;
use super::trips::{margin_ceiling, Trips, MARGIN_ANSWERS, MARGIN_FLOOR};
use crate::api::classify::Advertised;
use crate::clock::delta;

/// How long other calls wait for the first call's answer before one more
/// may try (the first may hang until its timeout).
const PROBE_PATIENCE: TimeDelta = TimeDelta::seconds(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
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

/// A call the budget let go: its place in the log, if it took one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(pub(super) Option<u64>);

/// Whether a call may leave now, or until when it waits (`None`: until an
/// answer arrives).
pub(super) enum Decision {
    Go(Slot),
    Wait(Option<DateTime<Utc>>),
}

/// A call in the log.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sent {
    slot: u64,
    /// When its request left (when the gate let it go, until the request
    /// really leaves).
    left_at: DateTime<Utc>,
    /// Until when it holds its place: later than `left_at` for a call whose
    /// answer showed it may have reached the platform late.
    holds_from: DateTime<Utc>,
}

impl Sent {
    fn new(slot: u64, at: DateTime<Utc>) -> Self {
        Sent {
            slot,
            left_at: at,
            holds_from: at,
        }
    }
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) known: Known,
    /// The calls of the last window, in the order of `holds_from`.
    sends: VecDeque<Sent>,
    next_slot: u64,
    reserve: Option<Reserve>,
    /// This bucket's round trips.
    trips: Trips,
}

impl Default for State {
    fn default() -> Self {
        State {
            known: Known::Nothing { probe: None },
            sends: VecDeque::new(),
            next_slot: 0,
            reserve: None,
            trips: Trips::default(),
        }
    }
}

impl State {
    pub(super) fn decide(&mut self, now: DateTime<Utc>) -> Decision {
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
        while self
            .sends
            .front()
            .is_some_and(|c| c.holds_from + span <= now)
        {
            self.sends.pop_front();
        }
        let reserved = Reserve::calls_at(self.reserve, now);
        if (self.sends.len() as u64) + reserved < limit {
            return Ok(());
        }
        let freed = self.sends.front().map(|c| c.holds_from + span);
        Err(match (freed, Reserve::ends(self.reserve, now)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// When a call would next go, where the budget is advertised.
    pub(super) fn next_go(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Known::Advertised { limit, window } = self.known else {
            return None;
        };
        match self.room(now, limit, window) {
            Ok(()) => Some(now),
            Err(until) => until,
        }
    }

    /// The call of `slot` will not leave: its place is free again.
    pub(super) fn give_back(&mut self, slot: u64) {
        if let Some(i) = self.sends.iter().rposition(|c| c.slot == slot) {
            self.sends.remove(i);
        }
    }

    /// The call of `slot` really left at `at` (later than the gate let it
    /// go): its place in the log moves there.
    pub(super) fn call_left_at(&mut self, slot: u64, at: DateTime<Utc>) {
        let Some(i) = self.sends.iter().rposition(|c| c.slot == slot) else {
            return;
        };
        if self.sends[i].left_at < at {
            self.sends[i].left_at = at;
            self.hold_place_from(i, at);
        }
    }

    /// The call at `i` holds its place from `at`, if that is later,
    /// keeping the log in order.
    fn hold_place_from(&mut self, i: usize, at: DateTime<Utc>) {
        if self.sends[i].holds_from >= at {
            return;
        }
        let Some(mut call) = self.sends.remove(i) else {
            return;
        };
        call.holds_from = at;
        let after = self.sends.iter().rposition(|c| c.holds_from <= at);
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
    pub(super) fn jitter(&self, window: Duration) -> TimeDelta {
        let ceiling = margin_ceiling(window);
        self.trips
            .spread()
            .map_or(ceiling, |s| s.clamp(MARGIN_FLOOR, ceiling))
    }

    /// The call of `slot`, which left at `sent_at`, was answered after
    /// `trip`: its place in the log moves later by what it took over the
    /// fastest trip kept.
    pub(super) fn answered_after(&mut self, slot: Slot, sent_at: DateTime<Utc>, trip: TimeDelta) {
        let at = sent_at + trip;
        self.trips.add(at, trip);
        if let Known::Advertised { window, .. } = self.known {
            self.trips.forget_before(at - delta(window * 2));
        }
        let delay = self.trips.fastest().map_or(TimeDelta::zero(), |f| trip - f);
        let Slot(Some(slot)) = slot else { return };
        if delay > TimeDelta::zero() {
            if let Some(i) = self.sends.iter().rposition(|c| c.slot == slot) {
                self.hold_place_from(i, sent_at + delay);
            }
        }
    }

    /// What an answer advertised, to the call that left at `sent_at`,
    /// reached the platform at `arrived` and was answered at `answered`:
    /// the limit and window it tells, and whether the platform counted
    /// more calls than the log holds.
    pub(super) fn advertised(&mut self, sent: Journey, adv: Advertised) {
        let Journey {
            left_at: sent_at,
            arrived,
            answered,
        } = sent;
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
        // Every call that left before the answer came back may have been
        // counted before this one: many leave together, and a later one
        // often overtakes an earlier on the way (counted only up to this
        // call's departure, a 60-a-second fixed window showed "excess" at
        // most answers and the budget sat out whole resets).
        let span = delta(window);
        let logged = self
            .sends
            .iter()
            .filter(|c| c.left_at > sent_at - span && c.left_at <= answered)
            .count() as u64;
        let expected = adv.limit.saturating_sub(logged);
        let excess = expected.saturating_sub(adv.remaining);
        let until = arrived + delta(adv.reset);
        self.reserve = Reserve::after_answer(self.reserve, excess, arrived, until);
    }
}

/// When one call left, reached the platform and was answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Journey {
    pub(super) left_at: DateTime<Utc>,
    pub(super) arrived: DateTime<Utc>,
    pub(super) answered: DateTime<Utc>,
}
