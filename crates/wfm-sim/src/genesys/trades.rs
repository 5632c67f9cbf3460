//! Shift trades: states that move along each trade's timeline, approvals
//! that rewrite both agents' schedules (or fail with a documented
//! `failureReason`), and the routes that read them — BU query jobs (`200`
//! inline or `202` then poll, 5 a minute) and the legacy MU route until its
//! shutdown date.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::Caller;
use super::errors::{GError, TRADE_JOB_LIMIT};
use super::model::{self, Schedule};
use super::record::{TradeFailure, TradeMove};
use super::scenario::{self, Scenario, TradeState};
use super::state::State;
use wfm_clock::delta;

pub const TRADE_VIEW: [&str; 2] = ["wfm:shiftTradeRequest:view", "wfm:shiftTradeRequest:edit"];

type Span = (DateTime<Utc>, DateTime<Utc>);

#[derive(Debug, Clone)]
pub struct Trade {
    pub def: scenario::Trade,
    pub state: TradeState,
    pub bu: String,
    pub week: NaiveDate,
    /// Later states still to come, in time order.
    pub steps: Vec<(DateTime<Utc>, TradeState)>,
    pub updated: DateTime<Utc>,
    pub version: u64,
    pub initiating_span: Span,
    pub receiving_span: Option<Span>,
}

impl Trade {
    pub fn involves(&self, user: &str) -> bool {
        self.def.initiating_user == user || self.def.receiving_user.as_deref() == Some(user)
    }
}

/// A `202` trade query job, readable only by the client that started it.
#[derive(Debug, Clone)]
pub struct Job {
    pub owner: String,
    pub bu: String,
    pub ready: DateTime<Utc>,
    pub request: TradeQuery,
    pub result: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TradeQuery {
    management_unit_ids: Vec<String>,
    week_dates: Vec<NaiveDate>,
    user_ids: Vec<String>,
}

fn shift_span(schedules: &[Schedule], sid: &str, user: &str, shift: &str) -> Option<Span> {
    let s = schedules.iter().find(|s| s.id == sid)?;
    let sh = s.agents.get(user)?.shifts.iter().find(|x| x.id == shift)?;
    Some((sh.start_date, sh.end()))
}

/// The scenario's trades, with the shifts they name looked up.
pub fn initial(s: &Scenario, schedules: &[Schedule], started: DateTime<Utc>) -> Vec<Trade> {
    s.trades
        .iter()
        .map(|def| {
            let sched = schedules
                .iter()
                .find(|x| x.id == def.schedule)
                .expect("checked");
            let receiving_span = def
                .receiving_user
                .as_ref()
                .zip(def.receiving_shift.as_ref());
            Trade {
                state: def.state,
                bu: sched.bu.clone(),
                week: sched.week_date,
                steps: def
                    .timeline
                    .iter()
                    .map(|st| (started + delta(st.after), st.state))
                    .collect(),
                updated: started - chrono::TimeDelta::hours(1),
                version: 1,
                initiating_span: shift_span(
                    schedules,
                    &def.schedule,
                    &def.initiating_user,
                    &def.initiating_shift,
                )
                .expect("checked"),
                receiving_span: receiving_span
                    .and_then(|(u, sh)| shift_span(schedules, &def.schedule, u, sh)),
                def: def.clone(),
            }
        })
        .collect()
}

/// Trades must name a schedule, and shifts their users hold in it.
pub fn check_scenario(s: &Scenario) -> Result<(), (String, String)> {
    let schedules = model::initial_schedules(s, chrono::DateTime::UNIX_EPOCH);
    for (i, t) in s.trades.iter().enumerate() {
        let bad = |key: &str, m: String| Err((format!("trades[{i}].{key}"), m));
        if !schedules.iter().any(|x| x.id == t.schedule) {
            return bad("schedule", format!("no schedule {:?}", t.schedule));
        }
        if shift_span(
            &schedules,
            &t.schedule,
            &t.initiating_user,
            &t.initiating_shift,
        )
        .is_none()
        {
            return bad(
                "initiating_shift",
                format!(
                    "{} holds no shift {:?}",
                    t.initiating_user, t.initiating_shift
                ),
            );
        }
        match (&t.receiving_user, &t.receiving_shift) {
            (None, Some(_)) => return bad("receiving_shift", "needs a receiving_user".into()),
            (Some(u), Some(sh)) if shift_span(&schedules, &t.schedule, u, sh).is_none() => {
                return bad("receiving_shift", format!("{u} holds no shift {sh:?}"))
            }
            _ => {}
        }
        let needs_partner = t.state == TradeState::Matched
            || t.timeline.iter().any(|st| st.state == TradeState::Matched);
        if needs_partner && t.receiving_user.is_none() {
            return bad(
                "receiving_user",
                "a trade that gets Matched needs a partner".into(),
            );
        }
        if t.timeline.windows(2).any(|w| w[1].after < w[0].after) {
            return bad("timeline", "steps must be in time order".into());
        }
    }
    Ok(())
}

fn allowed(from: TradeState, to: TradeState) -> bool {
    use TradeState::*;
    matches!(
        (from, to),
        (Unmatched, Matched | Expired | Canceled | Denied)
            | (Matched, Approved | Denied | Expired | Canceled)
    )
}

impl State {
    /// Moves every trade along its timeline and past its expiration.
    pub fn advance_trades(&mut self, now: DateTime<Utc>) {
        for i in 0..self.trades.len() {
            while let Some(&(at, into)) = self.trades[i].steps.first().filter(|(at, _)| *at <= now)
            {
                self.trades[i].steps.remove(0);
                self.move_trade(i, into, at);
            }
            let t = &self.trades[i];
            let open = matches!(t.state, TradeState::Unmatched | TradeState::Matched);
            if open && now >= t.def.expiration {
                let at = t.def.expiration;
                self.move_trade(i, TradeState::Expired, at);
            }
        }
    }

