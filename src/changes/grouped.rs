//! The plan a dry run shows: per kind of change, the agents whose week it
//! changes and how, capped like every list of a report ([`Capped`]: the
//! first fifty agents of each kind, with the count in all), and the agents
//! a pending swap defers. The text shows times in the target's time zone;
//! the JSON in UTC, with the zone beside them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{diff, ChangeKind, ShiftChange};
use crate::capped::Capped;
use crate::domain::plan::Shift;
use crate::domain::{AgentId, SwapId};
use crate::echo::{echo, push_line};

/// Agents the text shows of each kind; the rest are counted.
pub const TEXT_SHOWN: usize = 20;

/// What the plan was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The weeks the platform holds now, read from it.
    Platform,
    /// The weeks this publisher last published to the schedule, from its
    /// store: the simple contract has no read of an agent's shifts.
    LastPublished,
}

/// One agent's changes of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentChanges {
    pub agent_id: AgentId,
    pub changes: Vec<ShiftChange>,
}

/// An agent a pending swap holds: not written by this run, with how many
/// shift changes its week carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deferred {
    pub agent_id: AgentId,
    pub swap_id: SwapId,
    pub changes: usize,
}

/// What a publication would change, agent by agent, grouped by kind.
#[derive(Debug, Clone)]
pub struct PlanChanges {
    pub basis: Basis,
    pub time_zone: Tz,
    /// Agents whose week is already what the basis holds.
    pub unchanged: usize,
    /// Agents with at least one change.
    pub changed: usize,
    /// Per kind, in [`ChangeKind::ALL`]'s order.
    groups: BTreeMap<ChangeKind, Capped<AgentChanges>>,
    pub deferred: Capped<Deferred>,
    /// Deferred agents whose week would change once their swap is decided.
    deferred_changing: usize,
}

impl PlanChanges {
    pub fn new(basis: Basis, time_zone: Tz) -> Self {
        PlanChanges {
            basis,
            time_zone,
            unchanged: 0,
            changed: 0,
            groups: ChangeKind::ALL
                .into_iter()
                .map(|k| (k, Capped::default()))
                .collect(),
            deferred: Capped::default(),
            deferred_changing: 0,
        }
    }

    /// An agent the run would write: its planned week against `held`.
    pub fn agent(&mut self, agent_id: &AgentId, planned: &[Shift], held: &[Shift]) {
        let changes = diff(planned, held);
        if changes.is_empty() {
            self.unchanged += 1;
            return;
        }
        self.changed += 1;
        for kind in ChangeKind::ALL {
            let of_kind: Vec<ShiftChange> =
                changes.iter().filter(|c| c.kind == kind).cloned().collect();
            if !of_kind.is_empty() {
                self.groups.entry(kind).or_default().push(AgentChanges {
                    agent_id: agent_id.clone(),
                    changes: of_kind,
                });
            }
        }
    }

    /// An agent a pending swap holds: shown as deferred, whatever its week.
    pub fn deferred(
        &mut self,
        agent_id: &AgentId,
        swap_id: &SwapId,
        planned: &[Shift],
        held: &[Shift],
    ) {
        let changes = diff(planned, held).len();
        self.deferred_changing += usize::from(changes > 0);
        self.deferred.push(Deferred {
            agent_id: agent_id.clone(),
            swap_id: swap_id.clone(),
            changes,
        });
    }

    /// The agents with changes of `kind`.
    pub fn group(&self, kind: ChangeKind) -> &Capped<AgentChanges> {
        &self.groups[&kind]
    }

    /// Whether publishing would change anything on the platform: an agent
    /// written with a change, or a deferred agent whose week would change
    /// once its swap is decided.
    pub fn has_changes(&self) -> bool {
        self.changed > 0 || self.deferred_changing > 0
    }

