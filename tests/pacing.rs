//! The advertised budget governs: configured at or above what the platform
//! advertises, the publisher draws no 429 from a fixed window, a sliding
//! window or a token bucket. Counted in the simulator's record; nothing here
//! is timed.

mod common;

use std::time::Duration;

use common::publishing::{assert_published_exactly, engine, scenario_for, spec, to_the_end, week};
use common::TestConfig;
use wfm_publisher::sim::WindowKind;

/// Publishes 160 agents against a platform advertising 40 calls a second
/// (2 publishes) counted as `kind`, with the client configured at `times`
/// the advertised limits; returns the 429s and masked 403s the platform
/// answered.
async fn refusals(kind: WindowKind, times: u32) -> usize {
    // One publication at a time: three at once on two cores delay calls
    // between the gate and the wire by more than the budget's margin, and
    // what is measured here is the budget, not the machine.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _alone = ONE_AT_A_TIME.lock().await;
    let spec = spec(160, 0, Duration::from_secs(1));
    let (mut scenario, csv) = scenario_for(&spec);
    scenario.rate_limits.default.limit = 40;
    scenario.rate_limits.default.kind = kind;
    scenario.rate_limits.publish.limit = 2;
    scenario.rate_limits.publish.kind = kind;
    let sim = common::spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    common::publishing::write_source(&cfg, &csv);
    let default = (40 * times).to_string();
    let publish = (2 * times).to_string();
    let settings = cfg.settings_with(&[
        ("WFM_PUBLISHER__RATE_LIMITS__DEFAULT__REQUESTS", &default),
        ("WFM_PUBLISHER__RATE_LIMITS__PUBLISH__REQUESTS", &publish),
        // More workers than the limit, so the budget, not the pool, paces.
        ("WFM_PUBLISHER__WORKERS__CONCURRENCY", "64"),
    ]);
    let report = engine(&settings, wfm_publisher::clock::system())
        .run(&settings.targets["chicago"], to_the_end(week()))
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_published_exactly(&sim, &spec);
    let record = sim.record();
    record.count_status(429) + record.count_status(403)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_windows_at_and_above_the_advertised_limit() {
    assert_eq!(refusals(WindowKind::Fixed, 1).await, 0);
    assert_eq!(refusals(WindowKind::Fixed, 2).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_windows_at_and_above_the_advertised_limit() {
    assert_eq!(refusals(WindowKind::Sliding, 1).await, 0);
    assert_eq!(refusals(WindowKind::Sliding, 2).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_buckets_at_and_above_the_advertised_limit() {
    assert_eq!(refusals(WindowKind::TokenBucket, 1).await, 0);
    assert_eq!(refusals(WindowKind::TokenBucket, 2).await, 0);
}
