//! The pace of a bucket whose platform refuses calls without saying its
//! limit (a 429 with no `Retry-After` and no rate-limit headers).
//!
//! The first refusal cuts the rate to what the platform was seen to accept
//! over the last period of the configured rate (`per`), less [`CUT_BELOW`];
//! a later one, to the rate that just went past the limit, less as much.
//! From there the rate climbs back by [`CLIMB_PER_SEC`] of itself a second,
//! until the next refusal or the configured rate. So the rate settles just under
//! the platform's real limit and keeps probing for it: a limit the platform
//! raises is found again, and a cut that went too deep (refusals of calls
//! that left at an older, faster pace) is made good. Before, each refusal
//! widened the spacing by half and never narrowed it past the last refused
//! one: refusals of calls queued at the old pace widened it again and
//! again, and a client at twice a hidden 50/s settled at 10–15/s.
//!
//! Each refusal also says how long the bucket holds: until the window
//! that refused has likely turned over, not the second a 429 without a
//! hint is otherwise given (see [`Pace::refused`]). Once cut, the rate
//! allows a span's worth of calls within any span, not one an interval, so
//! calls held back for a while are made up (see `allowance`).
//!
//! Calls take their turn one at a time and claim a time only when it has
//! come, so a call that finds it cannot go after all (a publish locked its
//! schedule meanwhile) gives its turn back at once. Before, each call
//! reserved a time at the back of a queue as long as the workers: a write
//! sent back by the lock came back behind all of them, and writes stalled
//! for seconds after a publish.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::delta;

/// How far under the accepted rate a refusal cuts: the platform's count of
/// the last period is the limit, and a little under it leaves room for
/// calls that travel slower than others. The rate spends its time between
/// this and the limit: at 0.96, a run at a hidden 200/s wrote at 0.88–0.89
/// of the floor; at 0.98, 0.95, with as few refusals (each holds the
/// bucket only until the window turns over).
const CUT_BELOW: f64 = 0.98;

/// How fast the rate climbs back after a cut, as a share of the cut rate a
/// second: back at the limit after 10 s, where one more refusal cuts it
/// again. Faster probes cost more refusals.
const CLIMB_PER_SEC: f64 = 0.002;

/// Calls claimed this close to one another are one burst.
const BURST_GAP: Duration = Duration::from_millis(50);

/// A burst followed within this share of a span by another waits for it
/// before its places are taken again: the two become one. A publish's
/// lock (0.7 s at a hidden 200/s) split a second's calls into two bursts
/// a quarter of a second apart, and a publish sent after the first met
/// the second and held it for half a second: runs lost up to 2.5 s so, by
/// where the locks fell (0.89 to 0.95 of the floor). Held back once, the
/// first burst goes with the second from then on, and a publish sent
/// after them ends before the next.
const MERGE: f64 = 0.5;

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
    /// The times the calls of the last span (and margin) claimed, in order.
    claims: VecDeque<DateTime<Utc>>,
    /// When each call the platform accepted within the last two spans left.
    accepted: VecDeque<DateTime<Utc>>,
}