    /// The plan as the text report shows it, each line indented by two.
    pub fn render(&self, out: &mut String) {
        let basis = match self.basis {
            Basis::Platform => "what the platform holds now",
            Basis::LastPublished => {
                "what this publisher last published (the platform's contract has no read of an agent's shifts)"
            }
        };
        push_line(
            out,
            &format!(
                "  plan, against {basis}: {} agents change, {} unchanged, {} deferred (times in {})",
                self.changed,
                self.unchanged,
                self.deferred.len(),
                self.time_zone
            ),
        );
        for kind in ChangeKind::ALL {
            let group = self.group(kind);
            if group.is_empty() {
                continue;
            }
            push_line(
                out,
                &format!("  {} ({}):", title(kind), agents(group.len())),
            );
            for a in group.iter().take(TEXT_SHOWN) {
                let shown: Vec<String> = a.changes.iter().map(|c| self.change_text(c)).collect();
                push_line(out, &format!("    {}: {}", a.agent_id, shown.join("; ")));
            }
            more(out, group.len().saturating_sub(TEXT_SHOWN));
        }
        if !self.deferred.is_empty() {
            let held = agents(self.deferred.len());
            push_line(
                out,
                &format!("  deferred for a pending swap, not written by this run ({held}):"),
            );
            for d in self.deferred.iter().take(TEXT_SHOWN) {
                let swap = echo(&d.swap_id);
                push_line(
                    out,
                    &format!(
                        "    {}: waiting for shift swap {swap} ({})",
                        d.agent_id,
                        count(d.changes, "shift change")
                    ),
                );
            }
            more(out, self.deferred.len().saturating_sub(TEXT_SHOWN));
        }
    }

    fn change_text(&self, c: &ShiftChange) -> String {
        let span = |s: &Shift| self.span_text(s);
        match (&c.before, &c.after) {
            (None, Some(a)) => format!("{} {}", span(a), echo(&a.activity)),
            (Some(b), None) => format!("{} {}", span(b), echo(&b.activity)),
            (Some(b), Some(a)) if c.kind == ChangeKind::ActivityChanged => {
                format!("{} {} → {}", span(a), echo(&b.activity), echo(&a.activity))
            }
            (Some(b), Some(a)) => format!("{} → {} {}", span(b), span(a), echo(&a.activity)),
            (None, None) => String::new(),
        }
    }

    /// "Mon 30 Nov 08:00–16:00" in the target's zone; the end's date too
    /// when it is another day.
    fn span_text(&self, s: &Shift) -> String {
        let tz = self.time_zone;
        let (start, end) = (s.start.with_timezone(&tz), s.end.with_timezone(&tz));
        let end_format = match start.date_naive() == end.date_naive() {
            true => "%H:%M",
            false => "%a %d %b %H:%M",
        };
        format!(
            "{}–{}",
            start.format("%a %d %b %H:%M"),
            end.format(end_format)
        )
    }
}

fn title(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "shifts added",
        ChangeKind::Removed => "shifts removed",
        ChangeKind::Moved => "shifts moved",
        ChangeKind::ActivityChanged => "activity changed",
    }
}

fn agents(n: usize) -> String {
    count(n, "agent")
}

/// "1 agent", "3 agents".
fn count(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

fn more(out: &mut String, more: usize) {
    if more > 0 {
        push_line(out, &format!("    … and {more} more"));
    }
}

/// A shift as the JSON shows it.
#[derive(Serialize)]
struct ShiftJson<'a> {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    activity: &'a str,
}

fn shift_json(s: &Shift) -> ShiftJson<'_> {
    ShiftJson {
        start: s.start,
        end: s.end,
        activity: &s.activity,
    }
}

impl Serialize for ShiftChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ShiftChange", 2)?;
        s.serialize_field("before", &self.before.as_ref().map(shift_json))?;
        s.serialize_field("after", &self.after.as_ref().map(shift_json))?;
        s.end()
    }
}

impl Serialize for AgentChanges {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AgentChanges", 2)?;
        s.serialize_field("agent_id", &self.agent_id)?;
        s.serialize_field("shifts", &self.changes)?;
        s.end()
    }
}

/// Each group capped, beside its count in all (`added_total`, …).
impl Serialize for PlanChanges {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PlanChanges", 16)?;
        s.serialize_field("basis", &self.basis)?;
        s.serialize_field("time_zone", &self.time_zone.name())?;
        s.serialize_field("has_changes", &self.has_changes())?;
        s.serialize_field("changed", &self.changed)?;
        s.serialize_field("unchanged", &self.unchanged)?;
        for (kind, name, total) in [
            (ChangeKind::Added, "added", "added_total"),
            (ChangeKind::Removed, "removed", "removed_total"),
            (ChangeKind::Moved, "moved", "moved_total"),
            (
                ChangeKind::ActivityChanged,
                "activity_changed",
                "activity_changed_total",
            ),
        ] {
            s.serialize_field(name, self.group(kind))?;
            s.serialize_field(total, &self.group(kind).len())?;
        }
        s.serialize_field("deferred", &self.deferred)?;
        s.serialize_field("deferred_total", &self.deferred.len())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(start: &str, hours: i64, activity: &str) -> Shift {
        let start: DateTime<Utc> = start.parse().unwrap();
        Shift {
            start,
            end: start + chrono::TimeDelta::hours(hours),
            activity: activity.into(),
        }
    }