    /// Moves trade `i` into `into` at `at`, approving it on the schedule.
    pub fn move_trade(&mut self, i: usize, into: TradeState, at: DateTime<Utc>) {
        let from = self.trades[i].state;
        let failure = if !allowed(from, into) {
            Some("TransitionNotAllowed")
        } else if into == TradeState::Approved {
            self.approve(i, at).err()
        } else {
            None
        };
        if let Some(reason) = failure {
            let trade_id = self.trades[i].def.id.clone();
            self.record.trade_failures.push(TradeFailure {
                trade_id,
                failure_reason: reason,
            });
            return;
        }
        let t = &mut self.trades[i];
        t.state = into;
        t.updated = at;
        t.version += 1;
        let moved = TradeMove {
            trade_id: t.def.id.clone(),
            from,
            to: into,
            at,
        };
        self.record.trade_moves.push(moved);
    }

    /// Applies an approved trade to the week's published schedule: each
    /// shift moves to the other agent under a new id; both agents' and the
    /// schedule's versions go up.
    fn approve(&mut self, i: usize, at: DateTime<Utc>) -> Result<(), &'static str> {
        let t = self.trades[i].clone();
        let s = self
            .schedules
            .iter()
            .position(|s| s.bu == t.bu && s.published && s.spans(t.week))
            .ok_or("ScheduleNotPublished")?;
        let receiver = t
            .def
            .receiving_user
            .clone()
            .ok_or("ReceivingAgentScheduleNotFound")?;
        let agents = &self.schedules[s].agents;
        let from_a = agents
            .get(&t.def.initiating_user)
            .ok_or("InitiatingAgentScheduleNotFound")?;
        let from_b = agents
            .get(&receiver)
            .ok_or("ReceivingAgentScheduleNotFound")?;
        let (mut a, mut b) = (from_a.clone(), from_b.clone());
        let ia = a.shifts.iter().position(|x| x.id == t.def.initiating_shift);
        let mut given = a.shifts.remove(ia.ok_or("InitiatingAgentShiftNotFound")?);
        if let Some(rs) = &t.def.receiving_shift {
            let ib = b.shifts.iter().position(|x| &x.id == rs);
            let mut back = b.shifts.remove(ib.ok_or("ReceivingAgentShiftNotFound")?);
            back.id = self.new_id("shift");
            a.shifts.push(back);
        }
        given.id = self.new_id("shift");
        b.shifts.push(given);
        a.version += 1;
        b.version += 1;
        let sched = &mut self.schedules[s];
        sched.agents.insert(t.def.initiating_user.clone(), a);
        sched.agents.insert(receiver, b);
        sched.version += 1;
        sched.modified = at;
        sched.modified_by = "System".into();
        Ok(())
    }

