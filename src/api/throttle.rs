//! Client-side rate limiting, per bucket (`default`, `publish`): a governor
//! limiter at the configured rate, a gate that every worker of the client
//! waits at when the platform says "wait", and a pacer that slows the bucket
//! down when the platform refuses calls without saying its limit.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::clock::SharedClock;
use crate::config::RateLimit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Default,
    Publish,
}

/// Spacing learned from unadvertised 429s: widened by half on each, then
/// narrowed by 10% a second until the configured rate is back, so the rate
/// settles just under the platform's real limit instead of bouncing off it.
#[derive(Debug, Default)]
struct Pace {
    /// The spacing right after the last widening, and when that was.
    widened: Option<(Duration, DateTime<Utc>)>,
    next: Option<DateTime<Utc>>,
}

impl Pace {
    fn interval(&self, configured: Duration, now: DateTime<Utc>) -> Option<Duration> {
        let (base, at) = self.widened?;
        let secs = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
        let current = base.mul_f64(0.9f64.powf(secs));
        (current > configured).then_some(current)
    }
}

struct Lane {
    limiter: DefaultDirectRateLimiter,
    /// The configured spacing between calls.
    interval: Duration,
    /// Closed until this time.
    gate: Mutex<Option<DateTime<Utc>>>,
    pace: Mutex<Pace>,
}

impl Lane {
    fn new(rate: &RateLimit) -> Self {
        let interval = (rate.per / rate.requests.max(1)).max(Duration::from_nanos(1));
        let quota = Quota::with_period(interval)
            .expect("a positive period")
            .allow_burst(NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN));
        Lane {
            limiter: RateLimiter::direct(quota),
            interval,
            gate: Mutex::new(None),
            pace: Mutex::new(Pace::default()),
        }
    }
}

pub struct Throttle {
    default: Lane,
    publish: Lane,
    clock: SharedClock,
    waits: AtomicU64,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Throttle {
    pub fn new(default: &RateLimit, publish: &RateLimit, clock: SharedClock) -> Self {
        Throttle {
            default: Lane::new(default),
            publish: Lane::new(publish),
            clock,
            waits: AtomicU64::new(0),
        }
    }

    fn lane(&self, bucket: Bucket) -> &Lane {
        match bucket {
            Bucket::Default => &self.default,
            Bucket::Publish => &self.publish,
        }
    }

    /// Waits until a call from `bucket` may go out.
    pub async fn acquire(&self, bucket: Bucket) {
        let lane = self.lane(bucket);
        self.wait_gate(lane).await;
        lane.limiter.until_ready().await;
        self.wait_pace(lane).await;
        // The gate may have closed while this call queued.
        self.wait_gate(lane).await;
    }

    async fn wait_until(&self, until: DateTime<Utc>) {
        let now = self.clock.now();
        if until > now {
            self.clock
                .sleep((until - now).to_std().unwrap_or_default())
                .await;
        }
    }

    async fn wait_gate(&self, lane: &Lane) {
        loop {
            let until = *lane.gate.lock().expect("throttle gate");
            match until {
                Some(u) if u > self.clock.now() => self.wait_until(u).await,
                _ => return,
            }
        }
    }

    async fn wait_pace(&self, lane: &Lane) {
        let slot = {
            let mut pace = lane.pace.lock().expect("throttle pace");
            let now = self.clock.now();
            let Some(interval) = pace.interval(lane.interval, now) else {
                return;
            };
            let slot = pace.next.filter(|n| *n > now).unwrap_or(now);
            pace.next = Some(slot + delta(interval));
            slot
        };
        self.wait_until(slot).await;
    }

    /// Closes `bucket`'s gate for `wait`: the platform asked every caller to hold.
    pub fn hold(&self, bucket: Bucket, wait: Duration) {
        self.hold_until(bucket, self.clock.now() + delta(wait));
    }

    /// Closes `bucket`'s gate until `until`.
    pub fn hold_until(&self, bucket: Bucket, until: DateTime<Utc>) {
        let mut gate = self.lane(bucket).gate.lock().expect("throttle gate");
        if gate.is_none_or(|g| g < until) {
            *gate = Some(until);
            self.waits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("wfm_rate_limit_waits_total").increment(1);
        }
    }

    /// A 429 that said nothing of the limit: space `bucket`'s calls out more.
    pub fn slow_down(&self, bucket: Bucket) {
        let lane = self.lane(bucket);
        let mut pace = lane.pace.lock().expect("throttle pace");
        let now = self.clock.now();
        // The 429s of calls already in flight at a widening say nothing new.
        if pace
            .widened
            .is_some_and(|(_, at)| now < at + TimeDelta::seconds(1))
        {
            return;
        }
        let current = pace.interval(lane.interval, now).unwrap_or(lane.interval);
        let wider = (current * 3 / 2).min(Duration::from_secs(60));
        pace.widened = Some((wider, now));
        tracing::info!(interval = ?wider, "the platform's limit is lower than configured: slowing down");
    }

    /// How many times a gate was closed.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }
}
