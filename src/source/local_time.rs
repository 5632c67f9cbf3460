//! Local wall-clock times to UTC instants, with the target's rule for the
//! times a DST change skips or repeats.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::{AmbiguousTimePolicy, DstPolicy, NonexistentTimePolicy};
use crate::domain::TargetName;

/// `wall` in `tz` as an instant, or why it cannot be one.
pub fn to_utc(
    wall: NaiveDateTime,
    tz: Tz,
    policy: DstPolicy,
    target: &TargetName,
) -> Result<DateTime<Utc>, String> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => match policy.ambiguous {
            AmbiguousTimePolicy::Earliest => Ok(first.with_timezone(&Utc)),
            AmbiguousTimePolicy::Latest => Ok(second.with_timezone(&Utc)),
            AmbiguousTimePolicy::Error => Err(format!(
                "{} on {} happens twice in {} (the clocks go back): set targets.{target}.dst.ambiguous to \"earliest\" or \"latest\", or move the shift",
                wall.format("%H:%M"),
                wall.format("%Y-%m-%d"),
                tz.name()
            )),
        },
        LocalResult::None => match policy.nonexistent {
            NonexistentTimePolicy::ShiftForward => shift_forward(wall, tz).ok_or_else(|| {
                format!("{wall} cannot be placed in {}", tz.name())
            }),
            NonexistentTimePolicy::Error => Err(format!(
                "{} on {} does not exist in {} (the clocks go forward): set targets.{target}.dst.nonexistent to \"shift_forward\", or move the shift",
                wall.format("%H:%M"),
                wall.format("%Y-%m-%d"),
                tz.name()
            )),
        },
    }
}

/// Moves a time in a spring-forward gap forward by the gap: 02:30 in a
/// one-hour gap becomes 03:30.
fn shift_forward(wall: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    let before = (1..=4 * 60)
        .map(|m| wall - TimeDelta::minutes(m))
        .find_map(|w| tz.from_local_datetime(&w).latest())?;
    let after = (1..=4 * 60)
        .map(|m| wall + TimeDelta::minutes(m))
        .find_map(|w| tz.from_local_datetime(&w).earliest())?;
    // The offsets either side of the gap tell its length.
    let gap = after.naive_local()
        - before.naive_local()
        - (after.with_timezone(&Utc) - before.with_timezone(&Utc));
    tz.from_local_datetime(&(wall + gap))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(n: NonexistentTimePolicy, a: AmbiguousTimePolicy) -> DstPolicy {
        DstPolicy {
            nonexistent: n,
            ambiguous: a,
        }
    }

    fn target(name: &str) -> TargetName {
        name.parse().unwrap()
    }

    fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn dst_gaps_and_overlaps_follow_the_policy() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        let strict = policy(NonexistentTimePolicy::Error, AmbiguousTimePolicy::Error);
        let err = to_utc(wall("2026-03-08 02:30"), tz, strict, &target("chicago")).unwrap_err();
        assert!(
            err.contains("does not exist") && err.contains("targets.chicago.dst.nonexistent"),
            "{err}"
        );
        let err = to_utc(wall("2026-11-01 01:30"), tz, strict, &target("chicago")).unwrap_err();
        assert!(
            err.contains("happens twice") && err.contains("targets.chicago.dst.ambiguous"),
            "{err}"
        );

        let forward = policy(
            NonexistentTimePolicy::ShiftForward,
            AmbiguousTimePolicy::Earliest,
        );
        assert_eq!(
            to_utc(wall("2026-03-08 02:30"), tz, forward, &"c".parse().unwrap()).unwrap(),
            "2026-03-08T08:30:00Z".parse::<DateTime<Utc>>().unwrap() // 03:30 CDT
        );
        assert_eq!(
            to_utc(wall("2026-11-01 01:30"), tz, forward, &"c".parse().unwrap()).unwrap(),
            "2026-11-01T06:30:00Z".parse::<DateTime<Utc>>().unwrap() // CDT
        );
        let latest = policy(NonexistentTimePolicy::Error, AmbiguousTimePolicy::Latest);
        assert_eq!(
            to_utc(wall("2026-11-01 01:30"), tz, latest, &"c".parse().unwrap()).unwrap(),
            "2026-11-01T07:30:00Z".parse::<DateTime<Utc>>().unwrap() // CST
        );
    }
}
