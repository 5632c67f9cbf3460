//! What the status page shows, gathered from the daemon, its store and
//! what its runs are doing now: typed, and nothing rendered yet.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::super::live::{Second, SeenSwap};
use super::super::{Adoption, Daemon, Retry, RunPhase};
use crate::config::TargetSettings;
use crate::domain::lifecycle::{AgentState, StateKind, UnpublishedKind};
use crate::domain::{AgentId, SwapId, TargetName};
use crate::publish::{AgentNote, Counts};
use crate::store::{AgentRow, PendingDeferral, RunRecord, Store, StoreError};

/// Runs the page lists per target.
pub const RUNS_SHOWN: usize = 5;

/// Runs read from the store to find each target's latest ones: the daemon
/// runs a target weekly, with a few retries at most.
const RUNS_READ: usize = 500;

pub struct Page {
    pub now: DateTime<Utc>,
    /// `leader` or `standby`.
    pub role: &'static str,
    pub lease_holder: Option<String>,
    /// The configuration file, as the fixes' commands name it.
    pub config: String,
    pub targets: Vec<TargetView>,
}

pub struct TargetView {
    pub name: String,
    pub time_zone: Tz,
    pub cron: String,
    pub next_run: Option<DateTime<Utc>>,
    pub doing: Doing,
    /// The target's latest run, and the agents of its week by state.
    pub latest: Option<RunRecord>,
    pub counts: BTreeMap<StateKind, usize>,
    pub deferred: Vec<DeferredAgent>,
    /// The deferral deadline of the latest run's week.
    pub deadline: Option<DateTime<Utc>>,
    pub unpublished: Vec<UnpublishedGroup>,
    /// The latest runs, newest first.
    pub runs: Vec<RunRecord>,
    pub timeline: Option<TimelineView>,
    pub adoption: Option<Adoption>,
}

/// What a target's run is doing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doing {
    Idle,
    WaitingForSource {
        path: String,
        deadline: DateTime<Utc>,
    },
    /// Planning, or agents still to write.
    Writing,
    Publishing,
    /// Only agents held by a pending trade are left.
    WaitingForSwaps,
    /// A failed run is tried again at `at`.
    RetryAt {
        at: DateTime<Utc>,
        attempt: u32,
    },
}

/// An agent held back by a pending trade, with the trade as last listed
/// by this process (`None`: not listed since the daemon started).
pub struct DeferredAgent {
    pub agent_id: AgentId,
    pub swap_id: Option<SwapId>,
    pub trade: Option<SeenSwap>,
}

/// Agents left unpublished for one cause, each with its own message.
pub struct UnpublishedGroup {
    pub kind: UnpublishedKind,
    pub agents: Vec<AgentNote>,
}

/// The current run's seconds (or the last run's, once it ended).
pub struct TimelineView {
    pub started: DateTime<Utc>,
    pub running: bool,
    pub seconds: Vec<Second>,
}

/// Everything the page shows, as of now.
pub fn gather(daemon: &Arc<Daemon>) -> Result<Page, StoreError> {
    let store = daemon.store.as_ref();
    let mut runs: BTreeMap<String, Vec<RunRecord>> = BTreeMap::new();
    for run in store.recent_runs(RUNS_READ)? {
        let kept = runs.entry(run.target.clone()).or_default();
        if kept.len() < RUNS_SHOWN {
            kept.push(run);
        }
    }
    let pending = store.pending_deferrals()?;
    let settings = daemon.settings();
    let next = daemon.next_runs();
    let mut targets = Vec::new();
    for target in settings.targets.values() {
        let runs = runs.remove(target.name.as_str()).unwrap_or_default();
        let mut view = target_view(daemon, store, target, runs, &pending)?;
        view.next_run = next.get(&target.name).copied();
        targets.push(view);
    }
    let (role, lease_holder) = daemon.role();
    Ok(Page {
        now: daemon.clock.now(),
        role,
        lease_holder,
        config: daemon.config.display().to_string(),
        targets,
    })
}

