//! The run lock of a SQLite store: whoever publishes from it (the daemon,
//! or one `publish`) holds it while it lives, so a second publisher is
//! refused at once, naming the holder.
//!
//! An OS lock (`flock`) on a file beside the database, not a lock row with
//! a heartbeat: the kernel drops it the instant its holder dies, `kill -9`
//! included, so a dead holder is taken over at once, and no clock, TTL or
//! reused pid can make a live holder look dead. SQLite in WAL mode already
//! requires every process of a store to share one machine (its shared
//! memory file), the one place where such a lock holds. PostgreSQL stores
//! use the lease instead (`src/leader.rs`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another process publishes from state store {store}: {holder} holds its run lock; this one is refused (the holder finishes or resumes the run; stop it first to run this one)")]
    Held { store: String, holder: String },
    #[error("state store {store}: cannot take its run lock {path}: {message}")]
    Io {
        store: String,
        path: String,
        message: String,
    },
}

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The lock file of the database at `db`: `state.db` → `state.db.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl StoreLock {
    /// Takes the lock of the database at `db` for `role` (what this
    /// process is, e.g. "the daemon"), or says who holds it.
    pub fn take(db: &Path, role: &str) -> Result<StoreLock, LockError> {
        let path = lock_path(db);
        let io = |e: std::io::Error| LockError::Io {
            store: db.display().to_string(),
            path: path.display().to_string(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            // A link planted here would have its target truncated and
            // written: refused (ELOOP) instead.
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    store: db.display().to_string(),
                    holder: holder(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Who holds it, for the next one to name; the lock, not this text,
        // decides.
        let line = format!(
            "{role} (pid {} on {}, since {})\n",
            std::process::id(),
            super::host_name(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        Ok(StoreLock { _file: file })
    }
}

/// Who holds the lock of the database at `db`, if anyone, without taking
/// it for more than an instant: `status` tells a run under way from one a
/// stop left open. A shared lock, released at once: a publisher that
/// starts in that instant is refused like any second publisher, and can be
/// started again.
pub fn holder_of(db: &Path) -> Result<Option<String>, LockError> {
    let path = lock_path(db);
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(file) => file,
        // Never taken: nobody holds it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LockError::Io {
                store: db.display().to_string(),
                path: path.display().to_string(),
                message: e.to_string(),
            })
        }
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(holder(&mut file))),
        Err(TryLockError::Error(e)) => Err(LockError::Io {
            store: db.display().to_string(),
            path: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

/// The holder as it wrote itself down: one short line, never more.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.take(200).read_to_string(&mut text);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() || line.chars().any(char::is_control) {
        "another process".to_owned()
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_holder_named_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let first = StoreLock::take(&db, "the daemon").unwrap();
        let refused = StoreLock::take(&db, "publish").unwrap_err().to_string();
        assert!(
            refused.contains(&format!("the daemon (pid {}", std::process::id())),
            "{refused}"
        );
        assert!(holder_of(&db)
            .unwrap()
            .unwrap()
            .starts_with("the daemon (pid"));
        drop(first);
        assert_eq!(holder_of(&db).unwrap(), None);
        StoreLock::take(&db, "publish").expect("free once the holder let go");
    }
}
