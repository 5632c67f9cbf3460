//! The configured store as `status` reads it: its rows, and who holds its
//! run lock now. The store keeps a stopped run `running` (resumable), so
//! whether one is under way is the run lock's to say: SQLite's file lock,
//! PostgreSQL's publishing lease.

use std::sync::Arc;

use super::{holder_of, LockError, PostgresStore, SqliteStore, Store, StoreError};
use crate::config::StoreSettings;

/// A store opened to read, and the holder of its run lock, if anyone.
pub struct Observed {
    pub store: Arc<dyn Store>,
    /// As the holder named itself (the lock file's line, the lease's
    /// host:pid:random); `None`: nobody publishes from the store now.
    pub holder: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// The configured store and its run lock's holder; `None` when the SQLite
/// file does not exist (a read creates nothing). Neither lock is taken for
/// more than an instant: SQLite's is probed shared, the lease only read.
pub fn observe(settings: &StoreSettings) -> Result<Option<Observed>, ObserveError> {
    match &settings.postgres {
        Some(pg) => {
            let (store, _lease) = PostgresStore::open(pg)?;
            let holder = store.lease_holder()?;
            Ok(Some(Observed {
                store: Arc::new(store),
                holder,
            }))
        }
        None => {
            let Some(store) = SqliteStore::open_existing(&settings.path)? else {
                return Ok(None);
            };
            Ok(Some(Observed {
                store: Arc::new(store),
                holder: holder_of(&settings.path)?,
            }))
        }
    }
}
