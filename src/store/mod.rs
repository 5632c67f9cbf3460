//! Durable state of runs, agents and deferrals. The engine commits every
//! state change here before anything that depends on it is sent, so a crash
//! at any point resumes where it stopped.
//!
//! One trait, two backends: SQLite, embedded, for one process; PostgreSQL,
//! shared by replicas, which also holds the lease that lets exactly one of
//! them publish (`store.url`).

mod lock;
mod observe;
mod postgres;
mod rows;
mod sqlite;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::lifecycle::AgentState;
use crate::domain::plan::{AgentWeek, ContentHash, SwapStatus};
use crate::domain::{AgentId, ScheduleId, SwapId, TargetName};
use crate::platform::journal::{EntryId, Operation, OperationState};

pub use lock::{holder_of, lock_path, LockError, StoreLock};
pub use observe::{observe, ObserveError, Observed};
pub use postgres::{Leadership, Lease, PostgresStore, Role};
pub use sqlite::SqliteStore;

pub type RunId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {path}: {message}")]
    Sqlite { path: String, message: String },
    #[error("state store {store}: {message}")]
    Postgres { store: String, message: String },
    #[error("state store {path}: corrupt row: {message}")]
    Corrupt { path: String, message: String },
    /// This process no longer holds the lease (or holds a later term than
    /// the write's): the write was refused, nothing of it was saved.
    #[error("state store {store}: write refused: this process no longer holds the publishing lease{}", fence.map(|f| format!(" (fencing token {f} is over)")).unwrap_or_default())]
    Fenced { store: String, fence: Option<i64> },
    /// Reading a store that is not there: nothing is created on a read.
    #[error("state store {path} does not exist: no run was ever recorded there; check store.path (`publish` and the daemon create it)")]
    Missing { path: String },
    /// A run applying one swap twice: only another process working on the
    /// same run does that (the run lock keeps it out).
    #[error("state store {store}: run {run} has already applied swap {swap_id}; another process is working on this run: stop it, then run again")]
    SwapAlreadyApplied {
        store: String,
        run: RunId,
        swap_id: SwapId,
    },
}

/// The configured store, with the lease when it is shared (PostgreSQL).
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub lease: Option<Lease>,
}

/// Opens `store.url` when set, else the SQLite file `store.path`,
/// created (mode 0600) when missing.
pub fn open(settings: &crate::config::StoreSettings) -> Result<Opened, StoreError> {
    match &settings.postgres {
        Some(pg) => {
            let (store, lease) = PostgresStore::open(pg)?;
            Ok(Opened {
                store: Arc::new(store),
                lease: Some(lease),
            })
        }
        None => Ok(Opened {
            store: Arc::new(SqliteStore::open(&settings.path)?),
            lease: None,
        }),
    }
}

/// The configured store, to read only: `None` when the SQLite file does not
/// exist, which is never created here (a mistyped `store.path` must not
/// leave an empty database behind).
pub fn open_existing(
    settings: &crate::config::StoreSettings,
) -> Result<Option<Arc<dyn Store>>, StoreError> {
    match &settings.postgres {
        Some(_) => Ok(Some(open(settings)?.store)),
        None => {
            Ok(SqliteStore::open_existing(&settings.path)?.map(|s| Arc::new(s) as Arc<dyn Store>))
        }
    }
}

/// The run lock of the configured store for a process that publishes
/// (`role` says which, for the one refused): with SQLite, the store's
/// file lock; with PostgreSQL, `None`: the lease is the run lock there.
pub fn run_lock(
    settings: &crate::config::StoreSettings,
    role: &str,
) -> Result<Option<StoreLock>, LockError> {
    match &settings.postgres {
        Some(_) => Ok(None),
        None => StoreLock::take(&settings.path, role).map(Some),
    }
}

/// This machine's name, as holders of locks and leases say who they are.
/// Runs `f`, which blocks on the database, without holding one of the
/// runtime's workers: on a multi-thread runtime the worker hands its other
/// tasks over first, so a slow or cut-off database never stalls the admin
/// endpoint or the lease (two cores: two workers). Elsewhere (a
/// current-thread runtime, no runtime) it just runs.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Still going, or interrupted: resumed by the next run of its target and week.
    Running,
    Success,
    /// Some agents left unpublished, each with its reason.
    Partial,
    /// Refused before anything was sent.
    Refused,
    /// Stopped by the platform or the machine; resumed by the next run.
    Failed,
    /// Its input file changed; a new run took over.
    Superseded,
}

impl Outcome {
    /// Whether the next run of the same target and week picks this run up
    /// where it stopped.
    pub fn is_resumable(self) -> bool {
        matches!(self, Outcome::Running | Outcome::Failed)
    }

