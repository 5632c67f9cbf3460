//! `wfm-publisher run`: the long-running service. Fires each target's weekly
//! job on its own wall clock, makes up a run missed while down, resumes runs
//! interrupted by a crash or restart, reloads on SIGHUP, and stops cleanly.

mod admin;
mod admin_connections;
mod cron;
mod gauges;
mod late;
mod live;
mod metrics;
mod notify;
mod page;
mod process_metrics;
mod retry;
mod run_log;
mod runs;
mod targets;

pub use late::RunPhase;
pub use retry::Retry;

use runs::Runs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::{ConfigError, Settings};
use crate::domain::TargetName;
use crate::leader::Roles;
use crate::platform;
use crate::publish::{Engine, EngineParts, KeyedLocks, ProgressView, Report};
use crate::store::{Role, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{count} configuration problem(s):\n{source}", count = source.problems.len())]
    Config {
        #[from]
        source: ConfigError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another process publishes from the same SQLite store.
    #[error(transparent)]
    Locked(#[from] crate::store::LockError),
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
    pub target: TargetName,
    pub week: Option<NaiveDate>,
    pub reason: &'static str,
    /// The target was already marked running by [`Daemon::start_if_idle`].
    pub claimed: bool,
    /// Take over a published week the store has no record of (dev mode's
    /// fresh sandbox only; otherwise a person decides, `publish --adopt`).
    pub adopt: bool,
}

/// What `/status` says to take over a week the store has no record of.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Adoption {
    pub week: NaiveDate,
    pub command: String,
    pub note: &'static str,
}

/// Why [`Daemon::start_if_idle`] started nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStarted {
    NoSuchTarget,
    Running,
    /// Another process holds the lease: it runs the targets.
    Standby,
}

/// A run started with the daemon, as if triggered (dev mode).
#[derive(Debug, Clone)]
pub struct RunNow {
    pub target: TargetName,
    /// `None`: the coming week, as a scheduled run would take.
    pub week: Option<chrono::NaiveDate>,
}

pub struct DaemonOptions {
    pub config: PathBuf,
    pub clock: SharedClock,
    /// Cancelled by SIGTERM/SIGINT (or a test): stop starting work, let
    /// what was sent finish within `workers.shutdown_grace`, exit.
    pub shutdown: CancellationToken,
    /// Reload on SIGHUP (a test reloads through [`Daemon::reload`] instead).
    pub reload_on_sighup: bool,
    /// Runs started with the daemon (dev mode, tests); the service has none.
    pub at_start: Option<AtStart>,
}

/// Runs started with the daemon, as if triggered: dev mode's, and tests'.
#[derive(Debug, Clone, Default)]
pub struct AtStart {
    pub runs: Vec<RunNow>,
    /// Adopt a published week the store does not know (dev mode: a fresh
    /// store over a simulated platform whose week is published already, as
    /// Genesys Cloud's trades need).
    pub adopt: bool,
    /// Stop once every one of them has ended.
    pub exit_when_done: bool,
}

/// What the admin endpoint and the main loop share.
pub struct Daemon {
    pub clock: SharedClock,
    pub config: PathBuf,
    settings: RwLock<Arc<Settings>>,
    engine: RwLock<Arc<Engine>>,
    pub store: Arc<dyn Store>,
    /// Each target's running flag, phase, next run, retry and unrecorded week.
    targets: targets::Targets,
    triggers: mpsc::UnboundedSender<Trigger>,
    /// Cancelled at the stop, and at the end of each term of the lease:
    /// the runs of a term stop sending when it ends.
    work: Mutex<CancellationToken>,
    /// The lease's changes (PostgreSQL); `None`: this process is the only
    /// one (SQLite) and always publishes.
    roles: Option<Roles>,
    /// Closed when the lease is lost: no request leaves after that.
    gate: Option<crate::api::SendGate>,
    locks: Arc<KeyedLocks>,
    /// What the runs are doing now, for the status page.
    live: Arc<live::Live>,
    admin_addr: Mutex<Option<std::net::SocketAddr>>,
    /// The webhook's queue, shared by runs and the waits for late files.
    notifier: notify::Notifier,
    stored_gauges: gauges::LastRead,
}

/// The daemon, its triggers, and the store's run lock (SQLite).
type Opened = (
    Arc<Daemon>,
    mpsc::UnboundedReceiver<Trigger>,
    Option<crate::store::StoreLock>,
);