fn target_view(
    daemon: &Daemon,
    store: &dyn Store,
    target: &TargetSettings,
    runs: Vec<RunRecord>,
    pending: &[PendingDeferral],
) -> Result<TargetView, StoreError> {
    let latest = runs.first().cloned();
    let rows = match &latest {
        Some(run) => store.agents(run.id)?,
        None => Vec::new(),
    };
    let live = daemon.live.run(&target.name);
    let deferred = latest.as_ref().map_or_else(Vec::new, |run| {
        pending
            .iter()
            .filter(|d| d.run_id == run.id)
            .map(|d| DeferredAgent {
                agent_id: d.agent_id.clone(),
                swap_id: d.swap_id.clone(),
                trade: d
                    .swap_id
                    .as_ref()
                    .and_then(|id| live.as_ref().and_then(|l| l.swap(id))),
            })
            .collect()
    });
    let running = daemon.is_running(&target.name);
    Ok(TargetView {
        name: target.name.to_string(),
        time_zone: target.time_zone,
        cron: target.cron.clone(),
        next_run: None,
        doing: doing(daemon, &target.name, running, &rows),
        deadline: latest.as_ref().map(|r| deadline(target, r.week_start)),
        counts: count_states(&rows),
        deferred,
        unpublished: unpublished(&rows),
        latest,
        runs,
        timeline: live.map(|l| TimelineView {
            started: l.started,
            running,
            seconds: l.seconds(running.then(|| daemon.clock.now())),
        }),
        adoption: daemon.adoption(&target.name),
    })
}

fn deadline(target: &TargetSettings, week: NaiveDate) -> DateTime<Utc> {
    crate::publish::deferral_deadline(target, week)
}

/// The agents by state; every state is there, at zero if none.
pub fn count_states(rows: &[AgentRow]) -> BTreeMap<StateKind, usize> {
    let mut counts: BTreeMap<StateKind, usize> = StateKind::ALL.iter().map(|k| (*k, 0)).collect();
    for row in rows {
        *counts.entry(row.state.kind()).or_default() += 1;
    }
    counts
}

/// The unpublished agents by cause, causes in their order of declaration.
fn unpublished(rows: &[AgentRow]) -> Vec<UnpublishedGroup> {
    let mut groups: BTreeMap<UnpublishedKind, Vec<AgentNote>> = BTreeMap::new();
    for row in rows {
        if let AgentState::Unpublished(why) = &row.state {
            let agents = groups.entry(why.kind).or_default();
            agents.push(AgentNote {
                agent: row.agent_id.clone(),
                note: why.detail.clone(),
            });
        }
    }
    groups
        .into_iter()
        .map(|(kind, agents)| UnpublishedGroup { kind, agents })
        .collect()
}

/// What the target's run does, from the daemon's word and its agents'
/// states: a run that publishes has agents to write, to publish, or only
/// trades to wait for.
fn doing(daemon: &Daemon, target: &TargetName, running: bool, rows: &[AgentRow]) -> Doing {
    if let Some(RunPhase::WaitingForSource { path, deadline, .. }) = daemon.phase(target) {
        return Doing::WaitingForSource {
            path: path.display().to_string(),
            deadline,
        };
    }
    if !running {
        return match daemon.retry(target) {
            Some(Retry::Waiting {
                next_attempt,
                attempt,
                ..
            }) => Doing::RetryAt {
                at: next_attempt,
                attempt,
            },
            _ => Doing::Idle,
        };
    }
    let c = tally(rows);
    if c.total == 0 || c.total > c.written + c.deferred + c.unpublished {
        Doing::Writing
    } else if c.written > c.published {
        Doing::Publishing
    } else if c.deferred > 0 {
        Doing::WaitingForSwaps
    } else {
        Doing::Publishing
    }
}

/// The ledger's counts, as the progress line says them: written counts
/// the published too.
fn tally(rows: &[AgentRow]) -> Counts {
    let mut c = Counts {
        total: rows.len() as u64,
        ..Counts::default()
    };
    for row in rows {
        match row.state.kind() {
            StateKind::Written => c.written += 1,
            StateKind::Published => {
                c.written += 1;
                c.published += 1
            }
            StateKind::Deferred => c.deferred += 1,
            StateKind::Unpublished => c.unpublished += 1,
            StateKind::Planned => {}
        }
    }
    c
}
