//! The PostgreSQL store: the state several replicas share, and the lease
//! that lets exactly one of them publish. The same trait and the same rows
//! as SQLite; every write runs in a transaction that first checks this
//! process still holds the lease with the fencing token it was granted,
//! and holds that row shared until it commits, so a takeover waits for the
//! write or the write is refused, never both.

mod connection;
mod lease;
mod schema;
mod tls;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use tokio_postgres::{Client, Row, Transaction};

use super::rows::{
    carried_json, operation_state_columns, published_rows, published_weeks, resumable_outcomes,
    shifts_json, state_columns, unfinished_states, RawAgent, RawOperation, AGENT_COLUMNS,
    OPERATION_COLUMNS, PUBLISHED_WEEKS,
};
use super::*;
use crate::config::PostgresSettings;
use connection::{Bridge, Connector};

pub use lease::{Leadership, Lease, Role};

type PgError = tokio_postgres::Error;

const RUN_COLUMNS: &str = "id, target, week_start, schedule_id, source, source_hash, started_at, finished_at, outcome, summary";

/// The write goes ahead only for the holder of the current term; `FOR
/// SHARE` makes a concurrent takeover wait until this transaction ends.
const FENCE_CHECK: &str = "SELECT 1 FROM leader
    WHERE name = $1 AND holder = $2 AND fence = $3 AND expires_at > now() FOR SHARE";

const SAVE_ROWS: &str = "
INSERT INTO agents (run_id, agent_id, shifts, content_hash, status, reason, reason_kind, swap_id, trade, was_deferred)
SELECT $1::bigint, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                 $7::text[], $8::text[], $9::text[], $10::bool[])
ON CONFLICT (run_id, agent_id) DO UPDATE SET shifts = excluded.shifts,
  content_hash = excluded.content_hash, status = excluded.status,
  reason = excluded.reason, reason_kind = excluded.reason_kind,
  swap_id = excluded.swap_id, trade = excluded.trade, was_deferred = excluded.was_deferred";

const SAVE_PUBLISHED: &str = "
INSERT INTO published (schedule_id, agent_id, content_hash)
SELECT $1::text, * FROM unnest($2::text[], $3::text[])
ON CONFLICT (schedule_id, agent_id) DO UPDATE SET content_hash = excluded.content_hash";

pub struct PostgresStore {
    connector: Arc<Connector>,
    bridge: Bridge,
    /// One connection, as SQLite has one: calls are short, and the lease
    /// renews on a connection of its own so a long batch never delays it.
    client: Mutex<Option<Client>>,
    leadership: Arc<Leadership>,
    /// How long one call may wait for the database: the lease's TTL, past
    /// which the lease is gone whatever the call does. A link cut without
    /// a close (packets dropped) otherwise leaves a call waiting for good.
    deadline: std::time::Duration,
    /// `SET LOCAL idle_in_transaction_session_timeout` of every write: a
    /// process frozen mid-transaction (SIGSTOP, a VM pause) would hold the
    /// lease row `FOR SHARE` and block every takeover; the server ends its
    /// session after this instead (the write is lost, as it must be).
    idle_limit: String,
}

impl PostgresStore {
    /// Connects, brings the schema up to date, and returns the store with
    /// the lease its writes are fenced by.
    pub fn open(settings: &PostgresSettings) -> Result<(Self, Lease), StoreError> {
        let connector = Arc::new(Connector::new(settings)?);
        let bridge = Bridge::new().map_err(|e| StoreError::Postgres {
            store: connector.shown().to_owned(),
            message: format!("cannot start the store's runtime: {e}"),
        })?;
        let leadership = Arc::new(Leadership::new());
        let store = PostgresStore {
            connector: connector.clone(),
            bridge,
            client: Mutex::new(None),
            leadership: leadership.clone(),
            deadline: settings.lease_ttl,
            idle_limit: format!(
                "SET LOCAL idle_in_transaction_session_timeout = {}",
                settings.lease_renew.as_millis().max(1)
            ),
        };
        store.with(|c| Box::pin(schema::migrate(c)))?;
        let lease = Lease::new(
            connector,
            leadership,
            settings.lease_ttl,
            settings.lease_renew,
        );
        Ok((store, lease))
    }

