//! Moves a scenario file's weeks to another week. The sample scenarios are
//! written for one week, which is soon past; served as written, a publisher
//! would meet a week whose swap cut-off passed long ago. Every date in the
//! text moves by the same whole number of weeks, ids included
//! (`chicago-2026-11-30`), so that what refers to what still does; a UTC
//! time moves by whole weeks of the scenario's local time, so a shift at
//! 08:00 in Chicago is still at 08:00 across a DST change.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;

/// `text` with every `YYYY-MM-DD` moved by `weeks`, and every
/// `YYYY-MM-DDTHH:MM[:SS]Z` by `weeks` of wall time in `tz`.
pub fn shift_weeks(text: &str, weeks: i64, tz: Tz) -> String {
    let days = TimeDelta::days(7 * weeks);
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 10 <= bytes.len() {
        let date = date_at(text, i).filter(|_| i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        let Some(date) = date else {
            i += 1;
            continue;
        };
        out.push_str(&text[copied..i]);
        match utc_time_after(text, i) {
            Some((instant, len)) => {
                out.push_str(&moved_instant(instant, days, tz, &text[i..i + len]));
                i += len;
            }
            None => {
                out.push_str(&(date + days).format("%Y-%m-%d").to_string());
                i += 10;
            }
        }
        copied = i;
    }
    out.push_str(&text[copied..]);
    out
}

/// The date written at byte `i`, if the ten bytes there are one and no
/// digit follows.
fn date_at(text: &str, i: usize) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shape = |k: usize| match k {
        4 | 7 => b[i + k] == b'-',
        _ => b[i + k].is_ascii_digit(),
    };
    if !(0..10).all(shape) || b.get(i + 10).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    NaiveDate::parse_from_str(text.get(i..i + 10)?, "%Y-%m-%d").ok()
}

/// A UTC instant written at byte `i` (`…THH:MMZ` or `…THH:MM:SSZ`), and
/// how many bytes it takes.
fn utc_time_after(text: &str, i: usize) -> Option<(DateTime<Utc>, usize)> {
    [20, 17].into_iter().find_map(|len| {
        let s = text.get(i..i + len)?;
        let format = if len == 20 {
            "%Y-%m-%dT%H:%M:%SZ"
        } else {
            "%Y-%m-%dT%H:%MZ"
        };
        let naive = NaiveDateTime::parse_from_str(s, format).ok()?;
        Some((naive.and_utc(), len))
    })
}

fn moved_instant(instant: DateTime<Utc>, days: TimeDelta, tz: Tz, written: &str) -> String {
    let local = instant.with_timezone(&tz).naive_local() + days;
    let moved = local
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(instant + days);
    let format = if written.len() == 20 {
        "%Y-%m-%dT%H:%M:%SZ"
    } else {
        "%Y-%m-%dT%H:%MZ"
    };
    moved.format(format).to_string()
}

/// How many whole weeks from `from` to `to`, which fall on the same
/// weekday.
pub fn weeks_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days().div_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_ids_and_times_move_together() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        let text = "id = \"chicago-2026-11-30\"\nweek_start = \"2026-11-30\"\n\
                    shift = { startTime = \"2026-11-30T14:00:00Z\", end = \"2026-12-06T02:00Z\" }\n\
                    port = 12026-11-300\n";
        let moved = shift_weeks(text, 2, tz);
        assert_eq!(
            moved,
            "id = \"chicago-2026-12-14\"\nweek_start = \"2026-12-14\"\n\
             shift = { startTime = \"2026-12-14T14:00:00Z\", end = \"2026-12-20T02:00Z\" }\n\
             port = 12026-11-300\n"
        );
    }

    #[test]
    fn a_local_time_stays_put_across_a_dst_change() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        // 08:00 CST on 2027-03-08 is 14:00 UTC; a week on, 08:00 CDT is 13:00 UTC.
        assert_eq!(
            shift_weeks("2027-03-08T14:00:00Z", 1, tz),
            "2027-03-15T13:00:00Z"
        );
        assert_eq!(
            weeks_between("2026-11-30".parse().unwrap(), "2027-01-04".parse().unwrap()),
            5
        );
    }
}
