//! From rows as written to every agent's week, checking everything at once:
//! one problem per mistake, each with its line.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use chrono_tz::Tz;

use super::local_time::to_utc;
use super::{Row, SourceLines};
use crate::config::DstPolicy;
use crate::domain::plan::{is_invisible_format, AgentWeek, Shift};
use crate::domain::{AgentId, TargetName};
use crate::echo::echo;

type Problems = Vec<(Option<usize>, String)>;

/// The longest activity name accepted, in characters: a platform's
/// activity codes are short names.
const MAX_ACTIVITY_CHARS: usize = 128;

fn time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

/// One row as a shift in UTC, or its problems.
fn shift(
    row: &Row<'_>,
    activity: Arc<str>,
    week_start: NaiveDate,
    tz: Tz,
    dst: DstPolicy,
    target: &TargetName,
) -> Result<Shift, Vec<String>> {
    let mut problems = Vec::new();
    let at = &row.place;
    if row.agent.is_empty() {
        problems.push(format!("{at}agent_id is empty"));
    }
    if row.activity.is_empty() {
        problems.push(format!("{at}activity is empty"));
    } else if row.activity.chars().count() > MAX_ACTIVITY_CHARS {
        problems.push(format!(
            "{at}activity {} is longer than the {MAX_ACTIVITY_CHARS} characters an activity may have",
            echo(row.activity)
        ));
    } else if row.activity.chars().any(is_invisible_format) {
        problems.push(format!(
            "{at}activity {} contains an invisible formatting character",
            echo(row.activity)
        ));
    }
    let date = NaiveDate::parse_from_str(row.date, "%Y-%m-%d").ok();
    if date.is_none() {
        problems.push(format!(
            "{at}date {} is not a date like 2026-11-30",
            echo(row.date)
        ));
    }
    let start = time(row.start);
    if start.is_none() {
        problems.push(format!(
            "{at}start {} is not a time like 08:00",
            echo(row.start)
        ));
    }
    let end = time(row.end);
    if end.is_none() {
        problems.push(format!(
            "{at}end {} is not a time like 16:00",
            echo(row.end)
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
            activity,
        }),
        (from, to) => {
            problems.extend(from.err());
            problems.extend(to.err());
            Err(problems)
        }
    }
}

/// A week built row by row as the file is read, so that memory follows
/// the plan, not the file: each row becomes a shift (or its problems) at
/// once, and only the shifts are kept.
pub(super) struct WeekBuilder<'a> {
    week_start: NaiveDate,
    tz: Tz,
    dst: DstPolicy,
    target: &'a TargetName,
    /// What the file's syntax got wrong: when there is any, it is all that
    /// is reported, the rows being unreliable.
    unreadable: Problems,
    problems: Problems,
    weeks: BTreeMap<AgentId, Vec<(Shift, Option<usize>)>>,
    /// The agents a JSON file lists, with their line.
    declared: BTreeMap<AgentId, Option<usize>>,
    /// Each unusable id once, at its first place (a JSON agent and its shifts).
    refused: BTreeSet<String>,
    lines: SourceLines,
    /// Each activity once, shared by its shifts.
    activities: BTreeSet<Arc<str>>,
}

impl<'a> WeekBuilder<'a> {
    pub(super) fn new(
        week_start: NaiveDate,
        tz: Tz,
        dst: DstPolicy,
        target: &'a TargetName,
    ) -> Self {
        WeekBuilder {
            week_start,
            tz,
            dst,
            target,
            unreadable: Problems::new(),
            problems: Problems::new(),
            weeks: BTreeMap::new(),
            declared: BTreeMap::new(),
            refused: BTreeSet::new(),
            lines: SourceLines::default(),
            activities: BTreeSet::new(),
        }
    }

    /// The file cannot be read as rows at `line`.
    pub(super) fn unreadable(&mut self, line: Option<usize>, message: String) {
        self.unreadable.push((line, message));
    }

    fn check_id(&mut self, agent: &str, line: Option<usize>) {
        if let Some(problem) = crate::domain::plan::path_id_problem(agent) {
            if self.refused.insert(agent.to_owned()) {
                self.problems.push((line, format!("agent {problem}")));
            }
        }
    }

    /// An agent a JSON file lists, which may have no shifts.
    pub(super) fn agent(&mut self, agent: &str, line: Option<usize>) {
        self.check_id(agent, line);
        if agent.is_empty() {
            self.problems.push((line, "agentId is empty".into()));
        } else if let Some(first) = self.declared.insert(agent.into(), line) {
            let first = first.map_or("above".to_owned(), |l| format!("on line {l}"));
            self.problems.push((
                line,
                format!("agent {} is listed twice (first {first})", echo(agent)),
            ));
        }
        self.lines.agents.entry(agent.into()).or_insert(line);
        self.weeks.entry(agent.into()).or_default();
    }

    fn activity(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.activities.get(name) {
            return known.clone();
        }
        let new: Arc<str> = name.into();
        self.activities.insert(new.clone());
        new
    }

    /// One shift as written.
    pub(super) fn row(&mut self, row: &Row<'_>) {
        self.check_id(row.agent, row.line);
        if !self.lines.agents.contains_key(row.agent) {
            self.lines.agents.insert(row.agent.into(), row.line);
        }
        if !self.lines.activities.contains_key(row.activity) {
            self.lines
                .activities
                .insert(row.activity.to_owned(), row.line);
        }
        let activity = self.activity(row.activity);
        match shift(
            row,
            activity,
            self.week_start,
            self.tz,
            self.dst,
            self.target,
        ) {
            Ok(s) => match self.weeks.get_mut(row.agent) {
                Some(week) => week.push((s, row.line)),
                None => {
                    self.weeks.insert(row.agent.into(), vec![(s, row.line)]);
                }
            },
            Err(ps) => self.problems.extend(ps.into_iter().map(|p| (row.line, p))),
        }
    }

    /// Every agent's week, or every problem, by line.
    pub(super) fn finish(
        mut self,
    ) -> Result<(BTreeMap<AgentId, AgentWeek>, SourceLines), Problems> {
        if !self.unreadable.is_empty() {
            return Err(self.unreadable);
        }
        for (agent, shifts) in &mut self.weeks {
            overlaps(agent, shifts, self.tz, &mut self.problems);
        }
        if self.weeks.is_empty() && self.problems.is_empty() {
            self.problems.push((
                None,
                "no agents and no shifts: an empty week publishes nothing".into(),
            ));
        }
        if !self.problems.is_empty() {
            self.problems.sort_by_key(|(line, _)| *line);
            return Err(self.problems);
        }
        let weeks = self
            .weeks
            .into_iter()
            .map(|(a, shifts)| {
                let week = AgentWeek::new(shifts.into_iter().map(|(s, _)| s).collect());
                (a, week)
            })
            .collect();
        Ok((weeks, self.lines))
    }
}

/// Sorts an agent's shifts and reports each that overlaps the one before.
fn overlaps(
    agent: &AgentId,
    shifts: &mut [(Shift, Option<usize>)],
    tz: Tz,
    problems: &mut Problems,
) {
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
