//! The rows that need no platform: each target's source file, validated
//! exactly as a run reads it, and its week's swap cut-off. A `check` whose
//! token fails still says them; `check --config-only` is these alone.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use super::{finish, Report, Rows, Verdict};
use crate::config::{Settings, TargetSettings};
use crate::preflight;
use crate::source::WeekPlan;

/// The week a target is checked for: the one asked, or its coming week.
pub(super) fn week_of(
    target: &TargetSettings,
    week: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> NaiveDate {
    week.unwrap_or_else(|| {
        crate::domain::week::upcoming_week_start(now, target.time_zone, target.week_start_day)
    })
}

/// The target's source file row; its plan when the file is valid.
pub(super) fn source(
    rows: &mut Rows,
    target: &TargetSettings,
    week: NaiveDate,
) -> Option<WeekPlan> {
    let row = format!("{}: source", target.name);
    match preflight::source(target, week) {
        Ok(plan) => {
            let detail = format!("{}: {} agents", plan.source.display(), plan.agents.len());
            rows.push(row, Verdict::Pass, detail);
            Some(plan)
        }
        Err(refusal) => {
            rows.push(
                row,
                Verdict::Fail,
                refusal.problems().joined("; ", "problems"),
            );
            None
        }
    }
}

/// A warning row when the week's swap cut-off has passed; none otherwise.
pub(super) fn cutoff(
    rows: &mut Rows,
    target: &TargetSettings,
    week: NaiveDate,
    now: DateTime<Utc>,
) {
    if let Some(passed) = preflight::cutoff_passed(target, week, now) {
        let row = format!("{}: swap cut-off", target.name);
        rows.push(row, Verdict::Warn, passed.to_string());
    }
}

/// Both local rows of every target.
pub(super) fn targets(
    rows: &mut Rows,
    targets: &[&TargetSettings],
    week: Option<NaiveDate>,
    now: DateTime<Utc>,
) {
    for target in targets {
        let week = week_of(target, week, now);
        source(rows, target, week);
        cutoff(rows, target, week, now);
    }
}

/// `check --config-only`: the configuration (already loaded, so valid) and
/// every target's local rows; nothing is contacted.
pub fn config_only(
    config: &Path,
    settings: &Settings,
    targets: &[&TargetSettings],
    week: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Report {
    let mut rows = Rows(Vec::new());
    let detail = format!(
        "{}: valid, {} target(s); the platform was not contacted",
        config.display(),
        settings.targets.len()
    );
    rows.push("configuration", Verdict::Pass, detail);
    self::targets(&mut rows, targets, week, now);
    Report {
        offline: true,
        ..finish(rows)
    }
}
