//! What a resolved shift swap does to the plan (CONTRACT.md §4).
//!
//! Approved: the requester's shift moves to the recipient, and the
//! recipient's shift, if any, to the requester. Denied, expired, canceled:
//! the original weeks stand. A swap whose shifts are not where the plan says
//! is reported, never guessed.

use std::collections::BTreeMap;

use crate::api::model::{Shift, Swap, SwapStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// New weeks for the agents involved, with a note for the report.
    Apply(Vec<(String, Vec<Shift>, String)>),
    /// The swap and the plan disagree: the agents stay unpublished.
    Mismatch(String),
}

fn same_time(a: &Shift, b: &Shift) -> bool {
    a.start_time == b.start_time && a.end_time == b.end_time
}

fn overlaps(week: &[Shift]) -> bool {
    week.windows(2).any(|w| w[1].start_time < w[0].end_time)
}

fn describe(s: &Shift) -> String {
    format!(
        "{}–{}",
        s.start_time.format("%Y-%m-%d %H:%MZ"),
        s.end_time.format("%H:%MZ")
    )
}

/// Takes `given` out of `agent`'s week, keeping the plan's copy (with its
/// activity), or says why it cannot.
fn take(
    weeks: &mut BTreeMap<String, Vec<Shift>>,
    agent: &str,
    given: &Shift,
    swap: &Swap,
) -> Result<Shift, String> {
    let week = weeks.get_mut(agent).ok_or_else(|| {
        format!(
            "swap {} was approved but {agent} is not in this week's source file: publish the trade by hand or add {agent} to the file",
            swap.id
        )
    })?;
    let at = week.iter().position(|s| same_time(s, given)).ok_or_else(|| {
        format!(
            "swap {} was approved but {agent}'s planned week has no shift {}: the source file and the platform disagree; fix the file or publish by hand",
            swap.id,
            describe(given)
        )
    })?;
    Ok(week.remove(at))
}

