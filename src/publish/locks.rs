//! Named async locks: one run per target, one publish per schedule, across
//! every task of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use crate::domain::{BusinessUnitId, ScheduleId, TargetName};

/// What a lock keeps to one holder at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LockKey {
    /// One run of a target at a time, whoever starts it.
    Target(TargetName),
    /// One publish of a schedule at a time, even from two targets.
    Schedule(ScheduleId),
    /// One unapplied Genesys Cloud update per business unit at a time.
    BusinessUnit(BusinessUnitId),
}

#[derive(Debug, Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<LockKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    pub async fn lock(&self, key: LockKey) -> OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .expect("keyed locks")
            .entry(key)
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}
