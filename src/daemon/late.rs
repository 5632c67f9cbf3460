//! A daemon run whose week's source file is not there yet, or was refused
//! as invalid: it waits for the file (`targets.NAME.source_wait`) instead of
//! losing the week, and starts as soon as a complete, new file is there.
//! The wait happens here, before the engine is called, so nothing has been
//! sent and both platforms get it alike.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{status, Daemon};
use crate::config::TargetSettings;
use crate::domain::TargetName;
use crate::preflight::{Refusal, RefusalKind};
use crate::publish::{deferral_deadline, EngineError, Report, RunOptions};
use crate::source::wait::{self, WaitEnd, Waited, Watch};

/// What a target's run in the daemon is doing, for `/status` and the
/// metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum RunPhase {
    /// The week's source file is not there (complete, or corrected) yet.
    WaitingForSource {
        path: PathBuf,
        since: DateTime<Utc>,
        deadline: DateTime<Utc>,
    },
    /// The engine has the run.
    Publishing,
}

/// Clears the target's phase however the run ends (even aborted).
struct PhaseGuard<'a> {
    daemon: &'a Daemon,
    target: &'a TargetName,
}

impl PhaseGuard<'_> {
    fn set(&self, phase: RunPhase) {
        self.daemon
            .targets
            .update(self.target, |t| t.phase = Some(phase));
    }
}

impl Drop for PhaseGuard<'_> {
    fn drop(&mut self) {
        self.daemon.targets.update(self.target, |t| t.phase = None);
    }
}

/// Runs `target`'s `week`, waiting for its source file first when it is
/// missing, and again after an invalid one is refused, until a new content
/// arrives or the deadline passes.
pub(super) async fn run(
    daemon: Arc<Daemon>,
    target: TargetSettings,
    week: NaiveDate,
    adopt: bool,
) -> Result<Report, EngineError> {
    let phase = PhaseGuard {
        daemon: &daemon,
        target: &target.name,
    };
    let options = RunOptions {
        week,
        dry_run: false,
        wait: true,
        // Adopting a week the store does not know is a person's decision:
        // `publish --adopt`, said in the refusal and in /status (or dev
        // mode's, for its fresh sandbox).
        adopt,
    };
    let now = daemon.clock.now();
    let mut watch = Watch::for_target(&target, week, now, deferral_deadline(&target, week));
    let mut refused: Option<Report> = None;
    let mut arrived = None;
    let mut told_late = false;
    loop {
        if refused.is_some() || !watch.path.exists() {
            match wait_for(&phase, &target, week, &watch, &mut told_late).await {
                WaitEnd::Ready { .. } => arrived = Some(daemon.clock.now()),
                WaitEnd::DeadlinePassed => {
                    return gave_up(&daemon, &target, options, &watch, refused)
                }
                WaitEnd::Cancelled => {
                    return Ok(Report::stopped_waiting(&target, week, &watch.path))
                }
            }
        }
        phase.set(RunPhase::Publishing);
        let hash = wait::content_hash(&watch.path);
        let mut report = daemon.engine().run(&target, options).await?;
        report.source_wait = arrived.map(|at| Waited::new(&watch, Some(at)));
        if report.refused != Some(RefusalKind::Source) || daemon.clock.now() >= watch.deadline {
            return Ok(report);
        }
        // Said now, not at the deadline: someone has to correct the file.
        super::run_log::log_report(&report);
        daemon
            .notifier
            .run_ended(&daemon.settings().notify, &report);
        tracing::info!(target = %target.name, path = %watch.path.display(), "waiting for a corrected source file");
        watch.unless_hash = hash;
        refused = Some(report);
    }
}

/// One wait, shown in the target's phase; tells the webhook once (per run)
/// when it lasts past `source_grace`.
async fn wait_for(
    phase: &PhaseGuard<'_>,
    target: &TargetSettings,
    week: NaiveDate,
    watch: &Watch,
    told_late: &mut bool,
) -> WaitEnd {
    let daemon = phase.daemon;
    phase.set(RunPhase::WaitingForSource {
        path: watch.path.clone(),
        since: watch.since,
        deadline: watch.deadline,
    });
    let path = watch.path.display();
    tracing::info!(target = %target.name, %path, deadline = %watch.deadline, "waiting for the week's source file");
    status(&format!("{} waiting for {path}", target.name));
    let clock = &daemon.clock;
    let work = daemon.work();
    let waiting = wait::until_ready(watch, clock, &work);
    tokio::pin!(waiting);
    let late = match watch.late_at.filter(|_| !*told_late) {
        Some(at) => clock.sleep_until(at),
        None => Box::pin(std::future::pending()),
    };
    tokio::select! {
        end = &mut waiting => return end,
        _ = late => {}
    }
    *told_late = true;
    tracing::warn!(target = %target.name, %path, deadline = %watch.deadline, "the week's source file is late");
    // Queued: a slow webhook must not delay noticing the file.
    let waited = Waited::new(watch, None);
    daemon.notifier.source_late(
        &daemon.settings().notify,
        target.name.as_str(),
        week,
        &waited,
    );
    waiting.await
}

/// The deadline passed: the run ends refused, naming the file. After an
/// invalid file that refusal stands (it is recorded); otherwise the missing
/// file's is recorded now, without reading a file that may be half written.
fn gave_up(
    daemon: &Daemon,
    target: &TargetSettings,
    options: RunOptions,
    watch: &Watch,
    refused: Option<Report>,
) -> Result<Report, EngineError> {
    tracing::error!(target = %target.name, path = %watch.path.display(), deadline = %watch.deadline, "the week's source file did not arrive in time");
    let mut report = match refused {
        Some(report) => report,
        None => {
            let refusal = Refusal::Source(watch.never_arrived(&target.name));
            daemon.engine().refuse_unread(target, options, &refusal)?
        }
    };
    report.source_wait = Some(Waited::new(watch, None));
    Ok(report)
}