impl Pace {
    pub(super) fn new(requests: u32, per: Duration) -> Self {
        Pace {
            configured: f64::from(requests.max(1)) / per.as_secs_f64().max(1e-9),
            span: per.max(Duration::from_millis(1)),
            cut: None,
            claims: VecDeque::new(),
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

    /// How many calls may go within how long at `rate`: the calls of a
    /// span, or one an interval where a span holds fewer than two.
    ///
    /// Within a span, not one an interval: a bucket whose calls stopped
    /// for a while (a publish holds the writes of its schedule 0.7 s)
    /// makes up the calls it did not send, as the platform's window
    /// allows. Spaced one an interval, each publish cost 140 writes at a
    /// hidden 200/s, 14 s of a 10,000-agent run.
    fn allowance(&self, rate: f64) -> (usize, TimeDelta) {
        let calls = (rate * self.span.as_secs_f64()).floor();
        if calls >= 2.0 {
            (calls as usize, delta(self.span))
        } else {
            (1, delta(Duration::from_secs_f64(1.0 / rate)))
        }
    }

    /// The call whose turn it is may go at `now`, or waits until the time
    /// returned: no more than the rate's calls within a span and `margin`
    /// (how much later than another a call may arrive). Claimed, the time
    /// is the call's until it gives it back. Under the configured rate
    /// only once cut: until then the configured rate alone paces.
    pub(super) fn claim(
        &mut self,
        now: DateTime<Utc>,
        margin: Duration,
    ) -> Result<DateTime<Utc>, DateTime<Utc>> {
        let rate = self.rate(now);
        let (calls, within) = self.allowance(rate.unwrap_or(self.configured));
        let within = within + delta(margin);
        let merging = calls >= 2;
        while !self.claims.is_empty() && self.frees(0, merging) + within <= now {
            self.claims.pop_front();
        }
        if rate.is_some() && self.claims.len() >= calls {
            return Err(self.frees(self.claims.len() - calls, merging) + within);
        }
        self.claims.push_back(now);
        Ok(now)
    }

    /// When the place claim `i` holds counts from: its own time, or with
    /// `merging`, where it is one of a burst followed within [`MERGE`] of
    /// a span by another, when that one began. Calls spaced out are no
    /// burst: merged along the window, each call of a client at a hidden
    /// 10/s waited a whole span after a refusal.
    fn frees(&self, i: usize, merging: bool) -> DateTime<Utc> {
        let (gap, merge) = (delta(BURST_GAP), delta(self.span.mul_f64(MERGE)));
        let own = self.claims[i];
        let step = |j: usize| self.claims[j + 1] - self.claims[j];
        let in_burst =
            (i > 0 && step(i - 1) <= gap) || (i + 1 < self.claims.len() && step(i) <= gap);
        if !merging || !in_burst {
            return own;
        }
        let mut end = i;
        while end + 1 < self.claims.len() && step(end) <= gap {
            end += 1;
        }
        match end + 1 < self.claims.len() && step(end) <= merge {
            true => self.claims[end + 1],
            false => own,
        }
    }

    /// The call that claimed `at` did not go: the next may go in its place.
    pub(super) fn give_back(&mut self, at: DateTime<Utc>) {
        if let Some(i) = self.claims.iter().rposition(|c| *c == at) {
            self.claims.remove(i);
        }
    }

    /// The platform accepted a call that left at `left_at`.
    pub(super) fn accepted(&mut self, left_at: DateTime<Utc>, now: DateTime<Utc>) {
        self.accepted.push_back(left_at);
        self.forget(now);
    }

    /// Forgets the calls that left over two spans before `now`: a refusal
    /// answered a span after its call left still finds the calls of the
    /// span before its call.
    fn forget(&mut self, now: DateTime<Utc>) {
        let since = now - delta(self.span) * 2;
        while self.accepted.front().is_some_and(|a| *a <= since) {
            self.accepted.pop_front();
        }
    }

    /// The accepted calls that left within the span up to `left_at`, when
    /// a call that left then was refused: the platform's count of the
    /// window it met. (Counted up to the refusal's answer, the calls of
    /// the round trip before it fell out of the span, and a cut that
    /// should have been to 0.96 of the limit went to 0.94.)
    fn before(&self, left_at: DateTime<Utc>) -> impl Iterator<Item = &DateTime<Utc>> {
        let since = left_at - delta(self.span);
        self.accepted
            .iter()
            .filter(move |a| **a > since && **a <= left_at)
    }

    /// The platform refused, without saying why, a call that left at
    /// `left_at`: the rate is cut, unless the call left within a span of
    /// the last cut (it went at the old pace, or met the window the cut
    /// was about, and says nothing new: cut again on those, the rate fell
    /// to half the limit, measured over a span the refusals had emptied).
    /// Either way the bucket holds until the window that refused has
    /// likely turned over, and `margin` more: how much later than another
    /// a call may arrive (a window anchored at its first call ends a span
    /// after that call arrived, not after it left).
    pub(super) fn refused(
        &mut self,
        left_at: DateTime<Utc>,
        now: DateTime<Utc>,
        margin: Duration,
    ) -> Refusal {
        self.forget(now);
        let new = self.cut.is_none_or(|c| left_at >= c.at + delta(self.span));
        let cut = new.then(|| {
            let limit = match self.rate(now) {
                // Probing from under the limit: the rate just went past it.
                // (Measured, a span's calls sent at once count partly in
                // the span before: a cut to 0.86 of the limit, not 0.96.)
                Some(probing) => probing,
                None => {
                    let seen = self.before(left_at).count() as f64 / self.span.as_secs_f64();
                    let accepted = if seen > 0.0 {
                        seen
                    } else {
                        self.configured / 2.0
                    };
                    self.configured.min(accepted)
                }
            };
            let rate = (limit * CUT_BELOW).max(SLOWEST);
            self.cut = Some(Cut { rate, at: now });
            rate
        });
        Refusal {
            cut,
            until: self.turnover(left_at, now, delta(margin)),
        }
    }

    /// When the window that refused a call that left at `left_at` has
    /// likely turned over: a span after the oldest call the platform
    /// accepted within the span before it (then a sliding window frees
    /// its first place, and a window anchored at its first call has
    /// ended), but at least one interval of the pace after `now` (or a
    /// span, if shorter), and at most a span. A refusal at the end of a window, the usual one once
    /// the pace has settled, so holds for about one interval; the 1 s a
    /// 429 without a hint is otherwise given held every call back a whole
    /// window each time (11 s of the 18.6 s lost by a 10,000-agent run at
    /// a hidden 200/s).
    fn turnover(
        &self,
        left_at: DateTime<Utc>,
        now: DateTime<Utc>,
        margin: TimeDelta,
    ) -> DateTime<Utc> {
        let rate = self.rate(now).unwrap_or(self.configured);
        let interval = delta(Duration::from_secs_f64(1.0 / rate));
        let span = delta(self.span);
        let freed = self
            .before(left_at)
            .min()
            .map_or(now + span, |a| *a + span + margin);
        freed.clamp(now + interval.min(span), now + span)
    }
}

/// What a refusal without a hint did to the pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Refusal {
    /// The new rate, calls a second, if the refusal cut it (`None`: it
    /// said nothing new).
    pub(super) cut: Option<f64>,
    /// Until when the bucket holds every call.
    pub(super) until: DateTime<Utc>,
}

#[cfg(test)]
mod tests;
