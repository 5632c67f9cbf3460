//! The one retry policy: capped exponential backoff with jitter, bounded in
//! attempts and in time.

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
