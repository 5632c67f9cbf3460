//! Durable state of runs, agents and deferrals. The engine commits every
//! state change here before anything that depends on it is sent, so a crash
//! at any point resumes where it stopped.
//!
//! A trait, so that a PostgreSQL backend can follow the SQLite one.

mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::api::model::Shift;

pub use sqlite::SqliteStore;

pub type RunId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {path}: {message}")]
    Sqlite { path: String, message: String },
    #[error("state store {path}: corrupt row: {message}")]
    Corrupt { path: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Planned,
    Written,
    Published,
    Deferred,
    Failed,
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

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(Self::$v => $s),* })
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($s => Ok(Self::$v),)* other => Err(format!("unknown value {other:?}")) }
            }
        }
    };
}

text_enum!(AgentStatus { Planned => "planned", Written => "written", Published => "published", Deferred => "deferred", Failed => "failed" });
text_enum!(Outcome { Running => "running", Success => "success", Partial => "partial", Refused => "refused", Failed => "failed", Superseded => "superseded" });

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: RunId,
    pub target: String,
    pub week_start: NaiveDate,
    pub schedule_id: String,
    pub source: String,
    pub source_hash: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    /// The final report, or why the run was refused.
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRecord {
    pub agent_id: String,
    pub shifts: Vec<Shift>,
    pub content_hash: String,
    pub status: AgentStatus,
    pub reason: Option<String>,
    pub swap_id: Option<String>,
    /// What a resolved swap did to this agent's week.
    pub trade: Option<String>,
    /// Whether the agent waited for a swap at any point of the run.
    pub was_deferred: bool,
}

#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub target: &'a str,
    pub week_start: NaiveDate,
    pub schedule_id: &'a str,
    pub source: &'a str,
    pub source_hash: &'a str,
    pub started_at: DateTime<Utc>,
}

/// A change to one agent, committed on its own.
#[derive(Debug, Clone)]
pub struct AgentChange<'a> {
    pub agent_id: &'a str,
    pub status: AgentStatus,
    pub reason: Option<&'a str>,
    pub swap_id: Option<&'a str>,
}

/// A resolved swap's effect on both its agents, committed together with the
/// fact that it was applied: a trade applied twice would undo itself.
#[derive(Debug, Clone)]
pub struct TradeChange {
    pub swap_id: String,
    pub resolution: String,
    pub agents: Vec<(String, Vec<Shift>, String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingDeferral {
    pub run_id: RunId,
    pub target: String,
    pub week_start: NaiveDate,
    pub agent_id: String,
    pub swap_id: Option<String>,
}

pub trait Store: Send + Sync {
    /// The unfinished run of `target` for `week`, with its agents.
    fn open_run(
        &self,
        target: &str,
        week: NaiveDate,
    ) -> Result<Option<(RunRecord, Vec<AgentRecord>)>, StoreError>;

    /// Records a run and its planned agents (id, shifts, content hash) at once.
    fn create_run(
        &self,
        run: &NewRun<'_>,
        agents: &[(String, Vec<Shift>, String)],
    ) -> Result<RunId, StoreError>;

    /// Records a run refused before it planned anything.
    fn refused_run(&self, run: &NewRun<'_>, reason: &str) -> Result<RunId, StoreError>;

    fn update_agent(&self, run: RunId, change: &AgentChange<'_>) -> Result<(), StoreError>;

    fn apply_trade(&self, run: RunId, trade: &TradeChange) -> Result<(), StoreError>;

    fn applied_swaps(&self, run: RunId) -> Result<Vec<String>, StoreError>;

    /// Marks agents published in `run`, and remembers the content published
    /// per schedule so that no later run sends it again.
    fn mark_published(
        &self,
        run: RunId,
        schedule_id: &str,
        agents: &[(String, String)],
    ) -> Result<(), StoreError>;

    /// agent id → content hash last published, for one schedule.
    fn published_hashes(&self, schedule_id: &str) -> Result<BTreeMap<String, String>, StoreError>;

    fn finish_run(
        &self,
        run: RunId,
        outcome: Outcome,
        summary: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The most recent runs, newest first.
    fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError>;

    fn agents(&self, run: RunId) -> Result<Vec<AgentRecord>, StoreError>;

    /// Agents waiting for a swap in unfinished runs.
    fn pending_deferrals(&self) -> Result<Vec<PendingDeferral>, StoreError>;
}
