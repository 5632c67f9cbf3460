//! The pace at made-up times, and against a simulated platform that hides
//! its limit.

use super::*;
use std::collections::VecDeque;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(ms)
}

/// Configured at 100 a second and refused at once, nothing accepted: cut
/// to half that, less the margin, 49 calls a span.
fn cut_to_49() -> Pace {
    let mut pace = Pace::new(100, Duration::from_secs(1));
    pace.refused(at(0), at(0), Duration::ZERO);
    pace
}

/// [`cut_to_49`] with a span's 49 calls claimed: 15 at 0 ms, 34 at `then`.
fn two_bursts(then: i64, margin: Duration) -> Pace {
    let mut pace = cut_to_49();
    for _ in 0..15 {
        pace.claim(at(0), margin).unwrap();
    }
    for _ in 0..34 {
        pace.claim(at(then), margin).unwrap();
    }
    pace
}

#[test]
fn a_refusal_cuts_to_the_accepted_rate_and_the_rate_climbs_back() {
    // Configured at 100 a second; the platform accepts 50.
    let mut pace = Pace::new(100, Duration::from_secs(1));
    assert_eq!(pace.claim(at(0), Duration::ZERO), Ok(at(0)));
    for i in 0..50 {
        pace.accepted(at(500 + i * 10), at(1_000));
    }
    let cut = pace
        .refused(at(1_000), at(1_000), Duration::ZERO)
        .cut
        .unwrap();
    assert!((cut - 49.0).abs() < 1e-9, "{cut}");
    // Refusals of calls that left before the cut say nothing new.
    assert_eq!(pace.refused(at(990), at(1_020), Duration::ZERO).cut, None);
    assert_eq!(pace.refused(at(1_900), at(1_920), Duration::ZERO).cut, None);
    // Back at the limit 10 s later; 20 s later past it, probing it.
    let later = pace.rate(at(21_000)).unwrap();
    assert!((later - 49.0 * 1.04).abs() < 1e-6, "{later}");
    // And in time back at the configured rate.
    assert_eq!(pace.rate(at(1_000 + 600_000)), None);
}

#[test]
fn a_call_that_does_not_go_gives_its_time_back() {
    let mut pace = cut_to_49();
    // Nothing accepted: half the configured rate, less the margin.
    assert_eq!(pace.rate(at(0)), Some(49.0));
    let no_margin = Duration::ZERO;
    let first = pace.claim(at(0), no_margin).unwrap();
    for i in 1..49 {
        pace.claim(at(i), no_margin).unwrap();
    }
    // 49 within the span: the 50th waits until the first is a span old.
    assert_eq!(pace.claim(at(49), no_margin), Err(at(1_000)));
    pace.give_back(first);
    assert_eq!(pace.claim(at(49), no_margin), Ok(at(49)));
}

#[test]
fn calls_not_sent_for_a_while_are_made_up_within_the_span() {
    let mut pace = cut_to_49();
    let margin = Duration::from_millis(8);
    // One call every 20.4 ms for 300 ms, then nothing (a publish holds
    // the writes): at 700 ms the 34 calls the span has room for go at
    // once. The next waits until those are a span and the margin old: the
    // first 15 free their places with them, not one by one before them.
    for i in 0..15 {
        pace.claim(at(i * 21), margin).unwrap();
    }
    for _ in 0..34 {
        assert_eq!(pace.claim(at(700), margin), Ok(at(700)));
    }
    assert_eq!(pace.claim(at(700), margin), Err(at(1_708)));
}

#[test]
fn two_bursts_a_quarter_of_a_span_apart_become_one() {
    let margin = Duration::from_millis(8);
    // 49 calls a span: 15 at once, 34 a quarter of a second later.
    let mut pace = two_bursts(250, margin);
    // The first 15 places free at 1,008 ms; taken then, the next publish
    // sent after them would lock the schedule when the other 34 are due.
    assert_eq!(pace.claim(at(1_008), margin), Err(at(1_258)));
    for _ in 0..49 {
        assert_eq!(pace.claim(at(1_258), margin), Ok(at(1_258)));
    }
    // Bursts more than half a span apart stay apart.
    let mut pace = two_bursts(600, margin);
    assert_eq!(pace.claim(at(900), margin), Err(at(1_008)));
}

#[test]
fn a_span_of_fewer_than_two_calls_spaces_them_evenly() {
    // One publish a second, cut to 0.98: one every 1.02 s.
    let mut pace = Pace::new(2, Duration::from_secs(2));
    pace.accepted(at(0), at(20));
    pace.accepted(at(1_000), at(1_020));
    let refusal = pace.refused(at(1_500), at(1_520), Duration::ZERO);
    assert_eq!(refusal.cut, Some(0.98));
    assert_eq!(pace.claim(at(2_000), Duration::ZERO), Ok(at(2_000)));
    let next = pace.claim(at(2_001), Duration::ZERO).unwrap_err();
    // (1 ÷ 0.98 s is 1,020.4 ms; the rate has climbed a little since.)
    assert!(next > at(3_019) && next < at(3_021), "{next}");
    // Cut to less than one call a span, a refusal holds at most a span.
    let mut slow = Pace::new(2, Duration::from_secs(2));
    let refusal = slow.refused(at(0), at(20), Duration::ZERO);
    assert_eq!((refusal.cut, refusal.until), (Some(0.49), at(2_020)));
}

