//! The journal of a platform's asynchronous operations: each update of a
//! schedule recorded before each step that depends on it is sent, so that
//! after `kill -9` the next run finishes or re-checks the one in flight
//! instead of uploading its content again.
//!
//! An operation's lifecycle, decided only by [`transition`]:
//!
//! ```text
//!  Uploading ──Uploaded──▶ Uploaded ──Submitted{id}──▶ Submitted{id}
//!      │                      │  ╲ Completed | Failed        │ Completed | Failed
//!      │ Abandoned            │   ╲──────────────────▶ Ended ◀┘
//!      └──────────────────────┴─Abandoned──────────────▶ Ended(Abandoned)
//! ```
//!
//! `Uploading`: the upload key was issued, the body may or may not have
//! reached the store, and `…/update` was certainly not called (it is only
//! called once `Uploaded` is recorded). `Uploaded`: the body is stored;
//! `…/update` may have been called. `Submitted`: the platform answered
//! with the operation's id.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::plan::ContentHash;
use crate::domain::{AgentId, ScheduleId};

/// An entry of the journal, as the store numbers it.
pub type EntryId = i64;

/// One agent's week an operation carries, by its source id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedWeek {
    pub agent_id: AgentId,
    pub hash: ContentHash,
}

/// One update of a platform schedule and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub schedule_id: ScheduleId,
    /// The upload key the platform issued for the update's body.
    pub upload_key: String,
    pub issued_at: DateTime<Utc>,
    /// The schedule's version the body was built on.
    pub schedule_version: u64,
    /// Whether the update sets the schedule's `published` flag.
    pub sets_published: bool,
    pub agents: Vec<CarriedWeek>,
    pub state: OperationState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationState {
    Uploading,
    Uploaded,
    Submitted { operation_id: String },
    Ended(OperationEnd),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationEnd {
    /// The platform applied it.
    Complete,
    /// The platform did not apply it.
    Failed,
    /// Never submitted, and its upload key is not used again.
    Abandoned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationEvent {
    Uploaded,
    Submitted { operation_id: String },
    Completed,
    Failed,
    Abandoned,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error("operation journal: {event:?} cannot happen to an operation in state {state:?}")]
    Transition {
        state: OperationState,
        event: OperationEvent,
    },
    /// The state store refused the write (or could not be reached).
    #[error("operation journal: {0}")]
    Store(String),
}

/// The one place an operation's next state is decided.
pub fn transition(
    state: &OperationState,
    event: OperationEvent,
) -> Result<OperationState, JournalError> {
    use OperationEvent as E;
    use OperationState as S;
    let next = match (state, &event) {
        (S::Uploading, E::Uploaded) => S::Uploaded,
        (S::Uploaded, E::Submitted { operation_id }) => S::Submitted {
            operation_id: operation_id.clone(),
        },
        (S::Uploading | S::Uploaded, E::Abandoned) => S::Ended(OperationEnd::Abandoned),
        (S::Uploaded | S::Submitted { .. }, E::Completed) => S::Ended(OperationEnd::Complete),
        (S::Uploaded | S::Submitted { .. }, E::Failed) => S::Ended(OperationEnd::Failed),
        _ => {
            return Err(JournalError::Transition {
                state: state.clone(),
                event,
            })
        }
    };
    Ok(next)
}

/// Where a run records its platform operations: the state store, for the
/// run that owns the handle.
pub trait Journal: Send + Sync {
    /// Records a new operation (its state `Uploading`); its entry's id.
    fn begin(&self, operation: &Operation) -> Result<EntryId, JournalError>;

    /// Records entry `id`'s new state.
    fn record(
        &self,
        id: EntryId,
        state: &OperationState,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    /// The operations on `schedule_id` not ended yet, by any run, oldest
    /// first.
    fn unfinished(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<Vec<(EntryId, Operation)>, JournalError>;
}

/// An operation being journaled: its entry, and every move recorded before
/// the caller goes on.
pub struct Tracked {
    journal: Arc<dyn Journal>,
    pub id: EntryId,
    pub operation: Operation,
}

impl Tracked {
    /// Records `operation` as begun.
    pub fn begin(journal: Arc<dyn Journal>, operation: Operation) -> Result<Self, JournalError> {
        let id = journal.begin(&operation)?;
        Ok(Tracked {
            journal,
            id,
            operation,
        })
    }

    /// An entry read back from the journal.
    pub fn resumed(journal: Arc<dyn Journal>, id: EntryId, operation: Operation) -> Self {
        Tracked {
            journal,
            id,
            operation,
        }
    }

    /// Applies `event` and records the new state.
    pub fn on(&mut self, event: OperationEvent, at: DateTime<Utc>) -> Result<(), JournalError> {
        let next = transition(&self.operation.state, event)?;
        self.journal.record(self.id, &next, at)?;
        self.operation.state = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_moves_forward_only() {
        let submitted = transition(
            &OperationState::Uploaded,
            OperationEvent::Submitted {
                operation_id: "op-1".into(),
            },
        )
        .unwrap();
        assert_eq!(
            transition(&submitted, OperationEvent::Completed).unwrap(),
            OperationState::Ended(OperationEnd::Complete)
        );
        // Submitted means the platform holds it: it can no longer be dropped.
        assert!(transition(&submitted, OperationEvent::Abandoned).is_err());
        // Nothing was submitted before the upload was recorded.
        assert!(transition(&OperationState::Uploading, OperationEvent::Completed).is_err());
        let ended = OperationState::Ended(OperationEnd::Failed);
        assert!(transition(&ended, OperationEvent::Completed).is_err());
    }
}
