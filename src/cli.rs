//! The command line: parses arguments and hands each command to the module
//! that does it. Errors get their context here, at the edge.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use crate::config::Settings;
use crate::leader::{RunLock, RunLockError};
use crate::publish::{Engine, EngineParts, KeyedLocks, ProgressView, Report, RunOptions};
use crate::telemetry::{self, LogFormat};

mod args;
mod check;
mod health;
mod manual;
mod stdout;

pub use crate::exit;
use args::PublishArgs;
pub use args::{Cli, Command};

pub const DEFAULT_CONFIG: &str = "/etc/wfm-publisher/config.toml";

/// The signal that asked the process to stop, once one has.
static STOPPED_BY: std::sync::OnceLock<u8> = std::sync::OnceLock::new();

/// The exit code of a run that `report` ended: the signal's, when one cut
/// it short, so a script never mistakes an interruption for a partial result.
fn publish_exit_code(report: &Report) -> u8 {
    let code = report.exit_code();
    match STOPPED_BY.get() {
        Some(signal) if code != exit::SUCCESS => *signal,
        _ => code,
    }
}

/// The target named on the command line, or the list of those there are.
fn target<'a>(
    settings: &'a Settings,
    config: &Path,
    name: &str,
) -> Result<&'a crate::config::TargetSettings, ExitCode> {
    settings.targets.get(name).ok_or_else(|| {
        eprintln!(
            "wfm-publisher: no target \"{name}\" in {} (it has: {})",
            config.display(),
            settings
                .targets
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
        ExitCode::from(exit::REFUSED)
    })
}

/// Loads the configuration or says every problem with it, one per line.
fn load_settings(path: &Path) -> Result<Settings, ExitCode> {
    Settings::load(path).map_err(|e| {
        eprintln!(
            "wfm-publisher: {} configuration problem(s):\n{e}",
            e.problems.len()
        );
        ExitCode::from(exit::REFUSED)
    })
}