/// What an engine of the daemon shares with the daemon.
struct Shared<'a> {
    store: &'a Arc<dyn Store>,
    clock: &'a SharedClock,
    locks: &'a Arc<KeyedLocks>,
    gate: &'a Option<crate::api::SendGate>,
    live: &'a Arc<live::Live>,
}

fn build_engine(
    settings: &Settings,
    shared: Shared<'_>,
    work: CancellationToken,
) -> Result<Arc<Engine>, DaemonError> {
    let (store, clock, locks) = (
        shared.store.clone(),
        shared.clock.clone(),
        shared.locks.clone(),
    );
    let gate = shared.gate.clone();
    let platform = platform::connect(settings, clock.clone(), locks.clone(), work.clone(), gate)?;
    Ok(Arc::new(Engine::new(EngineParts {
        platform: live::watch(platform, shared.live.clone()),
        store,
        clock,
        locks,
        progress: ProgressView::Log,
        cancel: work,
    })))
}

fn status(message: &str) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(message)]);
}

impl Daemon {
    /// Loads the configuration, opens the store, builds the engine.
    /// With a shared store, the lease is kept from here on, until
    /// `lease_stop`.
    /// With SQLite, the store's run lock is taken first and returned, to be
    /// held until the daemon stops.
    fn open(
        options: &DaemonOptions,
        lease_stop: &CancellationToken,
    ) -> Result<Opened, DaemonError> {
        let settings = Settings::load(&options.config)?;
        settings.log_warnings();
        let lock = crate::store::run_lock(&settings.store, "the daemon (`wfm-publisher run`)")?;
        let opened = crate::store::open(&settings.store)?;
        let store = opened.store;
        let gate = opened.lease.as_ref().map(|l| l.leadership().send_gate());
        let roles = opened
            .lease
            .map(|lease| crate::leader::keep(lease, lease_stop.clone()).0);
        let (triggers, trigger_rx) = mpsc::unbounded_channel();
        let work = CancellationToken::new();
        let locks = Arc::new(KeyedLocks::default());
        let live = live::Live::new(options.clock.clone());
        let shared = Shared {
            store: &store,
            clock: &options.clock,
            locks: &locks,
            gate: &gate,
            live: &live,
        };
        let engine = build_engine(&settings, shared, work.clone())?;
        let daemon = Daemon {
            clock: options.clock.clone(),
            config: options.config.clone(),
            settings: RwLock::new(Arc::new(settings)),
            engine: RwLock::new(engine),
            store,
            targets: targets::Targets::default(),
            triggers,
            work: Mutex::new(work),
            roles,
            gate,
            locks,
            live,
            admin_addr: Mutex::new(None),
            notifier: notify::Notifier::start(),
            stored_gauges: gauges::LastRead::default(),
        };
        Ok((Arc::new(daemon), trigger_rx, lock))
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().expect("settings").clone()
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().expect("engine").clone()
    }

    /// Whether this process publishes: always with SQLite; with
    /// PostgreSQL, while it holds the lease.
    pub fn is_leader(&self) -> bool {
        self.roles
            .as_ref()
            .is_none_or(|r| matches!(*r.borrow(), Role::Leader { .. }))
    }

    /// `leader` or `standby`, and who holds the lease when another does.
    pub fn role(&self) -> (&'static str, Option<String>) {
        match self.roles.as_ref().map(|r| r.borrow().clone()) {
            None | Some(Role::Leader { .. }) => ("leader", None),
            Some(Role::Standby { holder }) => ("standby", holder),
            Some(Role::Unreachable { .. }) => ("standby", None),
        }
    }

    /// Why the last lease round failed, while it is the latest word: the
    /// database could not be reached.
    pub fn lease_unreachable(&self) -> Option<String> {
        match self.roles.as_ref().map(|r| r.borrow().clone()) {
            Some(Role::Unreachable { reason }) => Some(reason),
            _ => None,
        }
    }