    fn trade_entity(&self, t: &Trade) -> Value {
        let mu = |u: &str| self.user(u).map(|x| x.management_unit.clone());
        let shift = |id: &str, (start, end): Span| json!({"id": id, "startDate": start, "endDate": end, "weekDate": t.week});
        let partnered = t.state != TradeState::Unmatched;
        let receiving = t
            .def
            .receiving_user
            .as_ref()
            .filter(|_| partnered)
            .map(|u| {
                let sh = t
                    .def
                    .receiving_shift
                    .as_deref()
                    .zip(t.receiving_span)
                    .map(|(id, sp)| shift(id, sp));
                json!({"user": {"id": u}, "managementUnit": {"id": mu(u)}, "shift": sh})
            });
        let reviewed = matches!(t.state, TradeState::Approved | TradeState::Denied);
        json!({
            "id": t.def.id,
            "state": t.state.name(),
            "expirationDate": t.def.expiration,
            "initiating": {
                "user": {"id": t.def.initiating_user},
                "managementUnit": {"id": mu(&t.def.initiating_user)},
                "schedule": {"id": t.def.schedule},
                "shift": shift(&t.def.initiating_shift, t.initiating_span),
            },
            "receiving": receiving,
            "target": t.def.receiving_user.as_ref().filter(|_| !partnered).map(|u| json!({"user": {"id": u}})),
            "oneSided": t.def.one_sided,
            "reviewedBy": reviewed.then(|| json!({"id": "System"})),
            "reviewedDate": reviewed.then_some(t.updated),
            "metadata": {"version": t.version, "dateModified": t.updated},
        })
    }

    fn matching_trades(&self, q: &TradeQuery) -> Vec<Value> {
        self.trades
            .iter()
            .filter(|t| q.week_dates.contains(&t.week))
            .filter(|t| {
                [Some(&t.def.initiating_user), t.def.receiving_user.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|u| {
                        q.user_ids.contains(u)
                            && self
                                .user(u)
                                .is_some_and(|x| q.management_unit_ids.contains(&x.management_unit))
                    })
            })
            .map(|t| self.trade_entity(t))
            .collect()
    }
}

