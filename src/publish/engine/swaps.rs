//! What a listing of the schedule's swaps does to the run's agents: a
//! decided swap applied to their weeks, agents released when their swap is
//! gone, deferred while one is pending, given up at the deadline.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::Halt;
use crate::domain::lifecycle::{AgentState, Event, StateKind, Unpublished, UnpublishedKind};
use crate::domain::plan::{Swap, SwapStatus};
use crate::domain::{AgentId, SwapId};
use crate::echo::echo;
use crate::publish::ledger::{Ledger, LedgerError};
use crate::publish::trade::{self, Resolution};

/// Applies a decided swap to the ledger: the weeks it gives its agents, or
/// their refusal when it contradicts the plan.
pub(super) fn resolve(ledger: &mut Ledger, swap: &Swap, tz: Tz) -> Result<(), LedgerError> {
    let plan = [&swap.requester.agent_id, &swap.recipient.agent_id]
        .into_iter()
        .filter_map(|a| ledger.get(a).map(|r| (a.clone(), r.week.clone())))
        .collect();
    // The same on every platform: the simple contract leaves the traded
    // week for the publisher to write (CONTRACT §4); Genesys Cloud has
    // applied it already, and the next write keeps the traded shifts
    // and sends only what the plan changes beyond them.
    match trade::resolve(&plan, swap, tz) {
        Resolution::Apply(traded) => {
            // Per agent at DEBUG: the listing says how many were decided.
            for t in &traded {
                tracing::debug!(agent = %t.agent_id, swap = %echo(&swap.id), note = %echo(&t.note), "swap resolved");
            }
            ledger.apply_trade(swap, traded)?;
        }
        Resolution::Mismatch(reason) => {
            tracing::warn!(swap = %echo(&swap.id), reason = %echo(&reason), "swap does not match the plan");
            ledger.refuse_trade(
                swap,
                Unpublished::new(UnpublishedKind::SwapMismatch, reason),
            )?;
        }
    }
    Ok(())
}

/// Agents waiting for a swap, with the swap's id.
pub(super) fn waiting(ledger: &Ledger) -> impl Iterator<Item = (AgentId, SwapId)> + '_ {
    ledger
        .ids(StateKind::Deferred)
        .into_iter()
        .filter_map(|agent| match &ledger.get(&agent)?.state {
            AgentState::Deferred { swap_id } => Some((agent, swap_id.clone())),
            _ => None,
        })
}

/// One listing of the schedule's swaps, applied: every decided one that
/// concerns the run is resolved, agents whose swap is gone are released,
/// and every agent with a pending one is deferred.
pub(super) fn apply_swaps(ledger: &mut Ledger, swaps: &[Swap], tz: Tz) -> Result<(), Halt> {
    let decided: Vec<Swap> = decided(swaps, ledger).into_iter().cloned().collect();
    resolve_all(ledger, &decided, tz)?;
    release_gone(ledger, swaps)?;
    let mut pending: HashMap<&AgentId, &SwapId> = HashMap::new();
    for s in swaps.iter().filter(|s| s.status == SwapStatus::Pending) {
        pending.entry(&s.requester.agent_id).or_insert(&s.id);
        pending.entry(&s.recipient.agent_id).or_insert(&s.id);
    }
    let held: Vec<(AgentId, Event)> = [StateKind::Planned, StateKind::Written]
        .into_iter()
        .flat_map(|k| ledger.ids(k))
        .filter_map(|agent| {
            let swap_id = (*pending.get(&agent)?).clone();
            tracing::debug!(%agent, swap = %echo(&swap_id), "deferred: pending shift swap");
            Some((agent, Event::Held { swap_id }))
        })
        .collect();
    log_deferred(&held);
    ledger.apply(held)?;
    Ok(())
}

/// Resolves `swaps`, decided, in order; one line says how many, each
/// agent's trade is at DEBUG and in the report.
fn resolve_all(ledger: &mut Ledger, swaps: &[Swap], tz: Tz) -> Result<(), LedgerError> {
    for swap in swaps {
        resolve(ledger, swap, tz)?;
    }
    if !swaps.is_empty() {
        tracing::info!(
            swaps = swaps.len(),
            "shift swaps decided: their agents are written as decided"
        );
    }
    Ok(())
}

