//! Named async locks: one run per target, one publish per schedule, across
//! every task of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// What a lock keeps to one holder at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LockKey {
    /// One run of a target at a time, whoever starts it.
    Target(String),
    /// One publish of a schedule at a time, even from two targets.
    Schedule(String),
    /// One unapplied Genesys Cloud update per business unit at a time.
    BusinessUnit(String),
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