/// Whether the source file already shows the trade: the given shift on the
/// recipient, the returned one (if any) on the requester.
fn already_traded(weeks: &BTreeMap<String, Vec<Shift>>, swap: &Swap, given: &Shift) -> bool {
    let has = |agent: &str, shift: &Shift| {
        weeks
            .get(agent)
            .is_some_and(|w| w.iter().any(|s| same_time(s, shift)))
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

/// What `swap`, resolved, means for the weeks in `plan`.
pub fn resolve(plan: &BTreeMap<String, Vec<Shift>>, swap: &Swap) -> Resolution {
    let requester = &swap.requester.agent_id;
    let recipient = &swap.recipient.agent_id;
    if swap.status != SwapStatus::Approved {
        let note = format!(
            "swap {} {}: original week published",
            swap.id,
            swap.status.as_str()
        );
        return Resolution::Apply(
            [requester, recipient]
                .into_iter()
                .filter_map(|a| plan.get(a).map(|w| (a.clone(), w.clone(), note.clone())))
                .collect(),
        );
    }
    let Some(given) = &swap.requester.shift else {
        return Resolution::Mismatch(format!(
            "swap {} was approved without a requester shift: nothing to trade; publish by hand",
            swap.id
        ));
    };
    let mut weeks: BTreeMap<String, Vec<Shift>> = [requester, recipient]
        .into_iter()
        .filter_map(|a| plan.get(a).map(|w| (a.clone(), w.clone())))
        .collect();
    if already_traded(&weeks, swap, given) {
        let note = format!("swap {} approved: already in the source file", swap.id);
        return Resolution::Apply(
            weeks
                .into_iter()
                .map(|(a, w)| (a, w, note.clone()))
                .collect(),
        );
    }
    let moved = match take(&mut weeks, requester, given, swap) {
        Ok(s) => s,
        Err(e) => return Resolution::Mismatch(e),
    };
    let returned = match &swap.recipient.shift {
        Some(s) => match take(&mut weeks, recipient, s, swap) {
            Ok(s) => Some(s),
            Err(e) => return Resolution::Mismatch(e),
        },
        None => None,
    };
    let Some(recipient_week) = weeks.get_mut(recipient) else {
        return Resolution::Mismatch(format!(
            "swap {} was approved but {recipient} is not in this week's source file: publish the trade by hand or add {recipient} to the file",
            swap.id
        ));
    };
    recipient_week.push(moved.clone());
    recipient_week.sort();
    let requester_week = weeks.get_mut(requester).expect("taken from above");
    if let Some(r) = &returned {
        requester_week.push(r.clone());
        requester_week.sort();
    }
    if weeks.values().any(|w| overlaps(w)) {
        return Resolution::Mismatch(format!(
            "swap {} was approved but the traded weeks would overlap: fix the source file or publish by hand",
            swap.id
        ));
    }
    let note_requester = match &returned {
        Some(r) => format!(
            "swap {} approved: gave {} to {recipient}, took {}",
            swap.id,
            describe(&moved),
            describe(r)
        ),
        None => format!(
            "swap {} approved: gave {} to {recipient}",
            swap.id,
            describe(&moved)
        ),
    };
    let note_recipient = match &returned {
        Some(r) => format!(
            "swap {} approved: took {} from {requester}, gave {}",
            swap.id,
            describe(&moved),
            describe(r)
        ),
        None => format!(
            "swap {} approved: took {} from {requester}",
            swap.id,
            describe(&moved)
        ),
    };
    Resolution::Apply(
        weeks
            .into_iter()
            .map(|(a, w)| {
                let note = if &a == requester {
                    note_requester.clone()
                } else {
                    note_recipient.clone()
                };
                (a, w, note)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::SwapParty;

    fn shift(day: u32, h: u32) -> Shift {
        let start: chrono::DateTime<chrono::Utc> =
            format!("2026-12-{day:02}T{h:02}:00:00Z").parse().unwrap();
        Shift {
            start_time: start,
            end_time: start + chrono::TimeDelta::hours(8),
            activity: Some("phone".into()),
        }
    }

    fn bare(s: &Shift) -> Shift {
        Shift {
            activity: None,
            ..s.clone()
        }
    }

    fn swap(status: SwapStatus, given: Shift, back: Option<Shift>) -> Swap {
        Swap {
            id: "sw-1".into(),
            schedule_id: "s".into(),
            status,
            requester: SwapParty {
                agent_id: "a-1".into(),
                shift: Some(bare(&given)),
            },
            recipient: SwapParty {
                agent_id: "a-2".into(),
                shift: back.as_ref().map(bare),
            },
            updated_at: chrono::Utc::now(),
        }
    }

    fn plan() -> BTreeMap<String, Vec<Shift>> {
        BTreeMap::from([
            ("a-1".to_owned(), vec![shift(1, 14), shift(2, 14)]),
            ("a-2".to_owned(), vec![shift(3, 18), shift(5, 18)]),
        ])
    }

    fn weeks(r: Resolution) -> BTreeMap<String, Vec<Shift>> {
        match r {
            Resolution::Apply(v) => v.into_iter().map(|(a, w, _)| (a, w)).collect(),
            Resolution::Mismatch(m) => panic!("{m}"),
        }
    }

    #[test]
    fn an_approved_trade_moves_both_shifts_with_their_activity() {
        let w = weeks(resolve(
            &plan(),
            &swap(SwapStatus::Approved, shift(1, 14), Some(shift(5, 18))),
        ));
        assert_eq!(w["a-1"], vec![shift(2, 14), shift(5, 18)]);
        assert_eq!(w["a-2"], vec![shift(1, 14), shift(3, 18)]);
    }

    #[test]
    fn an_approved_give_away_moves_one_shift() {
        let w = weeks(resolve(
            &plan(),
            &swap(SwapStatus::Approved, shift(1, 14), None),
        ));
        assert_eq!(w["a-1"], vec![shift(2, 14)]);
        assert_eq!(w["a-2"], vec![shift(1, 14), shift(3, 18), shift(5, 18)]);
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
        let cases = [
            swap(SwapStatus::Approved, shift(4, 14), None),
            swap(SwapStatus::Approved, shift(1, 14), Some(shift(4, 18))),
            // a-2 already works the 3rd from 18:00: taking a-1's 3rd 14:00 would overlap.
            swap(SwapStatus::Approved, shift(2, 14), None).clone(),
        ];
        let mut overlapping = plan();
        overlapping.get_mut("a-1").unwrap().push(shift(3, 14));
        let mut s = cases[2].clone();
        s.requester.shift = Some(bare(&shift(3, 14)));
        for (p, sw) in [(plan(), &cases[0]), (plan(), &cases[1]), (overlapping, &s)] {
            assert!(matches!(resolve(&p, sw), Resolution::Mismatch(_)), "{sw:?}");
        }
        let mut missing = plan();
        missing.remove("a-2");
        assert!(matches!(
            resolve(&missing, &swap(SwapStatus::Approved, shift(1, 14), None)),
            Resolution::Mismatch(m) if m.contains("not in this week's source file")
        ));
    }
}
