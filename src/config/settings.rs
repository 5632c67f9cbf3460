//! The typed configuration the rest of the daemon reads. Everything here has
//! been validated; no consumer re-parses a string.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use url::Url;

use super::error::Problem;
use crate::domain::TargetName;
use crate::secret::Secret;

/// The placeholder a target's `schedule_id` and `source` may contain.
pub const WEEK_START_PLACEHOLDER: &str = "{week_start}";

#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration file as given; relative paths inside it were
    /// resolved against its directory.
    pub source: PathBuf,
    pub log: LogSettings,
    pub platform: PlatformSettings,
    pub rate_limits: RateLimits,
    pub retry: RetrySettings,
    pub workers: WorkerSettings,
    pub store: StoreSettings,
    pub admin: AdminSettings,
    pub notify: NotifySettings,
    /// Keyed by target name; never empty.
    pub targets: BTreeMap<TargetName, TargetSettings>,
    /// What was wrong but worked around, one located line each (a secret
    /// file unreadable, the systemd credential of that name used instead).
    /// Never contains a secret; logged with [`Settings::log_warnings`].
    pub warnings: Vec<Problem>,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    /// A `tracing_subscriber::EnvFilter` directive, e.g. `info` or
    /// `wfm_publisher=debug,info`.
    pub level: String,
}

/// Which platform the publisher speaks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformKind {
    /// The simplified contract pinned from the support thread (CONTRACT.md).
    Simple,
    /// Genesys Cloud WFM, in the region whose domain this is
    /// (`mypurecloud.com`, `mypurecloud.ie`, `usw2.pure.cloud`, …).
    GenesysCloud { region: String },
}

#[derive(Debug, Clone)]
pub struct PlatformSettings {
    pub kind: PlatformKind,
    /// For Genesys Cloud, `https://login.{region}` unless set.
    pub auth_base_url: Url,
    /// For Genesys Cloud, `https://api.{region}` unless set.
    pub api_base_url: Url,
    pub allow_insecure_http: bool,
    pub client_id: String,
    pub client_secret: Secret,
    /// Requested scopes; the platform may silently grant fewer.
    pub scopes: Vec<String>,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Refresh a token this long before it expires.
    pub refresh_before: Duration,
    /// Never hand out a token with less than this left.
    pub min_token_margin: Duration,
    /// A token's lifetime when the OAuth server does not say (`expires_in`
    /// is only recommended by RFC 6749 §5.1).
    pub default_token_lifetime: Duration,
    /// How long `check` waits for each row before saying which host did
    /// not answer.
    pub check_timeout: Duration,
    /// The largest answer read from the platform, in bytes: a body that
    /// says or turns out to be larger is refused, not read into memory.
    pub max_answer_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct RateLimits {
    /// The platform's `default` bucket: every call but publish.
    pub default: RateLimit,
    /// The platform's much stricter `publish` bucket.
    pub publish: RateLimit,
    /// Genesys Cloud's shift-trade query jobs
    /// (`shift.trading.rate.per.user.per.minute`, 5 a minute), a bucket of
    /// their own beside the per-token one every call counts in.
    pub trade_jobs: RateLimit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
    pub burst: u32,
}

#[derive(Debug, Clone)]
pub struct RetrySettings {
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
    pub max_elapsed: Duration,
    /// The daemon's first wait before running a failed run again...
    pub run_initial_delay: Duration,
    /// ...doubling up to this.
    pub run_max_delay: Duration,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    /// On SIGTERM, how long requests already sent may take to finish.
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: PathBuf,
    /// `store.url`: PostgreSQL shared by replicas, which then also holds
    /// the leader lease; `None`: SQLite at `path`, one process.
    pub postgres: Option<PostgresSettings>,
}

#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// `postgres://user@host:port/db?sslmode=...`, never with a password,
    /// so it may be shown in messages.
    pub url: String,
    /// From `store.password_file`, `WFM_PUBLISHER__STORE__PASSWORD` or the
    /// systemd credential `store_password`; none for trust or peer auth.
    pub password: Option<Secret>,
    /// How long a lease lasts without renewal, on the database's clock.
    pub lease_ttl: Duration,
    /// How often the leader renews, and the standby tries to take over.
    pub lease_renew: Duration,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    pub token_file: Option<PathBuf>,
    /// The content of `token_file`, read at load time.
    pub admin_token: Option<Secret>,
    /// A client must send a request's headers within this, or is cut off.
    pub header_read_timeout: Duration,
    /// A request must be answered within this.
    pub request_timeout: Duration,
    /// Connections served at once; more are answered 503 at once.
    pub max_connections: usize,
    /// Of those, how many one client address may hold (a quarter unless
    /// set): a neighbour that opens and holds many cannot starve the probes.
    pub max_connections_per_address: usize,
}