    fn shared(&self) -> Shared<'_> {
        Shared {
            store: &self.store,
            clock: &self.clock,
            locks: &self.locks,
            gate: &self.gate,
            live: &self.live,
        }
    }

    fn work(&self) -> CancellationToken {
        self.work.lock().expect("work").clone()
    }

    /// A new term of the lease: runs started from now on stop with it.
    fn new_term(&self) -> Result<(), DaemonError> {
        let work = CancellationToken::new();
        let engine = build_engine(&self.settings(), self.shared(), work.clone())?;
        *self.work.lock().expect("work") = work;
        *self.engine.write().expect("engine") = engine;
        Ok(())
    }

    /// The lease is gone: the term's runs stop sending; the next leader
    /// resumes them from the store.
    fn end_term(&self) {
        self.work().cancel();
    }

    pub fn is_running(&self, target: &TargetName) -> bool {
        self.targets.read(target, |t| t.running)
    }

    /// What `target`'s run is doing; None when none is running.
    pub fn phase(&self, target: &TargetName) -> Option<RunPhase> {
        self.targets.read(target, |t| t.phase.clone())
    }

    pub fn next_runs(&self) -> BTreeMap<TargetName, DateTime<Utc>> {
        self.targets.all(|all| {
            all.iter()
                .filter_map(|(name, t)| Some((name.clone(), t.next_run?)))
                .collect()
        })
    }

    /// Where `target`'s retry of a failed run stands, if it has one.
    pub fn retry(&self, target: &TargetName) -> Option<Retry> {
        self.targets.read(target, |t| t.retry.clone())
    }

    /// How to adopt `target`'s week, when its last run was refused because
    /// the platform shows it published and the store knows nothing of it.
    pub fn adoption(&self, target: &TargetName) -> Option<Adoption> {
        let week = self.targets.read(target, |t| t.unrecorded)?;
        Some(Adoption {
            week,
            command: format!(
                "wfm-publisher publish --config {} --target {target} --week {week} --adopt",
                self.config.display()
            ),
            note: "stop the daemon first (it holds the store's run lock), run the command, start the daemon again; the command applies the platform's approved shift trades before writing",
        })
    }

    /// The admin endpoint's bound address, once it listens.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        *self.admin_addr.lock().expect("admin addr")
    }

    /// Asks for a run of `target` now. False if there is no such target.
    /// A run in progress is not doubled: the request is then only logged.
    pub fn trigger(&self, target: &str, reason: &'static str) -> bool {
        self.target_named(target)
            .is_some_and(|target| self.send(&target, reason, false))
    }

    /// The configured target `name` names, if any.
    fn target_named(&self, name: &str) -> Option<TargetName> {
        let settings = self.settings();
        settings.targets.get_key_value(name).map(|(n, _)| n.clone())
    }

    /// Starts a run of `target` unless one is in progress, deciding at once:
    /// the target is claimed here, atomically, so of many simultaneous
    /// requests exactly one starts a run.
    pub fn start_if_idle(&self, target: &str, reason: &'static str) -> Result<(), NotStarted> {
        let Some(target) = self.target_named(target) else {
            return Err(NotStarted::NoSuchTarget);
        };
        let target = &target;
        if !self.is_leader() {
            return Err(NotStarted::Standby);
        }
        if !self.claim(target) {
            return Err(NotStarted::Running);
        }
        if self.send(target, reason, true) {
            Ok(())
        } else {
            // The main loop is gone (stopping): nothing will run.
            self.release(target);
            Err(NotStarted::Running)
        }
    }

    fn send(&self, target: &TargetName, reason: &'static str, claimed: bool) -> bool {
        let trigger = Trigger {
            target: target.clone(),
            week: None,
            reason,
            claimed,
            adopt: false,
        };
        self.triggers.send(trigger).is_ok()
    }

    /// Marks `target` running; false if it already was.
    fn claim(&self, target: &TargetName) -> bool {
        self.targets
            .update(target, |t| !std::mem::replace(&mut t.running, true))
    }

    fn release(&self, target: &TargetName) {
        self.targets.update(target, |t| t.running = false);
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
        metrics::register(&fresh);
        let engine = build_engine(&fresh, self.shared(), self.work())?;
        let needs_restart = needs_restart(&self.settings(), &fresh);
        crate::telemetry::set_level(&fresh.log.level);
        *self.settings.write().expect("settings") = Arc::new(fresh);
        *self.engine.write().expect("engine") = engine;
        let config = self.config.display();
        if needs_restart.is_empty() {
            tracing::info!(%config, "configuration reloaded");
        } else {
            let keys = needs_restart.join(", ");
            tracing::warn!(%config, needs_restart = %keys, "configuration reloaded; changed keys that take effect only at the next restart: {keys}");
        }
        Ok(())
    }
}

/// The keys changed between `old` and `new` that a reload cannot apply:
/// the admin socket is bound and the store opened once, at start-up.
fn needs_restart(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.admin.listen != new.admin.listen {
        keys.push("admin.listen");
    }
    if old.store.path != new.store.path {
        keys.push("store.path");
    }
    if old.store.postgres.as_ref().map(|p| &p.url) != new.store.postgres.as_ref().map(|p| &p.url) {
        keys.push("store.url");
    }
    keys
}

