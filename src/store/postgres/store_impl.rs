//! `Store` for PostgreSQL: reads on the shared connection, writes through
//! the fenced transaction of [`PostgresStore::write`].
//!
//! Deliberately parallel to the SQLite store's `impl Store` (store/sqlite):
//! the same trait's methods, implemented separately because the SQL, the
//! fencing and the connection handling differ; the shared row-to-domain
//! conversions are in store/rows.rs.

use super::*;

impl Store for PostgresStore {
    fn open_run(
        &self,
        target: &TargetName,
        week: NaiveDate,
    ) -> Result<Option<OpenRun>, StoreError> {
        let target = target.to_string();
        let found = self.with(move |c| {
            Box::pin(async move {
                let query = format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE target = $1 AND week_start = $2
                     AND outcome IN ({}) ORDER BY id DESC LIMIT 1",
                    resumable_outcomes()
                );
                let Some(run) = c.query_opt(&query, &[&target, &week]).await? else {
                    return Ok(None);
                };
                let id: RunId = run.get(0);
                let agents = c.query(&agents_query(), &[&id]).await?;
                let swaps = c
                    .query(
                        "SELECT swap_id FROM applied_swaps WHERE run_id = $1 ORDER BY swap_id",
                        &[&id],
                    )
                    .await?;
                Ok(Some((run, agents, swaps)))
            })
        })?;
        let Some((run, agents, swaps)) = found else {
            return Ok(None);
        };
        Ok(Some(OpenRun {
            run: self.run_record(&run)?,
            agents: self.agent_rows(&agents)?,
            applied_swaps: swaps
                .iter()
                .map(|r| SwapId::from(r.get::<_, String>(0)))
                .collect(),
        }))
    }

    fn create_run(&self, run: &NewRun<'_>, agents: &[AgentRow]) -> Result<RunId, StoreError> {
        let (run, rows) = (OwnedRun::of(run), Columns::of(agents));
        self.write(move |tx| {
            Box::pin(async move {
                let id = run.insert(tx, Outcome::Running, None).await?;
                rows.save(tx, id, &run.schedule_id).await?;
                Ok(id)
            })
        })
    }

    fn refused_run(&self, run: &NewRun<'_>, reason: &str) -> Result<RunId, StoreError> {
        let (run, reason) = (OwnedRun::of(run), reason.to_owned());
        self.write(move |tx| {
            Box::pin(async move { run.insert(tx, Outcome::Refused, Some(&reason)).await })
        })
    }

    fn save_agents(
        &self,
        run: RunId,
        schedule_id: &ScheduleId,
        agents: &[AgentRow],
    ) -> Result<(), StoreError> {
        let (schedule, rows) = (schedule_id.to_string(), Columns::of(agents));
        self.write(move |tx| Box::pin(async move { rows.save(tx, run, &schedule).await }))
    }

    fn save_trade(
        &self,
        run: RunId,
        schedule_id: &ScheduleId,
        swap: &AppliedSwap<'_>,
        agents: &[AgentRow],
    ) -> Result<(), StoreError> {
        let (schedule, rows) = (schedule_id.to_string(), Columns::of(agents));
        let (swap_id, resolution) = (swap.swap_id.clone(), swap.resolution.as_str());
        let id = swap_id.as_str().to_owned();
        let saved = self.write(move |tx| {
            Box::pin(async move {
                let inserted = tx
                    .execute(
                        "INSERT INTO applied_swaps (run_id, swap_id, resolution) VALUES ($1, $2, $3)
                         ON CONFLICT (run_id, swap_id) DO NOTHING",
                        &[&run, &id, &resolution],
                    )
                    .await?;
                if inserted == 0 {
                    return Ok(false);
                }
                rows.save(tx, run, &schedule).await.map(|()| true)
            })
        })?;
        match saved {
            true => Ok(()),
            false => Err(StoreError::SwapAlreadyApplied {
                store: self.connector.shown().to_owned(),
                run,
                swap_id,
            }),
        }
    }

    fn published_hashes(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<BTreeMap<AgentId, ContentHash>, StoreError> {
        let schedule = schedule_id.to_string();
        let rows = self.with(move |c| {
            Box::pin(async move {
                c.query(
                    "SELECT agent_id, content_hash FROM published WHERE schedule_id = $1",
                    &[&schedule],
                )
                .await
            })
        })?;
        published_rows(rows.iter().map(|r| (r.get(0), r.get(1)))).map_err(|m| self.corrupt(m))
    }

    fn published_weeks(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<BTreeMap<AgentId, AgentWeek>, StoreError> {
        let schedule = schedule_id.to_string();
        let rows = self.with(move |c| {
            Box::pin(async move {
                let query = format!("{PUBLISHED_WEEKS} WHERE p.schedule_id = $1");
                c.query(&query, &[&schedule]).await
            })
        })?;
        let rows = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2)));
        published_weeks(rows).map_err(|m| self.corrupt(m))
    }

    fn finish_run(
        &self,
        run: RunId,
        outcome: Outcome,
        summary: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (outcome, summary) = (outcome.to_string(), summary.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE runs SET outcome = $2, summary = $3, finished_at = $4 WHERE id = $1",
                    &[&run, &outcome, &summary, &at],
                )
                .await
                .map(|_| ())
            })
        })
    }

    fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let limit = limit as i64;
        let rows = self.with(move |c| {
            Box::pin(async move {
                let query = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT $1");
                c.query(&query, &[&limit]).await
            })
        })?;
        rows.iter().map(|r| self.run_record(r)).collect()
    }

    fn agents(&self, run: RunId) -> Result<Vec<AgentRow>, StoreError> {
        let rows =
            self.with(move |c| Box::pin(async move { c.query(&agents_query(), &[&run]).await }))?;
        self.agent_rows(&rows)
    }

    fn pending_deferrals(&self) -> Result<Vec<PendingDeferral>, StoreError> {
        let rows = self.with(|c| {
            Box::pin(async move {
                let query = format!(
                    "SELECT r.id, r.target, r.week_start, a.agent_id, a.swap_id
                     FROM agents a JOIN runs r ON r.id = a.run_id
                     WHERE a.status = 'deferred' AND r.outcome IN ({})
                     ORDER BY r.id, a.agent_id",
                    resumable_outcomes()
                );
                c.query(&query, &[]).await
            })
        })?;
        Ok(rows
            .iter()
            .map(|r| PendingDeferral {
                run_id: r.get(0),
                target: r.get(1),
                week_start: r.get(2),
                agent_id: AgentId::from(r.get::<_, String>(3)),
                swap_id: r.get::<_, Option<String>>(4).map(SwapId::from),
            })
            .collect())
    }

    fn begin_operation(&self, run: RunId, operation: &Operation) -> Result<EntryId, StoreError> {
        let (state, operation_id) = operation_state_columns(&operation.state);
        let (state, operation_id) = (state.to_owned(), operation_id.map(str::to_owned));
        let op = operation.clone();
        let agents = carried_json(&operation.agents);
        self.write(move |tx| {
            Box::pin(async move {
                let version = op.schedule_version as i64;
                let row = tx
                    .query_one(
                        "INSERT INTO operations (run_id, schedule_id, upload_key, issued_at,
                           schedule_version, sets_published, agents, state, operation_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                        &[
                            &run,
                            &op.schedule_id.as_str(),
                            &op.upload_key,
                            &op.issued_at,
                            &version,
                            &op.sets_published,
                            &agents,
                            &state,
                            &operation_id,
                        ],
                    )
                    .await?;
                Ok(row.get(0))
            })
        })
    }

    fn save_operation_state(
        &self,
        id: EntryId,
        state: &OperationState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (text, operation_id) = operation_state_columns(state);
        let (text, operation_id) = (text.to_owned(), operation_id.map(str::to_owned));
        let ended = matches!(state, OperationState::Ended(_)).then_some(at);
        self.write(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE operations SET state = $2, operation_id = coalesce($3, operation_id),
                       ended_at = $4 WHERE id = $1",
                    &[&id, &text, &operation_id, &ended],
                )
                .await
                .map(|_| ())
            })
        })
    }

    fn unfinished_operations(
        &self,
        schedule_id: &ScheduleId,
    ) -> Result<Vec<(EntryId, Operation)>, StoreError> {
        let schedule = schedule_id.to_string();
        let rows = self.with(move |c| {
            Box::pin(async move {
                let query = format!(
                    "SELECT {OPERATION_COLUMNS} FROM operations
                     WHERE schedule_id = $1 AND state IN ({}) ORDER BY id",
                    unfinished_states()
                );
                c.query(&query, &[&schedule]).await
            })
        })?;
        rows.iter().map(|r| self.operation(r)).collect()
    }
}

impl PostgresStore {
    fn operation(&self, r: &Row) -> Result<(EntryId, Operation), StoreError> {
        RawOperation {
            id: r.get(0),
            schedule_id: r.get(1),
            upload_key: r.get(2),
            issued_at: r.get(3),
            schedule_version: r.get(4),
            sets_published: r.get(5),
            agents: r.get(6),
            state: r.get(7),
            operation_id: r.get(8),
        }
        .decode()
        .map_err(|m| self.corrupt(m))
    }
}

fn agents_query() -> String {
    format!("SELECT {AGENT_COLUMNS} FROM agents WHERE run_id = $1 ORDER BY agent_id")
}
