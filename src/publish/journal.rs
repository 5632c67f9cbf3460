//! A run's journal of platform operations, kept in the state store: the
//! handle the engine gives the run's platform view.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::ScheduleId;
use crate::platform::journal::{EntryId, Journal, JournalError, Operation, OperationState};
use crate::store::{RunId, Store, StoreError};

pub struct RunJournal {
    pub store: Arc<dyn Store>,
    pub run: RunId,
}

fn refused(e: StoreError) -> JournalError {
    JournalError::Store(e.to_string())
}

impl Journal for RunJournal {
    fn begin(&self, operation: &Operation) -> Result<EntryId, JournalError> {
        self.store
            .begin_operation(self.run, operation)
            .map_err(refused)
    }

    fn record(
        &self,
        id: EntryId,
        state: &OperationState,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.store
            .save_operation_state(id, state, at)
            .map_err(refused)
    }

    fn unfinished(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<Vec<(EntryId, Operation)>, JournalError> {
        self.store
            .unfinished_operations(schedule_id)
            .map_err(refused)
    }
}
