//! Which week a run is about.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;

/// The first `start_day` strictly after today in `tz`: runs publish the
/// coming week, never the one already under way.
pub fn upcoming_week_start(now: DateTime<Utc>, tz: Tz, start_day: Weekday) -> NaiveDate {
    let today = now.with_timezone(&tz).date_naive();
    let ahead = (7 + start_day.num_days_from_monday() as i64
        - today.weekday().num_days_from_monday() as i64)
        % 7;
    today + TimeDelta::days(if ahead == 0 { 7 } else { ahead })
}

/// The instant `week` starts: its first day's midnight in `tz` (the
/// earliest, where a DST change makes midnight occur twice or not at all).
pub fn starts_at(week: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = week.and_hms_opt(0, 0, 0).expect("midnight exists");
    midnight
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

/// How far ahead a week's start must be for the sample platforms to serve
/// it as "the coming week": the publisher's default `deferral.deadline`
/// (12 h) and two hours for a run, so that its swaps can still be decided.
pub const COMING_WEEK_CUTOFF: TimeDelta = TimeDelta::hours(14);

/// The first coming week whose cut-off, `cutoff` before it starts, is still
/// ahead of `now`. Sunday evening, the coming week's swap cut-off has
/// passed: what should be decided before it can only be decided a week on.
pub fn first_week_with_cutoff_ahead(
    now: DateTime<Utc>,
    tz: Tz,
    start_day: Weekday,
    cutoff: TimeDelta,
) -> NaiveDate {
    let mut week = upcoming_week_start(now, tz, start_day);
    while starts_at(week, tz) - cutoff <= now {
        week += TimeDelta::days(7);
    }
    week
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coming_week_in_the_targets_zone() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let cases = [
            // Tuesday 2026-11-24 → Monday 2026-11-30.
            ("2026-11-24T12:00:00Z", Weekday::Mon, "2026-11-30"),
            // Monday 03:00 UTC is still Sunday evening in Chicago.
            ("2026-11-30T03:00:00Z", Weekday::Mon, "2026-11-30"),
            // On a Monday, the next Monday.
            ("2026-11-30T15:00:00Z", Weekday::Mon, "2026-12-07"),
            ("2026-11-24T12:00:00Z", Weekday::Sun, "2026-11-29"),
        ];
        for (now, start_day, week) in cases {
            assert_eq!(
                upcoming_week_start(at(now), tz, start_day),
                d(week),
                "at {now}, weeks from {start_day}"
            );
        }
    }

    #[test]
    fn the_first_week_whose_cut_off_is_ahead() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let twelve_hours = TimeDelta::hours(12);
        // Thursday: the coming week's cut-off (Sunday 12:00 in Chicago,
        // 18:00 UTC) is ahead.
        assert_eq!(
            first_week_with_cutoff_ahead(
                at("2026-12-03T12:00:00Z"),
                tz,
                Weekday::Mon,
                twelve_hours
            ),
            d("2026-12-07")
        );
        // Sunday 20:30 UTC: it has passed, so the week after.
        assert_eq!(
            first_week_with_cutoff_ahead(
                at("2026-12-06T20:30:00Z"),
                tz,
                Weekday::Mon,
                twelve_hours
            ),
            d("2026-12-14")
        );
        // The day the clocks go back in Chicago (2026-11-01): midnight is
        // still CDT, so the cut-off is 2026-10-31 17:00 UTC.
        assert_eq!(
            starts_at(d("2026-11-01"), tz) - twelve_hours,
            at("2026-10-31T17:00:00Z")
        );
        // Across the year's end.
        assert_eq!(
            first_week_with_cutoff_ahead(
                at("2026-12-27T20:00:00Z"),
                tz,
                Weekday::Mon,
                twelve_hours
            ),
            d("2027-01-04")
        );
    }
}
