//! From rows as written to every agent's week, checking everything at once:
//! one problem per mistake, each with its line.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use chrono_tz::Tz;

use super::local_time::to_utc;
use super::{Parsed, Row};
use crate::config::DstPolicy;
use crate::echo::echo;
use crate::plan::{AgentWeek, Shift};

type Problems = Vec<(Option<usize>, String)>;

fn time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

/// One row as a shift in UTC, or its problems.
fn shift(
    row: &Row,
    week_start: NaiveDate,
    tz: Tz,
    dst: DstPolicy,
    target: &str,
) -> Result<Shift, Vec<String>> {
    let mut problems = Vec::new();
    let at = &row.place;
    if row.agent.is_empty() {
        problems.push(format!("{at}agent_id is empty"));
    }
    if row.activity.is_empty() {
        problems.push(format!("{at}activity is empty"));
    }
    let date = NaiveDate::parse_from_str(&row.date, "%Y-%m-%d").ok();
    if date.is_none() {
        problems.push(format!(
            "{at}date {} is not a date like 2026-11-30",
            echo(&row.date)
        ));
    }
    let start = time(&row.start);
    if start.is_none() {
        problems.push(format!(
            "{at}start {} is not a time like 08:00",
            echo(&row.start)
        ));
    }
    let end = time(&row.end);
    if end.is_none() {
        problems.push(format!(
            "{at}end {} is not a time like 16:00",
            echo(&row.end)
        ));
    }
    let last_day = week_start + TimeDelta::days(6);
    if let Some(d) = date {
        if d < week_start || d > last_day {
            problems.push(format!(
                "{at}{d} is outside the week {week_start} to {last_day}"
            ));
        }
    }
    let (Some(date), Some(start), Some(end)) = (date, start, end) else {
        return Err(problems);
    };
    // An end at or before the start is on the next day: a night shift.
    let end_date = if end <= start {
        date + TimeDelta::days(1)
    } else {
        date
    };
    let from = to_utc(date.and_time(start), tz, dst, target).map_err(|e| format!("{at}start: {e}"));
    let to = to_utc(end_date.and_time(end), tz, dst, target).map_err(|e| format!("{at}end: {e}"));
    match (from, to) {
        (Ok(start), Ok(end)) if problems.is_empty() => Ok(Shift {
            start,
            end,
            activity: row.activity.clone(),
        }),
        (from, to) => {
            problems.extend(from.err());
            problems.extend(to.err());
            Err(problems)
        }
    }
}

pub(super) fn week(
    parsed: &Parsed,
    week_start: NaiveDate,
    tz: Tz,
    dst: DstPolicy,
    target: &str,
) -> Result<BTreeMap<String, AgentWeek>, Problems> {
    let mut problems = Problems::new();
    let mut weeks: BTreeMap<String, Vec<(Shift, Option<usize>)>> = BTreeMap::new();
    let mut declared: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    // Each unusable id once, at its first place (a JSON agent and its shifts).
    let mut refused = BTreeSet::new();
    let mut check_id = |agent: &str, line: Option<usize>, problems: &mut Problems| {
        if let Some(problem) = crate::plan::path_id_problem(agent) {
            if refused.insert(agent.to_owned()) {
                problems.push((line, format!("agent {problem}")));
            }
        }
    };
    for (agent, line) in &parsed.agents {
        check_id(agent, *line, &mut problems);
        if agent.is_empty() {
            problems.push((*line, "agentId is empty".into()));
        } else if let Some(first) = declared.insert(agent, *line) {
            let first = first.map_or("above".to_owned(), |l| format!("on line {l}"));
            problems.push((
                *line,
                format!("agent {} is listed twice (first {first})", echo(agent)),
            ));
        }
        weeks.entry(agent.clone()).or_default();
    }
    for row in &parsed.rows {
        check_id(&row.agent, row.line, &mut problems);
        match shift(row, week_start, tz, dst, target) {
            Ok(s) => weeks
                .entry(row.agent.clone())
                .or_default()
                .push((s, row.line)),
            Err(ps) => problems.extend(ps.into_iter().map(|p| (row.line, p))),
        }
    }
    for (agent, shifts) in &mut weeks {
        shifts.sort_by_key(|(s, _)| s.start);
        for pair in shifts.windows(2) {
            let ((a, a_line), (b, b_line)) = (&pair[0], &pair[1]);
            if b.start < a.end {
                let other = a_line.map_or(String::new(), |l| format!(" on line {l}"));
                problems.push((
                    *b_line,
                    format!(
                        "{}'s shift from {} overlaps the one from {}{other}",
                        echo(agent),
                        b.start.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                        a.start.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                    ),
                ));
            }
        }
    }
    if weeks.is_empty() && problems.is_empty() {
        problems.push((
            None,
            "no agents and no shifts: an empty week publishes nothing".into(),
        ));
    }
    if !problems.is_empty() {
        problems.sort_by_key(|(line, _)| *line);
        return Err(problems);
    }
    Ok(weeks
        .into_iter()
        .map(|(a, shifts)| {
            (
                a,
                AgentWeek::new(shifts.into_iter().map(|(s, _)| s).collect()),
            )
        })
        .collect())
}
