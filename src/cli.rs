//! The command line: parses arguments and hands each command to the module
//! that does it. Errors get their context here, at the edge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::telemetry::{self, LogFormat};

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
