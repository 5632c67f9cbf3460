//! The PostgreSQL schema, embedded and brought up to date at start-up.
//! Replicas starting together take turns through a transaction-scoped
//! advisory lock (it ends with the transaction, so it also holds behind a
//! transaction-pooling proxy).

use tokio_postgres::Client;

/// Each migration once, in order; `schema_migrations` says which ran.
const MIGRATIONS: [(i32, &str); 2] = [(1, V1), (2, V2)];

const V1: &str = "
CREATE TABLE runs (
    id BIGSERIAL PRIMARY KEY,
    target TEXT NOT NULL,
    week_start DATE NOT NULL,
    schedule_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_hash TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    outcome TEXT NOT NULL,
    summary TEXT
);
CREATE INDEX runs_by_target ON runs (target, week_start, outcome);
CREATE TABLE agents (
    run_id BIGINT NOT NULL REFERENCES runs (id),
    agent_id TEXT NOT NULL,
    shifts TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    reason_kind TEXT,
    swap_id TEXT,
    trade TEXT,
    was_deferred BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (run_id, agent_id)
);
CREATE TABLE applied_swaps (
    run_id BIGINT NOT NULL REFERENCES runs (id),
    swap_id TEXT NOT NULL,
    resolution TEXT NOT NULL,
    PRIMARY KEY (run_id, swap_id)
);
CREATE TABLE published (
    schedule_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (schedule_id, agent_id)
);
-- The leader lease: one row per lease name. expires_at is on the
-- database's clock; fence grows by one at every change of term.
CREATE TABLE leader (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    fence BIGINT NOT NULL,
    elected_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
";

/// The journal of platform operations (`platform::journal`).
const V2: &str = "
CREATE TABLE operations (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES runs (id),
    schedule_id TEXT NOT NULL,
    upload_key TEXT NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    schedule_version BIGINT NOT NULL,
    sets_published BOOLEAN NOT NULL,
    agents TEXT NOT NULL,
    state TEXT NOT NULL,
    operation_id TEXT,
    ended_at TIMESTAMPTZ
);
CREATE INDEX operations_by_schedule ON operations (schedule_id, state);
";

/// Runs every migration the database has not had yet, in one transaction.
pub async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('wfm-publisher schema'))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    let done: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !done.contains(v)) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
    }
    tx.commit().await
}
