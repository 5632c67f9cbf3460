//! A run under way: writing and publishing as the platform publishes,
//! listing swaps meanwhile, waiting out the deferred agents until their
//! swaps are decided or the deadline passes.

use futures::stream::BoxStream;

use super::*;

impl Engine {
    pub(super) async fn drive(
        &self,
        ctx: &RunContext<'_>,
        ledger: &mut Ledger,
        published: &BTreeMap<AgentId, ContentHash>,
        listing: SwapsAhead,
        writer: Option<&dyn RunWriter>,
    ) -> Result<Outcome, Halt> {
        let cancel = &self.parts.cancel;
        let deadline = deferral_deadline(ctx.target, ctx.options.week);
        let mut unknown = UnknownAgents::default();
        let swaps = match listing.await {
            Ok(listed) => listed?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(Halt::Platform(PlatformError::Cancelled)),
        };
        apply_swaps(ledger, &swaps, ctx.target.time_zone)?;
        let Some(writer) = writer else {
            // A dry run: what would be sent, and nothing sent.
            ledger.skip_unchanged(published)?;
            return Ok(Outcome::Running);
        };
        let poll_interval = poll_interval(ctx);
        // Whether swaps were listed at or after the deadline. Past a cut-off
        // that passed before the run began, the only listing is the one
        // before the writes, and a swap decided while they went would be
        // blamed: one more listing first.
        let mut listed_past_deadline = false;
        loop {
            ledger.skip_unchanged(published)?;
            self.write_and_publish(ctx, writer, ledger, &mut unknown, poll_interval)
                .await?;
            let deferred = ledger.count(StateKind::Deferred);
            if cancel.is_cancelled() || (deferred > 0 && !ctx.options.wait) {
                return Ok(Outcome::Running);
            }
            if deferred == 0 {
                break;
            }
            let now = self.parts.clock.now();
            if now >= deadline && listed_past_deadline {
                give_up(ledger, deadline)?;
                break;
            }
            if now >= deadline {
                listed_past_deadline = true;
                self.poll_swaps(ctx, ledger).await?;
                continue;
            }
            let wait = (deadline - now)
                .to_std()
                .unwrap_or_default()
                .min(poll_interval);
            let next_poll = now + TimeDelta::from_std(wait).unwrap_or_default();
            ledger.phase(Phase::Swaps { next_poll });
            tokio::select! {
                _ = self.parts.clock.sleep(wait) => {}
                _ = cancel.cancelled() => return Ok(Outcome::Running),
            }
            self.poll_swaps(ctx, ledger).await?;
            listed_past_deadline = self.parts.clock.now() >= deadline;
        }
        Ok(if ledger.count(StateKind::Unpublished) > 0 {
            Outcome::Partial
        } else {
            Outcome::Success
        })
    }

    async fn poll_swaps(&self, ctx: &RunContext<'_>, ledger: &mut Ledger) -> Result<(), Halt> {
        let swaps = ctx.platform.swaps().await?;
        apply_swaps(ledger, &swaps, ctx.target.time_zone)
    }

    /// Writes the planned agents and publishes the written ones, as the
    /// platform publishes: a batch as soon as one is written, while later
    /// agents are still being written (the platform's client holds those
    /// writes while the schedule is locked by the publish); or, for a
    /// whole-schedule publish, once every agent not deferred is written.
    /// One publish at a time; each agent's state is recorded before
    /// anything that depends on it is sent. Swaps are listed every `poll`
    /// meanwhile: agents a decision releases are written at once, beside
    /// the writes under way. A run that halts still records what the
    /// platform had answered by then ([`InFlight::settle`]).
    async fn write_and_publish(
        &self,
        ctx: &RunContext<'_>,
        writer: &dyn RunWriter,
        ledger: &mut Ledger,
        unknown: &mut UnknownAgents,
        poll: Duration,
    ) -> Result<(), Halt> {
        let mut air = InFlight {
            writes: None,
            publishes: None,
            stop: self.parts.cancel.child_token(),
        };
        let sent = self
            .send_and_record(ctx, writer, ledger, unknown, poll, &mut air)
            .await;
        if sent.is_err() {
            air.settle(ledger).await;
        }
        sent
    }

