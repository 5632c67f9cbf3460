//! The simulated platform's state and rules, free of HTTP: every method takes
//! the server's "now" and answers with data or an [`ApiError`].

mod cursor;
mod oauth;

use cursor::{decode_cursor, encode_cursor};

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use super::limits::{secs_until, Counter};
use super::record::{ExpiredUse, ForbiddenCause, PublishEvent, Record, SwapViolation};
use super::scenario::{self, Scenario};
use super::wire::{Shift, SwapEntity, SwapParty, SwapStatus};
use wfm_clock::delta;

pub const KNOWN_SCOPES: [&str; 4] = [
    "wfm:schedule:read",
    "wfm:schedule:write",
    "wfm:admin",
    "org:read",
];

/// How an `/api/v2` or token call failed, before it is put on the wire.
#[derive(Debug, Clone)]
pub enum ApiError {
    Unauthorized,
    Forbidden(ForbiddenCause),
    NotFound(String),
    Invalid {
        code: &'static str,
        message: String,
        details: Vec<String>,
    },
    Locked {
        retry_after: u64,
    },
    RateLimited {
        retry_after: u64,
    },
    Unavailable {
        status: u16,
        retry_after: Option<u64>,
    },
    OAuth {
        status: u16,
        error: &'static str,
        description: String,
    },
}

impl ApiError {
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code: "invalid_request",
            message: message.into(),
            details: Vec::new(),
        }
    }

    fn oauth(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        ApiError::OAuth {
            status,
            error,
            description: description.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketKind {
    Default,
    Publish,
}

/// The rate-limit headers for the bucket a call used.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    pub org_id: String,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(ForbiddenCause::MissingScope(
                scope.to_owned(),
            )))
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    client_id: String,
    scopes: Vec<String>,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
struct Lock {
    busy: bool,
    until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct SwapState {
    def: scenario::Swap,
    status: SwapStatus,
    updated: DateTime<Utc>,
    /// When and into what it resolves, unless a test resolves it first.
    resolves: Option<(DateTime<Utc>, SwapStatus)>,
}

#[derive(Debug)]
pub struct Platform {
    pub scenario: Scenario,
    pub started: DateTime<Utc>,
    pub record: Record,
    rosters: HashMap<String, Vec<String>>,
    tokens: HashMap<String, Token>,
    windows: HashMap<(String, BucketKind), Counter>,
    locks: HashMap<String, Lock>,
    versions: HashMap<String, u64>,
    swaps: Vec<SwapState>,
    pub rng: fastrand::Rng,
}

impl Platform {
    pub fn new(scenario: Scenario, started: DateTime<Utc>) -> Self {
        let rosters = scenario
            .schedules
            .iter()
            .map(|s| (s.id.clone(), s.roster()))
            .collect();
        let versions = scenario
            .schedules
            .iter()
            .map(|s| (s.id.clone(), 1))
            .collect();
        let swaps = scenario
            .swaps
            .iter()
            .map(|def| SwapState {
                status: def.status,
                updated: started - TimeDelta::days(1),
                resolves: def
                    .resolve_after
                    .zip(def.resolution)
                    .map(|(after, into)| (started + delta(after), into)),
                def: def.clone(),
            })
            .collect();
        Platform {
            rng: fastrand::Rng::with_seed(scenario.server.seed),
            scenario,
            started,
            record: Record::default(),
            rosters,
            tokens: HashMap::new(),
            windows: HashMap::new(),
            locks: HashMap::new(),
            versions,
            swaps,
        }
    }

    /// Moves every swap whose time has come to its resolution.
    fn advance(&mut self, now: DateTime<Utc>) {
        for s in &mut self.swaps {
            if let Some((at, into)) = s.resolves {
                if now >= at {
                    s.status = into;
                    s.updated = at;
                    s.resolves = None;
                }
            }
        }
    }

    pub fn resolve_swap(&mut self, id: &str, into: SwapStatus, now: DateTime<Utc>) -> bool {
        match self.swaps.iter_mut().find(|s| s.def.id == id) {
            Some(s) => {
                s.status = into;
                s.updated = now;
                s.resolves = None;
                true
            }
            None => false,
        }
    }

