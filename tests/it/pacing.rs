//! The advertised budget governs: configured at or above what the platform
//! advertises, the publisher draws no 429 from a fixed window, a sliding
//! window or a token bucket. Counted in the simulator's record; nothing here
//! is timed.

use crate::common;

use std::time::Duration;

use common::publishing::{publish_exactly, scenario_for, spec};
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
    let settings = cfg.settings_with(|c| {
        c.rate_limits.default.requests(40 * times);
        c.rate_limits.publish.requests(2 * times);
        // More workers than the limit, so the budget, not the pool, paces.
        c.workers.concurrency(64);
    });
    let record = publish_exactly(&sim, &spec, &settings).await;
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

/// The simple contract publishes the agents it names (500 a call), so the
/// first batches go while later agents are still being written: in the
/// order the platform received them, a publish comes before the last
/// write. Every agent is still published exactly as planned, none before
/// its write, and no publish overlaps another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_go_while_later_agents_are_written() {
    let spec = spec(2_000, 0, Duration::from_secs(1));
    let (sim, cfg) = common::publishing::sample_setup(&spec).await;
    let record = publish_exactly(&sim, &spec, &cfg.settings()).await;
    let accepted = |method: &str| {
        let requests = record.requests.iter().enumerate();
        requests
            .filter(|(_, r)| r.method == method && r.path.starts_with("/api/") && r.status == 200)
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let (writes, publishes) = (accepted("PUT"), accepted("POST"));
    assert_eq!(writes.len(), 2_000);
    assert_eq!(publishes.len(), 4, "500 agents a publish");
    assert!(
        publishes[0] < *writes.last().unwrap(),
        "the first publish went after every write"
    );
    assert_eq!(record.publish_conflicts, 0);
}
