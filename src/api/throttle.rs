//! Client-side rate limiting, per bucket (`default`, `publish`): the budget
//! the platform advertises (see `budget.rs`), which governs whenever the
//! platform sends its rate-limit headers; a governor limiter at the
//! configured rate, a ceiling for platforms that advertise nothing; a gate
//! that every worker of the client waits at when the platform says "wait";
//! and a pacer that slows the bucket down when the platform refuses calls
//! without saying its limit.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::budget::{Budget, Slot};
use super::classify::Advertised;
use crate::clock::{delta, SharedClock};
use crate::config::{RateLimit, RateLimits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Default,
    Publish,
    /// Genesys Cloud's shift-trade query jobs.
    TradeJobs,
}

impl Bucket {
    /// The configuration key of the rate the client paces this bucket at.
    pub fn config_key(self) -> &'static str {
        match self {
            Bucket::Default => "rate_limits.default",
            Bucket::Publish => "rate_limits.publish",
            Bucket::TradeJobs => "rate_limits.trade_jobs",
        }
    }
}

/// Spacing learned from unadvertised 429s. Each refusal widens the spacing
/// by half and remembers the spacing that was refused; the spacing then
/// narrows by 10% a second, but never below 5% wider than the last refused
/// one, so the rate settles just under the platform's real limit instead of
/// climbing back to the configured rate and bouncing off the limit again.
/// The memory fades after [`Pace::FORGET_AFTER`] without a refusal, so a
/// limit the platform raised is used again.
#[derive(Debug, Default)]
struct Pace {
    /// The spacing right after the last widening, and when that was.
    widened: Option<(Duration, DateTime<Utc>)>,
    /// The spacing the platform last refused.
    refused: Option<Duration>,
    next: Option<DateTime<Utc>>,
}

impl Pace {
    const FORGET_AFTER: TimeDelta = TimeDelta::minutes(10);

    fn interval(&self, configured: Duration, now: DateTime<Utc>) -> Option<Duration> {
        let (base, at) = self.widened?;
        if now - at > Self::FORGET_AFTER {
            return None;
        }
        let secs = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
        let floor = self.refused.map_or(configured, |r| r.mul_f64(1.05));
        let current = base.mul_f64(0.9f64.powf(secs)).max(floor);
        (current > configured).then_some(current)
    }

    /// A refusal at `now`, unless one was already taken into account within
    /// the last second (the 429s of calls in flight at a widening say
    /// nothing new). Returns the new spacing.
    fn refused_at(&mut self, configured: Duration, now: DateTime<Utc>) -> Option<Duration> {
        if self
            .widened
            .is_some_and(|(_, at)| now < at + TimeDelta::seconds(1))
        {
            return None;
        }
        let current = self.interval(configured, now).unwrap_or(configured);
        let wider = (current * 3 / 2).min(Duration::from_secs(60));
        self.refused = Some(current);
        self.widened = Some((wider, now));
        Some(wider)
    }
}

struct Lane {
    limiter: DefaultDirectRateLimiter,
    /// The configured spacing between calls.
    interval: Duration,
    /// Closed until this time.
    gate: Mutex<Option<DateTime<Utc>>>,
    pace: Mutex<Pace>,
    budget: Budget,
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
            budget: Budget::default(),
        }
    }
}

/// A call let through by [`Throttle::acquire`], until it leaves.
#[must_use = "a call let through says when it leaves"]
#[derive(Debug)]
pub struct Ticket {
    bucket: Bucket,
    slot: Slot,
}

impl Ticket {
    /// The bucket the call goes on its turn in.
    pub fn bucket(&self) -> Bucket {
        self.bucket
    }
}

/// A call that left: where it stands in its bucket's budget, and when.
#[derive(Debug, Clone, Copy)]
pub struct Departure {
    bucket: Bucket,
    slot: Slot,
    pub at: DateTime<Utc>,
}

pub struct Throttle {
    default: Lane,
    publish: Lane,
    trade_jobs: Lane,
    clock: SharedClock,
    waits: AtomicU64,
    /// The shortest round trip seen, in nanoseconds.
    shortest_trip: AtomicU64,
}

impl Throttle {
    pub fn new(limits: &RateLimits, clock: SharedClock) -> Self {
        Throttle {
            default: Lane::new(&limits.default),
            publish: Lane::new(&limits.publish),
            trade_jobs: Lane::new(&limits.trade_jobs),
            clock,
            waits: AtomicU64::new(0),
            shortest_trip: AtomicU64::new(u64::MAX),
        }
    }

    fn lane(&self, bucket: Bucket) -> &Lane {
        match bucket {
            Bucket::Default => &self.default,
            Bucket::Publish => &self.publish,
            Bucket::TradeJobs => &self.trade_jobs,
        }
    }

    /// Waits until a call from `bucket` may go out; the ticket says when it
    /// does ([`Throttle::leaves`]).
    pub async fn acquire(&self, bucket: Bucket) -> Ticket {
        let lane = self.lane(bucket);
        self.wait_gate(lane).await;
        // The configured rate is a ceiling for platforms that advertise
        // nothing; measured at exactly an advertised 1,000/s, the
        // governor's 1 ms steps lost a third of the rate to timer rounding.
        if !lane.budget.advertised() {
            lane.limiter.until_ready().await;
            self.wait_pace(lane).await;
        }
        // The gate may have closed while this call queued.
        self.wait_gate(lane).await;
        // Last, so that the budget logs the call as close as it can to
        // when it leaves.
        let slot = lane.budget.acquire(&self.clock).await;
        Ticket { bucket, slot }
    }

