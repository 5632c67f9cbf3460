//! Times as the people who run a target read them: in the target's own
//! time zone, with the zone named, and with the date wherever a span
//! crosses midnight. A bare `21:54:54` leaves a reader guessing whether it
//! is UTC, the server's zone or theirs.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A moment with its date: `Sat 2026-12-12 18:00 CST`.
pub fn moment(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

/// A moment of today, to the second: `15:54:54 CST`.
pub fn clock(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M:%S %Z").to_string()
}

/// A span: `2026-12-19 12:00–20:00 CST`, or with the end's date when it
/// ends on another day: `2026-12-19 18:00 – 2026-12-20 02:00 CST`.
pub fn span(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let (start, end) = (start.with_timezone(&tz), end.with_timezone(&tz));
    if start.date_naive() == end.date_naive() {
        format!(
            "{}–{}",
            start.format("%Y-%m-%d %H:%M"),
            end.format("%H:%M %Z")
        )
    } else {
        format!(
            "{} – {}",
            start.format("%Y-%m-%d %H:%M"),
            end.format("%Y-%m-%d %H:%M %Z")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn times_are_local_with_the_zone_named() {
        let chicago: Tz = "America/Chicago".parse().unwrap();
        let t = at("2026-12-13T00:00:00Z");
        assert_eq!(moment(t, chicago), "Sat 2026-12-12 18:00 CST");
        assert_eq!(clock(t, chicago), "18:00:00 CST");
    }

    #[test]
    fn a_span_across_midnight_keeps_both_dates() {
        let chicago: Tz = "America/Chicago".parse().unwrap();
        assert_eq!(
            span(
                at("2026-12-20T00:00:00Z"),
                at("2026-12-20T08:00:00Z"),
                chicago
            ),
            "2026-12-19 18:00 – 2026-12-20 02:00 CST"
        );
        assert_eq!(
            span(
                at("2026-12-19T18:00:00Z"),
                at("2026-12-20T02:00:00Z"),
                chicago
            ),
            "2026-12-19 12:00–20:00 CST"
        );
    }
}
