//! What the simulated platform saw and holds, for tests to check the
//! publisher against.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::wire::Shift;

/// Why the platform answered 403. The answer's body never says; the record
/// does, so tests can check that the publisher's diagnosis matches the truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForbiddenCause {
    MissingScope(String),
    WrongOrganization,
    PendingSwap(String),
    MaskedRateLimit,
    StaleToken,
    Unexplained,
}

#[derive(Debug, Clone)]
pub struct RequestEntry {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub client_id: Option<String>,
    pub forbidden: Option<ForbiddenCause>,
    /// `Retry-After`, or for a masked 429 `X-RateLimit-Reset`, in seconds.
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct ExpiredUse {
    pub path: String,
    pub expired_at: DateTime<Utc>,
    pub used_at: DateTime<Utc>,
}

/// A write or publish attempted for an agent while a swap involving it was
/// pending: the publisher should never make one.
#[derive(Debug, Clone)]
pub struct SwapViolation {
    pub schedule_id: String,
    pub agent_id: String,
    pub swap_id: String,
    pub operation: &'static str,
}

#[derive(Debug, Clone)]
pub struct PublishEvent {
    pub at: DateTime<Utc>,
    pub schedule_id: String,
    pub agent_id: String,
    pub shifts: Vec<Shift>,
}

pub type AgentKey = (String, String);

#[derive(Debug, Clone, Default)]
pub struct Record {
    pub requests: Vec<RequestEntry>,
    pub token_requests: usize,
    pub tokens_issued: usize,
    pub expired_token_uses: Vec<ExpiredUse>,
    /// Calls refused for a rate limit, as 429 or masked as 403.
    pub over_limit: usize,
    /// When each call a bucket accepted was counted, by bucket, in order.
    pub counted: Counted,
    pub swap_violations: Vec<SwapViolation>,
    pub peak_concurrency: usize,
    /// Accepted writes, per (schedule, agent).
    pub writes: BTreeMap<AgentKey, usize>,
    /// What each (schedule, agent) holds: its last accepted write.
    pub holdings: BTreeMap<AgentKey, Vec<Shift>>,
    /// What each (schedule, agent) has published: its holdings at its last publish.
    pub published: BTreeMap<AgentKey, Vec<Shift>>,
    pub publish_events: Vec<PublishEvent>,
    /// Publishes that arrived while another publish of the same schedule
    /// was running: a publisher should never send one.
    pub publish_conflicts: usize,
}

/// When the rate limiter counted each accepted call, per bucket.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    pub default: Vec<DateTime<Utc>>,
    pub publish: Vec<DateTime<Utc>>,
}

/// How near calls counted at `times` came to a limit of `limit` per
/// `window`: the shortest span holding `limit` + 1 of them, less the
/// window. A sliding window refuses exactly when this is negative; fixed
/// windows and token buckets of the same limit accept whatever it does.
/// `None` while fewer than `limit` + 1 calls were counted.
pub fn headroom(times: &[DateTime<Utc>], limit: usize, window: TimeDelta) -> Option<TimeDelta> {
    times
        .iter()
        .zip(times.iter().skip(limit))
        .map(|(first, last)| *last - *first - window)
        .min()
}

impl Record {
    pub fn count_status(&self, status: u16) -> usize {
        self.requests.iter().filter(|r| r.status == status).count()
    }

    pub fn forbidden_causes(&self) -> Vec<ForbiddenCause> {
        self.requests
            .iter()
            .filter_map(|r| r.forbidden.clone())
            .collect()
    }

    /// Agents published more than once with different content.
    pub fn republished_with_changes(&self) -> Vec<AgentKey> {
        let mut first: BTreeMap<AgentKey, &Vec<Shift>> = BTreeMap::new();
        let mut changed = Vec::new();
        for e in &self.publish_events {
            let key = (e.schedule_id.clone(), e.agent_id.clone());
            match first.get(&key) {
                Some(previous) if *previous != &e.shifts => changed.push(key),
                Some(_) => {}
                None => {
                    first.insert(key, &e.shifts);
                }
            }
        }
        changed.sort();
        changed.dedup();
        changed
    }
}
