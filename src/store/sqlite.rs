//! The SQLite store: WAL, one connection behind a mutex.
//!
//! Calls are short (one row or one batch per transaction), so they run on
//! the caller's thread; a blocking-pool hop per call would cost more than
//! the call. `synchronous = NORMAL` in WAL mode survives a killed process
//! (the case that matters for resuming); after a power cut the last few
//! commits may be lost, which only means an idempotent PUT or publish is
//! sent again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::*;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    week_start TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_hash TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_target ON runs (target, week_start, outcome);
CREATE TABLE IF NOT EXISTS agents (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    agent_id TEXT NOT NULL,
    shifts TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    swap_id TEXT,
    trade TEXT,
    was_deferred INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, agent_id)
);
CREATE TABLE IF NOT EXISTS applied_swaps (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    swap_id TEXT NOT NULL,
    resolution TEXT NOT NULL,
    PRIMARY KEY (run_id, swap_id)
);
CREATE TABLE IF NOT EXISTS published (
    schedule_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (schedule_id, agent_id)
);
";

pub struct SqliteStore {
    path: String,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Sqlite {
                path: shown.clone(),
                message: format!("cannot create its directory: {e}"),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| StoreError::Sqlite {
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
            c.execute_batch(SCHEMA)
        })?;
        Ok(store)
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| StoreError::Sqlite {
            path: self.path.clone(),
            message: e.to_string(),
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

struct RawAgent {
    agent_id: String,
    shifts: String,
    content_hash: String,
    status: String,
    reason: Option<String>,
    swap_id: Option<String>,
    trade: Option<String>,
    was_deferred: bool,
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
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
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
            schedule_id: raw.schedule_id,
            source: raw.source,
            source_hash: raw.source_hash,
            summary: raw.summary,
        })
    }

    fn agent(&self, raw: RawAgent) -> Result<AgentRecord, StoreError> {
        Ok(AgentRecord {
            shifts: serde_json::from_str(&raw.shifts)
                .map_err(|e| self.corrupt(format!("agent {}: shifts: {e}", raw.agent_id)))?,
            status: raw
                .status
                .parse()
                .map_err(|e| self.corrupt(format!("agent {}: status: {e}", raw.agent_id)))?,
            agent_id: raw.agent_id,
            content_hash: raw.content_hash,
            reason: raw.reason,
            swap_id: raw.swap_id,
            trade: raw.trade,
            was_deferred: raw.was_deferred,
        })
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
                run.target,
                run.week_start.format("%Y-%m-%d").to_string(),
                run.schedule_id,
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
        target: &str,
        week: NaiveDate,
    ) -> Result<Option<(RunRecord, Vec<AgentRecord>)>, StoreError> {
        let raw = self.with(|c| {
            c.query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE target = ?1 AND week_start = ?2
                     AND outcome IN ('running', 'failed') ORDER BY id DESC LIMIT 1"
                ),
                params![target, week.format("%Y-%m-%d").to_string()],
                raw_run,
            )
            .optional()
        })?;
        match raw {
            None => Ok(None),
            Some(raw) => {
                let run = self.run(raw)?;
                let agents = self.agents(run.id)?;
                Ok(Some((run, agents)))
            }
        }
    }

    fn create_run(
        &self,
        run: &NewRun<'_>,
        agents: &[(String, Vec<Shift>, String)],
    ) -> Result<RunId, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let id = Self::insert_run(&tx, run, Outcome::Running, None)?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO agents (run_id, agent_id, shifts, content_hash, status)
                     VALUES (?1, ?2, ?3, ?4, 'planned')",
                )?;
                for (agent, shifts, hash) in agents {
                    let json = serde_json::to_string(shifts).expect("shifts serialize");
                    insert.execute(params![id, agent, json, hash])?;
                }
            }
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

    fn update_agent(&self, run: RunId, change: &AgentChange<'_>) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE agents SET status = ?3, reason = ?4, swap_id = COALESCE(?5, swap_id),
                 was_deferred = was_deferred OR ?3 = 'deferred'
                 WHERE run_id = ?1 AND agent_id = ?2",
                params![
                    run,
                    change.agent_id,
                    change.status.to_string(),
                    change.reason,
                    change.swap_id
                ],
            )
            .map(|_| ())
        })
    }

    fn apply_trade(&self, run: RunId, trade: &TradeChange) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO applied_swaps (run_id, swap_id, resolution) VALUES (?1, ?2, ?3)",
                params![run, trade.swap_id, trade.resolution],
            )?;
            for (agent, shifts, hash, note) in &trade.agents {
                let json = serde_json::to_string(shifts).expect("shifts serialize");
                tx.execute(
                    // A changed week, or one waiting for this swap, is
                    // planned again; an unchanged one keeps its status.
                    "UPDATE agents SET
                     status = CASE WHEN content_hash <> ?4 OR status = 'deferred' THEN 'planned' ELSE status END,
                     reason = CASE WHEN content_hash <> ?4 OR status = 'deferred' THEN NULL ELSE reason END,
                     shifts = ?3, content_hash = ?4, trade = ?5
                     WHERE run_id = ?1 AND agent_id = ?2",
                    params![run, agent, json, hash, note],
                )?;
            }
            tx.commit()
        })
    }

    fn applied_swaps(&self, run: RunId) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut q = c.prepare("SELECT swap_id FROM applied_swaps WHERE run_id = ?1")?;
            let rows = q.query_map(params![run], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn mark_published(
        &self,
        run: RunId,
        schedule_id: &str,
        agents: &[(String, String)],
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut agent = tx.prepare(
                    "UPDATE agents SET status = 'published', reason = NULL
                     WHERE run_id = ?1 AND agent_id = ?2",
                )?;
                let mut published = tx.prepare(
                    "INSERT INTO published (schedule_id, agent_id, content_hash) VALUES (?1, ?2, ?3)
                     ON CONFLICT (schedule_id, agent_id) DO UPDATE SET content_hash = excluded.content_hash",
                )?;
                for (id, hash) in agents {
                    agent.execute(params![run, id])?;
                    published.execute(params![schedule_id, id, hash])?;
                }
            }
            tx.commit()
        })
    }

    fn published_hashes(&self, schedule_id: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.with(|c| {
            let mut q =
                c.prepare("SELECT agent_id, content_hash FROM published WHERE schedule_id = ?1")?;
            let rows = q.query_map(params![schedule_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
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

    fn agents(&self, run: RunId) -> Result<Vec<AgentRecord>, StoreError> {
        let raws = self.with(|c| {
            let mut q = c.prepare(
                "SELECT agent_id, shifts, content_hash, status, reason, swap_id, trade, was_deferred
                 FROM agents WHERE run_id = ?1 ORDER BY agent_id",
            )?;
            let rows = q.query_map(params![run], raw_agent)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        raws.into_iter().map(|r| self.agent(r)).collect()
    }

    fn pending_deferrals(&self) -> Result<Vec<PendingDeferral>, StoreError> {
        let rows = self.with(|c| {
            let mut q = c.prepare(
                "SELECT r.id, r.target, r.week_start, a.agent_id, a.swap_id
                 FROM agents a JOIN runs r ON r.id = a.run_id
                 WHERE a.status = 'deferred' AND r.outcome IN ('running', 'failed')
                 ORDER BY r.id, a.agent_id",
            )?;
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
                    agent_id,
                    swap_id,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(h: u32) -> Shift {
        Shift {
            start_time: format!("2026-11-30T{h:02}:00:00Z").parse().unwrap(),
            end_time: format!("2026-11-30T{:02}:00:00Z", h + 8).parse().unwrap(),
            activity: Some("phone".into()),
        }
    }

    #[test]
    fn a_run_survives_reopening_and_trades_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let week = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let new = NewRun {
            target: "chicago",
            week_start: week,
            schedule_id: "s-1",
            source: "in.csv",
            source_hash: "h",
            started_at: Utc::now(),
        };
        let run = {
            let store = SqliteStore::open(&path).unwrap();
            let run = store
                .create_run(
                    &new,
                    &[
                        ("a-1".into(), vec![shift(8)], "h1".into()),
                        ("a-2".into(), vec![shift(14)], "h2".into()),
                    ],
                )
                .unwrap();
            store
                .update_agent(
                    run,
                    &AgentChange {
                        agent_id: "a-1",
                        status: AgentStatus::Deferred,
                        reason: None,
                        swap_id: Some("sw-1"),
                    },
                )
                .unwrap();
            store
                .mark_published(run, "s-1", &[("a-2".into(), "h2".into())])
                .unwrap();
            run
        };
        let store = SqliteStore::open(&path).unwrap();
        let (open, agents) = store.open_run("chicago", week).unwrap().unwrap();
        assert_eq!(open.id, run);
        assert_eq!(agents[0].status, AgentStatus::Deferred);
        assert!(agents[0].was_deferred);
        assert_eq!(agents[1].status, AgentStatus::Published);
        assert_eq!(store.published_hashes("s-1").unwrap()["a-2"], "h2");
        assert_eq!(store.pending_deferrals().unwrap().len(), 1);

        let trade = TradeChange {
            swap_id: "sw-1".into(),
            resolution: "approved".into(),
            agents: vec![("a-1".into(), vec![], "h0".into(), "gave".into())],
        };
        store.apply_trade(run, &trade).unwrap();
        assert!(
            store.apply_trade(run, &trade).is_err(),
            "a trade applies once"
        );
        assert_eq!(store.applied_swaps(run).unwrap(), vec!["sw-1".to_owned()]);
        let a1 = &store.agents(run).unwrap()[0];
        assert_eq!(
            (a1.status, a1.content_hash.as_str()),
            (AgentStatus::Planned, "h0")
        );

        store
            .finish_run(run, Outcome::Success, "done", Utc::now())
            .unwrap();
        assert!(store.open_run("chicago", week).unwrap().is_none());
        assert_eq!(store.recent_runs(5).unwrap()[0].outcome, Outcome::Success);
    }
}