    /// Revokes every token issued so far, as a platform may at any time.
    pub fn revoke_tokens(&mut self) {
        self.tokens.clear();
    }

    /// Takes one call from the client's bucket, or says how long to wait.
    pub fn take(
        &mut self,
        client_id: &str,
        kind: BucketKind,
        now: DateTime<Utc>,
    ) -> Result<RateInfo, (ApiError, RateInfo)> {
        let bucket = match kind {
            BucketKind::Default => self.scenario.rate_limits.default,
            BucketKind::Publish => self.scenario.rate_limits.publish,
        };
        let taken = self
            .windows
            .entry((client_id.to_owned(), kind))
            .or_insert_with(|| Counter::new(bucket.kind, bucket.limit, now))
            .take(&bucket, now);
        let info = RateInfo {
            limit: bucket.limit,
            remaining: taken.remaining,
            reset_secs: taken.reset_secs,
        };
        if taken.accepted {
            let counted = match kind {
                BucketKind::Default => &mut self.record.counted.default,
                BucketKind::Publish => &mut self.record.counted.publish,
            };
            counted.push(now);
            return Ok(info);
        }
        self.record.over_limit += 1;
        let err = if self.scenario.server.forbidden_for_rate_limit {
            ApiError::Forbidden(ForbiddenCause::MaskedRateLimit)
        } else {
            ApiError::RateLimited {
                retry_after: taken.retry_after_secs,
            }
        };
        Err((err, info))
    }

    // --- Endpoints ---------------------------------------------------------

    pub fn organization(&self, caller: &Caller) -> Result<Value, ApiError> {
        caller.require("org:read")?;
        let org = self
            .scenario
            .organizations
            .iter()
            .find(|o| o.id == caller.org_id)
            .ok_or_else(|| ApiError::NotFound("organization".into()))?;
        Ok(json!({"id": org.id, "name": org.name}))
    }

    pub fn templates(&self, caller: &Caller) -> Result<Value, ApiError> {
        caller.require("wfm:schedule:read")?;
        let entities: Vec<Value> = self
            .scenario
            .templates
            .iter()
            .filter(|t| t.org_id == caller.org_id)
            .map(|t| json!({"id": t.id, "name": t.name}))
            .collect();
        Ok(json!({ "entities": entities }))
    }

    fn schedule(&self, caller: &Caller, id: &str) -> Result<&scenario::Schedule, ApiError> {
        let schedule = self
            .scenario
            .schedules
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ApiError::NotFound(format!("schedule {id}")))?;
        if schedule.org_id != caller.org_id {
            return Err(ApiError::Forbidden(ForbiddenCause::WrongOrganization));
        }
        Ok(schedule)
    }

    pub fn get_schedule(&self, caller: &Caller, id: &str) -> Result<Value, ApiError> {
        caller.require("wfm:schedule:read")?;
        let s = self.schedule(caller, id)?;
        let published = s.published || self.record.published.keys().any(|(sid, _)| sid == id);
        Ok(json!({
            "id": s.id,
            "orgId": s.org_id,
            "weekStart": s.week_start,
            "timeZone": s.time_zone.name(),
            "state": if published { "published" } else { "draft" },
            "version": self.versions.get(id).copied().unwrap_or(1),
        }))
    }

    fn entity(s: &SwapState) -> SwapEntity {
        SwapEntity {
            id: s.def.id.clone(),
            schedule_id: s.def.schedule_id.clone(),
            status: s.status,
            requester: SwapParty {
                agent_id: s.def.requester.agent_id.clone(),
                shift: s.def.requester.shift.clone(),
            },
            recipient: SwapParty {
                agent_id: s.def.recipient.agent_id.clone(),
                shift: s.def.recipient.shift.clone(),
            },
            updated_at: s.updated,
        }
    }

