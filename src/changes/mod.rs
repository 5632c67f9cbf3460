//! What publishing an agent's week would change on the platform, shift by
//! shift: the planned week against the week the platform holds (or, where
//! the platform cannot be read, the week last published to it). Pure: no
//! platform, wire type or time zone here; the plan a dry run shows
//! ([`grouped`]) is built from these.

pub mod grouped;

use chrono::TimeDelta;
use serde::Serialize;

use crate::domain::plan::Shift;

/// How far a shift may move and still be shown as moved rather than as
/// one shift removed and another added: a shift moved to another day of
/// the week reads as a move, one planned for another week cannot be.
const MOVE_WINDOW: TimeDelta = TimeDelta::hours(24);

/// The kinds of change, in the order a plan shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A planned shift the platform does not hold.
    Added,
    /// A held shift the plan no longer has.
    Removed,
    /// The same activity at another start or for another length.
    Moved,
    /// The same start and end, doing something else.
    ActivityChanged,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 4] = [
        ChangeKind::Added,
        ChangeKind::Removed,
        ChangeKind::Moved,
        ChangeKind::ActivityChanged,
    ];
}

/// One shift's change: what the platform holds (`before`) and what the
/// plan has (`after`); an added shift has no `before`, a removed one no
/// `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftChange {
    pub kind: ChangeKind,
    pub before: Option<Shift>,
    pub after: Option<Shift>,
}

impl ShiftChange {
    /// When the change happens, to sort an agent's changes by time.
    fn at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .map(|s| s.start)
    }
}

/// Every change that turns `held` into `planned`, by time; none when they
/// hold the same shifts. A shift in both is unchanged; of the others, a
/// planned and a held shift of the same span are an activity change, of
/// the same activity within [`MOVE_WINDOW`] (the nearest first) a move;
/// what is left is added or removed.
pub fn diff(planned: &[Shift], held: &[Shift]) -> Vec<ShiftChange> {
    let mut held: Vec<Option<&Shift>> = held.iter().map(Some).collect();
    let mut left: Vec<&Shift> = Vec::new();
    for p in planned {
        match held.iter_mut().find(|h| **h == Some(p)) {
            Some(slot) => *slot = None,
            None => left.push(p),
        }
    }
    let mut changes = Vec::new();
    let mut unpaired = Vec::new();
    for p in left {
        let same_span = |h: &Shift| h.start == p.start && h.end == p.end;
        if let Some(h) = take_nearest(&mut held, p, same_span) {
            changes.push(change(ChangeKind::ActivityChanged, Some(h), Some(p)));
        } else {
            unpaired.push(p);
        }
    }
    for p in unpaired {
        let nearby =
            |h: &Shift| h.activity == p.activity && (h.start - p.start).abs() <= MOVE_WINDOW;
        match take_nearest(&mut held, p, nearby) {
            Some(h) => changes.push(change(ChangeKind::Moved, Some(h), Some(p))),
            None => changes.push(change(ChangeKind::Added, None, Some(p))),
        }
    }
    for h in held.into_iter().flatten() {
        changes.push(change(ChangeKind::Removed, Some(h), None));
    }
    changes.sort_by_key(|c| (c.at(), c.kind));
    changes
}

/// Takes out of `held` the shift that `fits`, starting nearest to `p`.
fn take_nearest<'a>(
    held: &mut [Option<&'a Shift>],
    p: &Shift,
    fits: impl Fn(&Shift) -> bool,
) -> Option<&'a Shift> {
    let slot = held
        .iter_mut()
        .filter(|h| h.is_some_and(&fits))
        .min_by_key(|h| h.map(|h| (h.start - p.start).abs()))?;
    slot.take()
}