#[test]
fn a_refusal_at_the_end_of_a_window_holds_for_about_one_interval() {
    // Configured at 400 a second; the platform accepted 200 in the last
    // second, one every 5 ms, then refused the call that left at 1,000.
    let mut pace = Pace::new(400, Duration::from_secs(1));
    for i in 0..200 {
        pace.accepted(at(5 + i * 5), at(25 + i * 5));
    }
    let margin = Duration::from_millis(8);
    let refusal = pace.refused(at(1_000), at(1_020), margin);
    assert_eq!(refusal.cut, Some(196.0));
    // The oldest call of the second before it left at 5: the window turns
    // over a second after it, and the next call may go one interval
    // (1 ÷ 196 s) after the answer. Before, every call waited the second a
    // 429 without a hint is given.
    assert_eq!(
        refusal.until,
        at(1_020) + delta(Duration::from_secs_f64(1.0 / 196.0))
    );
}

#[test]
fn a_refusal_early_in_a_window_holds_until_the_window_ends() {
    // At 400 a second from 0, the 201st call of the window is refused.
    let mut pace = Pace::new(400, Duration::from_secs(1));
    for i in 0..200 {
        pace.accepted(at(i * 5 / 2), at(20 + i * 5 / 2));
    }
    let refusal = pace.refused(at(500), at(520), Duration::ZERO);
    assert_eq!(refusal.until, at(1_000));
    // A call still on its way from the old pace is held as long.
    let late = pace.refused(at(510), at(530), Duration::ZERO);
    assert_eq!((late.cut, late.until), (None, at(1_000)));
    // Nothing accepted: the whole span.
    let mut empty = Pace::new(400, Duration::from_secs(1));
    assert_eq!(
        empty.refused(at(0), at(20), Duration::ZERO).until,
        at(1_020)
    );
}

/// A platform that accepts `limit` calls in fixed one-second windows, each
/// anchored at the first call after the last one ended, and says nothing
/// of it: no `Retry-After`, no rate-limit headers.
struct Hidden {
    limit: u32,
    started: Option<DateTime<Utc>>,
    used: u32,
}

impl Hidden {
    fn take(&mut self, arrived: DateTime<Utc>) -> bool {
        let window = TimeDelta::seconds(1);
        if self.started.is_none_or(|s| arrived >= s + window) {
            (self.started, self.used) = (Some(arrived), 0);
        }
        self.used += 1;
        self.used <= self.limit
    }
}

/// Calls sent as fast as a pace configured at `configured` a second lets
/// them, 10 ms each way (a call 3 ms slower every fourth), to a platform
/// that hides a limit of `limit`, for `secs`: the calls accepted and the
/// calls refused. A refusal holds the bucket as [`Pace::refused`] says.
fn against_hidden(configured: u32, limit: u32, secs: i64) -> (u32, u32) {
    let mut pace = Pace::new(configured, Duration::from_secs(1));
    let mut platform = Hidden {
        limit,
        started: None,
        used: 0,
    };
    let floor = delta(Duration::from_secs(1) / configured);
    let margin = Duration::from_millis(8);
    // Answers on their way back: (answered at, left at, accepted).
    let mut answers: VecDeque<(DateTime<Utc>, DateTime<Utc>, bool)> = VecDeque::new();
    let (mut accepted, mut refused, mut n) = (0, 0, 0);
    let (mut now, mut held, mut next) = (at(0), at(0), at(0));
    while now < at(secs * 1_000) {
        while answers.front().is_some_and(|(a, _, _)| *a <= now) {
            let (answered, left, ok) = answers.pop_front().expect("an answer");
            if ok {
                pace.accepted(left, answered);
            } else {
                held = held.max(pace.refused(left, answered, margin).until);
            }
        }
        let due = answers.front().map(|(a, _, _)| *a);
        let wait = if now < held.max(next) {
            Some(held.max(next))
        } else {
            pace.claim(now, margin).err()
        };
        if let Some(until) = wait {
            // Nothing goes before `until`; answers that come first count.
            now = due.map_or(until, |d| d.min(until));
            continue;
        }
        let travel = TimeDelta::milliseconds(10 + 3 * i64::from(n % 4 == 0));
        let ok = platform.take(now + travel);
        (accepted, refused, n) = (accepted + u32::from(ok), refused + u32::from(!ok), n + 1);
        answers.push_back((now + travel + TimeDelta::milliseconds(10), now, ok));
        next = now + floor;
    }
    (accepted, refused)
}

#[test]
fn against_a_hidden_limit_at_half_the_rate_the_pace_settles_near_it() {
    // A minute at a hidden 200 a second, the client configured at 400.
    let (accepted, refused) = against_hidden(400, 200, 60);
    let rate = f64::from(accepted) / 60.0;
    eprintln!("{rate:.1} accepted a second, {refused} refused");
    assert!(rate >= 0.95 * 200.0, "{rate:.1} accepted a second of 200");
    let share = f64::from(refused) / f64::from(accepted + refused);
    assert!(
        share <= 0.005,
        "{refused} refused of {}",
        accepted + refused
    );
}
