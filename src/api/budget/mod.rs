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
//! A call is logged when the gate lets it go, and moved, later, to when its
//! request really leaves ([`Budget::call_left_at`]): between the two it may
//! wait for a token, a connection or a core, and a log that kept the gate's
//! time would free its place in the window too early by that much.
//!
//! Here: the budget as the throttle uses it; `state` the log and its
//! decisions; `reserve` the calls the platform counted beyond the log;
//! `trips` the round trips' spread, the margin between windows.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;

use super::classify::Advertised;
use crate::clock::SharedClock;

mod reserve;
mod state;
#[cfg(test)]
mod tests;
mod trips;

pub use state::Slot;
use state::{Decision, Journey, Known, State};

pub struct Budget {
    state: Mutex<State>,
    answered: Notify,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            state: Mutex::new(State::default()),
            answered: Notify::new(),
        }
    }
}

impl Budget {
    /// Waits until the advertised budget has room for one more call, and
    /// counts it as sent from now, until [`Budget::call_left_at`] says when.
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

    /// The call `slot` was given will not leave after all: its place goes
    /// to another.
    pub fn give_back(&self, slot: Slot) {
        if let Slot(Some(slot)) = slot {
            self.state.lock().expect("budget").give_back(slot);
        }
        self.answered.notify_waiters();
    }

    /// The call `slot` was given really left at `at`.
    pub fn call_left_at(&self, slot: Slot, at: DateTime<Utc>) {
        if let Slot(Some(slot)) = slot {
            self.state.lock().expect("budget").call_left_at(slot, at);
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
        state.answered_after(slot, sent_at, trip);
        let journey = Journey {
            left_at: sent_at,
            arrived,
            answered: sent_at + trip,
        };
        match advertised {
            Some(adv) => state.advertised(journey, adv),
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