#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub webhook_url: Option<Url>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TargetSettings {
    pub name: TargetName,
    /// May contain [`WEEK_START_PLACEHOLDER`]. For Genesys Cloud, empty
    /// unless the target names an existing schedule by id.
    pub schedule_id: String,
    /// Genesys Cloud: the business unit, the week's schedule, how agents and
    /// activities are named. None for the simple contract.
    pub genesys: Option<GenesysTarget>,
    pub time_zone: Tz,
    /// The expression as written, for logs and the admin page.
    pub cron: String,
    /// `cron` parsed by croner with seconds optional; the scheduler uses this
    /// one so that what was validated is exactly what runs.
    pub parsed_cron: croner::Cron,
    pub source: SourcePattern,
    pub week_start_day: Weekday,
    /// How far back a missed run is still made up after downtime.
    pub catch_up: Duration,
    pub deferral: DeferralSettings,
    pub dst: DstPolicy,
    pub source_wait: SourceWaitSettings,
    /// Read a source path that is a symbolic link. Off by default: a link
    /// could make the publisher read, and echo in its errors, any file the
    /// service can read.
    pub follow_symlinks: bool,
    /// A week's file larger than this is refused before it is read.
    pub max_source_bytes: u64,
}

/// What a Genesys Cloud target publishes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesysTarget {
    /// The business unit's id, or its name (resolved once per run).
    pub business_unit: String,
    /// Without `schedule_id`: the week's schedule with this description,
    /// created when the week has none. May contain [`WEEK_START_PLACEHOLDER`].
    pub schedule_description: String,
    /// What the source file's `agent_id` column holds.
    pub agent_ids: AgentIds,
    /// Source activity → activity code name or id; an activity not listed
    /// is looked up by name.
    pub activity_codes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentIds {
    /// Genesys user ids.
    UserId,
    /// E-mail addresses, resolved to user ids once per run.
    Email,
}

impl GenesysTarget {
    pub fn description_for(&self, week_start: NaiveDate) -> String {
        self.schedule_description.replace(
            WEEK_START_PLACEHOLDER,
            &week_start.format("%Y-%m-%d").to_string(),
        )
    }
}

impl TargetSettings {
    /// The schedule id for the week starting on `week_start`.
    pub fn schedule_id_for(&self, week_start: NaiveDate) -> String {
        self.schedule_id.replace(
            WEEK_START_PLACEHOLDER,
            &week_start.format("%Y-%m-%d").to_string(),
        )
    }
}

/// Where a target's weekly input file is, and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePattern {
    /// Resolved against the configuration file's directory (absolute); may
    /// contain [`WEEK_START_PLACEHOLDER`].
    pub pattern: PathBuf,
    pub format: SourceFormat,
}

impl SourcePattern {
    /// The input file for the week starting on `week_start` (`YYYY-MM-DD`).
    pub fn path_for(&self, week_start: NaiveDate) -> PathBuf {
        let pattern = self.pattern.to_string_lossy();
        PathBuf::from(pattern.replace(
            WEEK_START_PLACEHOLDER,
            &week_start.format("%Y-%m-%d").to_string(),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone)]
pub struct DeferralSettings {
    /// How often agents held back by a pending shift swap are re-checked.
    pub poll_interval: Duration,
    /// How long before the week starts deferred agents are given up on.
    pub deadline: Duration,
}

/// A week's source file that is not there when a run starts: how long the
/// run waits for it, and when it counts as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceWaitSettings {
    /// How long after the run starts; `None`: until the deferral deadline,
    /// which also caps any value so that a wait never runs into the next
    /// week's run. Zero refuses at once.
    pub wait: Option<Duration>,
    /// The webhook is told once when a wait lasts this long.
    pub grace: Duration,
    /// The file is complete once its size and mtime stay unchanged this long.
    pub settle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DstPolicy {
    pub nonexistent: NonexistentTimePolicy,
    pub ambiguous: AmbiguousTimePolicy,
}

/// A local shift time that falls in a spring-forward gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonexistentTimePolicy {
    /// Refuse the agent's week and say why.
    Error,
    /// Move it forward by the gap (02:30 becomes 03:30).
    ShiftForward,
}

/// A local shift time that occurs twice in a fall-back overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmbiguousTimePolicy {
    Error,
    Earliest,
    Latest,
}
