//! The SQLite store: WAL, one connection behind a mutex.
//!
//! Calls are short (one row or one batch per transaction), so they run on
//! the caller's thread; a blocking-pool hop per call would cost more than
//! the call. `synchronous = NORMAL` in WAL mode survives a killed process
//! (the case that matters for resuming); after a power cut the last few
//! commits may be lost, which only means an idempotent PUT or publish is
//! sent again.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Row};

use super::rows::{
    carried_json, operation_state_columns, published_rows, published_weeks, resumable_outcomes,
    shifts_json, state_columns, unfinished_states, RawAgent, RawOperation, AGENT_COLUMNS,
    OPERATION_COLUMNS, PUBLISHED_WEEKS,
};
use super::*;

mod schema;

use schema::migrate;

pub struct SqliteStore {
    path: String,
    conn: Mutex<Connection>,
}

/// An existing database readable by others (made before 0600 was the
/// rule, or copied) is made 0600: its run summaries name agents.
fn tighten(file: &std::fs::File, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = file.metadata() else { return };
    if meta.permissions().mode() & 0o077 != 0 {
        match file.set_permissions(std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {
                tracing::warn!(store = %path.display(), "the state database was readable by other users: made mode 0600")
            }
            Err(e) => {
                tracing::warn!(store = %path.display(), error = %e, "the state database is readable by other users and could not be made 0600: chmod 600 it")
            }
        }
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (and its directory) when
    /// missing. A new file is made mode 0600, before SQLite opens it: its
    /// `-wal` and `-shm` files take their mode from it, and run summaries
    /// are nobody else's to read.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let fail = |message: String| StoreError::Sqlite {
            path: shown.clone(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create its directory: {e}")))?;
        }
        // No link followed: a dangling one planted here would have the
        // database made wherever it points.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| fail(format!("cannot create or open it: {e}")))?;
        tighten(&file, path);
        // Not SQLITE_OPEN_NOFOLLOW: it refuses a link anywhere in the path,
        // and systemd's DynamicUser state directory is one
        // (/var/lib/NAME -> private/NAME). The file itself was opened
        // without following a link just now.
        Self::connect(path, OpenFlags::default())
    }

    /// Opens the database at `path` if it exists; never creates it.
    pub fn open_existing(path: &Path) -> Result<Option<Self>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::Sqlite {
                path: path.display().to_string(),
                message: "is a symbolic link: not opened; put the database itself there".into(),
            });
        }
        let flags = OpenFlags::default() - OpenFlags::SQLITE_OPEN_CREATE;
        Self::connect(path, flags).map(Some)
    }

    /// An empty store in memory, for a dry run where there is no file:
    /// nothing recorded, nothing created.
    pub fn in_memory(shown: &Path) -> Result<Self, StoreError> {
        Self::connect_to(shown, Connection::open_in_memory())
    }

    fn connect(path: &Path, flags: OpenFlags) -> Result<Self, StoreError> {
        Self::connect_to(path, Connection::open_with_flags(path, flags))
    }

    fn connect_to(shown: &Path, conn: rusqlite::Result<Connection>) -> Result<Self, StoreError> {
        let shown = shown.display().to_string();
        let conn = conn.map_err(|e| StoreError::Sqlite {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let store = SqliteStore {
            path: shown,
            conn: Mutex::new(conn),
        };
        store.with(|c| {
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.busy_timeout(std::time::Duration::from_secs(5))?;
            migrate(c)
        })?;
        Ok(store)
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        super::blocking(|| {
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn).map_err(|e| StoreError::Sqlite {
                path: self.path.clone(),
                message: e.to_string(),
            })
        })
    }

    fn corrupt(&self, message: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            message: message.into(),
        }
    }
}

/// A row read as text, turned into typed values afterwards so that a bad
/// value is reported as such rather than as a SQL error.
struct RawRun {
    id: RunId,
    target: String,
    week_start: String,
    schedule_id: String,
    source: String,
    source_hash: String,
    started_at: String,
    finished_at: Option<String>,
    outcome: String,
    summary: Option<String>,
}

