//! How the simulated platform counts one client's calls against one bucket:
//! a fixed window, a sliding window or a token bucket. Each says what the
//! `X-RateLimit-*` headers advertise: the limit, what is left, and the
//! seconds until the bucket is full again (CONTRACT §2: "until the bucket
//! refills"), rounded up as a platform that counts in whole seconds does.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use wfm_clock::delta;

use super::scenario::{Bucket, WindowKind};

/// What one call was told: taken or refused, with the headers' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub accepted: bool,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until the next call would be accepted (`Retry-After`).
    pub retry_after_secs: u64,
}

#[derive(Debug, Clone)]
pub enum Counter {
    Fixed { started: DateTime<Utc>, used: u32 },
    Sliding { arrivals: VecDeque<DateTime<Utc>> },
    TokenBucket { tokens: f64, at: DateTime<Utc> },
}

/// Whole seconds from `now` until `then`, rounded up, at least one.
pub(super) fn secs_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    let ms = (then - now).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}

impl Counter {
    pub fn new(kind: WindowKind, limit: u32, now: DateTime<Utc>) -> Self {
        match kind {
            WindowKind::Fixed => Counter::Fixed {
                started: now,
                used: 0,
            },
            WindowKind::Sliding => Counter::Sliding {
                arrivals: VecDeque::new(),
            },
            WindowKind::TokenBucket => Counter::TokenBucket {
                tokens: f64::from(limit),
                at: now,
            },
        }
    }

    /// Takes one call arriving at `now` from the bucket, if it has room.
    pub fn take(&mut self, bucket: &Bucket, now: DateTime<Utc>) -> Taken {
        let window = delta(bucket.window);
        let limit = bucket.limit;
        match self {
            Counter::Fixed { started, used } => {
                if now >= *started + window {
                    (*started, *used) = (now, 0);
                }
                let accepted = *used < limit;
                *used += u32::from(accepted);
                let reset_secs = secs_until(now, *started + window);
                Taken {
                    accepted,
                    remaining: limit - *used,
                    reset_secs,
                    retry_after_secs: reset_secs,
                }
            }
            Counter::Sliding { arrivals } => {
                while arrivals.front().is_some_and(|a| *a + window <= now) {
                    arrivals.pop_front();
                }
                let accepted = (arrivals.len() as u32) < limit;
                if accepted {
                    arrivals.push_back(now);
                }
                let oldest = arrivals.front().map_or(now, |a| *a + window);
                let newest = arrivals.back().map_or(now, |a| *a + window);
                Taken {
                    accepted,
                    remaining: limit - arrivals.len() as u32,
                    reset_secs: secs_until(now, newest),
                    retry_after_secs: secs_until(now, oldest),
                }
            }
            Counter::TokenBucket { tokens, at } => {
                let per_sec = f64::from(limit) / bucket.window.as_secs_f64().max(1e-9);
                let elapsed = (now - *at).num_microseconds().unwrap_or(i64::MAX).max(0) as f64;
                *tokens = (*tokens + elapsed / 1e6 * per_sec).min(f64::from(limit));
                *at = now;
                let accepted = *tokens >= 1.0;
                if accepted {
                    *tokens -= 1.0;
                }
                let secs = |missing: f64| (missing / per_sec).ceil().max(1.0) as u64;
                Taken {
                    accepted,
                    remaining: tokens.floor() as u32,
                    reset_secs: secs(f64::from(limit) - *tokens),
                    retry_after_secs: secs(1.0 - *tokens),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::milliseconds(ms)
    }

    fn bucket(kind: WindowKind) -> Bucket {
        Bucket {
            limit: 2,
            window: Duration::from_secs(1),
            kind,
        }
    }

    /// Which of calls at these times each kind accepts.
    fn accepted(kind: WindowKind, times: &[i64]) -> Vec<bool> {
        let b = bucket(kind);
        let mut c = Counter::new(kind, b.limit, at(0));
        times.iter().map(|&t| c.take(&b, at(t)).accepted).collect()
    }

    #[test]
    fn each_kind_counts_its_own_way() {
        let times = [0, 100, 900, 1_050, 1_100, 1_150, 1_600];
        // A fixed window restarts with the first call after it ends.
        assert_eq!(
            accepted(WindowKind::Fixed, &times),
            [true, true, false, true, true, false, false]
        );
        // A sliding window frees each slot one window after its call.
        assert_eq!(
            accepted(WindowKind::Sliding, &times),
            [true, true, false, true, true, false, false]
        );
        // A token bucket refills one token every half second.
        assert_eq!(
            accepted(WindowKind::TokenBucket, &times),
            [true, true, true, true, false, false, true]
        );
    }

    #[test]
    fn the_reset_is_until_the_bucket_is_full_again() {
        let b = bucket(WindowKind::Sliding);
        let mut c = Counter::new(WindowKind::Sliding, 2, at(0));
        c.take(&b, at(0));
        let t = c.take(&b, at(700));
        assert_eq!((t.remaining, t.reset_secs), (0, 1));
        let refused = c.take(&b, at(800));
        assert!(!refused.accepted);
        assert_eq!(refused.retry_after_secs, 1);
    }
}
