//! The pace of a bucket whose platform refuses calls without saying its
//! limit (a 429 with no `Retry-After` and no rate-limit headers).
//!
//! A refusal cuts the rate to what the platform was seen to accept over the
//! last period of the configured rate (`per`), less [`CUT_BELOW`]; from
//! there the rate climbs back by [`CLIMB_PER_SEC`] of itself a second, until
//! the next refusal or the configured rate. So the rate settles just under
//! the platform's real limit and keeps probing for it: a limit the platform
//! raises is found again, and a cut that went too deep (refusals of calls
//! that left at an older, faster pace) is made good. Before, each refusal
//! widened the spacing by half and never narrowed it past the last refused
//! one: refusals of calls queued at the old pace widened it again and
//! again, and a client at twice a hidden 50/s settled at 10–15/s.
//!
//! Calls take their turn one at a time and claim a time only when it has
//! come, so a call that finds it cannot go after all (a publish locked its
//! schedule meanwhile) gives its turn back at once. Before, each call
//! reserved a time at the back of a queue as long as the workers: a write
//! sent back by the lock came back behind all of them, and writes stalled
//! for seconds after a publish.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::delta;

/// How far under the accepted rate a refusal cuts: the platform's count of
/// the last period is the limit, and a little under it leaves room for
/// calls that travel slower than others.
const CUT_BELOW: f64 = 0.96;

/// How fast the rate climbs back after a cut, as a share of the cut rate a
/// second: back at the limit after 20 s, where one more refusal cuts it
/// again. Faster probes cost more refusals (each costs the bucket a hold).
const CLIMB_PER_SEC: f64 = 0.002;

/// The slowest pace, so that a cut never stops a bucket outright.
const SLOWEST: f64 = 1.0 / 60.0;

#[derive(Debug, Clone, Copy)]
struct Cut {
    /// Calls a second right after the cut.
    rate: f64,
    at: DateTime<Utc>,
}

#[derive(Debug)]
pub(super) struct Pace {
    /// The configured rate, calls a second: the ceiling.
    configured: f64,
    /// The span the accepted rate is measured over: the configured `per`.
    span: Duration,
    cut: Option<Cut>,
    /// When the last call claimed its time, and the time it claimed.
    last: Option<DateTime<Utc>>,
    /// When each call the platform accepted within the last span left.
    accepted: VecDeque<DateTime<Utc>>,
}

impl Pace {
    pub(super) fn new(requests: u32, per: Duration) -> Self {
        Pace {
            configured: f64::from(requests.max(1)) / per.as_secs_f64().max(1e-9),
            span: per.max(Duration::from_millis(1)),
            cut: None,
            last: None,
            accepted: VecDeque::new(),
        }
    }

    /// Calls a second at `now`, while under the configured rate.
    pub(super) fn rate(&self, now: DateTime<Utc>) -> Option<f64> {
        let cut = self.cut?;
        let secs = (now - cut.at).num_milliseconds().max(0) as f64 / 1000.0;
        let rate = cut.rate * (1.0 + CLIMB_PER_SEC * secs);
        (rate < self.configured).then_some(rate)
    }

    /// The call whose turn it is may go at `now`, or waits until the time
    /// returned. Claimed, the time is the call's until it gives it back.
    pub(super) fn claim(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DateTime<Utc>> {
        let Some(rate) = self.rate(now) else {
            return Ok(None);
        };
        let interval = delta(Duration::from_secs_f64(1.0 / rate));
        let claimed = match self.last {
            Some(last) if last + interval > now => return Err(last + interval),
            // A call woken late takes the time that was due, so that timer
            // lateness does not slow the pace; at most one interval back.
            Some(last) => (last + interval).max(now - interval),
            None => now,
        };
        self.last = Some(claimed);
        Ok(Some(claimed))
    }

    /// The call that claimed `at` did not go: the next may go in its place.
    pub(super) fn give_back(&mut self, at: DateTime<Utc>, before: Option<DateTime<Utc>>) {
        if self.last == Some(at) {
            self.last = before;
        }
    }

    /// When the call before the last claimed its time, for [`Pace::give_back`].
    pub(super) fn last(&self) -> Option<DateTime<Utc>> {
        self.last
    }

    /// The platform accepted a call that left at `left_at`.
    pub(super) fn accepted(&mut self, left_at: DateTime<Utc>, now: DateTime<Utc>) {
        self.accepted.push_back(left_at);
        self.forget(now);
    }

    fn forget(&mut self, now: DateTime<Utc>) {
        let since = now - delta(self.span);
        while self.accepted.front().is_some_and(|a| *a <= since) {
            self.accepted.pop_front();
        }
    }

    /// The platform refused, without saying why, a call that left at
    /// `left_at`: the rate is cut, unless the call left within a span of
    /// the last cut (it went at the old pace, or met the window the cut
    /// was about, and says nothing new: cut again on those, the rate fell
    /// to half the limit, measured over a span the refusals had emptied).
    /// Returns the new rate.
    pub(super) fn refused(&mut self, left_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<f64> {
        if self.cut.is_some_and(|c| left_at < c.at + delta(self.span)) {
            return None;
        }
        self.forget(now);
        let current = self.rate(now).unwrap_or(self.configured);
        let seen = self.accepted.len() as f64 / self.span.as_secs_f64();
        let accepted = if seen > 0.0 { seen } else { current / 2.0 };
        let rate = (current.min(accepted) * CUT_BELOW).max(SLOWEST);
        self.cut = Some(Cut { rate, at: now });
        Some(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(ms)
    }

    #[test]
    fn a_refusal_cuts_to_the_accepted_rate_and_the_rate_climbs_back() {
        // Configured at 100 a second; the platform accepts 50.
        let mut pace = Pace::new(100, Duration::from_secs(1));
        assert_eq!(pace.claim(at(0)), Ok(None));
        for i in 0..50 {
            pace.accepted(at(500 + i * 10), at(1_000));
        }
        let cut = pace.refused(at(1_000), at(1_000)).unwrap();
        assert!((cut - 48.0).abs() < 1e-9, "{cut}");
        // Refusals of calls that left before the cut say nothing new.
        assert_eq!(pace.refused(at(990), at(1_020)), None);
        assert_eq!(pace.refused(at(1_900), at(1_920)), None);
        // 20 s later it is back at the limit, probing it.
        let later = pace.rate(at(21_000)).unwrap();
        assert!((later - 48.0 * 1.04).abs() < 1e-6, "{later}");
        // And in time back at the configured rate.
        assert_eq!(pace.rate(at(1_000 + 600_000)), None);
    }

    #[test]
    fn a_call_that_does_not_go_gives_its_time_back() {
        let mut pace = Pace::new(100, Duration::from_secs(1));
        pace.refused(at(0), at(0));
        // Nothing accepted: half the configured rate, less the margin.
        assert_eq!(pace.rate(at(0)), Some(48.0));
        let before = pace.last();
        let first = pace.claim(at(0)).unwrap().unwrap();
        assert!(pace.claim(at(1)).is_err());
        pace.give_back(first, before);
        assert_eq!(pace.claim(at(1)), Ok(Some(at(1))));
        // Woken late, a call takes the time that was due.
        // (1 ÷ 48 s is 20.8 ms; the rate has climbed a little since.)
        let late = pace.claim(at(30)).unwrap().unwrap();
        assert!(late > at(21) && late < at(22), "{late}");
    }
}
