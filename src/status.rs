//! `wfm-publisher status`: what the store says about runs and deferrals,
//! and whether a run the store keeps open is under way at all.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::capped::Capped;
use crate::domain::lifecycle::StateKind;
use crate::echo::{echo, push_line};
use crate::store::{Outcome, PendingDeferral, RunRecord, Store, StoreError};

/// Whether a process publishes from the store now, as far as the reader
/// can tell: the store keeps a stopped run `running` (resumable), so
/// whether one really runs is the run lock's to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publisher {
    /// Not known here: the daemon's own `/status`, which says itself
    /// which of its targets run.
    Unknown,
    /// Nobody holds the run lock (SQLite's file lock, PostgreSQL's
    /// lease): nothing runs.
    Nobody,
    /// The holder of the run lock, as it named itself.
    Holder(String),
}

/// What the latest run of a target is doing, told apart where the store's
/// outcome is `running` for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Under way now (or, where nobody can tell, open).
    Running,
    /// Stopped before its end (Ctrl-C, a stop, a crash): the next run of
    /// the target and week resumes it.
    Stopped,
    /// Ended with only agents waiting for swaps left (`--no-wait`): the
    /// next run resumes them.
    WaitingForSwaps,
    /// Over: its outcome says how.
    Ended,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub target: String,
    pub last_run: RunRecord,
    pub agents: BTreeMap<StateKind, usize>,
    pub state: RunState,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub targets: Vec<TargetStatus>,
    /// The first fifty, as every list people read ([`crate::capped`]).
    pub pending_deferrals: Capped<PendingDeferral>,
    pub pending_deferrals_total: usize,
}

/// The latest run of each target, with its agents counted by status;
/// `publisher` tells a run under way from one left open.
pub fn read(store: &dyn Store, publisher: &Publisher) -> Result<Status, StoreError> {
    let mut latest: BTreeMap<String, RunRecord> = BTreeMap::new();
    for run in store.recent_runs(500)? {
        latest.entry(run.target.clone()).or_insert(run);
    }
    let mut targets = Vec::new();
    for (target, run) in latest {
        let mut agents = BTreeMap::new();
        for a in store.agents(run.id)? {
            *agents.entry(a.state.kind()).or_insert(0) += 1;
        }
        targets.push(TargetStatus {
            target,
            state: state(&run, &agents, publisher),
            last_run: run,
            agents,
        });
    }
    let pending: Capped<PendingDeferral> = store.pending_deferrals()?.into_iter().collect();
    Ok(Status {
        targets,
        pending_deferrals_total: pending.len(),
        pending_deferrals: pending,
    })
}

fn state(run: &RunRecord, agents: &BTreeMap<StateKind, usize>, publisher: &Publisher) -> RunState {
    let left = |k| agents.get(&k).copied().unwrap_or(0);
    match (run.outcome, publisher) {
        (Outcome::Running, Publisher::Nobody) => {
            let unsent = left(StateKind::Planned) + left(StateKind::Written);
            match (unsent, left(StateKind::Deferred)) {
                (0, d) if d > 0 => RunState::WaitingForSwaps,
                _ => RunState::Stopped,
            }
        }
        (Outcome::Running, _) => RunState::Running,
        _ => RunState::Ended,
    }
}

impl Status {
    pub fn render(&self) -> String {
        if self.targets.is_empty() {
            return "no runs yet\n".to_owned();
        }
        let mut out = String::from(
            "TARGET      WEEK        RUN  OUTCOME     STARTED                    AGENTS\n",
        );
        for t in &self.targets {
            let r = &t.last_run;
            let counts: Vec<String> = t.agents.iter().map(|(s, n)| format!("{n} {s}")).collect();
            push_line(
                &mut out,
                &format!(
                    "{:11} {:11} {:4} {:11} {:26} {}",
                    t.target,
                    r.week_start,
                    r.id,
                    shown(t),
                    r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    if counts.is_empty() {
                        "-".to_owned()
                    } else {
                        counts.join(", ")
                    }
                ),
            );
        }
        if self.pending_deferrals.is_empty() {
            out.push_str("no pending deferrals\n");
        } else {
            out.push_str(&format!(
                "{} pending deferrals:\n",
                self.pending_deferrals_total
            ));
            for d in self.pending_deferrals.iter() {
                // The swap's id is the platform's: echoed, as everywhere.
                let swap = d.swap_id.as_ref().map(echo);
                let swap = swap.map_or("(unknown)".to_owned(), |s| s.to_string());
                push_line(
                    &mut out,
                    &format!(
                        "  {} {} {}: waiting for swap {swap}",
                        d.target, d.week_start, d.agent_id
                    ),
                );
            }
            if let Some(line) = self.pending_deferrals.more_line("pending deferrals") {
                push_line(&mut out, &format!("  {line}"));
            }
        }
        out
    }
}