    pub fn leadership(&self) -> &Arc<Leadership> {
        &self.leadership
    }

    /// Who holds the publishing lease now, by the database's clock, if
    /// anyone: with this store the lease is the run lock, so `status` tells
    /// a run under way from one a stop left open by it.
    pub fn lease_holder(&self) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Box::pin(async move {
                let row = c.query_opt(lease::CURRENT_HOLDER, &[&lease::LEASE]).await?;
                Ok(row.map(|r| r.get(0)))
            })
        })
    }

    /// Runs `f` on the connection, (re)connecting first when it is gone,
    /// e.g. after the database restarted. The caller's thread waits, but
    /// off the runtime's workers (`super::blocking`), so the rest of the
    /// process (the admin endpoint, the lease) goes on; and for at most
    /// `deadline`, after which the connection is dropped and made anew.
    fn with<T>(
        &self,
        f: impl for<'c> FnOnce(&'c mut Client) -> BoxFuture<'c, Result<T, PgError>>,
    ) -> Result<T, StoreError> {
        super::blocking(|| {
            let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
            if slot.as_ref().is_none_or(Client::is_closed) {
                *slot = Some(self.bridge.connect(&self.connector)?);
            }
            let client = slot.as_mut().expect("connected just now");
            match self.bridge.wait(self.deadline, f(client)) {
                Some(Ok(value)) => Ok(value),
                Some(Err(e)) => {
                    if slot.as_ref().is_some_and(Client::is_closed) {
                        *slot = None;
                    }
                    Err(self.connector.error(&e))
                }
                None => {
                    *slot = None;
                    Err(StoreError::Postgres {
                        store: self.connector.shown().to_owned(),
                        message: format!(
                            "the database did not answer within {}",
                            humantime::format_duration(self.deadline)
                        ),
                    })
                }
            }
        })
    }

    /// Runs `body` in a transaction that first checks the fencing token.
    fn write<T: Send + 'static>(
        &self,
        body: impl for<'t> FnOnce(&'t Transaction<'t>) -> BoxFuture<'t, Result<T, PgError>>
            + Send
            + 'static,
    ) -> Result<T, StoreError> {
        let Some(fence) = self.leadership.fence() else {
            return Err(self.fenced(None));
        };
        let holder = self.leadership.holder().to_owned();
        let idle_limit = self.idle_limit.clone();
        let done = self.with(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await?;
                tx.batch_execute(&idle_limit).await?;
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                    [&lease::LEASE, &holder, &fence];
                if tx.query_opt(FENCE_CHECK, &params).await?.is_none() {
                    return Ok(None);
                }
                let value = body(&tx).await?;
                tx.commit().await?;
                Ok(Some(value))
            })
        })?;
        done.ok_or_else(|| self.fenced(Some(fence)))
    }

    fn fenced(&self, fence: Option<i64>) -> StoreError {
        metrics::counter!("wfm_fencing_rejections_total").increment(1);
        StoreError::Fenced {
            store: self.connector.shown().to_owned(),
            fence,
        }
    }

    fn corrupt(&self, message: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.connector.shown().to_owned(),
            message: message.into(),
        }
    }

    fn run_record(&self, r: &Row) -> Result<RunRecord, StoreError> {
        let id: RunId = r.get(0);
        let outcome: String = r.get(8);
        Ok(RunRecord {
            id,
            target: r.get(1),
            week_start: r.get(2),
            schedule_id: ScheduleId::from(r.get::<_, String>(3)),
            source: r.get(4),
            source_hash: r.get(5),
            started_at: r.get(6),
            finished_at: r.get(7),
            outcome: outcome
                .parse()
                .map_err(|e| self.corrupt(format!("run {id}: outcome: {e}")))?,
            summary: r.get(9),
        })
    }

    fn agent_rows(&self, rows: &[Row]) -> Result<Vec<AgentRow>, StoreError> {
        rows.iter()
            .map(|r| {
                RawAgent {
                    agent_id: r.get(0),
                    shifts: r.get(1),
                    content_hash: r.get(2),
                    status: r.get(3),
                    reason: r.get(4),
                    swap_id: r.get(5),
                    trade: r.get(6),
                    was_deferred: r.get(7),
                    reason_kind: r.get(8),
                }
                .decode()
                .map_err(|m| self.corrupt(m))
            })
            .collect()
    }
}

