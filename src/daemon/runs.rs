//! The runs the daemon starts and watches: at boot (interrupted runs to
//! resume, missed ones to catch up, dev mode's runs), on each target's
//! cron, on a trigger; one per target at a time; drained at the stop.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::retry::{self, Retry};
use super::targets::TargetState;
use super::{cron, status, Daemon, DaemonError, Trigger};
use crate::clock::SharedClock;
use crate::config::TargetSettings;
use crate::domain::TargetName;
use crate::preflight::RefusalKind;
use crate::publish::{EngineError, Report};
use crate::store::{Outcome, Role, Store, StoreError};

type Ended = (TargetName, Result<Report, EngineError>);

pub(super) struct Runs {
    pub(super) daemon: Arc<Daemon>,
    tasks: JoinSet<()>,
    done_tx: mpsc::UnboundedSender<Ended>,
    pub(super) done_rx: mpsc::UnboundedReceiver<Ended>,
    reports: Vec<Report>,
    /// Dev mode: the runs started at once, until they end.
    waiting_for: BTreeSet<TargetName>,
    exit_when_done: bool,
    shutdown: CancellationToken,
    /// Each target's wall-clock time its cron was last looked at.
    last_wall: BTreeMap<TargetName, NaiveDateTime>,
    /// The fencing token of the lease term this process leads, if any.
    term: Option<i64>,
}

impl Runs {
    pub(super) fn new(
        daemon: Arc<Daemon>,
        exit_when_done: bool,
        shutdown: CancellationToken,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let now = daemon.clock.now();
        let last_wall = daemon
            .settings()
            .targets
            .values()
            .map(|t| (t.name.clone(), cron::wall(t.time_zone, now)))
            .collect();
        Runs {
            daemon,
            tasks: JoinSet::new(),
            done_tx,
            done_rx,
            reports: Vec::new(),
            waiting_for: BTreeSet::new(),
            exit_when_done,
            shutdown,
            last_wall,
            term: None,
        }
    }

