//! Gauges read from the store at each scrape, for the dashboard and the
//! alerts: each target's latest week by agent state and by the reason its
//! unpublished agents were left, its deferral deadline, when it last
//! published successfully, and whether this process is the one that
//! publishes.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use metrics::{describe_gauge, gauge, Unit};

use super::Daemon;
use crate::domain::lifecycle::{AgentState, UnpublishedKind};
use crate::store::{Outcome, RunRecord, StoreError};

/// Runs read to find each target's latest run and last success: the
/// daemon runs a target weekly, with a few retries at most.
const RUNS_READ: usize = 500;

const REASONS: [UnpublishedKind; 5] = [
    UnpublishedKind::Refused,
    UnpublishedKind::UnknownAgent,
    UnpublishedKind::SwapMismatch,
    UnpublishedKind::DeadlinePassed,
    UnpublishedKind::NotConfirmed,
];

/// When this process started: the age a target without any run counts from.
static STARTED: OnceLock<DateTime<Utc>> = OnceLock::new();

/// Describes the gauges; `now` is the process' start.
pub(super) fn register(now: DateTime<Utc>) {
    let _ = STARTED.set(now);
    describe_gauge!(
        "wfm_agents",
        "Agents of each target's latest run, by state (planned, written, deferred, published, unpublished)."
    );
    describe_gauge!(
        "wfm_agents_unpublished",
        "Unpublished agents of each target's latest run, by reason (deadline_passed: the trade was still pending at the deferral deadline)."
    );
    describe_gauge!(
        "wfm_deferral_deadline_timestamp_seconds",
        Unit::Seconds,
        "The deferral deadline of the week of each target's latest run (Unix time), 0 before any run."
    );
    describe_gauge!(
        "wfm_last_success_timestamp_seconds",
        Unit::Seconds,
        "When each target's last successful run ended (Unix time); until it has one, when its first run started, or before any when this process started."
    );
    describe_gauge!(
        "wfm_leader",
        "1 while this process publishes (always with SQLite; with PostgreSQL while it holds the lease), else 0."
    );
}

/// Sets every gauge, for every configured target.
pub(super) fn export(daemon: &Daemon) -> Result<(), StoreError> {
    gauge!("wfm_leader").set(if daemon.is_leader() { 1.0 } else { 0.0 });
    let mut runs: BTreeMap<String, Vec<RunRecord>> = BTreeMap::new();
    for run in daemon.store.recent_runs(RUNS_READ)? {
        runs.entry(run.target.clone()).or_default().push(run);
    }
    let settings = daemon.settings();
    for target in settings.targets.values() {
        let name = target.name.clone();
        // Newest first.
        let runs = runs.remove(name.as_str()).unwrap_or_default();
        let rows = match runs.first() {
            Some(latest) => daemon.store.agents(latest.id)?,
            None => Vec::new(),
        };
        let states = super::page::count_states(&rows);
        for (state, n) in states {
            gauge!("wfm_agents", "target" => name.clone(), "state" => state.as_str()).set(n as f64);
        }
        for reason in REASONS {
            let n = rows
                .iter()
                .filter(|r| matches!(&r.state, AgentState::Unpublished(u) if u.kind == reason))
                .count();
            gauge!("wfm_agents_unpublished", "target" => name.clone(), "reason" => reason.as_str())
                .set(n as f64);
        }
        let deadline = runs.first().map_or(0, |r| {
            crate::publish::deferral_deadline(target, r.week_start).timestamp()
        });
        gauge!("wfm_deferral_deadline_timestamp_seconds", "target" => name.clone())
            .set(deadline as f64);
        gauge!("wfm_last_success_timestamp_seconds", "target" => name)
            .set(last_success(&runs).timestamp() as f64);
    }
    Ok(())
}

/// When the last successful run of `runs` (newest first) ended; without
/// one, when the oldest started, or without any run, the process' start.
fn last_success(runs: &[RunRecord]) -> DateTime<Utc> {
    let success = runs
        .iter()
        .find(|r| r.outcome == Outcome::Success)
        .map(|r| r.finished_at.unwrap_or(r.started_at));
    success
        .or_else(|| runs.last().map(|r| r.started_at))
        .or_else(|| STARTED.get().copied())
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: i64, outcome: Outcome, started: &str, finished: Option<&str>) -> RunRecord {
        RunRecord {
            id,
            target: "t".into(),
            week_start: "2026-11-30".parse().unwrap(),
            schedule_id: "s".into(),
            source: "f".into(),
            source_hash: "h".into(),
            started_at: started.parse().unwrap(),
            finished_at: finished.map(|f| f.parse().unwrap()),
            outcome,
            summary: None,
        }
    }

    #[test]
    fn the_last_success_is_the_newest_successful_end_else_the_first_start() {
        let runs = [
            run(
                3,
                Outcome::Failed,
                "2026-11-20T00:00:00Z",
                Some("2026-11-20T00:01:00Z"),
            ),
            run(
                2,
                Outcome::Success,
                "2026-11-13T00:00:00Z",
                Some("2026-11-13T00:05:00Z"),
            ),
            run(
                1,
                Outcome::Success,
                "2026-11-06T00:00:00Z",
                Some("2026-11-06T00:05:00Z"),
            ),
        ];
        assert_eq!(
            last_success(&runs),
            "2026-11-13T00:05:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            last_success(&runs[..1]),
            "2026-11-20T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            "no success yet: counted from the first run"
        );
    }
}
