//! `wfm-publisher run`: the long-running service. Fires each target's weekly
//! job on its own wall clock, makes up a run missed while down, resumes runs
//! interrupted by a crash or restart, reloads on SIGHUP, and stops cleanly.

pub mod admin;
pub mod cron;
pub mod notify;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::PlatformClient;
use crate::clock::SharedClock;
use crate::config::{ConfigError, Settings, TargetSettings};
use crate::publish::{Engine, EngineError, KeyedLocks, LogProgress, Report, RunOptions};
use crate::store::{Outcome, SqliteStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{count} configuration problem(s):\n{source}", count = source.problems.len())]
    Config {
        #[from]
        source: ConfigError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up the platform client: {0}")]
    Client(#[from] crate::api::PlatformError),
    #[error("cannot listen on {addr} for the admin endpoint: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the SIGHUP handler that reloads the configuration: {0}")]
    Signal(std::io::Error),
}

/// Why a run starts.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub target: String,
    pub week: Option<NaiveDate>,
    pub reason: &'static str,
}

pub struct DaemonOptions {
    pub config: PathBuf,
    pub clock: SharedClock,
    /// Cancelled by SIGTERM/SIGINT (or a test): stop starting work, let
    /// what was sent finish within `workers.shutdown_grace`, exit.
    pub shutdown: CancellationToken,
    /// Runs to start at once, as if triggered (dev mode).
    pub run_now: Vec<String>,
    /// Stop once every run started at once has ended (dev mode).
    pub exit_when_done: bool,
    /// Reload on SIGHUP (a test reloads through [`Daemon::reload`] instead).
    pub reload_on_sighup: bool,
    /// Handed the running daemon once it is ready (tests, embedding).
    pub on_ready: Option<tokio::sync::oneshot::Sender<Arc<Daemon>>>,
}

/// What the admin endpoint and the main loop share.
pub struct Daemon {
    pub clock: SharedClock,
    pub config: PathBuf,
    settings: RwLock<Arc<Settings>>,
    engine: RwLock<Arc<Engine>>,
    pub store: Arc<dyn Store>,
    running: Mutex<BTreeSet<String>>,
    next_runs: Mutex<BTreeMap<String, DateTime<Utc>>>,
    triggers: mpsc::UnboundedSender<Trigger>,
    work: CancellationToken,
    locks: Arc<KeyedLocks>,
    admin_addr: Mutex<Option<std::net::SocketAddr>>,
}

fn build_engine(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: SharedClock,
    locks: Arc<KeyedLocks>,
    work: CancellationToken,
) -> Result<Arc<Engine>, DaemonError> {
    let client = PlatformClient::new(settings, clock.clone())?;
    // The refresher stops by itself once the client is dropped.
    drop(client.tokens().spawn_refresher());
    Ok(Arc::new(Engine::new(
        client,
        store,
        clock,
        settings.workers.concurrency,
        locks,
        Arc::new(LogProgress::default()),
        work,
    )))
}

fn status(message: &str) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(message)]);
}

impl Daemon {
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().expect("settings").clone()
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().expect("engine").clone()
    }

    pub fn is_running(&self, target: &str) -> bool {
        self.running.lock().expect("running").contains(target)
    }

    pub fn next_runs(&self) -> BTreeMap<String, DateTime<Utc>> {
        self.next_runs.lock().expect("next runs").clone()
    }

    /// The admin endpoint's bound address, once it listens.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        *self.admin_addr.lock().expect("admin addr")
    }

    /// Asks for a run of `target` now. False if there is no such target.
    pub fn trigger(&self, target: &str, reason: &'static str) -> bool {
        if !self.settings().targets.contains_key(target) {
            return false;
        }
        self.triggers
            .send(Trigger {
                target: target.to_owned(),
                week: None,
                reason,
            })
            .is_ok()
    }

    /// Reads the configuration file again. An invalid one keeps the old
    /// configuration running and says why.
    pub fn reload(&self) -> Result<(), DaemonError> {
        let fresh = Settings::load(&self.config).inspect_err(|e| {
            tracing::error!(
                config = %self.config.display(),
                problems = %e,
                "the new configuration is invalid: keeping the previous one"
            );
        })?;
        fresh.log_warnings();
        let engine = build_engine(
            &fresh,
            self.store.clone(),
            self.clock.clone(),
            self.locks.clone(),
            self.work.clone(),
        )?;
        if fresh.admin.listen != self.settings().admin.listen {
            tracing::warn!("admin.listen changed: it takes effect at the next restart");
        }
        *self.settings.write().expect("settings") = Arc::new(fresh);
        *self.engine.write().expect("engine") = engine;
        tracing::info!(config = %self.config.display(), "configuration reloaded");
        Ok(())
    }
}

