//! When a target's weekly job fires: its cron read on the target's own
//! wall clock, with Vixie cron's rules at DST changes. A time skipped by
//! spring-forward fires once, right after the change; a time repeated by
//! fall-back fires once, the first time.
//!
//! Matching is done on naive wall-clock times (croner, the same parser the
//! configuration validated with), and only then mapped to an instant, so the
//! zone's offset changes cannot make croner skip or repeat a fire.

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// One firing: the wall-clock time the cron matched, and the instant it
/// fires at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    pub wall: NaiveDateTime,
    pub at: DateTime<Utc>,
}

/// The first firing whose wall-clock time is strictly after `after_wall`.
pub fn next_fire(cron: &croner::Cron, tz: Tz, after_wall: NaiveDateTime) -> Option<Fire> {
    let carrier = Utc.from_utc_datetime(&after_wall);
    let wall = cron.find_next_occurrence(&carrier, false).ok()?.naive_utc();
    Some(Fire {
        wall,
        at: instant(tz, wall),
    })
}

/// The firing missed while the daemon was down, if one is due: the first
/// after the target's last run (or the window's start, whichever is later)
/// that is already past. Many missed firings still make one run.
pub fn missed(
    cron: &croner::Cron,
    tz: Tz,
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: std::time::Duration,
) -> Option<Fire> {
    let window_start = now - TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX / 2);
    let from = last_run.map_or(window_start, |l| l.max(window_start));
    next_fire(cron, tz, wall(tz, from)).filter(|f| f.at <= now)
}

/// The instant of a wall-clock time: the first of two in a fall-back
/// overlap, the end of the gap for one skipped by spring-forward.
pub fn instant(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&wall).earliest() {
        return t.with_timezone(&Utc);
    }
    let mut probe = wall;
    for _ in 0..(4 * 60) {
        probe += TimeDelta::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            // The first valid minute is the gap's end; start on it exactly.
            let t = t.with_timezone(&Utc);
            return t - TimeDelta::seconds(t.timestamp() % 60);
        }
    }
    wall.and_utc()
}

/// The wall-clock time of an instant in `tz`.
pub fn wall(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(p: &str) -> croner::Cron {
        croner::Cron::new(p)
            .with_seconds_optional()
            .parse()
            .unwrap()
    }

    fn chicago() -> Tz {
        "America/Chicago".parse().unwrap()
    }

    fn fires(pattern: &str, from: &str, until: &str) -> Vec<DateTime<Utc>> {
        let c = cron(pattern);
        let until: DateTime<Utc> = until.parse().unwrap();
        let mut w = wall(chicago(), from.parse().unwrap());
        let mut out = Vec::new();
        while let Some(f) = next_fire(&c, chicago(), w) {
            if f.at > until {
                break;
            }
            out.push(f.at);
            w = f.wall;
        }
        out
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_skipped_time_fires_once_right_after_spring_forward() {
        // 02:30 does not exist in Chicago on 2026-03-08.
        assert_eq!(
            fires("30 2 * * *", "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
            vec![
                at("2026-03-07T08:30:00Z"),
                at("2026-03-08T08:00:00Z"), // 03:00 CDT, the gap's end
                at("2026-03-09T07:30:00Z"),
            ]
        );
    }

    #[test]
    fn a_repeated_time_fires_once_at_fall_back() {
        // 01:30 happens twice in Chicago on 2026-11-01.
        assert_eq!(
            fires("30 1 * * *", "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z"),
            vec![
                at("2026-10-31T06:30:00Z"),
                at("2026-11-01T06:30:00Z"), // 01:30 CDT, the first one
                at("2026-11-02T07:30:00Z"),
            ]
        );
    }

    #[test]
    fn a_run_missed_within_the_window_is_made_up_once() {
        let c = cron("0 6 * * 4");
        let tz = chicago();
        let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
        // Thursday 2026-11-26 06:00 CST = 12:00Z; the daemon starts at 15:00Z.
        let now = at("2026-11-26T15:00:00Z");
        let fire = missed(&c, tz, Some(at("2026-11-19T12:00:05Z")), now, hours(6)).unwrap();
        assert_eq!(fire.at, at("2026-11-26T12:00:00Z"));
        // Outside the window: skipped.
        assert_eq!(missed(&c, tz, None, now, hours(2)), None);
        // Already run since: nothing to make up.
        assert_eq!(
            missed(&c, tz, Some(at("2026-11-26T12:00:01Z")), now, hours(6)),
            None
        );
        // A window of zero turns catching up off.
        assert_eq!(missed(&c, tz, None, now, hours(0)), None);
    }

    #[test]
    fn a_weekly_job_keeps_its_local_time_across_both_changes() {
        let weekly = fires("0 6 * * 4", "2026-02-26T00:00:00Z", "2026-03-20T00:00:00Z");
        assert_eq!(
            weekly,
            vec![
                at("2026-02-26T12:00:00Z"),
                at("2026-03-05T12:00:00Z"),
                at("2026-03-12T11:00:00Z"),
                at("2026-03-19T11:00:00Z"),
            ]
        );
        let weekly = fires("0 6 * * 4", "2026-10-22T00:00:00Z", "2026-11-06T00:00:00Z");
        assert_eq!(
            weekly,
            vec![
                at("2026-10-22T11:00:00Z"),
                at("2026-10-29T11:00:00Z"),
                at("2026-11-05T12:00:00Z")
            ]
        );
    }
}
