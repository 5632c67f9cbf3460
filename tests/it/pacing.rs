//! The advertised budget governs: configured at or above what the platform
//! advertises, the publisher draws no 429 from a fixed window, a sliding
//! window or a token bucket. Counted in the simulator's record; nothing here
//! is timed.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::publishing::{publish_exactly, scenario_for, spec};
use common::TestConfig;
use wfm_publisher::sim::{Record, WindowKind};

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

/// Publishes `agents` against a platform allowing `limit` writes a second
/// in fixed one-second windows anchored at the first call after the last
/// one expired (`X-RateLimit-Reset` in whole seconds, rounded up), or
/// advertising nothing at all; the client configured at `times` the limit,
/// with more workers than the limit, 20 ms away. A publish locks the
/// schedule 300 ms.
async fn paced_run(agents: usize, limit: u32, advertised: bool, times: u32) -> Record {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _alone = ONE_AT_A_TIME.lock().await;
    let spec = spec(agents, 0, Duration::from_secs(1));
    let (mut scenario, csv) = scenario_for(&spec);
    scenario.rate_limits.default.limit = limit;
    scenario.rate_limits.default.kind = WindowKind::Fixed;
    scenario.rate_limits.publish.limit = 1;
    scenario.rate_limits.publish.window = Duration::from_secs(1);
    scenario.server.publish_duration = Duration::from_millis(100);
    scenario.server.publish_lock = Duration::from_millis(200);
    scenario.server.advertise_rate_limits = advertised;
    // Calls in flight overtake each other on the way, as on a network.
    scenario.faults.latency = Duration::from_millis(20);
    let sim = common::spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    common::publishing::write_source(&cfg, &csv);
    let settings = cfg.settings_with(|c| {
        c.rate_limits.default.requests(limit * times);
        c.rate_limits.publish.requests(times);
        c.workers.concurrency(128);
    });
    publish_exactly(&sim, &spec, &settings).await
}

/// Accepted writes a second between two of the platform's own timestamps.
fn accepted_rate(record: &Record, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let n = record
        .counted
        .default
        .iter()
        .filter(|t| **t >= from && **t < to)
        .count();
    n as f64 / ((to - from).num_milliseconds().max(1) as f64 / 1000.0)
}

/// How long, in all, the platform's anchored windows left between the end
/// of one and the first call of the next: time no call could use.
fn idle_between_windows(times: &[DateTime<Utc>]) -> TimeDelta {
    let mut opened: Option<DateTime<Utc>> = None;
    let mut idle = TimeDelta::zero();
    for t in times {
        match opened {
            Some(o) if *t < o + TimeDelta::seconds(1) => {}
            Some(o) => {
                idle += *t - (o + TimeDelta::seconds(1));
                opened = Some(*t);
            }
            None => opened = Some(*t),
        }
    }
    idle
}

/// Issue 28 item 1: with resets stated in whole seconds, the budget held
/// calls back for a second at a time whenever an answer counted a call
/// that overtook its own on the way; each window then went part empty. The
/// time between the end of one window and the first call of the next, as
/// the platform's own timestamps tell it: 16% of the run with the budget
/// before (and 21.6 writes/s, 71 refusals and a 4.9 s silence in the
/// unadvertised run below), 1–3% with this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_second_resets_on_windows_anchored_at_the_first_call() {
    let record = paced_run(600, 60, true, 1).await;
    assert_eq!(record.count_status(429) + record.count_status(403), 0);
    let writes = &record.counted.default;
    let idle = idle_between_windows(writes);
    let span = *writes.last().unwrap() - writes[0];
    eprintln!("idle {idle} of {span}");
    assert!(
        idle * 10 <= span,
        "{idle} of {span} between the end of a window and the next call"
    );
}

/// Issue 28 items 2 and 3: a limit the platform does not advertise, at
/// half the configured rate. The pace settles near it (before: cut again
/// by refusals of calls queued at the old pace, it settled at a third of
/// it and never probed back), refuses few, and writes never stall (before:
/// calls queued for the pace lost their turn to the publish lock and came
/// back behind every other worker, seconds of silence after a publish).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unadvertised_limit_at_half_the_configured_rate() {
    let record = paced_run(700, 50, false, 2).await;
    let refused = record.count_status(429);
    let first_refusal = record
        .requests
        .iter()
        .find(|r| r.status == 429)
        .map(|r| r.at);
    let writes = &record.counted.default;
    let from = first_refusal.expect("the platform refused some") + TimeDelta::seconds(3);
    let rate = accepted_rate(&record, from, *writes.last().unwrap());
    let gap = record
        .requests
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap();
    eprintln!(
        "{refused} refused of {}; {rate:.1} writes/s; longest silence {gap}",
        record.requests.len()
    );
    assert!(
        rate >= 0.8 * 50.0,
        "{rate:.1} writes a second where 50 are allowed"
    );
    assert!(
        refused * 100 <= record.requests.len() * 5,
        "{refused} refused"
    );
    assert!(
        gap < TimeDelta::seconds(2),
        "the platform heard nothing for {gap}"
    );
}