    /// The lease changed hands: a term that ends stops its runs; a term
    /// that starts resumes what the previous leader left and catches up a
    /// run missed meanwhile, as a start would.
    pub(super) fn role_changed(&mut self, role: Role) {
        let term = match role {
            Role::Leader { fence } => Some(fence),
            Role::Standby { .. } | Role::Unreachable { .. } => None,
        };
        if term == self.term {
            return;
        }
        if self.term.is_some() {
            self.daemon.end_term();
        }
        self.term = term;
        if term.is_none() {
            return;
        }
        let started = self
            .daemon
            .new_term()
            .and_then(|()| self.start_at_boot(&[], false));
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start the runs of this term");
        }
    }

    /// Starts a run of the trigger's target, unless one is in progress.
    pub(super) fn start(&mut self, trigger: Trigger) -> bool {
        let daemon = &self.daemon;
        let settings = daemon.settings();
        let Some(target) = settings.targets.get(&trigger.target).cloned() else {
            tracing::warn!(target = %trigger.target, "no such target: run not started");
            if trigger.claimed {
                daemon.release(&trigger.target);
            }
            return false;
        };
        if !daemon.is_leader() {
            tracing::info!(target = %target.name, reason = trigger.reason, "standing by: the process holding the lease runs it");
            if trigger.claimed {
                daemon.release(&trigger.target);
            }
            return false;
        }
        if !trigger.claimed && !daemon.claim(&target.name) {
            tracing::warn!(target = %target.name, reason = trigger.reason, "a run of this target is in progress: not starting another");
            return false;
        }
        let week = trigger
            .week
            .unwrap_or_else(|| week_for(&daemon.clock, &target));
        tracing::info!(target = %target.name, %week, reason = trigger.reason, "run starting");
        status(&format!("publishing {} week {week}", target.name));
        let done = self.done_tx.clone();
        let daemon = daemon.clone();
        let adopt = trigger.adopt;
        self.tasks.spawn(async move {
            let name = target.name.clone();
            let run = std::panic::AssertUnwindSafe(super::late::run(daemon, target, week, adopt));
            // A panic must still end the run, or its target stays running
            // for good and every trigger of it is refused.
            let result = run
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(EngineError::Panicked(panic_text(panic.as_ref()))));
            let _ = done.send((name, result));
        });
        true
    }

    /// What starts with the daemon: runs a crash or restart interrupted
    /// (resumed, not started over), `run_now`, and runs missed while down
    /// (within each target's catch-up window) of targets not started yet.
    /// A `run_now` target whose interrupted run resumes waits for that run.
    pub(super) fn start_at_boot(
        &mut self,
        run_now: &[super::RunNow],
        adopt: bool,
    ) -> Result<(), DaemonError> {
        let store = self.daemon.store.clone();
        let mut started = BTreeSet::new();
        for (target, week) in unfinished_runs(store.as_ref())? {
            let reason = "resuming an interrupted run";
            if self.start(Trigger {
                target: target.clone(),
                week: Some(week),
                reason,
                claimed: false,
                adopt: false,
            }) {
                started.insert(target);
            }
        }
        for run in run_now {
            let reason = "started at once";
            if started.contains(&run.target)
                || self.start(Trigger {
                    target: run.target.clone(),
                    week: run.week,
                    reason,
                    claimed: false,
                    adopt,
                })
            {
                self.waiting_for.insert(run.target.clone());
                started.insert(run.target.clone());
            }
        }
        let now = self.daemon.clock.now();
        for target in self.daemon.settings().targets.values() {
            if started.contains(&target.name) {
                continue;
            }
            let last = last_run_start(store.as_ref(), &target.name)?;
            if let Some(fire) = cron::missed(
                &target.parsed_cron,
                target.time_zone,
                last,
                now,
                target.catch_up,
            ) {
                tracing::info!(target = %target.name, missed = %fire.at, "catching up a run missed while down");
                let reason = "catching up a missed run";
                self.start(Trigger {
                    target: target.name.clone(),
                    week: None,
                    reason,
                    claimed: false,
                    adopt: false,
                });
            }
        }
        if self.exit_when_done && self.waiting_for.is_empty() {
            self.shutdown.cancel();
        }
        Ok(())
    }

    /// Each target's next cron time, published for `/status` and metrics.
    pub(super) fn next_fires(&mut self) -> BTreeMap<TargetName, cron::Fire> {
        let settings = self.daemon.settings();
        let now = self.daemon.clock.now();
        let fires: BTreeMap<TargetName, cron::Fire> = settings
            .targets
            .values()
            .filter_map(|t| {
                let after = self
                    .last_wall
                    .entry(t.name.clone())
                    .or_insert_with(|| cron::wall(t.time_zone, now));
                cron::next_fire(&t.parsed_cron, t.time_zone, *after).map(|f| (t.name.clone(), f))
            })
            .collect();
        let next = fires.iter().map(|(n, f)| (n.clone(), f.at)).collect();
        self.daemon.targets.set_next_runs(&next);
        fires
    }

    /// Starts the runs whose cron time has come.
    pub(super) fn fire_due(&mut self, fires: &BTreeMap<TargetName, cron::Fire>) {
        let now = self.daemon.clock.now();
        for (name, fire) in fires.iter().filter(|(_, f)| f.at <= now) {
            self.last_wall.insert(name.clone(), fire.wall);
            let reason = "scheduled";
            self.start(Trigger {
                target: name.clone(),
                week: None,
                reason,
                claimed: false,
                adopt: false,
            });
        }
    }

    /// When the first retry of a failed run is due.
    pub(super) fn next_retry(&self) -> Option<DateTime<Utc>> {
        let retries = |all: &BTreeMap<TargetName, TargetState>| {
            let due = all.values().filter_map(|t| t.retry.as_ref()?.due_at());
            due.min()
        };
        self.daemon.targets.all(retries)
    }

    /// Starts the retries of failed runs that are due.
    pub(super) fn retry_due(&mut self) {
        let now = self.daemon.clock.now();
        let due: Vec<(TargetName, NaiveDate)> = self.daemon.targets.all(|all| {
            all.iter()
                .filter_map(|(target, t)| match &t.retry {
                    Some(Retry::Waiting {
                        week, next_attempt, ..
                    }) if *next_attempt <= now => Some((target.clone(), *week)),
                    _ => None,
                })
                .collect()
        });
        for (target, week) in due {
            let started = self.start(Trigger {
                target: target.clone(),
                week: Some(week),
                reason: "retrying a failed run",
                claimed: false,
                adopt: false,
            });
            if started {
                metrics::counter!("wfm_run_retries_total", "target" => target.clone()).increment(1);
            }
            let event = match started {
                true => retry::Event::Started,
                false => retry::Event::NotStarted,
            };
            self.retry_event(&target, week, event);
        }
    }

    /// Applies `event` to `target`'s retry, the run's `week` giving the limits.
    fn retry_event(&self, target: &TargetName, week: NaiveDate, event: retry::Event) {
        let daemon = &self.daemon;
        let settings = daemon.settings();
        let Some(target_settings) = settings.targets.get(target) else {
            daemon.targets.update(target, |t| t.retry = None);
            return;
        };
        let limits = retry::Limits {
            now: daemon.clock.now(),
            deadline: crate::publish::deferral_deadline(target_settings, week),
            next_run: daemon.next_runs().get(target).copied(),
        };
        let before = daemon.targets.update(target, |t| t.retry.take());
        let after = retry::transition(before, event, &limits, &settings.retry);
        if let retry::Event::Ended {
            outcome: Some(Outcome::Failed),
            ..
        } = event
        {
            match &after {
                Some(Retry::Waiting {
                    attempt,
                    next_attempt,
                    until,
                    ..
                }) => {
                    tracing::warn!(%target, %week, attempt, next_attempt = %next_attempt, until = %until, "the run failed: trying it again")
                }
                _ => {
                    tracing::warn!(%target, %week, "the run failed: no retry before the deferral deadline or the next scheduled run")
                }
            }
        }
        daemon.targets.update(target, |t| t.retry = after);
    }

    pub(super) async fn ended(&mut self, target: TargetName, result: Result<Report, EngineError>) {
        self.daemon.release(&target);
        match result {
            Ok(report) => {
                if let Some(week) = report.week_start {
                    let outcome = report.outcome;
                    self.retry_event(&target, week, retry::Event::Ended { week, outcome });
                    let unrecorded = match report.refused {
                        Some(RefusalKind::AlreadyPublished) => Some(week),
                        _ => None,
                    };
                    self.daemon
                        .targets
                        .update(&target, |t| t.unrecorded = unrecorded);
                }
                super::run_log::log_report(&report);
                self.daemon
                    .notifier
                    .run_ended(&self.daemon.settings().notify, &report);
                self.reports.push(report);
            }
            Err(e) => tracing::error!(%target, error = %e, "run stopped before its end"),
        }
        status("idle");
        self.waiting_for.remove(&target);
        if self.exit_when_done && self.waiting_for.is_empty() {
            self.shutdown.cancel();
        }
    }

    /// Stops starting work, lets what was sent finish within
    /// `workers.shutdown_grace`, and returns every report.
    pub(super) async fn drain(mut self) -> Vec<Report> {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        status("stopping: letting requests already sent finish");
        self.daemon.work().cancel();
        let grace = self.daemon.settings().workers.shutdown_grace;
        let tasks = &mut self.tasks;
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                grace = %humantime::format_duration(grace),
                "runs did not stop within the grace period: aborted; they resume at the next start"
            );
            self.tasks.abort_all();
        }
        while let Ok((_, Ok(report))) = self.done_rx.try_recv() {
            self.reports.push(report);
        }
        let settings = self.daemon.settings();
        let bound = settings.notify.timeout.min(grace);
        self.daemon.notifier.close(bound).await;
        self.reports
    }
}

/// The week a run started now is about.
fn week_for(clock: &SharedClock, target: &TargetSettings) -> NaiveDate {
    crate::domain::week::upcoming_week_start(clock.now(), target.time_zone, target.week_start_day)
}

/// (target, week) of every run left open by a crash, a restart or a run
/// that did not wait.
fn unfinished_runs(store: &dyn Store) -> Result<Vec<(TargetName, NaiveDate)>, StoreError> {
    let mut seen = BTreeSet::new();
    let mut open = Vec::new();
    for run in store.recent_runs(500)? {
        if seen.insert((run.target.clone(), run.week_start)) && run.outcome.is_resumable() {
            match TargetName::new(run.target) {
                Ok(target) => open.push((target, run.week_start)),
                // No configuration could name it: the run cannot resume.
                Err(e) => tracing::warn!(error = %e, "no such target: run not started"),
            }
        }
    }
    Ok(open)
}

fn last_run_start(
    store: &dyn Store,
    target: &TargetName,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .recent_runs(500)?
        .into_iter()
        .find(|r| target == r.target.as_str())
        .map(|r| r.started_at))
}

/// What a panic said, when it said it as text.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
