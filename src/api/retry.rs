//! The one retry policy: capped exponential backoff with jitter, bounded in
//! attempts and in time.

use super::error::PlatformError;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::config::RetrySettings;

/// The delays before each retry, as a named type a call's state can hold.
pub type Delays = backon::ExponentialBackoff;

/// The delays before each retry; ends when the attempts are spent.
pub fn delays(policy: &RetrySettings) -> Delays {
    ExponentialBuilder::default()
        .with_min_delay(policy.initial_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build()
}

/// Whether waiting `wait` (as the platform asked) would take the call past
/// `retry.max_elapsed`, `elapsed` into it: then the call gives up now
/// rather than sit out a wait it cannot use.
pub fn beyond_budget(policy: &RetrySettings, elapsed: Duration, wait: Duration) -> bool {
    elapsed.saturating_add(wait) > policy.max_elapsed
}

/// A call the platform told to wait longer than its retry budget has left.
pub fn too_long(
    endpoint: String,
    policy: &RetrySettings,
    elapsed: Duration,
    wait: Duration,
) -> PlatformError {
    PlatformError::WaitTooLong {
        endpoint,
        wait_secs: wait.as_secs(),
        left_secs: policy.max_elapsed.saturating_sub(elapsed).as_secs(),
    }
}

/// How long to wait after the `failures`-th failed token flight in a row:
/// exponential with jitter from `initial_delay`, capped at `max_delay`. A
/// permanent failure (a wrong secret, a refused scope, a captive portal) will
/// not fix itself within seconds, so it waits the longest: `max_delay`, less
/// up to a tenth of jitter so that publishers sharing a client spread out.
pub fn after_failures(policy: &RetrySettings, failures: u32, permanent: bool) -> Duration {
    if permanent {
        return policy.max_delay.mul_f64(0.9 + 0.1 * fastrand::f64());
    }
    nth_delay(policy.initial_delay, policy.max_delay, failures)
}

/// How long the daemon waits before running a failed run again for the
/// `attempt`-th time: from `run_initial_delay`, doubling with jitter, up to
/// `run_max_delay`.
pub fn before_run_retry(policy: &RetrySettings, attempt: u32) -> Duration {
    nth_delay(policy.run_initial_delay, policy.run_max_delay, attempt)
}

/// The `n`-th (from 1) delay of a capped exponential backoff with jitter.
fn nth_delay(initial: Duration, max: Duration, n: u32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(initial)
        .with_max_delay(max)
        .without_max_times()
        .with_jitter()
        .build()
        // Past 64 doublings every delay is the cap; no need to walk further.
        .nth(n.saturating_sub(1).min(64) as usize)
        .unwrap_or(max)
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetrySettings {
        RetrySettings {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            max_attempts: 3,
            max_elapsed: Duration::from_secs(60),
            run_initial_delay: Duration::from_secs(60),
            run_max_delay: Duration::from_secs(1800),
        }
    }

    #[test]
    fn failed_flights_back_off_exponentially_up_to_the_cap() {
        let p = policy();
        let first = after_failures(&p, 1, false);
        assert!(
            first >= p.initial_delay && first <= p.initial_delay * 2,
            "{first:?}"
        );
        let fifth = after_failures(&p, 5, false);
        assert!(fifth >= p.initial_delay * 16, "{fifth:?}");
        for n in [20, 100, u32::MAX] {
            assert!(after_failures(&p, n, false) <= p.max_delay);
        }
    }

    #[test]
    fn permanent_failures_wait_the_longest() {
        let p = policy();
        let d = after_failures(&p, 1, true);
        assert!(d >= p.max_delay.mul_f64(0.9) && d <= p.max_delay, "{d:?}");
    }
}