const RUN_COLUMNS: &str = "id, target, week_start, schedule_id, source, source_hash, started_at, finished_at, outcome, summary";

fn raw_run(row: &Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: row.get(0)?,
        target: row.get(1)?,
        week_start: row.get(2)?,
        schedule_id: row.get(3)?,
        source: row.get(4)?,
        source_hash: row.get(5)?,
        started_at: row.get(6)?,
        finished_at: row.get(7)?,
        outcome: row.get(8)?,
        summary: row.get(9)?,
    })
}

fn raw_agent(row: &Row<'_>) -> rusqlite::Result<RawAgent> {
    Ok(RawAgent {
        agent_id: row.get(0)?,
        shifts: row.get(1)?,
        content_hash: row.get(2)?,
        status: row.get(3)?,
        reason: row.get(4)?,
        swap_id: row.get(5)?,
        trade: row.get(6)?,
        was_deferred: row.get(7)?,
        reason_kind: row.get(8)?,
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// An operation's row, its time still text.
fn raw_operation(row: &Row<'_>) -> rusqlite::Result<(RawOperation, String)> {
    Ok((
        RawOperation {
            id: row.get(0)?,
            schedule_id: row.get(1)?,
            upload_key: row.get(2)?,
            issued_at: DateTime::UNIX_EPOCH,
            schedule_version: row.get(4)?,
            sets_published: row.get(5)?,
            agents: row.get(6)?,
            state: row.get(7)?,
            operation_id: row.get(8)?,
        },
        row.get(3)?,
    ))
}

impl SqliteStore {
    fn run(&self, raw: RawRun) -> Result<RunRecord, StoreError> {
        let parse_time = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| self.corrupt(format!("run {}: time {s:?}: {e}", raw.id)))
        };
        Ok(RunRecord {
            id: raw.id,
            week_start: NaiveDate::parse_from_str(&raw.week_start, "%Y-%m-%d")
                .map_err(|e| self.corrupt(format!("run {}: week_start: {e}", raw.id)))?,
            started_at: parse_time(&raw.started_at)?,
            finished_at: raw.finished_at.as_deref().map(parse_time).transpose()?,
            outcome: raw
                .outcome
                .parse()
                .map_err(|e| self.corrupt(format!("run {}: outcome: {e}", raw.id)))?,
            target: raw.target,
            schedule_id: raw.schedule_id.into(),
            source: raw.source,
            source_hash: raw.source_hash,
            summary: raw.summary,
        })
    }

    /// Writes rows as they are, remembering published content per schedule.
    fn save_rows(
        tx: &rusqlite::Transaction<'_>,
        run: RunId,
        schedule_id: &ScheduleId,
        agents: &[AgentRow],
    ) -> rusqlite::Result<()> {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO agents (run_id, agent_id, shifts, content_hash, status, reason, reason_kind, swap_id, trade, was_deferred)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (run_id, agent_id) DO UPDATE SET shifts = excluded.shifts,
               content_hash = excluded.content_hash, status = excluded.status,
               reason = excluded.reason, reason_kind = excluded.reason_kind,
               swap_id = excluded.swap_id, trade = excluded.trade,
               was_deferred = excluded.was_deferred",
        )?;
        let mut published = tx.prepare_cached(
            "INSERT INTO published (schedule_id, agent_id, content_hash) VALUES (?1, ?2, ?3)
             ON CONFLICT (schedule_id, agent_id) DO UPDATE SET content_hash = excluded.content_hash",
        )?;
        for a in agents {
            let state = state_columns(&a.state);
            upsert.execute(params![
                run,
                a.agent_id.as_str(),
                shifts_json(&a.week),
                a.week.hash().hex(),
                state.status,
                state.reason,
                state.reason_kind,
                state.swap_id,
                a.trade,
                a.was_deferred
            ])?;
            if a.state == AgentState::Published {
                published.execute(params![
                    schedule_id.as_str(),
                    a.agent_id.as_str(),
                    a.week.hash().hex()
                ])?;
            }
        }
        Ok(())
    }

    fn insert_run(
        tx: &rusqlite::Transaction<'_>,
        run: &NewRun<'_>,
        outcome: Outcome,
        summary: Option<&str>,
    ) -> rusqlite::Result<RunId> {
        tx.execute(
            "INSERT INTO runs (target, week_start, schedule_id, source, source_hash, started_at, outcome, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run.target.as_str(),
                run.week_start.format("%Y-%m-%d").to_string(),
                run.schedule_id.as_str(),
                run.source,
                run.source_hash,
                time(run.started_at),
                outcome.to_string(),
                summary,
            ],
        )?;
        Ok(tx.last_insert_rowid())
    }
}