impl State {
    /// `POST WFM/businessunits/{bu}/shifttrading/trades/query/jobs`:
    /// the status code and body.
    pub fn query_trades(
        &mut self,
        caller: &Caller,
        bu: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(u16, Value), GError> {
        let unit = self.visible_bu(caller, bu, &TRADE_VIEW)?;
        let bucket = self.scenario.rate_limits.trade_jobs;
        self.take(
            &caller.client_id,
            "trade-jobs",
            bucket,
            TRADE_JOB_LIMIT,
            now,
        )
        .map_err(|(e, _)| e)?;
        let q: TradeQuery = serde_json::from_slice(body)
            .map_err(|e| GError::bad_request(format!("malformed query: {e}")))?;
        if q.management_unit_ids.is_empty() || q.week_dates.is_empty() || q.user_ids.is_empty() {
            return Err(GError::invalid(
                "managementUnitIds, weekDates and userIds are all required",
            ));
        }
        for mu in &q.management_unit_ids {
            let m = self
                .management_unit(mu)
                .filter(|m| m.business_unit == bu)
                .ok_or_else(|| GError::invalid(format!("management unit {mu} is not in {bu}")))?;
            self.require_any(caller, &TRADE_VIEW, &m.division.clone())?;
        }
        for w in &q.week_dates {
            super::schedules::week_id(&unit, &w.to_string())?;
        }
        let id = self.new_id("trade-job");
        if self.roll(self.scenario.server.trade_job_async_rate) {
            let ready = now + delta(self.scenario.server.trade_job_delay);
            let job = Job {
                owner: caller.client_id.clone(),
                bu: bu.to_owned(),
                ready,
                request: q,
                result: None,
            };
            self.jobs.insert(id.clone(), job);
            return Ok((
                202,
                json!({"id": id, "status": "Processing", "type": "QueryTrades"}),
            ));
        }
        let result = json!({"entities": self.matching_trades(&q)});
        Ok((200, self.deliver_trades(&id, result)))
    }

    /// A completed trade job: its result inline, or behind a `downloadUrl`
    /// when it holds more than `inline_trade_limit` trades.
    fn deliver_trades(&mut self, id: &str, result: Value) -> Value {
        let count = result["entities"].as_array().map_or(0, Vec::len);
        if count <= self.scenario.server.inline_trade_limit {
            return json!({"id": id, "status": "Complete", "type": "QueryTrades", "queryTradesResult": result});
        }
        let key = self.new_id("dl");
        let url = format!("{}/downloads/{key}", self.base_url);
        self.downloads.insert(key, result);
        json!({"id": id, "status": "Complete", "type": "QueryTrades", "downloadUrl": url})
    }

    /// `GET …/trades/query/jobs/{jobId}`.
    pub fn trade_job(
        &mut self,
        caller: &Caller,
        bu: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, GError> {
        self.visible_bu(caller, bu, &TRADE_VIEW)?;
        let job = self
            .jobs
            .get(id)
            .filter(|j| j.owner == caller.client_id && j.bu == bu)
            .cloned()
            .ok_or_else(|| GError::NotFound(format!("trade query job {id}")))?;
        if now < job.ready {
            return Ok(json!({"id": id, "status": "Processing", "type": "QueryTrades"}));
        }
        // The result is taken once, when the job completes.
        let result = match job.result {
            Some(r) => r,
            None => json!({"entities": self.matching_trades(&job.request)}),
        };
        if let Some(j) = self.jobs.get_mut(id) {
            j.result = Some(result.clone());
        }
        Ok(self.deliver_trades(id, result))
    }

    /// `GET WFM/managementunits/{mu}/weeks/{weekDateId}/shifttrades`, gone
    /// from `legacy_trades_until` on.
    pub fn legacy_trades(
        &self,
        caller: &Caller,
        (mu, week): (&str, &str),
        now: DateTime<Utc>,
    ) -> Result<Value, GError> {
        if now.date_naive() >= self.scenario.server.legacy_trades_until {
            return Err(GError::NotFound("this deprecated route".into()));
        }
        let m = self
            .management_unit(mu)
            .ok_or_else(|| GError::NotFound(format!("management unit {mu}")))?
            .clone();
        self.require_any(caller, &TRADE_VIEW, &m.division)?;
        let week = super::schedules::week_id(self.business_unit(&m.business_unit)?, week)?;
        let entities: Vec<Value> = self
            .trades
            .iter()
            .filter(|t| t.week == week)
            .filter(|t| {
                self.user(&t.def.initiating_user)
                    .is_some_and(|u| u.management_unit == mu)
            })
            .map(|t| json!({"trade": legacy_trade(t), "matchReview": null}))
            .collect();
        Ok(json!({"entities": entities, "downloadUrl": null}))
    }
}

fn legacy_trade(t: &Trade) -> Value {
    let partnered = t.state != TradeState::Unmatched;
    let receiving = t.receiving_span.filter(|_| partnered);
    json!({
        "id": t.def.id,
        "weekDate": t.week,
        "schedule": {"id": t.def.schedule},
        "state": t.state.name(),
        "initiatingUser": {"id": t.def.initiating_user},
        "initiatingShiftId": t.def.initiating_shift,
        "initiatingShiftStart": t.initiating_span.0,
        "initiatingShiftEnd": t.initiating_span.1,
        "receivingUser": t.def.receiving_user.as_ref().filter(|_| partnered).map(|u| json!({"id": u})),
        "receivingShiftId": t.def.receiving_shift.as_ref().filter(|_| partnered),
        "receivingShiftStart": receiving.map(|r| r.0),
        "receivingShiftEnd": receiving.map(|r| r.1),
        "expiration": t.def.expiration,
        "oneSided": t.def.one_sided,
        "metadata": {"version": t.version, "dateModified": t.updated},
    })
}
