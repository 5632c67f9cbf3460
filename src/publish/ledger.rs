//! The run as an explicit ledger: every agent's week and state, moved only
//! by events through [`lifecycle::transition`], each batch of events saved
//! by one call to the ledger's sink before the engine acts on it. A dry
//! run is a ledger whose sink records nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::progress::{Counts, Phase, Progress};
use super::trade::Traded;
use crate::domain::lifecycle::{
    self, AgentState, Event, IllegalTransition, StateKind, Unpublished,
};
use crate::domain::plan::{AgentWeek, ContentHash, Swap};
use crate::domain::{AgentId, ScheduleId, SwapId};
use crate::store::{AgentRow, AppliedSwap, RunId, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug: the engine asked for a move the lifecycle does not have.
    /// Boxed: it holds two states, and every run's result carries the room.
    #[error(transparent)]
    Illegal(#[from] Box<IllegalTransition>),
}

/// Where a ledger's changes go.
pub trait Sink: Send + Sync {
    fn save(&self, schedule_id: &ScheduleId, rows: &[AgentRow]) -> Result<(), StoreError>;
    fn save_trade(
        &self,
        schedule_id: &ScheduleId,
        swap: &AppliedSwap<'_>,
        rows: &[AgentRow],
    ) -> Result<(), StoreError>;
}

/// A run recorded in the state store.
pub struct StoreSink {
    pub store: Arc<dyn Store>,
    pub run: RunId,
}

impl Sink for StoreSink {
    fn save(&self, schedule_id: &ScheduleId, rows: &[AgentRow]) -> Result<(), StoreError> {
        self.store.save_agents(self.run, schedule_id, rows)
    }

    fn save_trade(
        &self,
        schedule_id: &ScheduleId,
        swap: &AppliedSwap<'_>,
        rows: &[AgentRow],
    ) -> Result<(), StoreError> {
        self.store.save_trade(self.run, schedule_id, swap, rows)
    }
}

/// A dry run: plans, records nothing.
pub struct DryRun;

impl Sink for DryRun {
    fn save(&self, _: &ScheduleId, _: &[AgentRow]) -> Result<(), StoreError> {
        Ok(())
    }

    fn save_trade(
        &self,
        _: &ScheduleId,
        _: &AppliedSwap<'_>,
        _: &[AgentRow],
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

pub struct Ledger {
    sink: Box<dyn Sink>,
    schedule_id: ScheduleId,
    /// Every agent's row, sorted by agent id and found by binary search:
    /// at 50,000 agents, a map keyed by a copy of each id, and a copy of
    /// every row while the map was built, were a fifth of the run's memory.
    agents: Vec<AgentRow>,
    /// Where each state's agents are in `agents`.
    by_state: BTreeMap<StateKind, BTreeSet<usize>>,
    applied: BTreeSet<SwapId>,
    /// Agents this run found already published with the same content.
    unchanged: usize,
    progress: Arc<dyn Progress>,
}

impl Ledger {
    pub fn new(
        sink: Box<dyn Sink>,
        schedule_id: &ScheduleId,
        mut rows: Vec<AgentRow>,
        applied: impl IntoIterator<Item = SwapId>,
        progress: Arc<dyn Progress>,
    ) -> Self {
        rows.sort_unstable_by(|a, b| a.agent_id.cmp(&b.agent_id));
        let mut by_state: BTreeMap<StateKind, BTreeSet<usize>> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            by_state.entry(r.state.kind()).or_default().insert(i);
        }
        let ledger = Ledger {
            sink,
            schedule_id: schedule_id.clone(),
            agents: rows,
            by_state,
            applied: applied.into_iter().collect(),
            unchanged: 0,
            progress,
        };
        ledger.progress.update(ledger.counts());
        ledger
    }

    /// The rows of a run that starts: every agent planned.
    pub fn planned(plan: BTreeMap<AgentId, AgentWeek>) -> Vec<AgentRow> {
        plan.into_iter()
            .map(|(agent_id, week)| AgentRow {
                agent_id,
                week,
                state: AgentState::Planned,
                was_deferred: false,
                trade: None,
            })
            .collect()
    }

    fn index(&self, agent: &AgentId) -> Option<usize> {
        self.agents.binary_search_by(|r| r.agent_id.cmp(agent)).ok()
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    pub fn count(&self, kind: StateKind) -> usize {
        self.by_state.get(&kind).map_or(0, BTreeSet::len)
    }

    /// The agents in `kind`, in id order.
    pub fn ids(&self, kind: StateKind) -> Vec<AgentId> {
        self.by_state
            .get(&kind)
            .map(|s| s.iter().map(|&i| self.agents[i].agent_id.clone()).collect())
            .unwrap_or_default()
    }

    pub fn get(&self, agent: &AgentId) -> Option<&AgentRow> {
        self.index(agent).map(|i| &self.agents[i])
    }

    pub fn rows(&self) -> impl Iterator<Item = &AgentRow> {
        self.agents.iter()
    }

    pub fn is_applied(&self, swap_id: &SwapId) -> bool {
        self.applied.contains(swap_id)
    }

    /// The counts the run's progress shows.
    pub fn counts(&self) -> Counts {
        let count = |kind| self.count(kind) as u64;
        Counts {
            total: self.agents.len() as u64,
            written: count(StateKind::Written) + count(StateKind::Published),
            published: count(StateKind::Published),
            deferred: count(StateKind::Deferred),
            unpublished: count(StateKind::Unpublished),
        }
    }

    /// Says what the run does now, where the run's progress is shown.
    pub fn phase(&self, phase: Phase) {
        self.progress.phase(phase);
    }

    /// The run is over: its progress display goes.
    pub fn finish(&self) {
        self.progress.finish();
    }

    pub fn unchanged(&self) -> usize {
        self.unchanged
    }

    /// Applies `events` and saves the agents they moved in one sink call.
    /// Either every event applies or none does.
    pub fn apply(&mut self, events: Vec<(AgentId, Event)>) -> Result<(), LedgerError> {
        let rows = self.next_rows(&events, |_| None)?;
        self.sink.save(&self.schedule_id, &rows)?;
        self.commit(rows);
        Ok(())
    }

    /// Planned agents whose week is what an earlier run published.
    pub fn skip_unchanged(
        &mut self,
        published: &BTreeMap<AgentId, ContentHash>,
    ) -> Result<(), LedgerError> {
        let same: Vec<(AgentId, Event)> = self
            .ids(StateKind::Planned)
            .into_iter()
            .filter(|a| self.get(a).map(|r| r.week.hash()) == published.get(a))
            .map(|a| (a, Event::Unchanged))
            .collect();
        if same.is_empty() {
            return Ok(());
        }
        self.unchanged += same.len();
        self.apply(same)
    }

    /// Records a decided swap with the weeks it gave its agents, once.
    pub fn apply_trade(&mut self, swap: &Swap, traded: Vec<Traded>) -> Result<(), LedgerError> {
        let weeks: BTreeMap<AgentId, Traded> = traded
            .into_iter()
            .map(|t| (t.agent_id.clone(), t))
            .collect();
        let events: Vec<(AgentId, Event)> = weeks
            .values()
            .filter_map(|t| {
                let changed = self.get(&t.agent_id)?.week.hash() != t.week.hash();
                Some((t.agent_id.clone(), Event::Replanned { changed }))
            })
            .collect();
        let rows = self.next_rows(&events, |agent| weeks.get(agent))?;
        self.save_trade(swap, rows)
    }

    /// Records a decided swap that contradicts the plan: its agents are
    /// left unpublished with `why`.
    pub fn refuse_trade(&mut self, swap: &Swap, why: Unpublished) -> Result<(), LedgerError> {
        let events: Vec<(AgentId, Event)> = [&swap.requester.agent_id, &swap.recipient.agent_id]
            .into_iter()
            .filter(|a| self.get(a).is_some())
            .map(|a| (a.clone(), Event::Refused(why.clone())))
            .collect();
        let rows = self.next_rows(&events, |_| None)?;
        self.save_trade(swap, rows)
    }

    fn save_trade(&mut self, swap: &Swap, rows: Vec<AgentRow>) -> Result<(), LedgerError> {
        let applied = AppliedSwap {
            swap_id: &swap.id,
            resolution: swap.status,
        };
        self.sink.save_trade(&self.schedule_id, &applied, &rows)?;
        self.commit(rows);
        self.applied.insert(swap.id.clone());
        Ok(())
    }

    /// The rows `events` lead to, without changing anything yet.
    fn next_rows<'t>(
        &self,
        events: &[(AgentId, Event)],
        traded: impl Fn(&AgentId) -> Option<&'t Traded>,
    ) -> Result<Vec<AgentRow>, LedgerError> {
        let mut rows = Vec::with_capacity(events.len());
        for (agent, event) in events {
            let Some(row) = self.get(agent) else {
                continue;
            };
            let state = lifecycle::transition(agent, &row.state, event)?;
            let mut next = AgentRow {
                was_deferred: row.was_deferred || matches!(state, AgentState::Deferred { .. }),
                state,
                ..row.clone()
            };
            if let Some(t) = traded(agent) {
                next.week = t.week.clone();
                next.trade = Some(t.note.clone());
            }
            rows.push(next);
        }
        Ok(rows)
    }

    fn commit(&mut self, rows: Vec<AgentRow>) {
        let moved = !rows.is_empty();
        for row in rows {
            // Every row of `next_rows` is one of the ledger's.
            let Some(i) = self.index(&row.agent_id) else {
                continue;
            };
            let before = self.agents[i].state.kind();
            let after = row.state.kind();
            self.count_metrics(before, &row.state);
            if before != after {
                self.by_state.entry(before).or_default().remove(&i);
                self.by_state.entry(after).or_default().insert(i);
            }
            self.agents[i] = row;
        }
        if moved {
            self.progress.update(self.counts());
        }
    }

    fn count_metrics(&self, before: StateKind, after: &AgentState) {
        if before == after.kind() {
            return;
        }
        match after {
            AgentState::Deferred { .. } => {
                metrics::counter!("wfm_agents_deferred_total").increment(1)
            }
            AgentState::Unpublished(_) => metrics::counter!("wfm_agents_failed_total").increment(1),
            AgentState::Written => metrics::counter!("wfm_agents_written_total").increment(1),
            // Counted by the engine: only what this run sent, not what an
            // earlier run had published already.
            AgentState::Published | AgentState::Planned => {}
        }
    }
}