/// Agents' rows as the column arrays `SAVE_ROWS` unnests: one statement
/// per batch, not one per agent. An agent listed twice keeps its last row.
#[derive(Default)]
struct Columns {
    ids: Vec<String>,
    shifts: Vec<String>,
    hashes: Vec<String>,
    status: Vec<String>,
    reasons: Vec<Option<String>>,
    kinds: Vec<Option<String>>,
    swaps: Vec<Option<String>>,
    trades: Vec<Option<String>>,
    deferred: Vec<bool>,
    published_ids: Vec<String>,
    published_hashes: Vec<String>,
}

impl Columns {
    fn of(agents: &[AgentRow]) -> Self {
        let last: BTreeMap<&str, &AgentRow> =
            agents.iter().map(|a| (a.agent_id.as_str(), a)).collect();
        let mut c = Columns::default();
        for a in last.values() {
            let state = state_columns(&a.state);
            c.ids.push(a.agent_id.to_string());
            c.shifts.push(shifts_json(&a.week));
            c.hashes.push(a.week.hash().hex());
            c.status.push(state.status.to_owned());
            c.reasons.push(state.reason.map(str::to_owned));
            c.kinds.push(state.reason_kind.map(str::to_owned));
            c.swaps.push(state.swap_id.map(str::to_owned));
            c.trades.push(a.trade.clone());
            c.deferred.push(a.was_deferred);
            if a.state == AgentState::Published {
                c.published_ids.push(a.agent_id.to_string());
                c.published_hashes.push(a.week.hash().hex());
            }
        }
        c
    }

    async fn save(&self, tx: &Transaction<'_>, run: RunId, schedule: &str) -> Result<(), PgError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        tx.execute(
            SAVE_ROWS,
            &[
                &run,
                &self.ids,
                &self.shifts,
                &self.hashes,
                &self.status,
                &self.reasons,
                &self.kinds,
                &self.swaps,
                &self.trades,
                &self.deferred,
            ],
        )
        .await?;
        if !self.published_ids.is_empty() {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                [&schedule, &self.published_ids, &self.published_hashes];
            tx.execute(SAVE_PUBLISHED, &params).await?;
        }
        Ok(())
    }
}

/// A new run's values, owned so that the transaction's future may hold
/// them.
struct OwnedRun {
    target: String,
    week_start: NaiveDate,
    schedule_id: String,
    source: String,
    source_hash: String,
    started_at: DateTime<Utc>,
}

impl OwnedRun {
    fn of(run: &NewRun<'_>) -> Self {
        OwnedRun {
            target: run.target.to_string(),
            week_start: run.week_start,
            schedule_id: run.schedule_id.to_string(),
            source: run.source.to_owned(),
            source_hash: run.source_hash.to_owned(),
            started_at: run.started_at,
        }
    }

    async fn insert(
        &self,
        tx: &Transaction<'_>,
        outcome: Outcome,
        summary: Option<&str>,
    ) -> Result<RunId, PgError> {
        let finished = (outcome == Outcome::Refused).then_some(self.started_at);
        let row = tx
            .query_one(
                "INSERT INTO runs (target, week_start, schedule_id, source, source_hash, started_at,
                   finished_at, outcome, summary)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &self.target,
                    &self.week_start,
                    &self.schedule_id,
                    &self.source,
                    &self.source_hash,
                    &self.started_at,
                    &finished,
                    &outcome.to_string(),
                    &summary,
                ],
            )
            .await?;
        Ok(row.get(0))
    }
}

mod store_impl;
