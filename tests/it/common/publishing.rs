//! Publishing a generated sample week against the simulator, and checking
//! what the platform ends up holding.

use std::time::Duration;

use chrono::NaiveDate;
use wfm_publisher::clock::SharedClock;
use wfm_publisher::config::Settings;

use wfm_publisher::publish::{Engine, RunOptions};
use wfm_publisher::sample::{self, SampleSpec, Weeks};
use wfm_publisher::sim::{Record, Scenario, SimHandle};
use wfm_publisher::testbed::Testbed;

use super::{small_scenario, TestConfig};

pub use super::week;

pub fn spec(agents: usize, swaps: usize, resolve_within: Duration) -> SampleSpec {
    spec_for(week(), agents, swaps, resolve_within)
}

pub fn spec_for(
    week: NaiveDate,
    agents: usize,
    swaps: usize,
    resolve_within: Duration,
) -> SampleSpec {
    SampleSpec {
        schedule_id: format!("chicago-{week}"),
        org_id: "org-acme".into(),
        time_zone: "America/Chicago".parse().unwrap(),
        week_start: week,
        agent_prefix: "a-".into(),
        agents,
        swaps,
        resolve_within,
    }
}

/// The small scenario's organizations and clients, with the sample week as
/// its one schedule, and limits high enough that a test is not a wait.
pub fn scenario_for(spec: &SampleSpec) -> (Scenario, String) {
    let sample = sample::generate(spec);
    let mut scenario = small_scenario();
    scenario.schedules = vec![sample.schedule];
    scenario.swaps = sample.swaps;
    scenario.rate_limits.default.limit = 5_000;
    scenario.rate_limits.publish.limit = 100;
    scenario.server.publish_duration = Duration::from_millis(50);
    scenario.server.publish_lock = Duration::from_millis(300);
    (scenario, sample.csv)
}

/// A fresh simulator holding `spec`'s sample week, and a configuration
/// against it with the week's source file written.
pub async fn sample_setup(spec: &SampleSpec) -> (SimHandle, TestConfig) {
    let (scenario, csv) = scenario_for(spec);
    let sim = super::spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source_for(&cfg, spec.week_start, &csv);
    (sim, cfg)
}

/// 300 agents against a simulator that allows 100 calls a second and does
/// not announce it: the writes span several windows, each ending in a
/// burst of 429s.
pub async fn rate_limited_setup() -> (SimHandle, TestConfig) {
    let (sim, cfg) = sample_setup(&spec(300, 0, Duration::from_secs(1))).await;
    sim.reconfigure(|live| {
        live.rate_limits.default.limit = 100;
        live.server.advertise_rate_limits = false;
    });
    (sim, cfg)
}

/// What a finished process said.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `publish` of the test week, run to its end.
pub async fn publish_to_the_end(cfg: &TestConfig, extra: &[&str]) -> Finished {
    publish_week_to_the_end(cfg, week(), extra).await
}

pub async fn publish_week_to_the_end(
    cfg: &TestConfig,
    week: NaiveDate,
    extra: &[&str],
) -> Finished {
    let child = publish_process_for(cfg, week, extra).await;
    let out = super::patiently("`publish` to end", child.wait_with_output())
        .await
        .unwrap();
    Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn write_source(cfg: &TestConfig, csv: &str) {
    write_source_for(cfg, week(), csv)
}

pub fn write_source_for(cfg: &TestConfig, week: NaiveDate, csv: &str) {
    cfg.write_week("chicago", week, csv).unwrap();
}

pub fn engine(settings: &Settings, clock: SharedClock) -> Engine {
    wfm_publisher::testbed::engine(settings, clock).unwrap()
}

/// Publishes `spec`'s week to its end on the real clock, checks that the
/// platform holds exactly the plan, and returns what the platform saw.
pub async fn publish_exactly(sim: &SimHandle, spec: &SampleSpec, settings: &Settings) -> Record {
    let report = engine(settings, wfm_publisher::clock::system())
        .run(&settings.targets["chicago"], to_the_end(spec.week_start))
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_published_exactly(sim, spec);
    sim.record()
}

pub fn published(record: &Record) -> Weeks {
    record
        .published
        .iter()
        .map(|((_, agent), shifts)| {
            let mut week: Vec<_> = shifts.iter().map(|s| (s.start_time, s.end_time)).collect();
            week.sort();
            (agent.clone(), week)
        })
        .collect()
}

pub fn assert_published_exactly(sim: &SimHandle, spec: &SampleSpec) {
    let record = sim.record();
    let expected = sample::expected(spec);
    let actual = published(&record);
    assert_eq!(actual.len(), expected.len(), "every agent published");
    for (agent, week) in &expected {
        assert_eq!(actual.get(agent), Some(week), "{agent}");
    }
    assert!(
        record.swap_violations.is_empty(),
        "writes or publishes while a swap was pending: {:?}",
        record.swap_violations
    );
    assert!(record.republished_with_changes().is_empty());
    for ((_, agent), shifts) in &record.published {
        assert!(
            shifts.iter().all(|s| s.activity.is_some()),
            "{agent}: every published shift keeps its activity"
        );
    }
}

pub async fn publish_process(cfg: &TestConfig, extra: &[&str]) -> tokio::process::Child {
    publish_process_for(cfg, week(), extra).await
}

/// `publish` of `week` with `extra` arguments, on `cfg` with a quick
/// re-check of deferred agents and eight workers (`publish.toml` beside it).
pub async fn publish_process_for(
    cfg: &Testbed,
    week: NaiveDate,
    extra: &[&str],
) -> tokio::process::Child {
    let config = cfg
        .variant("publish.toml", |c| {
            c.target("chicago")
                .deferral
                .poll_interval(Duration::from_millis(300));
            c.workers.concurrency(8);
        })
        .unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args([
            "--log-format",
            "json",
            "publish",
            "--target",
            "chicago",
            "--config",
        ])
        .arg(&config)
        .arg("--week")
        .arg(week.to_string())
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Runs `publish` for `week` to its end: its exit code and its stdout.
pub async fn publish_output(
    cfg: &Testbed,
    week: NaiveDate,
    extra: &[&str],
) -> (Option<i32>, String) {
    let child = publish_process_for(cfg, week, extra).await;
    let out = super::patiently("`publish` to end", child.wait_with_output())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout)
}

/// The week after the coming one: its deferral deadline is always ahead of
/// the real clock that a publisher process runs on.
pub fn future_week() -> NaiveDate {
    wfm_publisher::domain::week::upcoming_week_start(
        chrono::Utc::now() + chrono::TimeDelta::days(7),
        "America/Chicago".parse().unwrap(),
        chrono::Weekday::Mon,
    )
}

/// The paths of the calls that change something (not a read, not a token)
/// among the platform's requests from the `from`-th on.
pub fn changes_since(record: &Record, from: usize) -> Vec<String> {
    record.requests[from..]
        .iter()
        .filter(|r| r.method != "GET" && !r.path.starts_with("/oauth/"))
        .map(|r| r.path.clone())
        .collect()
}

pub fn only_reads(record: &Record) -> bool {
    record
        .requests
        .iter()
        .all(|r| r.method == "GET" || r.path.starts_with("/oauth/"))
}

/// A run to the end of `week`, waiting for swaps.
pub fn to_the_end(week: NaiveDate) -> RunOptions {
    RunOptions {
        week,
        dry_run: false,
        wait: true,
        adopt: false,
    }
}
