//! The SQLite store's tables, and the migrations from every earlier release.

use rusqlite::Connection;

/// The schema as this version writes it. `PRAGMA user_version` says which
/// version a database is at; `migrate` brings older ones here.
pub(super) const SCHEMA: &str = "
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
    reason_kind TEXT,
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
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    schedule_id TEXT NOT NULL,
    upload_key TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    schedule_version INTEGER NOT NULL,
    sets_published INTEGER NOT NULL,
    agents TEXT NOT NULL,
    state TEXT NOT NULL,
    operation_id TEXT,
    ended_at TEXT
);
CREATE INDEX IF NOT EXISTS operations_by_schedule ON operations (schedule_id, state);
";

/// Version 2 added the journal of platform operations (`operations`),
/// created by `SCHEMA` itself: nothing of version 1 changes.
pub(super) const SCHEMA_VERSION: i64 = 2;

/// Version 0 (the first release) kept an unpublished agent as status
/// `failed` with only prose for a reason. Version 1 names the state
/// `unpublished` and keeps the reason's kind; the kinds of old rows are
/// read once from the prose the first release wrote.
pub(super) const MIGRATE_0_TO_1: &str = "
ALTER TABLE agents ADD COLUMN reason_kind TEXT;
UPDATE agents SET status = 'unpublished', reason_kind = CASE
    WHEN reason LIKE '%deferral deadline%' THEN 'deadline_passed'
    WHEN reason LIKE '%did not list this agent as published%' THEN 'not_confirmed'
    WHEN reason LIKE 'swap % was approved%' THEN 'swap_mismatch'
    ELSE 'refused' END
  WHERE status = 'failed';
";

pub(super) fn migrate(c: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let has_agents: bool = c.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'agents'",
        [],
        |r| r.get(0),
    )?;
    let tx = c.transaction()?;
    if version == 0 && has_agents {
        tx.execute_batch(MIGRATE_0_TO_1)?;
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}
