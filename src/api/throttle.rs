//! Client-side rate limiting: a governor limiter per bucket, and one gate
//! that every worker of a client waits at when the platform says "wait".

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::clock::SharedClock;
use crate::config::RateLimit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Default,
    Publish,
}

pub struct Throttle {
    default: DefaultDirectRateLimiter,
    publish: DefaultDirectRateLimiter,
    /// Closed until this time, for every bucket of the client.
    gate: Mutex<Option<DateTime<Utc>>>,
    clock: SharedClock,
    waits: AtomicU64,
}

fn limiter(rate: &RateLimit) -> DefaultDirectRateLimiter {
    let one = NonZeroU32::MIN;
    let period = rate.per / rate.requests.max(1);
    let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
        .expect("a positive period")
        .allow_burst(NonZeroU32::new(rate.burst).unwrap_or(one));
    RateLimiter::direct(quota)
}

impl Throttle {
    pub fn new(default: &RateLimit, publish: &RateLimit, clock: SharedClock) -> Self {
        Throttle {
            default: limiter(default),
            publish: limiter(publish),
            gate: Mutex::new(None),
            clock,
            waits: AtomicU64::new(0),
        }
    }

    /// Waits until a call from `bucket` may go out.
    pub async fn acquire(&self, bucket: Bucket) {
        self.wait_gate().await;
        match bucket {
            Bucket::Default => self.default.until_ready().await,
            Bucket::Publish => self.publish.until_ready().await,
        }
        // The gate may have closed while this call queued at the limiter.
        self.wait_gate().await;
    }

    async fn wait_gate(&self) {
        loop {
            let until = *self.gate.lock().expect("throttle gate");
            let now = self.clock.now();
            match until {
                Some(u) if u > now => {
                    let wait = (u - now).to_std().unwrap_or_default();
                    self.clock.sleep(wait).await;
                }
                _ => return,
            }
        }
    }

    /// Closes the gate for `wait`: the platform asked every caller to hold.
    pub fn hold(&self, wait: Duration) {
        let until = self.clock.now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
        let mut gate = self.gate.lock().expect("throttle gate");
        if gate.is_none_or(|g| g < until) {
            *gate = Some(until);
            self.waits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("wfm_rate_limit_waits_total").increment(1);
        }
    }

    /// How many times the gate was closed.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// Whether the gate is closed right now.
    pub fn is_holding(&self) -> bool {
        let now = self.clock.now();
        self.gate
            .lock()
            .expect("throttle gate")
            .is_some_and(|u| u > now)
    }
}
