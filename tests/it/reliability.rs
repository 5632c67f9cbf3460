//! Promises kept under faults: kill -9 anywhere, the OAuth server down for
//! minutes, 20% of calls failing, masked rate limits, a skewed server clock,
//! and two targets contending for one schedule's publish lock.
//!
//! Heavier variants are `#[ignore]`d; run them with
//! `cargo test --release --test it -- reliability:: --ignored`.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::publishing::*;
use common::*;
use wfm_publisher::clock::{ScaledClock, SharedClock};
use wfm_publisher::sample::SampleSpec;
use wfm_publisher::store::Outcome;
use wfm_publisher::testbed::TargetSection;

async fn kill_at_random_points(agents: usize, swaps: usize, kills_wanted: usize, seed: u64) {
    let week = future_week();
    let spec = spec_for(week, agents, swaps, Duration::from_secs(5));
    let (mut scenario, csv) = scenario_for(&spec);
    // A little latency and some failures, so kills land mid-request too.
    scenario.faults.latency = Duration::from_millis(2);
    scenario.faults.error_rate = 0.05;
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source_for(&cfg, week, &csv);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut kills = 0;
    let mut finished = false;
    while kills < kills_wanted && !finished {
        let target = sim.record().requests.len() + rng.usize(1..40);
        let mut child = publish_process_for(&cfg, week, &[]).await;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "a run ended early: {status}");
                finished = true;
                break;
            }
            if sim.record().requests.len() >= target {
                child.start_kill().unwrap();
                child.wait().await.unwrap();
                kills += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(kills >= kills_wanted.min(20), "killed only {kills} times");
    let out = publish_process_for(&cfg, week, &[])
        .await
        .wait_with_output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_published_exactly(&sim, &spec);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_twenty_random_points_loses_and_repeats_nothing() {
    kill_at_random_points(400, 10, 20, 20261124).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: 2,000 agents, 100 kills"]
async fn kill_9_at_a_hundred_random_points_with_two_thousand_agents() {
    kill_at_random_points(2000, 30, 100, 7).await;
}

/// The Genesys Cloud acceptance run (issue 14): a week of `agents` agents
/// with trades in every state, Matched ones decided while it runs, a
/// little latency and some 503s, and `publish` killed with SIGKILL at
/// random points until `kills_wanted`; then one run to the end.
async fn genesys_kill_at_random_points(agents: usize, kills_wanted: usize, seed: u64) {
    let started = std::time::Instant::now();
    let week = future_week();
    // Decided while the kills go on: they take about 0.8 s each.
    let soon = Duration::from_millis(400 * kills_wanted as u64);
    let big = common::genesys::big_week(agents, week, soon, soon * 2);
    let mut scenario = big.scenario.clone();
    scenario.server.operation_delay = Duration::from_millis(1500);
    scenario.server.trade_job_async_rate = 0.3;
    scenario.server.trade_job_delay = Duration::from_millis(200);
    scenario.faults.latency = Duration::from_millis(2);
    scenario.faults.error_rate = 0.03;
    let sim = wfm_publisher::sim::spawn(scenario, wfm_publisher::clock::system(), loopback())
        .await
        .unwrap();
    let bed = common::genesys::config(&sim.base_url(), "publisher", |t| {
        t.schedule_id("sched-2000");
    });
    // An update whose end no process heard is given this long.
    bed.change(|c| {
        c.retry.max_elapsed(secs(20));
    })
    .unwrap();
    bed.write_week("chicago", week, &big.csv).unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut kills = 0;
    while kills < kills_wanted {
        // After some requests, or some time: waiting on an operation or
        // for trades sends few.
        let target = sim.record().requests.len() + rng.usize(1..40);
        let until = tokio::time::Instant::now() + Duration::from_millis(rng.u64(50..2500));
        // A new store, and the platform's week published already.
        let mut child = publish_process_for(&bed, week, &["--adopt"]).await;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "a run ended early: {status}");
                break;
            }
            if sim.record().requests.len() >= target || tokio::time::Instant::now() >= until {
                child.start_kill().unwrap();
                child.wait().await.unwrap();
                kills += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if child.try_wait().unwrap().is_some_and(|s| s.success()) {
            break;
        }
    }
    let (code, stdout) = publish_output(&bed, week, &["--adopt"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    let record = sim.record();
    eprintln!(
        "{agents} agents, {kills} kills, {:.1}s, {} uploads accepted, {} operations",
        started.elapsed().as_secs_f64(),
        record
            .uploads
            .iter()
            .filter(|u| u.refused.is_none())
            .count(),
        record.operations.len()
    );
    assert!(kills >= kills_wanted.min(3), "killed only {kills} times");
    assert_genesys_acceptance(&big, &record);
}

/// Every agent as planned (approved trades applied), no approved trade
/// undone or broken, no completed operation uploaded again, no write to
/// an agent while its trade was Matched, and the trades did move while
/// the run went on.
fn assert_genesys_acceptance(
    big: &common::genesys::BigWeek,
    record: &wfm_publisher::sim::genesys::Record,
) {
    use wfm_publisher::sim::genesys::TradeState::*;
    let expected = big.expected(record);
    let held = common::genesys::BigWeek::held(record);
    for (agent, week) in &expected {
        assert_eq!(held.get(agent), Some(week), "{agent}");
    }
    assert!(
        record.trade_failures.is_empty(),
        "approvals broken: {:?}",
        record.trade_failures
    );
    let again = record.uploaded_after_completion();
    assert!(
        again.is_empty(),
        "uploaded again after completing: {again:?}"
    );
    assert!(
        record.trade_violations.is_empty(),
        "writes while Matched: {:?}",
        record.trade_violations
    );
    for decided in [Approved, Denied, Expired, Canceled] {
        assert!(
            record
                .trade_moves
                .iter()
                .any(|m| m.from == Matched && m.to == decided),
            "no trade went from Matched to {decided:?}"
        );
    }
    assert_eq!(record.published.get("sched-2000"), Some(&true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genesys_kill_9_at_random_points_publishes_every_agent_once() {
    genesys_kill_at_random_points(300, 8, 20261126).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: 2,000 agents, 60 kills"]
async fn genesys_kill_9_at_sixty_random_points_with_two_thousand_agents() {
    genesys_kill_at_random_points(2000, 60, 14).await;
}

struct Faulty {
    spec: SampleSpec,
    clock: SharedClock,
}

/// Publishes a sample week in-process on a clock `factor` times real time,
/// with `tweak` applied to the platform first, and checks the result.
async fn publish_through(
    agents: usize,
    factor: f64,
    tweak: impl FnOnce(&mut wfm_publisher::sim::Scenario),
    change: impl FnOnce(&mut ConfigFile),
) -> (wfm_publisher::publish::Report, wfm_publisher::sim::Record) {
    let week: NaiveDate = week();
    let spec = spec_for(week, agents, 4, Duration::from_secs(30));
    let (mut scenario, csv) = scenario_for(&spec);
    tweak(&mut scenario);
    let origin: DateTime<Utc> = utc_at(-4, 6, 0).parse().unwrap();
    let faulty = Faulty {
        spec,
        clock: Arc::new(ScaledClock::new(origin, factor)),
    };
    let sim = spawn_sim_with_clock(scenario, faulty.clock.clone()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source_for(&cfg, week, &csv);
    let settings = cfg.settings_with(|c| {
        c.target("chicago").deferral.poll_interval(secs(5));
        change(c);
    });
    let report = engine(&settings, faulty.clock.clone())
        .run(&settings.targets["chicago"], to_the_end(week))
        .await
        .unwrap();
    assert_success(&report);
    assert_published_exactly(&sim, &faulty.spec);
    let record = sim.record();
    assert!(record.expired_token_uses.is_empty());
    (report, record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_down_for_two_simulated_minutes() {
    let (report, record) = publish_through(
        100,
        20.0,
        |s| {
            s.faults.token_outages =
                vec![
                    serde_json::from_value(serde_json::json!({"from": "0s", "until": "2m"}))
                        .unwrap(),
                ]
        },
        |c| {
            c.retry.max_delay(secs(10)).max_elapsed(secs(300));
        },
    )
    .await;
    let refused = record
        .requests
        .iter()
        .filter(|r| r.path == "/oauth/token" && r.status == 503)
        .count();
    assert!(
        refused >= 5,
        "{refused} token requests refused during the outage"
    );
    assert!(report.client.token_failures >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_percent_of_calls_failing_with_503() {
    let (report, record) = publish_through(
        300,
        10.0,
        |s| {
            s.faults.error_rate = 0.2;
            s.faults.error_statuses = vec![503];
        },
        |c| {
            c.retry.max_attempts(10);
        },
    )
    .await;
    assert!(record.count_status(503) > 30);
    assert!(report.client.retries > 30, "{}", report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_masked_as_403() {
    // Another consumer of the same OAuth client spends the bucket as the
    // run goes: the platform counts calls the publisher never sent, so its
    // budget cannot foresee them, and the refusals come as masked 403s.
    let week: NaiveDate = week();
    let spec = spec_for(week, 200, 4, Duration::from_secs(30));
    let (mut scenario, csv) = scenario_for(&spec);
    scenario.server.forbidden_for_rate_limit = true;
    scenario.rate_limits.default.limit = 60;
    scenario.rate_limits.default.window = Duration::from_secs(1);
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source_for(&cfg, week, &csv);
    let other = Raw::new(&sim);
    let token = other.publisher_token().await;
    let other = Arc::new(other);
    let neighbour = tokio::spawn(async move {
        // Bursts of a whole window's worth, at once: between two answers
        // the publisher sees, the bucket is spent.
        for _ in 0..6 {
            let burst: Vec<_> = (0..60)
                .map(|_| {
                    let (other, token) = (other.clone(), token.clone());
                    tokio::spawn(async move {
                        other.get("/api/v2/wfm/schedule/templates", &token).await
                    })
                })
                .collect();
            for b in burst {
                let _ = b.await;
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    });
    let settings = cfg.settings_with(|c| {
        c.target("chicago").deferral.poll_interval(secs(5));
        c.workers.concurrency(16);
    });
    let report = engine(&settings, wfm_publisher::clock::system())
        .run(&settings.targets["chicago"], to_the_end(week))
        .await
        .unwrap();
    neighbour.abort();
    assert_success(&report);
    assert_published_exactly(&sim, &spec);
    assert!(report.client.masked_rate_limited > 0, "{}", report.render());
    assert_eq!(report.client.rate_limited, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_clock_ten_minutes_ahead_or_behind() {
    for offset in [10, -10] {
        publish_through(
            100,
            10.0,
            |s| {
                s.server.clock_offset = chrono::TimeDelta::minutes(offset);
                s.server.token_lifetime = Duration::from_secs(30);
            },
            |c| {
                c.platform
                    .refresh_before(secs(10))
                    .min_token_margin(secs(5));
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_targets_sharing_one_schedule_never_publish_at_once() {
    let week: NaiveDate = week();
    let spec = spec_for(week, 1200, 0, Duration::from_secs(1));
    let (mut scenario, csv) = scenario_for(&spec);
    scenario.server.publish_duration = Duration::from_millis(200);
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    // Two business units, one schedule: each target publishes its half.
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let (mut east, mut west) = (vec![header.to_owned()], vec![header.to_owned()]);
    for line in lines {
        let n: usize = line[2..line.find(',').unwrap()].parse().unwrap();
        if n.is_multiple_of(2) {
            &mut east
        } else {
            &mut west
        }
        .push(line.to_owned());
    }
    write_source_for(&cfg, week, &east.join("\n"));
    let west_dir = cfg.dir().join("inbox/west");
    std::fs::create_dir_all(&west_dir).unwrap();
    std::fs::write(west_dir.join(format!("{week}.csv")), west.join("\n")).unwrap();
    cfg.change(|c| {
        c.targets
            .insert("west".into(), TargetSection::chicago("west"));
        c.workers.concurrency(8);
    });
    let settings = cfg.settings();
    let clock = wfm_publisher::clock::system();
    let engine = engine(&settings, clock);
    let options = to_the_end(week);
    let (a, b) = tokio::join!(
        engine.run(&settings.targets["chicago"], options),
        engine.run(&settings.targets["west"], options)
    );
    for report in [a.unwrap(), b.unwrap()] {
        assert_success(&report);
    }
    let record = sim.record();
    assert_eq!(record.published.len(), 1200);
    assert_eq!(
        record.publish_conflicts, 0,
        "two publishes of one schedule at once"
    );
    assert!(record.republished_with_changes().is_empty());
}

/// Issue 27 item 2: a platform that asks for an absurd wait (a 429, a 503
/// or a 409 with `Retry-After: 10000000000000`) neither panics the
/// publisher nor holds it for ever: the wait is clamped where it is read,
/// and a call that could not use it within its retry budget gives up at
/// once, so the run fails (to be tried again) and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_wait_from_the_platform_fails_the_run_at_once() {
    for status in [429, 503, 409] {
        let spec = spec_for(week(), 20, 0, Duration::from_secs(1));
        let (mut scenario, csv) = scenario_for(&spec);
        scenario.faults.error_rate = 1.0;
        scenario.faults.error_statuses = vec![status];
        scenario.faults.error_retry_after = Some(10_000_000_000_000);
        let sim = spawn_sim(scenario).await;
        let cfg = TestConfig::new(&sim.base_url(), "publisher");
        write_source(&cfg, &csv);
        let settings = cfg.settings();
        let report = patiently(
            "the run to give up",
            engine(&settings, wfm_publisher::clock::system())
                .run(&settings.targets["chicago"], to_the_end(week())),
        )
        .await
        .unwrap();
        let problems = report.problems.join("\n");
        assert_eq!(
            report.outcome,
            Some(Outcome::Failed),
            "{status}: {problems}"
        );
        assert!(
            problems.contains("asked to wait 3600s"),
            "{status}: {problems}"
        );
    }
}