/// The OUTCOME column: the store's outcome, or for a run it keeps open
/// whether it runs, stopped or waits for swaps.
fn shown(t: &TargetStatus) -> String {
    match t.state {
        RunState::Ended => t.last_run.outcome.to_string(),
        RunState::Running => "running".to_owned(),
        RunState::Stopped => "stopped".to_owned(),
        RunState::WaitingForSwaps => "waiting".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: Outcome) -> RunRecord {
        RunRecord {
            id: 7,
            target: "chicago".into(),
            week_start: "2026-12-14".parse().unwrap(),
            schedule_id: "chi-2026-12-14".into(),
            source: "in.csv".into(),
            source_hash: "h".into(),
            started_at: "2026-12-07T04:00:00Z".parse().unwrap(),
            finished_at: None,
            outcome,
            summary: None,
        }
    }

    fn counts(pairs: &[(StateKind, usize)]) -> BTreeMap<StateKind, usize> {
        pairs.iter().copied().collect()
    }

    /// Issue 29 item 10: after Ctrl-C or `--no-wait` nothing runs, and
    /// `status` no longer says `running`.
    #[test]
    fn an_open_run_nobody_runs_is_stopped_or_waiting_not_running() {
        let stopped = counts(&[(StateKind::Planned, 2573), (StateKind::Written, 367)]);
        let waiting = counts(&[(StateKind::Published, 40), (StateKind::Deferred, 4)]);
        let open = run(Outcome::Running);
        let holder = Publisher::Holder("publish (pid 1)".into());
        assert_eq!(
            state(&open, &stopped, &Publisher::Nobody),
            RunState::Stopped
        );
        assert_eq!(
            state(&open, &waiting, &Publisher::Nobody),
            RunState::WaitingForSwaps
        );
        assert_eq!(state(&open, &stopped, &holder), RunState::Running);
        assert_eq!(
            state(&run(Outcome::Partial), &stopped, &Publisher::Nobody),
            RunState::Ended
        );
        let status = Status {
            targets: vec![TargetStatus {
                target: "chicago".into(),
                last_run: open,
                agents: stopped,
                state: RunState::Stopped,
            }],
            pending_deferrals: Capped::default(),
            pending_deferrals_total: 0,
        };
        let text = status.render();
        assert!(!text.contains("running"), "{text}");
        assert!(text.contains(" stopped "), "{text}");
    }

    /// Issue 29 item 10: sixty deferrals are the first fifty and a count.
    #[test]
    fn pending_deferrals_are_capped_with_a_count() {
        let pending: Capped<PendingDeferral> = (0..60)
            .map(|n| PendingDeferral {
                run_id: 7,
                target: "chicago".into(),
                week_start: "2026-12-14".parse().unwrap(),
                agent_id: format!("a-{n}").into(),
                swap_id: Some(format!("sw-{n}").into()),
            })
            .collect();
        let status = Status {
            targets: vec![TargetStatus {
                target: "chicago".into(),
                last_run: run(Outcome::Partial),
                agents: BTreeMap::new(),
                state: RunState::Ended,
            }],
            pending_deferrals_total: pending.len(),
            pending_deferrals: pending,
        };
        let text = status.render();
        assert!(text.contains("60 pending deferrals:"), "{text}");
        assert_eq!(text.matches("waiting for swap").count(), 50, "{text}");
        assert!(text.contains("  and 10 more pending deferrals"), "{text}");
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["pending_deferrals"].as_array().unwrap().len(), 50);
        assert_eq!(json["pending_deferrals_total"], 60);
    }
}
