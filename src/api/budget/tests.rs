//! The log's decisions, at made-up times.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::state::{Decision, Journey, Known, Slot, State};
use super::trips::MARGIN_FLOOR;
use crate::api::classify::Advertised;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(ms)
}

fn fresh() -> State {
    State::default()
}

/// The call that left at `sent` reached the platform at `arrived`, and its
/// answer took as long to come back.
fn answer(s: &mut State, sent: DateTime<Utc>, arrived: DateTime<Utc>, adv: Advertised) {
    let journey = Journey {
        left_at: sent,
        arrived,
        answered: arrived + (arrived - sent),
    };
    s.advertised(journey, adv);
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
    answer(&mut s, at(0), at(10), advertised(3, 2, 1));
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
    answer(&mut s, at(0), at(10), advertised(10, 2, 1));
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
    answer(&mut s, at(0), at(10), advertised(3, 2, 10));
    assert!(goes(s.decide(at(20))));
    answer(&mut s, at(20), at(30), advertised(3, 1, 20));
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
        s.answered_after(Slot(None), at(when), TimeDelta::milliseconds(trip));
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
    s.answered_after(Slot(None), at(8), TimeDelta::milliseconds(32));
    assert_eq!(jitter(&s), TimeDelta::milliseconds(12));
    s.answered_after(Slot(None), at(9), TimeDelta::milliseconds(400));
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
    s.call_left_at(first, at(100));
    assert!(goes(s.decide(at(110))));
    // The first took 32 ms more than the fastest: it may have reached
    // the platform that much later, and holds its place that long.
    s.answered_after(Slot(Some(first)), at(100), TimeDelta::milliseconds(52));
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
    s.call_left_at(slot, at(100));
    s.answered_after(Slot(Some(slot)), at(100), TimeDelta::milliseconds(52));
    answer(&mut s, at(100), at(150), advertised(1, 0, 1));
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
    s.answered_after(Slot(None), at(2_100), TimeDelta::milliseconds(20));
    assert_eq!(s.jitter(Duration::from_secs(1)), MARGIN_FLOOR);
    // A bucket of one call a second keeps its last 16 answers however
    // old: two windows hold only two or three of them.
    let mut trips: Vec<_> = (0..16).map(|i| (i * 1_000, 300)).collect();
    trips.push((16_000, 310));
    trips.extend((17..32).map(|i| (i * 1_000, 300)));
    let mut s = timed(1, &trips);
    assert!(slow(&s));
    s.answered_after(Slot(None), at(32_000), TimeDelta::milliseconds(300));
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
    s.call_left_at(first, at(500));
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
    s.give_back(first);
    assert!(goes(s.decide(at(20))));
}

/// The limit `limit` a second, learned from a first answer at 0–10 ms.
fn learned(limit: u64) -> State {
    let mut s = fresh();
    assert!(goes(s.decide(at(0))));
    answer(&mut s, at(0), at(10), advertised(limit, limit - 1, 1));
    s
}

#[test]
fn calls_that_overtook_a_call_on_its_way_are_not_someone_elses() {
    let mut s = learned(10);
    // Three calls leave together; the platform counts the later two before
    // the first (they overtook it), and tells the first 10 − 4 left.
    for t in [100, 101, 102] {
        assert!(goes(s.decide(at(t))));
    }
    answer(&mut s, at(100), at(130), advertised(10, 6, 1));
    // Nothing is reserved: the log's four calls are all the platform
    // counted, and six more may go now.
    assert!((0..6).all(|i| goes(s.decide(at(200 + i)))));
    assert!(!goes(s.decide(at(210))));
}

#[test]
fn a_reserve_ends_when_an_answer_shows_the_window_turned_over() {
    let mut s = learned(10);
    // Someone else used 5 of 10 in this window: reserved, the reset says,
    // for up to a second (whole seconds, rounded up).
    assert!(goes(s.decide(at(100))));
    answer(&mut s, at(100), at(110), advertised(10, 3, 1));
    assert!((0..3).all(|i| goes(s.decide(at(120 + i)))));
    assert!(!goes(s.decide(at(130))));
    // At 400 ms the platform's window turned over: an answer to a call
    // that arrived after the reserving one counts only the log's calls in
    // it (Remaining jumped back). The reserve ends there, not at 1,110 ms.
    answer(&mut s, at(122), at(400), advertised(10, 9, 1));
    assert!(goes(s.decide(at(700))));
}