    async fn send_and_record<'w>(
        &self,
        ctx: &RunContext<'_>,
        writer: &'w dyn RunWriter,
        ledger: &mut Ledger,
        unknown: &mut UnknownAgents,
        poll: Duration,
        air: &mut InFlight<'w>,
    ) -> Result<(), Halt> {
        let cancel = &self.parts.cancel;
        let todo = planned(ledger);
        let mut sent: BTreeSet<AgentId> = todo.iter().map(|o| o.agent_id.clone()).collect();
        if !todo.is_empty() {
            ledger.phase(Phase::Writing);
            air.writes = Some(writer.write(todo, air.stop.clone()));
        }
        let mut tick = self.parts.clock.sleep(poll);
        loop {
            if air.publishes.is_none() && !cancel.is_cancelled() {
                let writing = air.writes.is_some();
                if let Some(agents) = next_publish(ledger, writer.publishing(), writing) {
                    if !writing {
                        ledger.phase(Phase::Publishing);
                    }
                    air.publishes = Some(writer.publish(agents, air.stop.clone()));
                }
            }
            if air.writes.is_none() && air.publishes.is_none() {
                return Ok(());
            }
            let polling = air.writes.is_some()
                && ctx.options.wait
                && !cancel.is_cancelled()
                && ledger.count(StateKind::Deferred) > 0;
            tokio::select! {
                w = next_of(&mut air.writes), if air.writes.is_some() => match w {
                    Some(w) => {
                        let (agent, outcome) = w?;
                        let stop = unknown.record(&agent, &outcome, &ctx.target.name, &ctx.schedule.id);
                        record_write(ledger, (agent, outcome))?;
                        if let Some(refusal) = stop {
                            return Err(Halt::Refused(refusal));
                        }
                    }
                    None => air.writes = None,
                },
                p = next_of(&mut air.publishes), if air.publishes.is_some() => match p {
                    Some(batch) => record_publish(ledger, batch?)?,
                    None => air.publishes = None,
                },
                _ = &mut tick, if polling => {
                    tick = self.parts.clock.sleep(poll);
                    let swaps = ctx.platform.swaps().await?;
                    apply_swaps_while_writing(ledger, &swaps, ctx.target.time_zone)?;
                    let released: Vec<Outgoing> = planned(ledger)
                        .into_iter()
                        .filter(|o| sent.insert(o.agent_id.clone()))
                        .collect();
                    if !released.is_empty() {
                        let more = writer.write(released, air.stop.clone());
                        air.writes = air.writes.take().map(|w| futures::stream::select(w, more).boxed());
                    }
                }
            }
        }
    }
}

type Answers<'w, T> = BoxStream<'w, Result<T, PlatformError>>;

/// A run's calls under way: its writes, its publish, and the token that
/// stops them being sent.
struct InFlight<'w> {
    writes: Option<Answers<'w, (AgentId, WriteOutcome)>>,
    publishes: Option<Answers<'w, PublishBatch>>,
    stop: CancellationToken,
}

/// How long a run that halts waits for the answers to the calls it had
/// sent: they are on their way, or in retries the halt does not stop.
const SETTLE: Duration = Duration::from_secs(2);

/// An answer to one of the calls in the air.
enum Answer {
    Write(Result<(AgentId, WriteOutcome), PlatformError>),
    Publish(Result<PublishBatch, PlatformError>),
}

impl InFlight<'_> {
    /// A run halts at the first failure it meets, while other calls are
    /// still under way and some are answered already, their answers not
    /// yet taken: those are recorded, and those on their way are waited
    /// for ([`SETTLE`] at most), so that the run that retries the week
    /// does not send them again. Nothing more is sent. Taking only the
    /// answers already in, a loaded machine's run lost those its tasks had
    /// not yet read (14 agents written twice, once in CI); a call still
    /// in the air after the wait is dropped (a write sent again replaces
    /// the week with the same one).
    async fn settle(&mut self, ledger: &mut Ledger) {
        self.stop.cancel();
        let writes = self.writes.take().map(|w| w.map(Answer::Write).boxed());
        let publishes = self
            .publishes
            .take()
            .map(|p| p.map(Answer::Publish).boxed());
        let mut answers = futures::stream::select_all(writes.into_iter().chain(publishes));
        let recorded = tokio::time::timeout(SETTLE, async {
            while let Some(answer) = answers.next().await {
                match answer {
                    Answer::Write(Ok(write)) => record_write(ledger, write)?,
                    Answer::Publish(Ok(batch)) => record_publish(ledger, batch)?,
                    Answer::Write(Err(_)) | Answer::Publish(Err(_)) => {}
                }
            }
            Ok::<(), LedgerError>(())
        })
        .await;
        if let Ok(Err(e)) = recorded {
            tracing::warn!(error = %e, "answers the platform gave before the run halted could not be recorded");
        }
    }
}

