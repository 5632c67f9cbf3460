//! The one retry policy: capped exponential backoff with jitter, bounded in
//! attempts and in time.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::config::RetrySettings;

/// The delays before each retry; ends when the attempts are spent.
pub fn delays(policy: &RetrySettings) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(policy.initial_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build()
}