/// The week a run started now is about.
fn week_for(clock: &SharedClock, target: &TargetSettings) -> NaiveDate {
    crate::week::upcoming_week_start(clock.now(), target.time_zone, target.week_start_day)
}

/// Starts the daemon and runs until `options.shutdown` is cancelled (or,
/// with `exit_when_done`, the runs started at once end). Returns the
/// reports of the runs it finished.
pub async fn run(mut options: DaemonOptions) -> Result<Vec<Report>, DaemonError> {
    let settings = Settings::load(&options.config)?;
    settings.log_warnings();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&settings.store.path)?);
    let (triggers, mut trigger_rx) = mpsc::unbounded_channel();
    let work = CancellationToken::new();
    let locks = Arc::new(KeyedLocks::default());
    let engine = build_engine(
        &settings,
        store.clone(),
        options.clock.clone(),
        locks.clone(),
        work.clone(),
    )?;
    let daemon = Arc::new(Daemon {
        clock: options.clock.clone(),
        config: options.config.clone(),
        settings: RwLock::new(Arc::new(settings)),
        engine: RwLock::new(engine),
        store: store.clone(),
        running: Mutex::new(BTreeSet::new()),
        next_runs: Mutex::new(BTreeMap::new()),
        triggers,
        work: work.clone(),
        locks,
        admin_addr: Mutex::new(None),
    });
    let listen = daemon.settings().admin.listen;
    // Before anything says "ready": until this handler exists, a SIGHUP from
    // `systemctl reload` (or anyone) would kill the process by default.
    let mut hangup = if options.reload_on_sighup {
        Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(DaemonError::Signal)?,
        )
    } else {
        None
    };
    let admin_stop = CancellationToken::new();
    let admin_task = admin::serve(daemon.clone(), listen, admin_stop.clone())
        .await
        .map_err(|source| DaemonError::Listen {
            addr: listen,
            source,
        })?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    status("ready");
    if let Some(ready) = options.on_ready.take() {
        let _ = ready.send(daemon.clone());
    }
    tracing::info!(admin = ?daemon.admin_addr(), targets = daemon.settings().targets.len(), "wfm-publisher running");

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Result<Report, EngineError>)>();
    let mut tasks = JoinSet::new();
    let mut reports = Vec::new();
    let mut waiting_for: BTreeSet<String> = BTreeSet::new();

    let start = |trigger: Trigger, tasks: &mut JoinSet<()>| -> bool {
        let settings = daemon.settings();
        let Some(target) = settings.targets.get(&trigger.target).cloned() else {
            tracing::warn!(target = %trigger.target, "no such target: run not started");
            return false;
        };
        if !daemon
            .running
            .lock()
            .expect("running")
            .insert(target.name.clone())
        {
            tracing::warn!(target = %target.name, reason = trigger.reason, "a run of this target is in progress: not starting another");
            return false;
        }
        let week = trigger
            .week
            .unwrap_or_else(|| week_for(&daemon.clock, &target));
        tracing::info!(target = %target.name, %week, reason = trigger.reason, "run starting");
        status(&format!("publishing {} week {week}", target.name));
        let engine = daemon.engine();
        let done = done_tx.clone();
        tasks.spawn(async move {
            let options = RunOptions {
                week,
                dry_run: false,
                wait: true,
            };
            let result = engine.run(&target, options).await;
            let _ = done.send((target.name.clone(), result));
        });
        true
    };

    // Runs a crash or restart interrupted: resumed, not started over.
    for (target, week) in unfinished_runs(store.as_ref())? {
        start(
            Trigger {
                target,
                week: Some(week),
                reason: "resuming an interrupted run",
            },
            &mut tasks,
        );
    }
    // Runs missed while down, within each target's catch-up window.
    let now = daemon.clock.now();
    for target in daemon.settings().targets.values() {
        let last = last_run_start(store.as_ref(), &target.name)?;
        if let Some(fire) = cron::missed(
            &target.parsed_cron,
            target.time_zone,
            last,
            now,
            target.catch_up,
        ) {
            tracing::info!(target = %target.name, missed = %fire.at, "catching up a run missed while down");
            start(
                Trigger {
                    target: target.name.clone(),
                    week: None,
                    reason: "catching up a missed run",
                },
                &mut tasks,
            );
        }
    }
    for target in &options.run_now {
        if start(
            Trigger {
                target: target.clone(),
                week: None,
                reason: "started at once",
            },
            &mut tasks,
        ) {
            waiting_for.insert(target.clone());
        }
    }
    if options.exit_when_done && waiting_for.is_empty() {
        options.shutdown.cancel();
    }

    let mut last_wall: BTreeMap<String, NaiveDateTime> = daemon
        .settings()
        .targets
        .values()
        .map(|t| (t.name.clone(), cron::wall(t.time_zone, now)))
        .collect();
    let watchdog = sd_notify::watchdog_enabled();
    let mut watchdog_tick =
        tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |w| w / 2));

    loop {
        let settings = daemon.settings();
        let fires: BTreeMap<String, cron::Fire> = settings
            .targets
            .values()
            .filter_map(|t| {
                let after = last_wall
                    .entry(t.name.clone())
                    .or_insert_with(|| cron::wall(t.time_zone, daemon.clock.now()));
                cron::next_fire(&t.parsed_cron, t.time_zone, *after).map(|f| (t.name.clone(), f))
            })
            .collect();
        *daemon.next_runs.lock().expect("next runs") =
            fires.iter().map(|(n, f)| (n.clone(), f.at)).collect();
        let next_at = fires.values().map(|f| f.at).min();
        let sleep = match next_at {
            Some(at) => daemon
                .clock
                .sleep((at - daemon.clock.now()).to_std().unwrap_or_default()),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            _ = options.shutdown.cancelled() => break,
            _ = sleep => {
                let now = daemon.clock.now();
                for (name, fire) in fires.iter().filter(|(_, f)| f.at <= now) {
                    last_wall.insert(name.clone(), fire.wall);
                    start(Trigger { target: name.clone(), week: None, reason: "scheduled" }, &mut tasks);
                }
            }
            Some(trigger) = trigger_rx.recv() => {
                start(trigger, &mut tasks);
            }
            Some((target, result)) = done_rx.recv() => {
                daemon.running.lock().expect("running").remove(&target);
                match result {
                    Ok(report) => {
                        log_report(&report);
                        notify::run_ended(&daemon.settings().notify, &report).await;
                        reports.push(report);
                    }
                    Err(e) => tracing::error!(%target, error = %e, "run stopped by the state store"),
                }
                status("idle");
                waiting_for.remove(&target);
                if options.exit_when_done && waiting_for.is_empty() {
                    options.shutdown.cancel();
                }
            }
            Some(_) = next_signal(&mut hangup) => {
                let _ = daemon.reload();
            }
            _ = watchdog_tick.tick() => {
                if watchdog.is_some() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
            }
        }
    }

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    status("stopping: letting requests already sent finish");
    work.cancel();
    let grace = daemon.settings().workers.shutdown_grace;
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            ?grace,
            "runs did not stop within the grace period: aborted; they resume at the next start"
        );
        tasks.abort_all();
    }
    while let Ok((_, Ok(report))) = done_rx.try_recv() {
        reports.push(report);
    }
    admin_stop.cancel();
    let _ = admin_task.await;
    tracing::info!("stopped");
    Ok(reports)
}

async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

fn log_report(report: &Report) {
    let outcome = report.outcome.map(|o| o.to_string()).unwrap_or_default();
    if matches!(report.outcome, Some(Outcome::Success)) {
        tracing::info!(target = %report.target, %outcome, published = report.published, "run ended");
    } else {
        tracing::warn!(target = %report.target, %outcome, unpublished = report.unpublished.len(), problems = ?report.problems, "run ended");
    }
    for line in report.render().lines() {
        tracing::info!(target = %report.target, "{line}");
    }
}

/// (target, week) of every run left open by a crash, a restart or a run
/// that did not wait.
fn unfinished_runs(store: &dyn Store) -> Result<Vec<(String, NaiveDate)>, StoreError> {
    let mut seen = BTreeSet::new();
    let mut open = Vec::new();
    for run in store.recent_runs(500)? {
        if seen.insert((run.target.clone(), run.week_start))
            && matches!(run.outcome, Outcome::Running | Outcome::Failed)
        {
            open.push((run.target, run.week_start));
        }
    }
    Ok(open)
}

fn last_run_start(store: &dyn Store, target: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .recent_runs(500)?
        .into_iter()
        .find(|r| r.target == target)
        .map(|r| r.started_at))
}