/// The planned agents' weeks, to write, in an order spread over the ids
/// (see [`spread`]).
fn planned(ledger: &Ledger) -> Vec<Outgoing> {
    let mut todo: Vec<Outgoing> = ledger
        .ids(StateKind::Planned)
        .into_iter()
        .filter_map(|agent_id| {
            let week = ledger.get(&agent_id)?.week.clone();
            Some(Outgoing { agent_id, week })
        })
        .collect();
    todo.sort_by(|a, b| spread(&a.agent_id).cmp(&spread(&b.agent_id)));
    todo
}

/// A key that orders ids as if at random, the same way every time: the
/// first answers are then a fair sample of the week, so that the share of
/// unknown agents among them (`unknown.rs`) is the whole file's, not that
/// of ids that sort first (new hires with a prefix of their own, say).
fn spread(agent_id: &AgentId) -> (u64, &AgentId) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    agent_id.hash(&mut h);
    (h.finish(), agent_id)
}

/// The agents the next publish takes, if it is time for one: a full batch
/// while writes go on, whatever is written once they are over.
fn next_publish(ledger: &Ledger, publishing: Publishing, writing: bool) -> Option<Vec<AgentId>> {
    let written = ledger.count(StateKind::Written);
    match publishing {
        _ if written == 0 => None,
        Publishing::Incremental { batch } if writing => (written >= batch).then(|| {
            ledger
                .ids(StateKind::Written)
                .into_iter()
                .take(batch)
                .collect()
        }),
        Publishing::WholeSchedule if writing => None,
        _ => Some(ledger.ids(StateKind::Written)),
    }
}

/// The next item of a stream that may be over already.
async fn next_of<S: futures::Stream + Unpin>(stream: &mut Option<S>) -> Option<S::Item> {
    match stream {
        Some(s) => s.next().await,
        None => None,
    }
}

fn record_write(
    ledger: &mut Ledger,
    (agent, outcome): (AgentId, WriteOutcome),
) -> Result<(), LedgerError> {
    let event = match outcome {
        WriteOutcome::Written => Event::Written,
        WriteOutcome::Held { swap_id } => Event::Held { swap_id },
        WriteOutcome::Refused(why) => {
            // Per agent at DEBUG: the bar counts them, the report groups
            // them by cause with the platform's words for each.
            tracing::debug!(%agent, error = %why, "agent's week refused");
            Event::Refused(why)
        }
    };
    ledger.apply(vec![(agent, event)])?;
    Ok(())
}

fn record_publish(ledger: &mut Ledger, batch: PublishBatch) -> Result<(), LedgerError> {
    metrics::counter!("wfm_agents_published_total").increment(batch.published.len() as u64);
    let events = batch
        .published
        .into_iter()
        .map(|a| (a, Event::Published))
        .chain(
            batch
                .held
                .into_iter()
                .map(|h| (h.agent, Event::Held { swap_id: h.swap })),
        )
        .chain(
            batch
                .refused
                .into_iter()
                .map(|(a, why)| (a, Event::Refused(why))),
        )
        .collect();
    ledger.apply(events)?;
    Ok(())
}

/// How often a run lists swaps: the target's `deferral.poll_interval`, or
/// the platform's floor where the interval is faster than its limits allow
/// (said once a run).
fn poll_interval(ctx: &RunContext<'_>) -> Duration {
    let configured = ctx.target.deferral.poll_interval;
    let floor = ctx.platform.poll_floor();
    if configured < floor {
        tracing::warn!(target = %ctx.target.name, configured = %humantime::format_duration(configured), polling_every = %humantime::format_duration(floor), "deferral.poll_interval is faster than the platform's shift-trade query budget allows (rate_limits.trade_jobs): polling at the budget's pace");
    }
    configured.max(floor)
}

#[cfg(test)]
mod tests {
    use super::spread;
    use crate::domain::AgentId;

    #[test]
    fn writes_go_in_an_order_spread_over_the_ids() {
        // 25 ids that sort first among 1,000: written first, they would
        // be 25 unknown agents in a row and stop the run.
        let mut ids: Vec<AgentId> = (0..25).map(|i| format!("aaa-{i:02}").into()).collect();
        ids.extend((0..975).map(|i| format!("emp-{i:04}").into()));
        ids.sort_by(|a, b| spread(a).cmp(&spread(b)));
        let early = ids[..200]
            .iter()
            .filter(|id| id.as_str().starts_with("aaa-"))
            .count();
        assert!(
            early < 20,
            "{early} of the first 200 writes are the 25 ids that sort first"
        );
        let mut again = ids.clone();
        again.sort_by(|a, b| spread(a).cmp(&spread(b)));
        assert_eq!(ids, again, "the same order every time");
    }
}