    pub fn list_swaps(
        &mut self,
        caller: &Caller,
        query: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        caller.require("wfm:schedule:read")?;
        let schedule_id = query
            .get("scheduleId")
            .ok_or_else(|| ApiError::invalid_request("scheduleId is required"))?;
        self.schedule(caller, schedule_id)?;
        let status = match query.get("status") {
            None => None,
            Some(s) => Some(
                s.parse::<SwapStatus>()
                    .map_err(|_| ApiError::invalid_request(format!("unknown status {s:?}")))?,
            ),
        };
        let page_size = match query.get("pageSize") {
            None => 100,
            Some(p) => match p.parse::<usize>() {
                Ok(n @ 1..=100) => n,
                _ => {
                    return Err(ApiError::invalid_request(
                        "pageSize must be between 1 and 100",
                    ))
                }
            },
        };
        let start = match query.get("cursor") {
            None => 0,
            Some(c) => decode_cursor(c)
                .ok_or_else(|| ApiError::invalid_request(format!("bad cursor {c:?}")))?,
        };
        self.advance(now);
        let matching: Vec<&SwapState> = self
            .swaps
            .iter()
            .filter(|s| &s.def.schedule_id == schedule_id)
            .filter(|s| status.is_none_or(|want| s.status == want))
            .collect();
        let page: Vec<SwapEntity> = matching
            .iter()
            .skip(start)
            .take(page_size)
            .map(|s| Self::entity(s))
            .collect();
        let next = start + page.len();
        let next_cursor = (next < matching.len()).then(|| encode_cursor(next));
        Ok(json!({"entities": page, "nextCursor": next_cursor}))
    }

    pub fn get_swap(
        &mut self,
        caller: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        caller.require("wfm:schedule:read")?;
        self.advance(now);
        let swap = self
            .swaps
            .iter()
            .find(|s| s.def.id == id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("shift swap {id}")))?;
        self.schedule(caller, &swap.def.schedule_id)?;
        Ok(serde_json::to_value(Self::entity(&swap)).expect("swap entities serialize"))
    }

    fn pending_swap(&self, schedule_id: &str, agent_id: &str) -> Option<String> {
        self.swaps
            .iter()
            .find(|s| {
                s.status == SwapStatus::Pending
                    && s.def.schedule_id == schedule_id
                    && (s.def.requester.agent_id == agent_id
                        || s.def.recipient.agent_id == agent_id)
            })
            .map(|s| s.def.id.clone())
    }

    fn refuse_if_pending(
        &mut self,
        schedule_id: &str,
        agent_id: &str,
        operation: &'static str,
    ) -> Result<(), ApiError> {
        match self.pending_swap(schedule_id, agent_id) {
            Some(swap_id) => {
                self.record.swap_violations.push(SwapViolation {
                    schedule_id: schedule_id.to_owned(),
                    agent_id: agent_id.to_owned(),
                    swap_id: swap_id.clone(),
                    operation,
                });
                Err(ApiError::Forbidden(ForbiddenCause::PendingSwap(swap_id)))
            }
            None => Ok(()),
        }
    }

    fn lock_wait(&self, schedule_id: &str, now: DateTime<Utc>) -> Option<u64> {
        let lock = self.locks.get(schedule_id)?;
        if lock.busy {
            let server = &self.scenario.server;
            return Some(secs_until(
                now,
                now + delta(server.publish_duration + server.publish_lock),
            ));
        }
        lock.until.filter(|u| *u > now).map(|u| secs_until(now, u))
    }

    pub fn write_agent(
        &mut self,
        caller: &Caller,
        agent_id: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        caller.require("wfm:schedule:write")?;
        let week: super::wire::AgentWeek = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid_request(format!("malformed body: {e}")))?;
        let schedule = self.schedule(caller, &week.schedule_id)?.clone();
        if !self.rosters[&schedule.id].iter().any(|a| a == agent_id) {
            return Err(ApiError::NotFound(format!("agent {agent_id}")));
        }
        self.advance(now);
        self.refuse_if_pending(&schedule.id, agent_id, "write")?;
        if let Some(retry_after) = self.lock_wait(&schedule.id, now) {
            return Err(ApiError::Locked { retry_after });
        }
        let details = invalid_shifts(&schedule, &week.shifts);
        if !details.is_empty() {
            return Err(ApiError::Invalid {
                code: "invalid_shift",
                message: format!("{} shift problem(s)", details.len()),
                details,
            });
        }
        let key = (schedule.id.clone(), agent_id.to_owned());
        self.record.holdings.insert(key.clone(), week.shifts);
        *self.record.writes.entry(key).or_default() += 1;
        let version = self.bump(&schedule.id);
        Ok(json!({"agentId": agent_id, "scheduleId": schedule.id, "version": version}))
    }

    fn bump(&mut self, schedule_id: &str) -> u64 {
        let v = self.versions.entry(schedule_id.to_owned()).or_insert(1);
        *v += 1;
        *v
    }

    /// First half of a publish: checks it and takes the schedule's lock.
    pub fn begin_publish(
        &mut self,
        caller: &Caller,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<super::wire::PublishRequest, ApiError> {
        caller.require("wfm:admin")?;
        let request: super::wire::PublishRequest = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid_request(format!("malformed body: {e}")))?;
        if request.agent_ids.len() > 500 {
            return Err(ApiError::invalid_request(format!(
                "at most 500 agentIds a call, got {}",
                request.agent_ids.len()
            )));
        }
        let schedule_id = self.schedule(caller, &request.schedule_id)?.id.clone();
        let roster = &self.rosters[&schedule_id];
        let unknown: Vec<String> = request
            .agent_ids
            .iter()
            .filter(|a| !roster.contains(a))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::NotFound(format!("agents {}", unknown.join(", "))));
        }
        self.advance(now);
        for agent in &request.agent_ids {
            self.refuse_if_pending(&schedule_id, agent, "publish")?;
        }
        if let Some(retry_after) = self.lock_wait(&schedule_id, now) {
            if self.locks.get(&schedule_id).is_some_and(|l| l.busy) {
                self.record.publish_conflicts += 1;
            }
            return Err(ApiError::Locked { retry_after });
        }
        self.locks.entry(schedule_id).or_default().busy = true;
        Ok(request)
    }

    /// Second half: commits what the agents hold and keeps the lock a while.
    pub fn finish_publish(
        &mut self,
        request: &super::wire::PublishRequest,
        now: DateTime<Utc>,
    ) -> Value {
        let id = &request.schedule_id;
        for agent in &request.agent_ids {
            let key = (id.clone(), agent.clone());
            let shifts = self.record.holdings.get(&key).cloned().unwrap_or_default();
            self.record.publish_events.push(PublishEvent {
                at: now,
                schedule_id: id.clone(),
                agent_id: agent.clone(),
                shifts: shifts.clone(),
            });
            self.record.published.insert(key, shifts);
        }
        let lock_for = delta(self.scenario.server.publish_lock);
        let lock = self.locks.entry(id.clone()).or_default();
        lock.busy = false;
        lock.until = Some(now + lock_for);
        let version = self.bump(id);
        json!({"scheduleId": id, "publishedAgentIds": request.agent_ids, "version": version})
    }
}