/// The configuration, with logging set up as it says and its warnings
/// (a secret taken from a credential instead of a file) logged.
fn settings_and_logs(config: &Path, format: LogFormat) -> Result<Settings, ExitCode> {
    let settings = load_settings(config)?;
    telemetry::init(format, &settings.log.level);
    settings.log_warnings();
    Ok(settings)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format.unwrap_or_else(LogFormat::detect);
    telemetry::set_override(cli.level());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wfm-publisher: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, format)) {
        Ok(code) => code,
        Err(e) if stdout::closed(&e) => ExitCode::from(exit::PIPE_CLOSED),
        Err(e) => {
            eprintln!("wfm-publisher: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, format: LogFormat) -> anyhow::Result<ExitCode> {
    match command {
        Command::Sim {
            scenario,
            listen,
            week,
            as_written,
            write_sources,
        } => {
            let now = crate::clock::system().now();
            let coming = |tz, start_day| {
                crate::domain::week::first_week_with_cutoff_ahead(
                    now,
                    tz,
                    start_day,
                    crate::domain::week::COMING_WEEK_CUTOFF,
                )
            };
            let dating = match (week, as_written) {
                (Some(week), _) => crate::sim::Dating::Week(week),
                (None, true) => crate::sim::Dating::AsWritten,
                (None, false) => crate::sim::Dating::Coming(&coming),
            };
            let serve = SimArgs {
                dating,
                listen,
                write_sources,
            };
            sim(&scenario, serve, format).await
        }
        Command::Check { config, how } => check::run(&config.config, how, format).await,
        Command::Publish {
            config,
            target,
            how,
        } => publish(&config.config, &target, how, format).await,
        Command::Run { config } => daemon(config.config, format).await,
        Command::Dev {
            agents,
            dir,
            platform,
        } => dev(platform, agents, dir, format).await,
        Command::Health { config, url } => Ok(health::check(&config, url).await),
        Command::Status { config, json } => status(&config.config, json),
        Command::Generate { out } => manual::generate(&out),
    }
}

/// How `sim` was asked to serve.
struct SimArgs<'a> {
    dating: crate::sim::Dating<'a>,
    listen: SocketAddr,
    write_sources: Option<PathBuf>,
}

async fn sim(scenario: &Path, how: SimArgs<'_>, format: LogFormat) -> anyhow::Result<ExitCode> {
    telemetry::init(format, "info");
    let (loaded, redated) = crate::sim::AnyScenario::load_dated(scenario, how.dating)?;
    if let Some(dir) = &how.write_sources {
        for path in crate::sim::sources::write(&loaded, dir)? {
            stdout::line(format_args!("wrote {}", path.display()))?;
        }
    }
    let served = loaded.served();
    let signalled = shutdown_signal();
    let listen = how.listen;
    let handle = crate::sim::spawn(loaded, crate::clock::system(), listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    // Scripts read this line to learn the port.
    stdout::line(format_args!("listening on {}", handle.base_url()))?;
    if let Some(r) = redated {
        stdout::line(format_args!(
            "serving the week of {} (the scenario was written for {}; --as-written keeps its dates)",
            r.served, r.written
        ))?;
    }
    stdout::write(&served.render())?;
    tracing::info!(addr = %handle.addr(), scenario = %scenario.display(), "simulator serving");
    signalled.await;
    handle.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// How a run shows its progress: a bar for a person at a terminal, log
/// lines elsewhere, nothing when quiet.
fn progress_view(quiet: bool, format: LogFormat) -> ProgressView {
    if quiet {
        ProgressView::Quiet
    } else if format == LogFormat::Pretty && std::io::stderr().is_terminal() {
        ProgressView::Bar
    } else {
        ProgressView::Log
    }
}

async fn publish(
    config: &Path,
    target: &str,
    how: PublishArgs,
    format: LogFormat,
) -> anyhow::Result<ExitCode> {
    // Quiet: no subscriber at all, so that not a line is logged.
    let settings = match how.quiet {
        true => load_settings(config),
        false => settings_and_logs(config, format),
    };
    let settings = match settings {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let target = match self::target(&settings, config, target) {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let clock = crate::clock::system();
    let week = how.week.unwrap_or_else(|| {
        crate::domain::week::upcoming_week_start(
            clock.now(),
            target.time_zone,
            target.week_start_day,
        )
    });
    // Before anything is sent, so that a partial week is expected, not a
    // surprise in the report. Even when quiet: it is no log line.
    if let Some(passed) = crate::preflight::cutoff_passed(target, week, clock.now()) {
        eprintln!("wfm-publisher: warning: {passed}");
    }
    let progress = progress_view(how.quiet, format);
    // Ctrl-C or SIGTERM: finish what was sent, keep the rest for the next run.
    let cancel = cancelled_by_shutdown_signal(|| {
        tracing::warn!("stopping: requests already sent finish, the rest resumes at the next run")
    });
    let held = match run_lock(&settings, how.dry_run, &cancel).await? {
        Ok(held) => held,
        Err(code) => return Ok(code),
    };
    let locks = Arc::new(KeyedLocks::default());
    let engine = Engine::new(EngineParts {
        platform: crate::platform::connect(
            &settings,
            clock.clone(),
            locks.clone(),
            cancel.clone(),
            held.lease.as_ref().map(RunLock::send_gate),
        )?,
        store: held.store,
        clock,
        locks,
        progress,
        cancel,
    });
    let options = RunOptions {
        week,
        dry_run: how.dry_run,
        wait: !how.no_wait,
        adopt: how.adopt,
    };
    let mut report = if how.wait_for_source {
        wait_then_run(&engine, target, options).await?
    } else {
        engine.run(target, options).await?
    };
    // The command that resumes or repeats the run names this file.
    report.config = Some(config.to_path_buf());
    if let Some(lease) = held.lease {
        lease.release().await;
    }
    print_report(how.json, &report, Report::render)?;
    let code = match publish_exit_code(&report) {
        exit::SUCCESS if how.detailed_exitcode => report.plan_exit_code(),
        code => code,
    };
    Ok(ExitCode::from(code))
}

/// The store, held for publishing: a second publisher (a daemon or another
/// `publish`) is refused at once, naming the holder, exit 2. With SQLite
/// the store's file lock, with PostgreSQL the lease.
struct Publishing {
    store: Arc<dyn crate::store::Store>,
    lease: Option<RunLock>,
    /// Held until the process ends.
    _lock: Option<crate::store::StoreLock>,
}

/// A dry run writes nothing and needs no lock; it reads the store when
/// there is one, and creates none.
async fn run_lock(
    settings: &Settings,
    dry_run: bool,
    cancel: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<Result<Publishing, ExitCode>> {
    let unlocked = |store| Publishing {
        store,
        lease: None,
        _lock: None,
    };
    if dry_run {
        let store = match crate::store::open_existing(&settings.store)? {
            Some(store) => store,
            None => Arc::new(crate::store::SqliteStore::in_memory(&settings.store.path)?),
        };
        return Ok(Ok(unlocked(store)));
    }
    let lock = match crate::store::run_lock(&settings.store, "`wfm-publisher publish`") {
        Ok(lock) => lock,
        Err(e @ crate::store::LockError::Held { .. }) => return Ok(Err(refused(&e))),
        Err(e) => return Err(e.into()),
    };
    let opened = crate::store::open(&settings.store)?;
    let Some(lease) = opened.lease else {
        return Ok(Ok(Publishing {
            _lock: lock,
            ..unlocked(opened.store)
        }));
    };
    match RunLock::take(lease, cancel.clone()).await {
        Ok(lease) => Ok(Ok(Publishing {
            lease: Some(lease),
            ..unlocked(opened.store)
        })),
        Err(e @ RunLockError::Held { .. }) => Ok(Err(refused(&e))),
        Err(RunLockError::Store(e)) => Err(e.into()),
    }
}

/// Says `why` and gives the exit code of a refusal.
fn refused(why: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("wfm-publisher: {why}");
    ExitCode::from(exit::REFUSED)
}

/// `publish --wait-for-source`: a missing file is waited for as the daemon
/// does (one attempt: an invalid file is refused at once), Ctrl-C ends the
/// wait, and a file that never arrives is refused without being read.
async fn wait_then_run(
    engine: &Engine,
    target: &crate::config::TargetSettings,
    options: RunOptions,
) -> anyhow::Result<Report> {
    use crate::source::wait::{self, WaitEnd, Waited, Watch};
    let path = target.source.path_for(options.week);
    if path.exists() {
        return Ok(engine.run(target, options).await?);
    }
    let clock = engine.clock();
    let cap = crate::publish::deferral_deadline(target, options.week);
    let watch = Watch::for_target(target, options.week, clock.now(), cap);
    tracing::info!(path = %path.display(), deadline = %watch.deadline, "waiting for the week's source file");
    let end = wait::until_ready(&watch, clock, engine.cancel()).await;
    let mut report = match end {
        WaitEnd::Ready { .. } => engine.run(target, options).await?,
        WaitEnd::Cancelled => {
            let mut report = Report::stopped_waiting(target, options.week, &path);
            // Nothing was sent: as a refusal, exit 2.
            report.outcome = Some(crate::store::Outcome::Refused);
            return Ok(report);
        }
        WaitEnd::DeadlinePassed => {
            let refusal = crate::preflight::Refusal::Source(watch.never_arrived(&target.name));
            engine.refuse_unread(target, options, &refusal)?
        }
    };
    let arrived = matches!(end, WaitEnd::Ready { .. }).then(|| clock.now());
    report.source_wait = Some(Waited::new(&watch, arrived));
    Ok(report)
}

fn print_report<R: serde::Serialize>(
    json: bool,
    report: &R,
    render: impl Fn(&R) -> String,
) -> anyhow::Result<()> {
    if json {
        stdout::line(serde_json::to_string_pretty(report)?)
    } else {
        stdout::write(&render(report))
    }
}

async fn daemon(config: PathBuf, format: LogFormat) -> anyhow::Result<ExitCode> {
    // Loaded here only to refuse a bad one before logging starts; the
    // daemon loads it again and says its warnings.
    let settings = match load_settings(&config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    telemetry::init(format, &settings.log.level);
    drop(settings);
    let shutdown = cancelled_by_shutdown_signal(|| tracing::info!("stop requested"));
    let ran = crate::daemon::run(crate::daemon::DaemonOptions {
        config,
        clock: crate::clock::system(),
        shutdown,
        at_start: None,
        reload_on_sighup: true,
    })
    .await;
    match ran {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e @ crate::daemon::DaemonError::Locked(_)) => Ok(refused(&e)),
        Err(e) => Err(e.into()),
    }
}

async fn dev(
    platform: crate::dev::DevPlatform,
    agents: usize,
    dir: Option<PathBuf>,
    format: LogFormat,
) -> anyhow::Result<ExitCode> {
    telemetry::init(format, "info");
    let (dir, _temporary) = crate::dev::workdir(dir)?;
    let shutdown = cancelled_by_shutdown_signal(|| {});
    let clock = crate::clock::system();
    let outcome = crate::dev::run_on(platform, &dir, agents, clock, shutdown).await?;
    stdout::write(&crate::dev::render(&outcome))?;
    Ok(ExitCode::from(if outcome.success() {
        exit::SUCCESS
    } else {
        exit::PARTIAL
    }))
}

fn status(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let settings = match load_settings(config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let observed = match crate::store::observe(&settings.store)? {
        Some(observed) => observed,
        None => {
            let missing = crate::store::StoreError::Missing {
                path: settings.store.path.display().to_string(),
            };
            return Ok(refused(&missing));
        }
    };
    let publisher = match observed.holder {
        Some(holder) => crate::status::Publisher::Holder(holder),
        None => crate::status::Publisher::Nobody,
    };
    let status = crate::status::read(observed.store.as_ref(), &publisher)?;
    print_report(json, &status, crate::status::Status::render)?;
    Ok(ExitCode::SUCCESS)
}

/// A token cancelled on SIGINT or SIGTERM, after `then` (which says so).
/// A second signal exits at once (130): whoever sends it has decided not to
/// wait for requests in flight; unfinished work resumes at the next run.
fn cancelled_by_shutdown_signal(
    then: impl FnOnce() + Send + 'static,
) -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    let mut signals = ShutdownSignals::install();
    tokio::spawn(async move {
        let code = signals.next().await;
        let _ = STOPPED_BY.set(code);
        then();
        cancel.cancel();
        signals.next().await;
        eprintln!("wfm-publisher: second stop signal: exiting now");
        std::process::exit(i32::from(exit::INTERRUPTED));
    });
    token
}

/// Installs the SIGINT and SIGTERM handlers now and returns a future that
/// resolves on either. Installing eagerly matters: a signal that arrives
/// before a lazily-polled handler exists is handled by the default action,
/// which kills the process without letting sent requests finish.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut signals = ShutdownSignals::install();
    async move {
        signals.next().await;
    }
}

/// The SIGINT and SIGTERM handlers, kept so that every signal, not only the
/// first, is seen.
struct ShutdownSignals {
    term: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        ShutdownSignals {
            term: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// The next SIGINT or SIGTERM, as the exit code of an interruption by it.
    async fn next(&mut self) -> u8 {
        match (&mut self.term, &mut self.interrupt) {
            (Some(term), Some(interrupt)) => {
                tokio::select! {
                    _ = term.recv() => exit::TERMINATED,
                    _ = interrupt.recv() => exit::INTERRUPTED,
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                exit::INTERRUPTED
            }
        }
    }
}
