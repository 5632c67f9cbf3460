//! Named async locks: one run per target, one publish per schedule, across
//! every task of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Debug, Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .expect("keyed locks")
            .entry(key.to_owned())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Whether someone holds `key` right now.
    pub fn is_locked(&self, key: &str) -> bool {
        self.locks
            .lock()
            .expect("keyed locks")
            .get(key)
            .is_some_and(|l| l.try_lock().is_err())
    }
}
