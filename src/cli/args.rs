//! The command line's shape: every command, option and its help, which
//! `--help`, the man pages and the shell completions are made from.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use super::{exit, DEFAULT_CONFIG};
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "wfm-publisher", version = crate::version::LONG, about, after_help = exit::help())]
pub struct Cli {
    /// Log format; JSON by default when stderr is not a terminal.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log more: -v is debug, -vv trace. Overrides log.level; RUST_LOG
    /// still wins.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "log_level")]
    pub verbose: u8,
    /// Log level or filter directive (trace, debug, info, warn, error,
    /// "wfm_publisher=debug,info"). Overrides log.level, a reload's too;
    /// RUST_LOG still wins.
    #[arg(long, global = true, value_name = "LEVEL", value_parser = log_level)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The level the command line asks for, if any.
    pub fn level(&self) -> Option<String> {
        match (&self.log_level, self.verbose) {
            (Some(level), _) => Some(level.clone()),
            (None, 0) => None,
            (None, 1) => Some("debug".into()),
            (None, _) => Some("trace".into()),
        }
    }
}

fn log_level(s: &str) -> Result<String, String> {
    crate::config::check_log_level(s)
}

/// The configuration file every command but `sim` and `dev` reads.
#[derive(Debug, Args)]
pub struct ConfigFile {
    /// Configuration file (TOML); WFM_PUBLISHER__SECTION__KEY environment
    /// variables override its keys.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// How `publish` is asked to run.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The week's first day (default: the target's coming week).
    #[arg(long, value_name = "DATE")]
    pub week: Option<NaiveDate>,
    /// Print the plan and its problems; send nothing, record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: exit 0 when publishing would change nothing on
    /// the platform, 4 when it would change something (like
    /// `terraform plan -detailed-exitcode`; 2 stays "refused").
    #[arg(long, requires = "dry_run")]
    pub detailed_exitcode: bool,
    /// Do not wait for pending swaps: leave them to the next run or the daemon.
    #[arg(long)]
    pub no_wait: bool,
    /// A missing source file is waited for (targets.NAME.source_wait)
    /// instead of refused at once.
    #[arg(long)]
    pub wait_for_source: bool,
    /// Take over a week the platform shows published but the store has
    /// no record of (a new or emptied store): approved shift trades are
    /// listed and applied before anything is written.
    #[arg(long)]
    pub adopt: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show only the final report: no progress, no log lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// How `check` is asked to run.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this target (default: all).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// The week's first day (default: each target's coming week).
    #[arg(long, value_name = "DATE")]
    pub week: Option<NaiveDate>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Offline: only validate the configuration and each target's
    /// source file (and its swap cut-off); contact nothing.
    #[arg(long)]
    pub config_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a simulated WFM platform from a scenario file until stopped;
    /// prints its address, the week it serves, its OAuth clients and schedules.
    Sim {
        /// Scenario file (TOML), e.g. config/sim-2000.toml.
        #[arg(long, value_name = "FILE")]
        scenario: PathBuf,
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Serve the scenario's first week as this week (YYYY-MM-DD, the
        /// same weekday), every other date moved with it. Default: the
        /// first coming week whose swap cut-off is more than two hours ahead.
        #[arg(long, value_name = "DATE", conflicts_with = "as_written")]
        week: Option<NaiveDate>,
        /// Serve the scenario's dates as written in the file.
        #[arg(long)]
        as_written: bool,
        /// Also write the week's source file of each schedule served into
        /// DIR (DIR/SCHEDULE.csv), for the week served.
        #[arg(long, value_name = "DIR")]
        write_sources: Option<PathBuf>,
    },
    /// Preflight: token, scopes, organization, schedules, swaps and sources,
    /// one row each with the fix. Exits 0 only if a publication would
    /// succeed. --config-only checks the configuration and sources offline.
    #[command(after_help = exit::help())]
    Check {
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        how: CheckArgs,
    },
    /// Publish one target's week to completion: write every agent, publish,
    /// wait out pending shift swaps, publish what they decided.
    #[command(after_help = exit::help())]
    Publish {
        #[command(flatten)]
        config: ConfigFile,
        /// The target to publish: a [targets.NAME] table of the configuration.
        #[arg(long, value_name = "NAME")]
        target: String,
        #[command(flatten)]
        how: PublishArgs,
    },
    /// The daemon: each target's weekly job on its cron, in its time zone,
    /// with the admin endpoint. SIGHUP reloads, SIGTERM stops cleanly.
    #[command(after_help = exit::help())]
    Run {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// The embedded default: a simulated platform with a sample week of two
    /// targets, published by the daemon at once; exits when both runs end.
    Dev {
        /// Agents in the sample, split over the two targets.
        #[arg(long, value_name = "N", default_value_t = 500)]
        agents: usize,
        /// Keep configuration, inbox and state here (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The simulated platform: the simple contract, or Genesys Cloud
        /// (one business unit with trades in every state).
        #[arg(long, value_enum, default_value = "simple")]
        platform: crate::dev::DevPlatform,
    },
    /// Asks a running daemon's admin endpoint whether it is alive: exit 0 if
    /// so. For container health checks, where there is no curl.
    Health {
        /// Configuration file whose admin.listen names the endpoint
        /// (WFM_PUBLISHER__ADMIN__LISTEN overrides it, as for the daemon).
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Ask this URL instead, e.g. http://127.0.0.1:9464/healthz.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Runs, outcome per target, and pending deferrals, from the state store.
    #[command(after_help = exit::help())]
    Status {
        #[command(flatten)]
        config: ConfigFile,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Writes the man pages and shell completions into DIR (man/ and
    /// completions/); the packaging calls it.
    #[command(hide = true)]
    Generate {
        /// Where to write them.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}
