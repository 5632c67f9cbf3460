//! What the simulated Genesys organization saw and holds, for tests to
//! check an adapter against.
//!
//! Deliberately like ../record.rs (the simple platform's record) without
//! sharing it: each simulator records what its own contract makes worth
//! checking (here error codes, there the cause of a 403).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::model::Shift;
use super::scenario::TradeState;

#[derive(Debug, Clone)]
pub struct RequestEntry {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub client_id: Option<String>,
    /// The `ErrorBody.code` (or OAuth `error`) of a refusal.
    pub code: Option<String>,
    pub correlation_id: String,
}

/// One `PUT` to a presigned upload URL and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    pub upload_key: String,
    pub schedule_id: String,
    /// `None` when accepted, else why the store refused it.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Processing,
    Complete {
        version: u64,
    },
    /// The reason the platform never tells: here, for tests.
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationEntry {
    pub operation_id: String,
    /// The upload key `…/update` took.
    pub upload_key: String,
    pub schedule_id: String,
    pub client_id: String,
    pub outcome: Outcome,
}

/// A write of an agent's schedule while one of its trades was Matched: the
/// platform takes it (there is no documented lock), an adapter must not
/// send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeViolation {
    pub schedule_id: String,
    pub user_id: String,
    pub trade_id: String,
    pub operation_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeFailure {
    pub trade_id: String,
    pub failure_reason: &'static str,
}

/// A trade's move from one state to another, as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeMove {
    pub trade_id: String,
    pub from: TradeState,
    pub to: TradeState,
    pub at: DateTime<Utc>,
}

/// One agent's change in an update, as uploaded: the schedule, the user,
/// and the change itself (shifts added, shift ids deleted), written out.
pub type Content = (String, String, String);

/// What happened to a content, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentMark {
    /// A `PUT` of an upload carrying it was accepted.
    Uploaded,
    /// An operation carrying it completed: the platform holds it.
    Completed,
}

#[derive(Debug, Clone, Default)]
pub struct Record {
    pub requests: Vec<RequestEntry>,
    pub token_requests: usize,
    pub tokens_issued: usize,
    pub over_limit: usize,
    pub peak_concurrency: usize,
    pub uploads: Vec<UploadEntry>,
    pub operations: Vec<OperationEntry>,
    /// Saves by another editor made while an update was processed
    /// (`server.concurrent_edits`).
    pub concurrent_edits: usize,
    pub trade_violations: Vec<TradeViolation>,
    /// Approvals the platform could not apply.
    pub trade_failures: Vec<TradeFailure>,
    /// Every move of a trade; a move into Approved was applied.
    pub trade_moves: Vec<TradeMove>,
    /// Each content uploaded and each completed, in order. A schedule's
    /// `published: true` counts as the content `(schedule, "", "published")`.
    pub contents: BTreeMap<Content, Vec<ContentMark>>,
    /// Filled by the snapshot: each schedule's published flag.
    pub published: BTreeMap<String, bool>,
    /// Filled by the snapshot: each schedule's version.
    pub versions: BTreeMap<String, u64>,
    /// Filled by the snapshot: what each (schedule, user) holds.
    pub holdings: BTreeMap<(String, String), Vec<Shift>>,
    /// Filled by the snapshot: each trade's state.
    pub trade_states: BTreeMap<String, TradeState>,
    /// Filled by the snapshot: connections the silent notifications host
    /// took (`server.notification_socket = "silent"`).
    pub silent_socket_connections: usize,
}

impl Record {
    pub fn count_status(&self, status: u16) -> usize {
        self.requests.iter().filter(|r| r.status == status).count()
    }

    pub fn operation(&self, id: &str) -> Option<&OperationEntry> {
        self.operations.iter().find(|o| o.operation_id == id)
    }

    /// How many accepted uploads carried each content.
    pub fn uploads_per_content(&self) -> BTreeMap<&Content, usize> {
        self.contents
            .iter()
            .map(|(c, marks)| {
                let n = marks
                    .iter()
                    .filter(|m| **m == ContentMark::Uploaded)
                    .count();
                (c, n)
            })
            .collect()
    }

    /// Contents uploaded again after an operation carrying them completed.
    pub fn uploaded_after_completion(&self) -> Vec<&Content> {
        self.contents
            .iter()
            .filter(|(_, marks)| {
                let done = marks.iter().position(|m| *m == ContentMark::Completed);
                done.is_some_and(|i| marks[i..].contains(&ContentMark::Uploaded))
            })
            .map(|(c, _)| c)
            .collect()
    }
}