fn change(kind: ChangeKind, before: Option<&Shift>, after: Option<&Shift>) -> ShiftChange {
    ShiftChange {
        kind,
        before: before.cloned(),
        after: after.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn shift(start: &str, end: &str, activity: &str) -> Shift {
        Shift {
            start: at(start),
            end: at(end),
            activity: activity.into(),
        }
    }

    fn kinds(changes: &[ShiftChange]) -> Vec<ChangeKind> {
        changes.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn the_same_shifts_in_another_order_change_nothing() {
        let a = shift("2026-11-30T14:00:00Z", "2026-11-30T22:00:00Z", "phone");
        let b = shift("2026-12-01T14:00:00Z", "2026-12-01T22:00:00Z", "email");
        assert!(diff(&[a.clone(), b.clone()], &[b, a]).is_empty());
        assert!(diff(&[], &[]).is_empty());
    }

    #[test]
    fn a_shift_only_planned_is_added_and_one_only_held_is_removed() {
        let mon = shift("2026-11-30T14:00:00Z", "2026-11-30T22:00:00Z", "phone");
        let wed = shift("2026-12-02T14:00:00Z", "2026-12-02T22:00:00Z", "email");
        let changes = diff(std::slice::from_ref(&mon), std::slice::from_ref(&wed));
        assert_eq!(kinds(&changes), [ChangeKind::Added, ChangeKind::Removed]);
        assert_eq!(changes[0].after.as_ref(), Some(&mon));
        assert_eq!(changes[0].before, None);
        assert_eq!(changes[1].before.as_ref(), Some(&wed));
        assert_eq!(changes[1].after, None);
    }

    #[test]
    fn the_same_activity_at_another_time_is_a_move() {
        let held = shift("2026-11-30T14:00:00Z", "2026-11-30T22:00:00Z", "phone");
        let later = shift("2026-11-30T15:00:00Z", "2026-11-30T23:00:00Z", "phone");
        let longer = shift("2026-11-30T14:00:00Z", "2026-11-30T23:00:00Z", "phone");
        for planned in [later, longer] {
            let changes = diff(std::slice::from_ref(&planned), std::slice::from_ref(&held));
            assert_eq!(kinds(&changes), [ChangeKind::Moved]);
            assert_eq!(changes[0].before.as_ref(), Some(&held));
            assert_eq!(changes[0].after.as_ref(), Some(&planned));
        }
    }

    #[test]
    fn the_same_span_doing_something_else_is_an_activity_change() {
        let held = shift("2026-11-30T14:00:00Z", "2026-11-30T22:00:00Z", "phone");
        let planned = shift("2026-11-30T14:00:00Z", "2026-11-30T22:00:00Z", "email");
        let changes = diff(&[planned], &[held]);
        assert_eq!(kinds(&changes), [ChangeKind::ActivityChanged]);
    }

    /// Another activity at another time is no move: the shift went, and
    /// another came. So is the same activity a week away.
    #[test]
    fn a_shift_far_away_or_doing_something_else_is_not_a_move() {
        let held = shift("2026-11-30T14:00:00Z", "2026-11-30T22:00:00Z", "phone");
        let other = shift("2026-11-30T15:00:00Z", "2026-11-30T23:00:00Z", "email");
        let far = shift("2026-12-03T14:00:00Z", "2026-12-03T22:00:00Z", "phone");
        for planned in [other, far] {
            let changes = diff(&[planned], std::slice::from_ref(&held));
            assert_eq!(kinds(&changes), [ChangeKind::Removed, ChangeKind::Added]);
        }
    }

    /// Two held shifts of one activity: each planned one is paired with the
    /// nearest, so a week shifted by an hour is two moves, not a crossing.
    #[test]
    fn moves_pair_each_shift_with_the_nearest() {
        let held = [
            shift("2026-11-30T14:00:00Z", "2026-11-30T22:00:00Z", "phone"),
            shift("2026-12-01T14:00:00Z", "2026-12-01T22:00:00Z", "phone"),
        ];
        let planned = [
            shift("2026-12-01T15:00:00Z", "2026-12-01T23:00:00Z", "phone"),
            shift("2026-11-30T15:00:00Z", "2026-11-30T23:00:00Z", "phone"),
        ];
        let changes = diff(&planned, &held);
        assert_eq!(kinds(&changes), [ChangeKind::Moved, ChangeKind::Moved]);
        for c in &changes {
            let (before, after) = (c.before.as_ref().unwrap(), c.after.as_ref().unwrap());
            assert_eq!(after.start - before.start, TimeDelta::hours(1));
        }
    }
}