/// The platform's 400 `invalid_shift` details for an agent's week.
fn invalid_shifts(schedule: &scenario::Schedule, shifts: &[Shift]) -> Vec<String> {
    let tz = schedule.time_zone;
    let local_midnight = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    let begin = local_midnight(schedule.week_start);
    let end = local_midnight(schedule.week_start + TimeDelta::days(7));
    let mut details = Vec::new();
    for (i, s) in shifts.iter().enumerate() {
        if s.end_time <= s.start_time {
            details.push(format!("shifts[{i}]: endTime is not after startTime"));
        }
        if let (Some(begin), Some(end)) = (begin, end) {
            if s.start_time < begin || s.start_time >= end {
                details.push(format!(
                    "shifts[{i}]: starts at {} outside the schedule's week {begin} .. {end}",
                    s.start_time
                ));
            }
        }
    }
    let mut order: Vec<usize> = (0..shifts.len()).collect();
    order.sort_by_key(|&i| shifts[i].start_time);
    for pair in order.windows(2) {
        let (a, b) = (&shifts[pair[0]], &shifts[pair[1]]);
        if b.start_time < a.end_time {
            details.push(format!("shifts[{}] overlaps shifts[{}]", pair[1], pair[0]));
        }
    }
    details
}

/// Swaps by id, for a test that wants to look at what the platform holds.
pub type SwapStatuses = BTreeMap<String, SwapStatus>;

impl Platform {
    pub fn swap_statuses(&mut self, now: DateTime<Utc>) -> SwapStatuses {
        self.advance(now);
        self.swaps
            .iter()
            .map(|s| (s.def.id.clone(), s.status))
            .collect()
    }
}
