//! Counters of what the client did, for reports, benchmarks and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    pub masked_rate_limited: AtomicU64,
    pub locked: AtomicU64,
    pub token_requests: AtomicU64,
    pub token_failures: AtomicU64,
    pub stale_token_retries: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub masked_rate_limited: u64,
    pub locked: u64,
    pub token_requests: u64,
    pub token_failures: u64,
    pub stale_token_retries: u64,
    /// Times every worker was held because the platform said wait.
    pub gate_holds: u64,
}

impl ClientStats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: get(&self.requests),
            retries: get(&self.retries),
            rate_limited: get(&self.rate_limited),
            masked_rate_limited: get(&self.masked_rate_limited),
            locked: get(&self.locked),
            token_requests: get(&self.token_requests),
            token_failures: get(&self.token_failures),
            stale_token_retries: get(&self.stale_token_retries),
            gate_holds: 0,
        }
    }
}
