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

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;

use super::classify::Advertised;
use crate::clock::SharedClock;

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
    /// When each call of the last window left, oldest first.
    sends: VecDeque<DateTime<Utc>>,
    /// Calls the platform counted that the log does not, until when.
    reserved: Option<(u64, DateTime<Utc>)>,
}

/// Whether a call may leave now, or until when it waits (`None`: until an
/// answer arrives).
enum Decision {
    Go,
    Wait(Option<DateTime<Utc>>),
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Travel time varies from call to call, and a call is logged when the
/// gate lets it go, before its token and request are ready: a call logged
/// just over a window after another may still land in the same window.
/// This much more keeps them apart. 5 ms + 0.5% let a sliding-window server
/// refuse 2–16 calls of 1,200 with 64 workers on two busy cores
/// (tests/pacing.rs); 25 ms + 1% refused none.
fn margin(window: Duration) -> TimeDelta {
    delta(window / 100 + Duration::from_millis(25))
}

impl State {
    fn decide(&mut self, now: DateTime<Utc>) -> Decision {
        let (limit, window) = match &mut self.known {
            Known::Unadvertised => return Decision::Go,
            Known::Nothing { probe } => {
                return match *probe {
                    Some(p) if now < p + PROBE_PATIENCE => Decision::Wait(Some(p + PROBE_PATIENCE)),
                    _ => {
                        *probe = Some(now);
                        Decision::Go
                    }
                }
            }
            Known::Advertised { limit, window } => (*limit, *window),
        };
        let span = delta(window) + margin(window);
        while self.sends.front().is_some_and(|s| *s + span <= now) {
            self.sends.pop_front();
        }
        let reserved = match self.reserved {
            Some((n, until)) if until > now => n,
            _ => 0,
        };
        if (self.sends.len() as u64) + reserved < limit {
            self.sends.push_back(now);
            return Decision::Go;
        }
        let freed = self.sends.front().map(|s| *s + span);
        let unreserved = self.reserved.map(|(_, until)| until).filter(|u| *u > now);
        Decision::Wait(match (freed, unreserved) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
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
            self.sends.push_back(sent_at);
        }
        let span = delta(window);
        let logged = self
            .sends
            .iter()
            .filter(|s| **s > sent_at - span && **s <= sent_at)
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
                reserved: None,
            }),
            answered: Notify::new(),
        }
    }
}

impl Budget {
    /// Waits until the advertised budget has room for one more call, and
    /// counts it as sent.
    pub async fn acquire(&self, clock: &SharedClock) {
        loop {
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            let decision = self.state.lock().expect("budget").decide(clock.now());
            match decision {
                Decision::Go => return,
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

    /// An answer to a call that left at `sent_at` and reached the platform
    /// at about `arrived`, with what it advertised, if anything.
    pub fn observe(
        &self,
        sent_at: DateTime<Utc>,
        arrived: DateTime<Utc>,
        advertised: Option<Advertised>,
    ) {
        let mut state = self.state.lock().expect("budget");
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
            reserved: None,
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
        matches!(d, Decision::Go)
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
}