impl Store for SqliteStore {
    fn open_run(
        &self,
        target: &TargetName,
        week: NaiveDate,
    ) -> Result<Option<OpenRun>, StoreError> {
        let raw = self.with(|c| {
            c.query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE target = ?1 AND week_start = ?2
                     AND outcome IN ({}) ORDER BY id DESC LIMIT 1",
                    resumable_outcomes()
                ),
                params![target.as_str(), week.format("%Y-%m-%d").to_string()],
                raw_run,
            )
            .optional()
        })?;
        let Some(raw) = raw else { return Ok(None) };
        let run = self.run(raw)?;
        let agents = self.agents(run.id)?;
        let applied_swaps = self.with(|c| {
            let mut q = c.prepare("SELECT swap_id FROM applied_swaps WHERE run_id = ?1")?;
            let rows = q.query_map(params![run.id], |r| r.get::<_, String>(0).map(SwapId::from))?;
            rows.collect()
        })?;
        Ok(Some(OpenRun {
            run,
            agents,
            applied_swaps,
        }))
    }

    fn create_run(&self, run: &NewRun<'_>, agents: &[AgentRow]) -> Result<RunId, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let id = Self::insert_run(&tx, run, Outcome::Running, None)?;
            Self::save_rows(&tx, id, run.schedule_id, agents)?;
            tx.commit()?;
            Ok(id)
        })
    }

    fn refused_run(&self, run: &NewRun<'_>, reason: &str) -> Result<RunId, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let id = Self::insert_run(&tx, run, Outcome::Refused, Some(reason))?;
            tx.execute(
                "UPDATE runs SET finished_at = started_at WHERE id = ?1",
                params![id],
            )?;
            tx.commit()?;
            Ok(id)
        })
    }

    fn save_agents(
        &self,
        run: RunId,
        schedule_id: &ScheduleId,
        agents: &[AgentRow],
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            Self::save_rows(&tx, run, schedule_id, agents)?;
            tx.commit()
        })
    }

    fn save_trade(
        &self,
        run: RunId,
        schedule_id: &ScheduleId,
        swap: &AppliedSwap<'_>,
        agents: &[AgentRow],
    ) -> Result<(), StoreError> {
        let saved = self.with(|c| {
            let tx = c.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO applied_swaps (run_id, swap_id, resolution) VALUES (?1, ?2, ?3)",
                params![run, swap.swap_id.as_str(), swap.resolution.as_str()],
            );
            match inserted {
                // The one constraint this insert can break: the swap is there.
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation =>
                {
                    return Ok(false)
                }
                other => other?,
            };
            Self::save_rows(&tx, run, schedule_id, agents)?;
            tx.commit().map(|()| true)
        })?;
        match saved {
            true => Ok(()),
            false => Err(StoreError::SwapAlreadyApplied {
                store: self.path.clone(),
                run,
                swap_id: swap.swap_id.clone(),
            }),
        }
    }

    fn published_hashes(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<BTreeMap<AgentId, ContentHash>, StoreError> {
        let rows = self.with(|c| {
            let mut q =
                c.prepare("SELECT agent_id, content_hash FROM published WHERE schedule_id = ?1")?;
            let rows = q.query_map(params![schedule_id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        published_rows(rows).map_err(|m| self.corrupt(m))
    }

    fn published_weeks(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<BTreeMap<AgentId, AgentWeek>, StoreError> {
        let rows = self.with(|c| {
            let mut q = c.prepare(&format!("{PUBLISHED_WEEKS} WHERE p.schedule_id = ?1"))?;
            let rows = q.query_map(params![schedule_id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        published_weeks(rows).map_err(|m| self.corrupt(m))
    }

    fn finish_run(
        &self,
        run: RunId,
        outcome: Outcome,
        summary: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET outcome = ?2, summary = ?3, finished_at = ?4 WHERE id = ?1",
                params![run, outcome.to_string(), summary, time(at)],
            )
            .map(|_| ())
        })
    }

    fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let raws = self.with(|c| {
            let mut q = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"
            ))?;
            let rows = q.query_map(params![limit as i64], raw_run)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        raws.into_iter().map(|r| self.run(r)).collect()
    }

    fn agents(&self, run: RunId) -> Result<Vec<AgentRow>, StoreError> {
        let raws = self.with(|c| {
            let mut q = c.prepare(&format!(
                "SELECT {AGENT_COLUMNS} FROM agents WHERE run_id = ?1 ORDER BY agent_id"
            ))?;
            let rows = q.query_map(params![run], raw_agent)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        raws.into_iter()
            .map(|r| r.decode().map_err(|m| self.corrupt(m)))
            .collect()
    }

    fn pending_deferrals(&self) -> Result<Vec<PendingDeferral>, StoreError> {
        let rows = self.with(|c| {
            let mut q = c.prepare(&format!(
                "SELECT r.id, r.target, r.week_start, a.agent_id, a.swap_id
                 FROM agents a JOIN runs r ON r.id = a.run_id
                 WHERE a.status = 'deferred' AND r.outcome IN ({})
                 ORDER BY r.id, a.agent_id",
                resumable_outcomes()
            ))?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get::<_, RunId>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(run_id, target, week, agent_id, swap_id)| {
                Ok(PendingDeferral {
                    run_id,
                    target,
                    week_start: NaiveDate::parse_from_str(&week, "%Y-%m-%d")
                        .map_err(|e| self.corrupt(format!("run {run_id}: week_start: {e}")))?,
                    agent_id: AgentId::from(agent_id),
                    swap_id: swap_id.map(SwapId::from),
                })
            })
            .collect()
    }

    fn begin_operation(&self, run: RunId, operation: &Operation) -> Result<EntryId, StoreError> {
        let (state, operation_id) = operation_state_columns(&operation.state);
        self.with(|c| {
            c.execute(
                "INSERT INTO operations (run_id, schedule_id, upload_key, issued_at, schedule_version,
                   sets_published, agents, state, operation_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    run,
                    operation.schedule_id.as_str(),
                    operation.upload_key,
                    time(operation.issued_at),
                    operation.schedule_version as i64,
                    operation.sets_published,
                    carried_json(&operation.agents),
                    state,
                    operation_id
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn save_operation_state(
        &self,
        id: EntryId,
        state: &OperationState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (state_text, operation_id) = operation_state_columns(state);
        let ended = matches!(state, OperationState::Ended(_)).then(|| time(at));
        self.with(|c| {
            c.execute(
                "UPDATE operations SET state = ?2, operation_id = coalesce(?3, operation_id),
                   ended_at = ?4 WHERE id = ?1",
                params![id, state_text, operation_id, ended],
            )
            .map(|_| ())
        })
    }

    fn unfinished_operations(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<Vec<(EntryId, Operation)>, StoreError> {
        let raws = self.with(|c| {
            let mut q = c.prepare(&format!(
                "SELECT {OPERATION_COLUMNS} FROM operations
                 WHERE schedule_id = ?1 AND state IN ({}) ORDER BY id",
                unfinished_states()
            ))?;
            let rows = q.query_map(params![schedule_id.as_str()], raw_operation)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        raws.into_iter()
            .map(|(mut raw, issued)| {
                raw.issued_at = DateTime::parse_from_rfc3339(&issued)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| self.corrupt(format!("operation {}: issued_at: {e}", raw.id)))?;
                raw.decode().map_err(|m| self.corrupt(m))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