/// Starts the daemon and runs until `options.shutdown` is cancelled (or,
/// with `exit_when_done`, the runs started at once end). Returns the
/// reports of the runs it finished.
pub async fn run(options: DaemonOptions) -> Result<Vec<Report>, DaemonError> {
    serve(options, None).await
}

/// [`run`], handing the running daemon to `ready` once it is ready (tests,
/// embedding).
pub async fn run_observed(
    options: DaemonOptions,
    ready: tokio::sync::oneshot::Sender<Arc<Daemon>>,
) -> Result<Vec<Report>, DaemonError> {
    serve(options, Some(ready)).await
}

async fn serve(
    options: DaemonOptions,
    on_ready: Option<tokio::sync::oneshot::Sender<Arc<Daemon>>>,
) -> Result<Vec<Report>, DaemonError> {
    let lease_stop = CancellationToken::new();
    let (daemon, trigger_rx, _lock) = Daemon::open(&options, &lease_stop)?;
    // Before anything says "ready": until this handler exists, a SIGHUP from
    // `systemctl reload` (or anyone) would kill the process by default.
    let hangup = if options.reload_on_sighup {
        Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(DaemonError::Signal)?,
        )
    } else {
        None
    };
    let listen = daemon.settings().admin.listen;
    let admin_stop = CancellationToken::new();
    let admin_task = admin::serve(daemon.clone(), listen, admin_stop.clone())
        .await
        .map_err(|source| DaemonError::Listen {
            addr: listen,
            source,
        })?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    status("ready");
    if let Some(ready) = on_ready {
        let _ = ready.send(daemon.clone());
    }
    tracing::info!(version = crate::version::VERSION, commit = crate::version::COMMIT, admin = %display_addr(daemon.admin_addr()), targets = daemon.settings().targets.len(), "wfm-publisher running");

    let at_start = options.at_start.unwrap_or_default();
    let mut runs = Runs::new(
        daemon.clone(),
        at_start.exit_when_done,
        options.shutdown.clone(),
    );
    // With a lease, what starts at boot starts when the lease is taken.
    if daemon.roles.is_none() {
        runs.start_at_boot(&at_start.runs, at_start.adopt)?;
    }
    let roles = daemon.roles.clone();
    main_loop(&mut runs, &options.shutdown, trigger_rx, hangup, roles).await;
    // Both within workers.shutdown_grace, side by side: admin clients get
    // the same grace as runs, never one after the other.
    admin_stop.cancel();
    let reports = runs.drain().await;
    // After the runs: a standby must not take over what is still sending.
    lease_stop.cancel();
    let _ = admin_task.await;
    tracing::info!("stopped");
    Ok(reports)
}

fn display_addr(addr: Option<std::net::SocketAddr>) -> String {
    addr.map_or_else(|| "none".to_owned(), |a| a.to_string())
}

/// Waits for whatever comes first: a cron time, a trigger, a run's end, a
/// reload, a watchdog tick, or the stop.
async fn main_loop(
    runs: &mut Runs,
    shutdown: &CancellationToken,
    mut triggers: mpsc::UnboundedReceiver<Trigger>,
    mut hangup: Option<tokio::signal::unix::Signal>,
    mut roles: Option<Roles>,
) {
    let watchdog = sd_notify::watchdog_enabled();
    let mut watchdog_tick =
        tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |w| w / 2));
    loop {
        let fires = runs.next_fires();
        let clock = runs.daemon.clock.clone();
        let retry_at = runs.next_retry();
        let sleep = match fires.values().map(|f| f.at).chain(retry_at).min() {
            Some(at) => clock.sleep_until(at),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep => {
                runs.fire_due(&fires);
                runs.retry_due();
            }
            Some(trigger) = triggers.recv() => {
                runs.start(trigger);
            }
            Some((target, result)) = runs.done_rx.recv() => runs.ended(target, result).await,
            Some(_) = next_signal(&mut hangup) => {
                let _ = runs.daemon.reload();
            }
            Some(role) = next_role(&mut roles) => runs.role_changed(role),
            _ = watchdog_tick.tick() => {
                if watchdog.is_some() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
            }
        }
    }
}

async fn next_role(roles: &mut Option<Roles>) -> Option<Role> {
    match roles {
        Some(r) => match r.changed().await {
            Ok(()) => Some(r.borrow_and_update().clone()),
            // The keeper stopped (shutdown): nothing more will change.
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
