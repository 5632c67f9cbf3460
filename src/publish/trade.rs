//! What a resolved shift swap does to the plan (CONTRACT.md §4).
//!
//! Approved: the requester's shift moves to the recipient, and the
//! recipient's shift, if any, to the requester. Denied, expired, canceled:
//! the original weeks stand. A swap whose shifts are not where the plan says
//! is reported, never guessed.

use std::collections::BTreeMap;

use chrono_tz::Tz;

use crate::domain::plan::{AgentWeek, Shift, Span, Swap, SwapStatus};
use crate::domain::AgentId;
use crate::echo::echo;

/// One agent's week after a decided swap, with a note for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traded {
    pub agent_id: AgentId,
    pub week: AgentWeek,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// New weeks for the agents involved.
    Apply(Vec<Traded>),
    /// The swap and the plan disagree: the agents stay unpublished.
    Mismatch(String),
}

type Weeks = BTreeMap<AgentId, Vec<Shift>>;

fn overlaps(week: &[Shift]) -> bool {
    week.windows(2).any(|w| w[1].start < w[0].end)
}

/// Takes `given` out of `agent`'s week, keeping the plan's copy (with its
/// activity), or says why it cannot.
fn take(weeks: &mut Weeks, agent: &AgentId, given: &Span, swap: &Swap) -> Result<Shift, String> {
    let week = weeks
        .get_mut(agent)
        .ok_or_else(|| not_in_file(swap, agent))?;
    let at = week.iter().position(|s| s.span() == *given).ok_or_else(|| {
        format!(
            "swap {} was approved but {agent}'s planned week has no shift {given}: the source file and the platform disagree; fix the file or publish by hand",
            echo(&swap.id)
        )
    })?;
    Ok(week.remove(at))
}

/// `agent` comes from the platform's swap, not from the file: echoed.
fn not_in_file(swap: &Swap, agent: &AgentId) -> String {
    let agent = echo(agent);
    format!(
        "swap {} was approved but {agent} is not in this week's source file: publish the trade by hand or add {agent} to the file",
        echo(&swap.id)
    )
}

/// Whether the source file already shows the trade: the given shift on the
/// recipient, the returned one (if any) on the requester.
fn already_traded(weeks: &Weeks, swap: &Swap, given: &Span) -> bool {
    let has = |agent: &AgentId, span: &Span| {
        weeks
            .get(agent)
            .is_some_and(|w| w.iter().any(|s| s.span() == *span))
    };
    let requester = &swap.requester.agent_id;
    let recipient = &swap.recipient.agent_id;
    !has(requester, given)
        && has(recipient, given)
        && swap
            .recipient
            .shift
            .as_ref()
            .is_none_or(|back| has(requester, back) && !has(recipient, back))
}

fn apply(weeks: Weeks, note: impl Fn(&AgentId) -> String) -> Resolution {
    Resolution::Apply(
        weeks
            .into_iter()
            .map(|(agent_id, shifts)| Traded {
                note: note(&agent_id),
                week: AgentWeek::new(shifts),
                agent_id,
            })
            .collect(),
    )
}

/// What `swap`, resolved, means for the weeks in `plan`; the notes say
/// the shifts in `tz`, the target's zone.
pub fn resolve(plan: &BTreeMap<AgentId, AgentWeek>, swap: &Swap, tz: Tz) -> Resolution {
    let weeks: Weeks = [&swap.requester.agent_id, &swap.recipient.agent_id]
        .into_iter()
        .filter_map(|a| plan.get(a).map(|w| (a.clone(), w.shifts().to_vec())))
        .collect();
    if swap.status != SwapStatus::Approved {
        let note = format!(
            "swap {} {}: original week published",
            echo(&swap.id),
            swap.status.as_str()
        );
        return apply(weeks, |_| note.clone());
    }
    let Some(given) = &swap.requester.shift else {
        return Resolution::Mismatch(format!(
            "swap {} was approved without a requester shift: nothing to trade; publish by hand",
            echo(&swap.id)
        ));
    };
    if already_traded(&weeks, swap, given) {
        let note = format!(
            "swap {} approved: already in the source file",
            echo(&swap.id)
        );
        return apply(weeks, |_| note.clone());
    }
    match trade(weeks, swap, given) {
        Ok((weeks, moved, returned)) => {
            let requester = swap.requester.agent_id.clone();
            apply(weeks, |agent| {
                note(swap, *agent == requester, &moved, returned.as_ref(), tz)
            })
        }
        Err(why) => Resolution::Mismatch(why),
    }
}

