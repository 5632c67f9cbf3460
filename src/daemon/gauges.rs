//! The gauges of this daemon's state, read at each scrape: each target's
//! latest week by agent state and by the reason its unpublished agents were
//! left, its deferral deadline, when it last published successfully, the
//! agents waiting on swaps, the wait for a source file, the next run, and
//! whether this process is the one that publishes.
//!
//! Each scrape sets them in a recorder of its own and renders it beside
//! the process' counters: a target a reload removed is gone from the next
//! scrape instead of repeating its last values for good (its alerts with
//! it), and two daemons in one process (the tests) each say their own.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use metrics::{describe_gauge, gauge, Unit};
use metrics_exporter_prometheus::PrometheusBuilder;

use super::{Daemon, RunPhase};
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

/// Notes the process' start: the age a target without any run counts from.
pub(super) fn register(now: DateTime<Utc>) {
    let _ = STARTED.set(now);
}

/// The store's gauges as last read: a scrape the store cannot answer
/// repeats them (with a warning) rather than dropping the series.
#[derive(Default)]
pub(super) struct LastRead(Mutex<String>);

/// Every gauge of this daemon's state, in the exposition format.
pub(super) fn render(daemon: &Daemon) -> String {
    let mut text = scraped(|| {
        describe_live();
        live(daemon)
    })
    .0;
    let (stored, read) = scraped(|| {
        describe_stored();
        stored(daemon)
    });
    let mut last = daemon.stored_gauges.0.lock().expect("stored gauges");
    match read {
        Ok(()) => *last = stored,
        Err(e) => tracing::warn!(
            error = %e,
            "metrics: the store cannot be read; its gauges keep their last values"
        ),
    }
    text.push_str(&last);
    text
}

/// What `set` records, rendered by a recorder of its own, and its result.
fn scraped<T>(set: impl FnOnce() -> T) -> (String, T) {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let out = metrics::with_local_recorder(&recorder, set);
    (handle.render(), out)
}

fn describe_live() {
    describe_gauge!(
        "wfm_seconds_until_next_run",
        Unit::Seconds,
        "Seconds until each target's next scheduled run."
    );
    describe_gauge!(
        "wfm_waiting_for_source",
        "1 while a target's run waits for its week's source file, else 0."
    );
    describe_gauge!(
        "wfm_source_deadline_timestamp_seconds",
        Unit::Seconds,
        "When a target's wait for its source file ends (Unix time), 0 when not waiting."
    );
    describe_gauge!(
        "wfm_leader",
        "1 while this process publishes (always with SQLite; with PostgreSQL while it holds the lease), else 0."
    );
}

/// The gauges of what the daemon is doing now, never stale: whether it
/// publishes, and each target's wait for its source file (0/1, and the
/// deadline in Unix seconds, 0 when not waiting) and next run.
fn live(daemon: &Daemon) {
    gauge!("wfm_leader").set(if daemon.is_leader() { 1.0 } else { 0.0 });
    let now = daemon.clock.now();
    let next = daemon.next_runs();
    // The configured targets only: a reload may have removed one the main
    // loop has not planned without yet.
    for target in daemon.settings().targets.keys() {
        let deadline = match daemon.phase(target) {
            Some(RunPhase::WaitingForSource { deadline, .. }) => Some(deadline),
            _ => None,
        };
        let waiting = if deadline.is_some() { 1.0 } else { 0.0 };
        gauge!("wfm_waiting_for_source", "target" => target.clone()).set(waiting);
        let until = deadline.map_or(0.0, |d| d.timestamp() as f64);
        gauge!("wfm_source_deadline_timestamp_seconds", "target" => target.clone()).set(until);
        if let Some(at) = next.get(target) {
            let secs = (*at - now).num_milliseconds().max(0) as f64 / 1000.0;
            gauge!("wfm_seconds_until_next_run", "target" => target.clone()).set(secs);
        }
    }
}

fn describe_stored() {
    describe_gauge!("wfm_pending_deferrals", "Agents waiting on a shift swap.");
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
}

/// The gauges read from the store, for every configured target.
fn stored(daemon: &Daemon) -> Result<(), StoreError> {
    gauge!("wfm_pending_deferrals").set(daemon.store.pending_deferrals()?.len() as f64);
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