    /// When a call from `bucket` would next go, if the platform advertises
    /// its budget: the budget's time, or the gate's if that is later.
    pub fn next_go(&self, bucket: Bucket) -> Option<DateTime<Utc>> {
        let lane = self.lane(bucket);
        let budget = lane.budget.next_go(self.clock.now())?;
        let gate = *lane.gate.lock().expect("throttle gate");
        Some(gate.map_or(budget, |g| g.max(budget)))
    }

    /// How much later than another a call from `bucket` may arrive.
    pub fn jitter(&self, bucket: Bucket) -> Duration {
        self.lane(bucket).budget.jitter()
    }

    /// The call of `ticket` will not leave after all: its place in the
    /// budget goes to another.
    pub fn unused(&self, ticket: Ticket) {
        self.lane(ticket.bucket).budget.unused(ticket.slot);
    }

    /// The call of `ticket` leaves now, its request built.
    pub fn leaves(&self, ticket: Ticket) -> Departure {
        let now = self.clock.now();
        self.lane(ticket.bucket).budget.left(ticket.slot, now);
        Departure {
            bucket: ticket.bucket,
            slot: ticket.slot,
            at: now,
        }
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
    fn hold_until(&self, bucket: Bucket, until: DateTime<Utc>) {
        let mut gate = self.lane(bucket).gate.lock().expect("throttle gate");
        if gate.is_none_or(|g| g < until) {
            *gate = Some(until);
            self.waits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("wfm_rate_limit_waits_total").increment(1);
        }
    }

    /// Records how long a call took to be answered, to estimate the one-way
    /// trip: the shortest round trip seen, halved. The shortest, so that a
    /// publish's processing time on the platform is not taken for travel.
    fn observe_trip(&self, trip: TimeDelta) {
        let nanos = trip.num_nanoseconds().unwrap_or(i64::MAX).max(0) as u64;
        self.shortest_trip.fetch_min(nanos, Ordering::Relaxed);
    }

    /// The shortest round trip seen (zero before the first).
    pub fn round_trip(&self) -> Duration {
        self.travel() * 2
    }

    /// The one-way trip, estimated as half the shortest round trip seen.
    fn travel(&self) -> Duration {
        match self.shortest_trip.load(Ordering::Relaxed) {
            u64::MAX => Duration::ZERO,
            nanos => Duration::from_nanos(nanos / 2),
        }
    }

    /// An answer to the call of `departure`, with the budget it advertised,
    /// if any. The platform counted the call when it
    /// arrived; counted from when it left, a reserve would end before the
    /// platform's window does (measured: 4 429s in 100 publishes at 100 ms
    /// latency); counted from the answer, it would also wait out the
    /// platform's processing time.
    pub fn observe(&self, departure: Departure, advertised: Option<Advertised>) {
        let Departure { bucket, slot, at } = departure;
        let trip = self.clock.now() - at;
        self.observe_trip(trip);
        let arrived = at + delta(self.travel());
        self.lane(bucket)
            .budget
            .observe(slot, at, arrived, trip, advertised);
    }

    /// A call from `bucket` got no answer.
    pub fn unanswered(&self, bucket: Bucket) {
        self.lane(bucket).budget.unanswered();
    }

    /// A 429 that said nothing of the limit: space `bucket`'s calls out more.
    pub fn slow_down(&self, bucket: Bucket) {
        let lane = self.lane(bucket);
        let mut pace = lane.pace.lock().expect("throttle pace");
        let Some(wider) = pace.refused_at(lane.interval, self.clock.now()) else {
            return;
        };
        tracing::info!(
            interval_ms = super::client::millis(wider),
            "the platform's limit is lower than configured: slowing down"
        );
    }

    /// How many times a gate was closed.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(ms)
    }

    fn micros(d: Option<Duration>) -> Option<u128> {
        d.map(|d| d.as_nanos().div_ceil(1000))
    }

    #[test]
    fn the_spacing_settles_just_over_the_last_refused_one() {
        let configured = Duration::from_micros(500);
        let mut pace = Pace::default();
        assert_eq!(pace.interval(configured, at(0)), None);
        assert_eq!(micros(pace.refused_at(configured, at(0))), Some(750));
        // Refusals of calls already in flight are not counted twice.
        assert_eq!(pace.refused_at(configured, at(500)), None);
        // A second later it has narrowed by 10%, and is refused again there.
        assert_eq!(micros(pace.interval(configured, at(1_000))), Some(675));
        assert_eq!(micros(pace.refused_at(configured, at(1_000))), Some(1013));
        // It narrows, but never below 5% over the spacing last refused.
        assert_eq!(micros(pace.interval(configured, at(60_000))), Some(709));
        // Ten quiet minutes later, the configured rate is tried again.
        assert_eq!(pace.interval(configured, at(1_000 + 10 * 60_000 + 1)), None);
    }

    #[test]
    fn the_trip_there_is_half_the_shortest_round_trip() {
        let clock = crate::clock::ManualClock::new(at(0));
        let rate = RateLimit {
            requests: 1,
            per: Duration::from_secs(1),
            burst: 1,
        };
        let limits = RateLimits {
            default: rate.clone(),
            publish: rate.clone(),
            trade_jobs: rate,
        };
        let throttle = Throttle::new(&limits, std::sync::Arc::new(clock));
        // A cheap call came back in 40 ms; a publish took 300 ms to answer,
        // most of it the platform's work, not travel.
        throttle.observe_trip(TimeDelta::milliseconds(40));
        throttle.observe_trip(TimeDelta::milliseconds(300));
        assert_eq!(throttle.travel(), Duration::from_millis(20));
    }
}
