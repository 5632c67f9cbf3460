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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coming_week_in_the_targets_zone() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Tuesday 2026-11-24 → Monday 2026-11-30.
        assert_eq!(
            upcoming_week_start(at("2026-11-24T12:00:00Z"), tz, Weekday::Mon),
            d("2026-11-30")
        );
        // Monday 03:00 UTC is still Sunday evening in Chicago.
        assert_eq!(
            upcoming_week_start(at("2026-11-30T03:00:00Z"), tz, Weekday::Mon),
            d("2026-11-30")
        );
        // On a Monday, the next Monday.
        assert_eq!(
            upcoming_week_start(at("2026-11-30T15:00:00Z"), tz, Weekday::Mon),
            d("2026-12-07")
        );
        assert_eq!(
            upcoming_week_start(at("2026-11-24T12:00:00Z"), tz, Weekday::Sun),
            d("2026-11-29")
        );
    }
}
