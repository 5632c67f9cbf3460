//! The command line: parses arguments and hands each command to the module
//! that does it. Errors get their context here, at the edge.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::telemetry::{self, LogFormat};

pub const DEFAULT_CONFIG: &str = "/etc/wfm-publisher/config.toml";

/// Exit codes, so that scripts and systemd can tell outcomes apart.
pub mod exit {
    /// Everything done.
    pub const SUCCESS: u8 = 0;
    /// Something unexpected: a bug, the machine, the store.
    pub const FAILURE: u8 = 1;
    /// Refused before anything was sent: bad configuration or input, a failed preflight.
    pub const REFUSED: u8 = 2;
    /// Done in part: agents left unpublished, with the reasons reported.
    pub const PARTIAL: u8 = 3;
}

#[derive(Debug, Parser)]
#[command(name = "wfm-publisher", version, about)]
pub struct Cli {
    /// Log format; JSON by default when stderr is not a terminal.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a simulated WFM platform from a scenario file until stopped.
    Sim {
        /// Scenario file (TOML), e.g. config/sim-small.toml.
        #[arg(long)]
        scenario: PathBuf,
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Preflight: token, scopes, organization, schedules, swaps and sources,
    /// one row each with the fix. Exits 0 only if a publication would succeed.
    Check {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only this target (default: all).
        #[arg(long)]
        target: Option<String>,
        /// The week's first day (default: each target's coming week).
        #[arg(long)]
        week: Option<NaiveDate>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format.unwrap_or_else(LogFormat::detect);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wfm-publisher: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, format)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wfm-publisher: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, format: LogFormat) -> anyhow::Result<ExitCode> {
    match command {
        Command::Sim { scenario, listen } => {
            telemetry::init(format, "info");
            let loaded = crate::sim::Scenario::load(&scenario)?;
            let handle = crate::sim::spawn(loaded, crate::clock::system(), listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            // Scripts read this line to learn the port.
            println!("listening on {}", handle.base_url());
            tracing::info!(addr = %handle.addr, scenario = %scenario.display(), "simulator serving");
            shutdown_signal().await;
            handle.shutdown().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            config,
            target,
            week,
            json,
        } => {
            let settings = match load_settings(&config) {
                Ok(s) => s,
                Err(code) => return Ok(code),
            };
            telemetry::init(format, &settings.log.level);
            let targets: Vec<_> = match &target {
                Some(name) => match settings.targets.get(name) {
                    Some(t) => vec![t],
                    None => {
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
                        return Ok(ExitCode::from(exit::REFUSED));
                    }
                },
                None => settings.targets.values().collect(),
            };
            let clock = crate::clock::system();
            let client = crate::api::PlatformClient::new(&settings, clock.clone())?;
            let report =
                crate::doctor::check(&settings, &client, &targets, week, clock.now()).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            Ok(ExitCode::from(if report.ok {
                exit::SUCCESS
            } else {
                exit::REFUSED
            }))
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