    fn chicago() -> Tz {
        "America/Chicago".parse().unwrap()
    }

    #[test]
    fn agents_are_grouped_by_kind_and_counted() {
        let mut plan = PlanChanges::new(Basis::Platform, chicago());
        let mon = shift("2026-11-30T14:00:00Z", 8, "phone");
        let tue = shift("2026-12-01T14:00:00Z", 8, "phone");
        plan.agent(
            &"a-same".into(),
            std::slice::from_ref(&mon),
            std::slice::from_ref(&mon),
        );
        plan.agent(&"a-new".into(), std::slice::from_ref(&mon), &[]);
        plan.agent(
            &"a-both".into(),
            &[mon.clone(), tue.clone()],
            &[shift("2026-12-01T15:00:00Z", 8, "phone")],
        );
        plan.deferred(
            &"a-held".into(),
            &"sw-1".into(),
            std::slice::from_ref(&tue),
            &[],
        );
        assert_eq!((plan.changed, plan.unchanged), (2, 1));
        let ids = |k| {
            plan.group(k)
                .iter()
                .map(|a| a.agent_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(ChangeKind::Added), ["a-new", "a-both"]);
        assert_eq!(ids(ChangeKind::Moved), ["a-both"]);
        assert!(ids(ChangeKind::Removed).is_empty());
        assert!(plan.has_changes());
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["added_total"], 2);
        assert_eq!(
            json["moved"][0]["shifts"][0]["before"]["start"],
            "2026-12-01T15:00:00Z"
        );
        assert_eq!(json["deferred"][0]["swap_id"], "sw-1");
        let mut out = String::new();
        plan.render(&mut out);
        let moved = "  shifts moved (1 agent):\n    a-both: Tue 01 Dec 09:00–17:00 → Tue 01 Dec 08:00–16:00 \"phone\"\n";
        assert!(out.contains(moved), "{out}");
        assert!(
            out.contains("    a-held: waiting for shift swap \"sw-1\" (1 shift change)\n"),
            "{out}"
        );
    }

    #[test]
    fn a_plan_of_unchanged_weeks_has_no_changes() {
        let mut plan = PlanChanges::new(Basis::LastPublished, chicago());
        let mon = shift("2026-11-30T14:00:00Z", 8, "phone");
        plan.agent(
            &"a-1".into(),
            std::slice::from_ref(&mon),
            std::slice::from_ref(&mon),
        );
        plan.deferred(
            &"a-2".into(),
            &"sw-1".into(),
            std::slice::from_ref(&mon),
            std::slice::from_ref(&mon),
        );
        assert!(!plan.has_changes());
    }

    /// Times in the target's zone; a group longer than the text shows ends
    /// with how many more; an activity's name cannot start a line.
    #[test]
    fn the_text_shows_local_times_and_caps_each_group() {
        let mut plan = PlanChanges::new(Basis::Platform, chicago());
        let mon = shift("2026-11-30T14:00:00Z", 8, "phone\nforged");
        for i in 0..TEXT_SHOWN + 3 {
            plan.agent(&format!("a-{i:02}").into(), std::slice::from_ref(&mon), &[]);
        }
        let mut out = String::new();
        plan.render(&mut out);
        assert!(
            out.contains("a-00: Mon 30 Nov 08:00–16:00 \"phone\\nforged\""),
            "{out}"
        );
        assert!(out.contains("(times in America/Chicago)"), "{out}");
        assert!(out.contains("shifts added (23 agents):"), "{out}");
        assert!(out.contains("    … and 3 more\n"), "{out}");
        assert!(!out.contains("a-20"), "{out}");
        assert_eq!(out.lines().count(), 2 + TEXT_SHOWN + 1, "{out}");
    }
}