/// One line for the agents a listing deferred, with their count and their
/// swaps': a line per agent (debug) would fill a terminal at the start of
/// a large run.
fn log_deferred(held: &[(AgentId, Event)]) {
    let swaps: BTreeSet<&SwapId> = held
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Held { swap_id } => Some(swap_id),
            _ => None,
        })
        .collect();
    if !held.is_empty() {
        tracing::info!(
            agents = held.len(),
            swaps = swaps.len(),
            "agents deferred: pending shift swap"
        );
    }
}

/// Agents waiting on a swap the platform no longer lists are released:
/// like a cancellation, the original week stands.
pub(super) fn release_gone(ledger: &mut Ledger, swaps: &[Swap]) -> Result<(), Halt> {
    let listed: BTreeSet<&SwapId> = swaps.iter().map(|s| &s.id).collect();
    let released: Vec<(AgentId, Event)> = waiting(ledger)
        .filter(|(_, swap)| !listed.contains(swap))
        .map(|(agent, _)| (agent, Event::Released))
        .collect();
    Ok(ledger.apply(released)?)
}

/// A listing taken while writes are under way, applied only where it
/// concerns agents waiting on a swap: a decision of which every one of the
/// run's agents is deferred, a swap gone. Agents being written are left to
/// the listing after the writes.
pub(super) fn apply_swaps_while_writing(
    ledger: &mut Ledger,
    swaps: &[Swap],
    tz: Tz,
) -> Result<(), Halt> {
    let waiting_agents: BTreeSet<AgentId> = waiting(ledger).map(|(agent, _)| agent).collect();
    let only_waiting = |s: &&Swap| {
        [&s.requester.agent_id, &s.recipient.agent_id]
            .into_iter()
            .filter(|a| ledger.get(a).is_some())
            .all(|a| waiting_agents.contains(a))
    };
    let settled: Vec<Swap> = decided(swaps, ledger)
        .into_iter()
        .filter(only_waiting)
        .cloned()
        .collect();
    resolve_all(ledger, &settled, tz)?;
    release_gone(ledger, swaps)
}

/// The decided swaps the run has not applied yet, oldest decision first.
/// Every approved swap of the week changes its agents' weeks: the platform
/// leaves the traded week for us to publish (CONTRACT §4), whether or not
/// this run saw it pending. Other decisions only matter to the agents
/// waiting on them.
pub(super) fn decided<'s>(swaps: &'s [Swap], ledger: &Ledger) -> Vec<&'s Swap> {
    let waited_on: BTreeSet<SwapId> = waiting(ledger).map(|(_, swap)| swap).collect();
    let mut decided: Vec<&Swap> = swaps
        .iter()
        .filter(|s| !ledger.is_applied(&s.id))
        .filter(|s| match s.status {
            SwapStatus::Pending => false,
            SwapStatus::Approved => {
                ledger.get(&s.requester.agent_id).is_some()
                    || ledger.get(&s.recipient.agent_id).is_some()
            }
            _ => waited_on.contains(&s.id),
        })
        .collect();
    decided.sort_by_key(|s| (s.updated_at, s.id.clone()));
    decided
}

/// Gives up the agents still waiting at `deadline`: one ERROR with their
/// count (the report lists them under the cause, with the fix), each
/// agent at DEBUG.
pub(super) fn give_up(ledger: &mut Ledger, deadline: DateTime<Utc>) -> Result<(), LedgerError> {
    let events: Vec<(AgentId, Event)> = waiting(ledger)
        .map(|(agent, swap)| {
            tracing::debug!(%agent, swap = %echo(&swap), %deadline, "unpublished: swap still pending at the deferral deadline");
            (agent, Event::DeadlinePassed { deadline })
        })
        .collect();
    if !events.is_empty() {
        tracing::error!(
            agents = events.len(),
            %deadline,
            "unpublished: swaps still pending at the deferral deadline; the report lists the agents"
        );
    }
    ledger.apply(events)
}