/// Moves `given` to the recipient and its shift, if any, back.
fn trade(
    mut weeks: Weeks,
    swap: &Swap,
    given: &Span,
) -> Result<(Weeks, Shift, Option<Shift>), String> {
    let requester = &swap.requester.agent_id;
    let recipient = &swap.recipient.agent_id;
    let moved = take(&mut weeks, requester, given, swap)?;
    let returned = match &swap.recipient.shift {
        Some(s) => Some(take(&mut weeks, recipient, s, swap)?),
        None => None,
    };
    let recipient_week = weeks
        .get_mut(recipient)
        .ok_or_else(|| not_in_file(swap, recipient))?;
    recipient_week.push(moved.clone());
    recipient_week.sort();
    let requester_week = weeks.get_mut(requester).expect("taken from above");
    if let Some(r) = &returned {
        requester_week.push(r.clone());
        requester_week.sort();
    }
    if weeks.values().any(|w| overlaps(w)) {
        return Err(format!(
            "swap {} was approved but the traded weeks would overlap: fix the source file or publish by hand",
            echo(&swap.id)
        ));
    }
    Ok((weeks, moved, returned))
}

fn note(
    swap: &Swap,
    is_requester: bool,
    moved: &Shift,
    returned: Option<&Shift>,
    tz: Tz,
) -> String {
    let (requester, recipient) = (&swap.requester.agent_id, &swap.recipient.agent_id);
    let local = |s: &Shift| crate::local_time::span(s.start, s.end, tz);
    let (moved, returned) = (local(moved), returned.map(local));
    match (is_requester, returned) {
        (true, Some(r)) => format!(
            "swap {} approved: gave {moved} to {recipient}, took {r}",
            echo(&swap.id)
        ),
        (true, None) => format!(
            "swap {} approved: gave {moved} to {recipient}",
            echo(&swap.id)
        ),
        (false, Some(r)) => format!(
            "swap {} approved: took {moved} from {requester}, gave {r}",
            echo(&swap.id)
        ),
        (false, None) => format!(
            "swap {} approved: took {moved} from {requester}",
            echo(&swap.id)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::SwapParty;

    fn resolve(plan: &BTreeMap<AgentId, AgentWeek>, swap: &Swap) -> Resolution {
        super::resolve(plan, swap, chrono_tz::UTC)
    }

    /// Issue 29 item 6: a shift across midnight keeps its end's date, in
    /// the target's time with the zone named.
    #[test]
    fn a_notes_shifts_are_local_and_keep_the_date_across_midnight() {
        let late = shift(20, 0);
        let plan = BTreeMap::from([
            ("a-1".into(), AgentWeek::new(vec![shift(15, 14)])),
            ("a-2".into(), AgentWeek::new(vec![late.clone()])),
        ]);
        let chicago: Tz = "America/Chicago".parse().unwrap();
        let sw = swap(SwapStatus::Approved, shift(15, 14), Some(late));
        let Resolution::Apply(traded) = super::resolve(&plan, &sw, chicago) else {
            panic!("a mismatch")
        };
        let note = &traded.iter().find(|t| t.agent_id == "a-1").unwrap().note;
        assert_eq!(
            note,
            "swap \"sw-1\" approved: gave 2026-12-15 08:00–16:00 CST to a-2, took 2026-12-19 18:00 – 2026-12-20 02:00 CST"
        );
    }

    fn shift(day: u32, h: u32) -> Shift {
        let start: chrono::DateTime<chrono::Utc> =
            format!("2026-12-{day:02}T{h:02}:00:00Z").parse().unwrap();
        Shift {
            start,
            end: start + chrono::TimeDelta::hours(8),
            activity: "phone".into(),
        }
    }

    fn swap(status: SwapStatus, given: Shift, back: Option<Shift>) -> Swap {
        Swap {
            id: "sw-1".into(),
            status,
            requester: SwapParty {
                agent_id: "a-1".into(),
                shift: Some(given.span()),
            },
            recipient: SwapParty {
                agent_id: "a-2".into(),
                shift: back.as_ref().map(Shift::span),
            },
            updated_at: chrono::Utc::now(),
        }
    }

    fn plan() -> BTreeMap<AgentId, AgentWeek> {
        BTreeMap::from([
            (
                "a-1".into(),
                AgentWeek::new(vec![shift(1, 14), shift(2, 14)]),
            ),
            (
                "a-2".into(),
                AgentWeek::new(vec![shift(3, 18), shift(5, 18)]),
            ),
        ])
    }

    fn weeks(r: Resolution) -> BTreeMap<AgentId, AgentWeek> {
        match r {
            Resolution::Apply(v) => v.into_iter().map(|t| (t.agent_id, t.week)).collect(),
            Resolution::Mismatch(m) => panic!("{m}"),
        }
    }

    fn shifts(w: &AgentWeek) -> Vec<Shift> {
        w.shifts().to_vec()
    }

    #[test]
    fn an_approved_trade_moves_both_shifts_with_their_activity() {
        let w = weeks(resolve(
            &plan(),
            &swap(SwapStatus::Approved, shift(1, 14), Some(shift(5, 18))),
        ));
        assert_eq!(shifts(&w["a-1"]), vec![shift(2, 14), shift(5, 18)]);
        assert_eq!(shifts(&w["a-2"]), vec![shift(1, 14), shift(3, 18)]);
    }

    #[test]
    fn an_approved_give_away_moves_one_shift() {
        let w = weeks(resolve(
            &plan(),
            &swap(SwapStatus::Approved, shift(1, 14), None),
        ));
        assert_eq!(shifts(&w["a-1"]), vec![shift(2, 14)]);
        assert_eq!(
            shifts(&w["a-2"]),
            vec![shift(1, 14), shift(3, 18), shift(5, 18)]
        );
    }

    #[test]
    fn a_trade_the_source_file_already_shows_changes_nothing() {
        let sw = swap(SwapStatus::Approved, shift(1, 14), Some(shift(5, 18)));
        let traded = weeks(resolve(&plan(), &sw));
        assert_eq!(weeks(resolve(&traded, &sw)), traded);
    }

    #[test]
    fn other_resolutions_keep_the_original_weeks() {
        for status in [
            SwapStatus::Denied,
            SwapStatus::Expired,
            SwapStatus::Canceled,
        ] {
            assert_eq!(
                weeks(resolve(&plan(), &swap(status, shift(1, 14), None))),
                plan()
            );
        }
    }

    #[test]
    fn a_swap_the_plan_does_not_match_is_reported() {
        let mut overlapping = plan();
        overlapping.insert(
            "a-1".into(),
            AgentWeek::new(vec![shift(1, 14), shift(2, 14), shift(3, 14)]),
        );
        // a-2 already works the 3rd from 18:00: taking a-1's 3rd 14:00 would overlap.
        let cases = [
            (plan(), swap(SwapStatus::Approved, shift(4, 14), None)),
            (
                plan(),
                swap(SwapStatus::Approved, shift(1, 14), Some(shift(4, 18))),
            ),
            (overlapping, swap(SwapStatus::Approved, shift(3, 14), None)),
        ];
        for (p, sw) in &cases {
            assert!(matches!(resolve(p, sw), Resolution::Mismatch(_)), "{sw:?}");
        }
        let mut missing = plan();
        missing.remove("a-2");
        assert!(matches!(
            resolve(&missing, &swap(SwapStatus::Approved, shift(1, 14), None)),
            Resolution::Mismatch(m) if m.contains("not in this week's source file")
        ));
    }
}
