//! `wfm-publisher status`: what the store says about runs and deferrals.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::echo::{echo, push_line};
use crate::publish::lifecycle::StateKind;
use crate::store::{PendingDeferral, RunRecord, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub target: String,
    pub last_run: RunRecord,
    pub agents: BTreeMap<StateKind, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub targets: Vec<TargetStatus>,
    pub pending_deferrals: Vec<PendingDeferral>,
}

/// The latest run of each target, with its agents counted by status.
pub fn read(store: &dyn Store) -> Result<Status, StoreError> {
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
            last_run: run,
            agents,
        });
    }
    Ok(Status {
        targets,
        pending_deferrals: store.pending_deferrals()?,
    })
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
                    r.outcome.to_string(),
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
                self.pending_deferrals.len()
            ));
            for d in &self.pending_deferrals {
                // The swap's id is the platform's: echoed, as everywhere.
                let swap = d.swap_id.as_deref().map(echo);
                let swap = swap.map_or("(unknown)".to_owned(), |s| s.to_string());
                push_line(
                    &mut out,
                    &format!(
                        "  {} {} {}: waiting for swap {swap}",
                        d.target, d.week_start, d.agent_id
                    ),
                );
            }
        }
        out
    }
}