    /// Every outcome a resumable run can have, for the store's queries.
    pub const RESUMABLE: [Outcome; 2] = [Outcome::Running, Outcome::Failed];
}

text_enum!(Outcome { Running => "running", Success => "success", Partial => "partial", Refused => "refused", Failed => "failed", Superseded => "superseded" });

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: RunId,
    pub target: String,
    pub week_start: NaiveDate,
    pub schedule_id: ScheduleId,
    pub source: String,
    pub source_hash: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    /// The final report, or why the run was refused.
    pub summary: Option<String>,
}

/// One agent of a run, as the store keeps it: every value the ledger
/// holds, so that a resumed run is the run that stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub agent_id: AgentId,
    pub week: AgentWeek,
    pub state: AgentState,
    /// Whether the agent waited for a swap at any point of the run.
    pub was_deferred: bool,
    /// What a resolved swap did to this agent's week.
    pub trade: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub target: &'a TargetName,
    pub week_start: NaiveDate,
    pub schedule_id: &'a ScheduleId,
    pub source: &'a str,
    pub source_hash: &'a str,
    pub started_at: DateTime<Utc>,
}

/// A run left unfinished, with everything needed to resume it.
#[derive(Debug, Clone)]
pub struct OpenRun {
    pub run: RunRecord,
    pub agents: Vec<AgentRow>,
    /// Swaps whose decision this run already applied: a trade applied
    /// twice would undo itself.
    pub applied_swaps: Vec<SwapId>,
}

/// A decided swap, recorded together with what it did to its agents.
#[derive(Debug, Clone)]
pub struct AppliedSwap<'a> {
    pub swap_id: &'a SwapId,
    pub resolution: SwapStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingDeferral {
    pub run_id: RunId,
    pub target: String,
    pub week_start: NaiveDate,
    pub agent_id: AgentId,
    pub swap_id: Option<SwapId>,
}

/// What the publisher keeps between runs. SQLite (store/sqlite) and
/// PostgreSQL (store/postgres/store_impl.rs) each implement it separately,
/// repeating its signatures: their SQL, fencing and connections differ.
pub trait Store: Send + Sync {
    /// The unfinished run of `target` for `week`, with its agents.
    fn open_run(&self, target: &TargetName, week: NaiveDate)
        -> Result<Option<OpenRun>, StoreError>;

    /// Records a run and its agents at once.
    fn create_run(&self, run: &NewRun<'_>, agents: &[AgentRow]) -> Result<RunId, StoreError>;

    /// Records a run refused before it planned anything.
    fn refused_run(&self, run: &NewRun<'_>, reason: &str) -> Result<RunId, StoreError>;

    /// Saves agents' rows as they are, in one transaction, and remembers
    /// the content of every published one per schedule so that no later
    /// run sends it again.
    fn save_agents(
        &self,
        run: RunId,
        schedule_id: &ScheduleId,
        agents: &[AgentRow],
    ) -> Result<(), StoreError>;

    /// Saves a decided swap with its agents' rows in one transaction; the
    /// same swap twice in one run is an error.
    fn save_trade(
        &self,
        run: RunId,
        schedule_id: &ScheduleId,
        swap: &AppliedSwap<'_>,
        agents: &[AgentRow],
    ) -> Result<(), StoreError>;

    /// agent id → content hash last published, for one schedule.
    fn published_hashes(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<BTreeMap<AgentId, ContentHash>, StoreError>;

    /// agent id → the week last published, for one schedule: what a dry
    /// run compares its plan with where the platform cannot be read.
    fn published_weeks(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<BTreeMap<AgentId, AgentWeek>, StoreError>;

    fn finish_run(
        &self,
        run: RunId,
        outcome: Outcome,
        summary: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The most recent runs, newest first.
    fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError>;

    fn agents(&self, run: RunId) -> Result<Vec<AgentRow>, StoreError>;

    /// Agents waiting for a swap in unfinished runs.
    fn pending_deferrals(&self) -> Result<Vec<PendingDeferral>, StoreError>;

    /// Journals a platform operation of `run` (`platform::journal`): a new
    /// entry, its id.
    fn begin_operation(&self, run: RunId, operation: &Operation) -> Result<EntryId, StoreError>;

    /// Saves a journaled operation's new state (ended at `at`, if it ended).
    fn save_operation_state(
        &self,
        id: EntryId,
        state: &OperationState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The journaled operations on `schedule_id` not ended yet, by any
    /// run, oldest first.
    fn unfinished_operations(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<Vec<(EntryId, Operation)>, StoreError>;
}
