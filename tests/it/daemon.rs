//! The daemon with a clock the test moves: cron across DST, catch-up, no
//! overlapping runs, shutdown mid-run then resume, reload, readiness,
//! metrics and the admin trigger.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::running::Running;
use common::*;
use tokio_util::sync::CancellationToken;
use wfm_publisher::clock::{Clock, ManualClock, SharedClock};
use wfm_publisher::daemon::{self, AtStart, DaemonOptions, RunNow};
use wfm_publisher::sample::{self, SampleSpec};
use wfm_publisher::sim::{Scenario, SimHandle};
use wfm_publisher::store::{Outcome, RunRecord, SqliteStore, Store};
use wfm_publisher::testbed::TargetSection;

/// What these tests ask of the shared `Running` beyond starting and
/// stopping it: the runs its store recorded.
trait Recorded {
    /// Waits until the first run recorded has `outcome`.
    async fn first_run_ends(&self, what: &str, outcome: Outcome);
    fn runs(&self) -> Vec<RunRecord>;
    /// Whether the latest run recorded ended with `outcome`.
    fn latest_is(&self, outcome: Outcome) -> bool;
}

impl Recorded for Running {
    async fn first_run_ends(&self, what: &str, outcome: Outcome) {
        eventually(what, || {
            self.runs().first().is_some_and(|r| r.outcome == outcome)
        })
        .await;
    }

    fn runs(&self) -> Vec<RunRecord> {
        self.daemon.store.recent_runs(100).unwrap()
    }

    fn latest_is(&self, outcome: Outcome) -> bool {
        self.runs().first().is_some_and(|r| r.outcome == outcome)
    }
}

async fn start(cfg: &TestConfig, clock: SharedClock, run_now: &[&str]) -> Running {
    let runs = run_now
        .iter()
        .map(|s| RunNow {
            target: s.parse().unwrap(),
            week: None,
        })
        .collect();
    let at_start = AtStart {
        runs,
        ..AtStart::default()
    };
    Running::launch(&cfg.path, clock, at_start).await
}

/// Waits (in real time, briefly) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The week config/sim-small.toml is written for: the coming week of
/// these tests' manual clocks, which start on 2026-11-25.
fn written_week() -> NaiveDate {
    "2026-11-30".parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A platform whose publishes and locks take no time, so a manual clock
/// never has to move for them.
fn instant_scenario() -> Scenario {
    let mut s = small_scenario_as_written();
    s.server.publish_duration = Duration::ZERO;
    s.server.publish_lock = Duration::ZERO;
    s
}

/// No shift swaps at all: SMALL_WEEK's agents are those of the small
/// scenario's swaps, so with them a run would wait on the manual clock and
/// these tests would never see it end.
fn no_swaps_scenario() -> Scenario {
    let mut s = instant_scenario();
    s.swaps.clear();
    s
}

fn with_week(cfg: &TestConfig, week: &str, csv: &str) {
    let dir = cfg.dir().join("inbox/chicago");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{week}.csv")), csv).unwrap();
}

/// A simulator without swaps, and a configuration whose week of 2026-11-30
/// is SMALL_WEEK.
async fn small_week_setup() -> (SimHandle, TestConfig) {
    let sim = spawn_sim(no_swaps_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    with_week(&cfg, "2026-11-30", SMALL_WEEK);
    (sim, cfg)
}

/// A daemon against a fresh instant simulator, notifying `hook`, whose
/// week of 2026-11-30 is `csv`, once its first run (asked for at once) has
/// ended with `outcome`.
async fn notifying_run(
    hook: &str,
    csv: &str,
    clock: &ManualClock,
    outcome: Outcome,
) -> (SimHandle, Running) {
    let sim = spawn_sim(instant_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.change(|c| {
        c.notify.webhook_url(hook).timeout(secs(2));
    });
    with_week(&cfg, "2026-11-30", csv);
    let running = start(&cfg, Arc::new(clock.clone()), &["chicago"]).await;
    running
        .first_run_ends(&format!("the run to end {outcome:?}"), outcome)
        .await;
    (sim, running)
}

/// a-1 and a-2 are the agents of the small scenario's swap sw-1.
const SMALL_WEEK: &str = "agent_id,date,start,end,activity\na-1,2026-12-01,08:00,16:00,phone\na-2,2026-12-01,08:00,16:00,email\n";

/// Moves the clock in steps and records the instants at which runs start.
async fn fire_times(
    running: &Running,
    clock: &ManualClock,
    until: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut seen = running.runs().len();
    let mut fires = Vec::new();
    while clock.now() < until {
        clock.advance(Duration::from_secs(15 * 60));
        let now = clock.now();
        // The loop has taken the step once it plans a fire after it.
        eventually("the scheduler to take the step", || {
            running
                .daemon
                .next_runs()
                .get("chicago")
                .is_some_and(|next| *next > now)
        })
        .await;
        eventually("runs to be recorded", || {
            !running.daemon.is_running(&"chicago".parse().unwrap())
        })
        .await;
        let runs = running.runs().len();
        for _ in seen..runs {
            fires.push(now);
        }
        seen = runs;
    }
    fires
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_fires_once_across_spring_forward_and_fall_back() {
    for (from, until, cron, expected) in [
        (
            "2026-03-07T00:00:00Z",
            "2026-03-10T00:00:00Z",
            "30 2 * * *",
            [
                "2026-03-07T08:30:00Z",
                "2026-03-08T08:00:00Z",
                "2026-03-09T07:30:00Z",
            ],
        ),
        (
            "2026-10-31T00:00:00Z",
            "2026-11-03T00:00:00Z",
            "30 1 * * *",
            [
                "2026-10-31T06:30:00Z",
                "2026-11-01T06:30:00Z",
                "2026-11-02T07:30:00Z",
            ],
        ),
    ] {
        let sim = spawn_sim(instant_scenario()).await;
        let cfg = TestConfig::new(&sim.base_url(), "publisher");
        // No waiting for the missing source files below.
        cfg.change(|c| {
            c.target("chicago").cron(cron).source_wait(secs(0));
        });
        let clock = ManualClock::new(at(from));
        let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
        // No source files: every run is refused at once, and recorded.
        let fires = fire_times(&running, &clock, at(until)).await;
        let expected: Vec<DateTime<Utc>> = expected.iter().map(|s| at(s)).collect();
        assert_eq!(fires, expected, "cron {cron} from {from}");
        running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_run_fires_on_time_and_publishes_the_coming_week() {
    let (sim, cfg) = small_week_setup().await;
    // Wednesday; the job is Thursday 06:00 in Chicago (12:00Z).
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
    eventually("the first plan", || {
        running.daemon.next_runs().contains_key("chicago")
    })
    .await;
    assert_eq!(
        running.daemon.next_runs()["chicago"],
        at("2026-11-26T12:00:00Z")
    );
    clock.advance(Duration::from_secs(23 * 3600));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(running.runs().is_empty(), "not before its time");
    clock.advance(Duration::from_secs(3600));
    running
        .first_run_ends("the weekly run to succeed", Outcome::Success)
        .await;
    let run = &running.runs()[0];
    assert_eq!(run.week_start.to_string(), "2026-11-30");
    assert_eq!(sim.record().published.len(), 2);
    assert_eq!(
        running.daemon.next_runs()["chicago"],
        at("2026-12-03T12:00:00Z")
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_missed_while_down_is_made_up_once_at_start() {
    let (_sim, cfg) = small_week_setup().await;
    // Down through Thursday 06:00 Chicago; back two hours later.
    let clock = ManualClock::new(at("2026-11-26T14:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
    running
        .first_run_ends("the missed run", Outcome::Success)
        .await;
    assert_eq!(running.runs()[0].started_at, at("2026-11-26T14:00:00Z"));
    running.stop().await;

    // Restarted again within the window: the week's run happened, no second one.
    let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(running.runs().len(), 1);
    running.stop().await;

    // Outside the window (catch_up is 6h by default): skipped.
    let sim2 = spawn_sim(instant_scenario()).await;
    let late = TestConfig::new(&sim2.base_url(), "publisher");
    let clock = ManualClock::new(at("2026-11-26T19:00:00Z"));
    let running = start(&late, Arc::new(clock), &[]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(running.runs().is_empty());
    running.stop().await;
}

/// `dev` asks for a run at once and exits when it ends; a run that the
/// start catches up for the same target is that run, and the daemon waits
/// for it (it exited at once, cancelling it, whenever dev mode started
/// within a target's catch-up window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_asked_for_at_once_is_waited_for_when_a_catch_up_started_it() {
    let (_sim, cfg) = small_week_setup().await;
    let clock = ManualClock::new(at("2026-11-26T14:00:00Z"));
    let reports = daemon::run(DaemonOptions {
        config: cfg.path.clone(),
        clock: Arc::new(clock),
        shutdown: CancellationToken::new(),
        reload_on_sighup: false,
        at_start: Some(AtStart {
            runs: vec![RunNow {
                target: "chicago".parse().unwrap(),
                week: None,
            }],
            adopt: false,
            exit_when_done: true,
        }),
    })
    .await
    .unwrap();
    let outcomes: Vec<_> = reports.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Some(Outcome::Success)]);
}

fn deferring_setup(sim_base: &str) -> TestConfig {
    let cfg = TestConfig::new(sim_base, "publisher");
    cfg.change(|c| {
        c.target("chicago").deferral.poll_interval(secs(1));
    });
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_overlapping_runs_and_shutdown_mid_run_resumes_at_the_next_start() {
    let spec = SampleSpec {
        schedule_id: "chicago-2026-11-30".into(),
        org_id: "org-acme".into(),
        time_zone: "America/Chicago".parse().unwrap(),
        week_start: "2026-11-30".parse().unwrap(),
        agent_prefix: "a-".into(),
        agents: 20,
        swaps: 2,
        resolve_within: Duration::from_secs(100_000),
    };
    let generated = sample::generate(&spec);
    let mut scenario = instant_scenario();
    scenario.schedules = vec![generated.schedule];
    scenario.swaps = generated.swaps;
    scenario.rate_limits.default.limit = 1000;
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let shared: SharedClock = Arc::new(clock.clone());
    let sim = spawn_sim_with_clock(scenario, shared.clone()).await;
    let cfg = deferring_setup(&sim.base_url());
    with_week(&cfg, "2026-11-30", &generated.csv);

    let running = start(&cfg, shared.clone(), &["chicago"]).await;
    eventually("the run to wait for its swaps", || {
        let store = &running.daemon.store;
        store
            .pending_deferrals()
            .map(|d| d.len() == 4)
            .unwrap_or(false)
    })
    .await;
    assert!(running.daemon.is_running(&"chicago".parse().unwrap()));
    assert!(running.daemon.trigger("chicago", "test"));
    assert!(running.daemon.trigger("chicago", "test"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(running.runs().len(), 1, "one run per target at a time");

    // SIGTERM while waiting: the run stays open, nothing is lost.
    let reports = running.stop().await;
    assert!(reports.iter().all(|r| r.outcome == Some(Outcome::Running)));
    let store = SqliteStore::open(&cfg.dir().join("state.db")).unwrap();
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, Outcome::Running);
    assert_eq!(store.pending_deferrals().unwrap().len(), 4);
    drop(store);

    // The swaps resolve while the daemon is down; the next start resumes the
    // same run and publishes what they decided.
    for id in sim.swap_statuses().keys() {
        sim.resolve_swap(id, wfm_publisher::sim::SwapStatus::Approved);
    }
    let running = start(&cfg, shared.clone(), &[]).await;
    running
        .first_run_ends("the resumed run to end", Outcome::Success)
        .await;
    let runs = running.runs();
    assert_eq!(runs.len(), 1, "resumed, not started over");
    assert_eq!(runs[0].id, 1);
    let record = sim.record();
    assert_eq!(record.published.len(), 20);
    assert!(record.swap_violations.is_empty());
    assert!(record.republished_with_changes().is_empty());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_new_configuration_keeps_the_old_one() {
    let sim = spawn_sim(instant_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock), &[]).await;
    cfg.edit("cron = \"0 6 * * 4\"", "cron = \"0 61 * * 4\"\nbogus = 1");
    let err = running.daemon.reload().unwrap_err().to_string();
    assert!(
        err.contains("targets.chicago.cron") && err.contains("targets.chicago.bogus"),
        "{err}"
    );
    assert_eq!(
        running.daemon.settings().targets["chicago"].cron,
        "0 6 * * 4"
    );
    cfg.change(|c| {
        c.target("chicago").cron("0 7 * * 4");
    });
    running.daemon.reload().unwrap();
    assert_eq!(
        running.daemon.settings().targets["chicago"].cron,
        "0 7 * * 4"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_token() {
    let sim = spawn_sim(instant_scenario()).await;
    let http = reqwest::Client::new();
    let good = TestConfig::new(&sim.base_url(), "publisher");
    let running = start(&good, Arc::new(ManualClock::new(Utc::now())), &[]).await;
    let ready = admin_get(&http, &running, "readyz").await;
    assert_eq!(ready.status(), 200);
    let health = admin_get(&http, &running, "healthz").await;
    assert_eq!(health.status(), 200);
    running.stop().await;

    let bad = TestConfig::with_secret(&sim.base_url(), "publisher", "wrong-secret");
    let running = start(&bad, Arc::new(ManualClock::new(Utc::now())), &[]).await;
    let ready = admin_get(&http, &running, "readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(
        body["reason"].as_str().unwrap().contains("invalid_client"),
        "{body}"
    );
    assert!(!body.to_string().contains("wrong-secret"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_trigger_needs_the_admin_token() {
    let (_sim, cfg) = small_week_setup().await;
    let http = reqwest::Client::new();

    // Without a configured token, triggering is off.
    let running = start(
        &cfg,
        Arc::new(ManualClock::new(at("2026-11-25T12:00:00Z"))),
        &[],
    )
    .await;
    let off = http
        .post(format!("{}/targets/chicago/runs", running.admin()))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 403);
    running.stop().await;

    std::fs::write(cfg.dir().join("admin_token"), "s3cret-admin\n").unwrap();
    cfg.change(|c| {
        c.admin.token_file("admin_token");
    });
    let running = start(
        &cfg,
        Arc::new(ManualClock::new(at("2026-11-25T12:00:00Z"))),
        &[],
    )
    .await;
    let url = format!("{}/targets/chicago/runs", running.admin());
    assert_eq!(http.post(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.post(&url)
            .bearer_auth("s3cret-admi")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let unknown = format!("{}/targets/nowhere/runs", running.admin());
    assert_eq!(
        http.post(&unknown)
            .bearer_auth("s3cret-admin")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert!(running.runs().is_empty());
    assert_eq!(
        http.post(&url)
            .bearer_auth("s3cret-admin")
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    running
        .first_run_ends("the triggered run", Outcome::Success)
        .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_exposition_and_status_reports_targets() {
    let (_sim, cfg) = small_week_setup().await;
    let running = start(
        &cfg,
        Arc::new(ManualClock::new(at("2026-11-25T12:00:00Z"))),
        &["chicago"],
    )
    .await;
    running.first_run_ends("the run", Outcome::Success).await;
    let http = reqwest::Client::new();
    let text = admin_get(&http, &running, "metrics")
        .await
        .text()
        .await
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid exposition format");
    let names: std::collections::BTreeSet<&str> =
        scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for wanted in [
        "wfm_runs_total",
        "wfm_agents_published_total",
        "wfm_api_requests_total",
        "wfm_token_requests_total",
        "wfm_pending_deferrals",
        "wfm_seconds_until_next_run",
        // Issue 29 item 23: what operators of batch jobs expect.
        "wfm_last_success_timestamp_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(names.contains(wanted), "{wanted} missing from:\n{text}");
    }
    let build = scrape
        .samples
        .iter()
        .find(|s| s.metric == "wfm_publisher_build_info")
        .unwrap_or_else(|| panic!("no build info in:\n{text}"));
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(build.labels.get("commit").is_some_and(|c| !c.is_empty()));
    // Histograms, with buckets: a run's duration and a request's latency.
    for (histogram, label, value) in [
        ("wfm_run_duration_seconds", "target", "chicago"),
        ("wfm_api_request_duration_seconds", "endpoint", "publish"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram}:\n{text}"
        );
        let counted = scrape.samples.iter().any(|s| {
            s.metric == histogram
                && s.labels.get(label) == Some(value)
                && matches!(&s.value, prometheus_parse::Value::Histogram(h) if !h.is_empty())
        });
        assert!(counted, "{histogram} of {label}={value}:\n{text}");
    }
    let next = scrape
        .samples
        .iter()
        .find(|s| s.metric == "wfm_seconds_until_next_run")
        .unwrap();
    assert_eq!(next.labels.get("target"), Some("chicago"));

    let status = get_json(format!("{}/status", running.admin())).await;
    assert_eq!(status["targets"][0]["name"], "chicago");
    assert_eq!(status["targets"][0]["last_run"]["outcome"], "success");
    assert_eq!(status["targets"][0]["next_run"], "2026-11-26T12:00:00Z");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_run_notifies_the_webhook_and_a_dead_webhook_changes_nothing() {
    // Sunday evening before the week: swaps still pending are past their
    // deadline (12 hours before Monday 00:00 in Chicago).
    let clock = ManualClock::new(at("2026-11-29T23:00:00Z"));
    let (hook, received) = webhook_receiver().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    for url in [hook, dead] {
        let (sim, running) = notifying_run(
            &url,
            "agent_id,date,start,end,activity\na-1,2026-11-30,08:00,16:00,phone\na-5,2026-11-30,08:00,16:00,phone\n",
            &clock,
            Outcome::Partial,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        running.stop().await;
        assert_eq!(sim.record().published.len(), 1, "a-5 published, a-1 not");
    }
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["outcome"], "partial");
    assert_eq!(got[0]["deferral_deadline_passed"], true);
    assert_eq!(got[0]["unpublished"][0]["agent_id"], "a-1");
    assert!(got[0]["text"].as_str().unwrap().contains("chicago"));
}

/// Frequent probes with a wrong secret ask the OAuth server once, not once
/// each: an OAuth server may lock an account after repeated failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probes_reuse_a_recent_failure() {
    let sim = spawn_sim(instant_scenario()).await;
    let http = reqwest::Client::new();
    let bad = TestConfig::with_secret(&sim.base_url(), "publisher", "wrong-secret");
    let running = start(&bad, Arc::new(ManualClock::new(Utc::now())), &[]).await;
    for _ in 0..100 {
        let ready = admin_get(&http, &running, "readyz").await;
        assert_eq!(ready.status(), 503);
    }
    assert_eq!(sim.record().token_requests, 1);
    running.stop().await;
}

// A week's source file that arrives late: the run waits for it on the
// manual clock, watched by notify with a poll as the fallback.

/// The week's source file of the tests below.
fn source_path(cfg: &TestConfig) -> std::path::PathBuf {
    cfg.dir().join("inbox/chicago/2026-11-30.csv")
}

/// The deferral deadline of the week of 2026-11-30 in Chicago: 12 hours
/// before Monday 00:00 local.
const SOURCE_DEADLINE: &str = "2026-11-29T18:00:00Z";

fn waiting_for_source(running: &Running) -> bool {
    matches!(
        running.daemon.phase(&"chicago".parse().unwrap()),
        Some(daemon::RunPhase::WaitingForSource { .. })
    )
}

/// Moves the clock a second at a time (letting the daemon look at the file
/// between steps) until `check` holds: a file must stay unchanged for the
/// settle time on this clock before a run takes it.
async fn advance_until(clock: &ManualClock, what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if check() {
            return;
        }
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the clock moved 2000s without {what}");
}

/// The answer of the admin endpoint's `path` (`readyz`, `metrics`, …).
async fn admin_get(http: &reqwest::Client, running: &Running, path: &str) -> reqwest::Response {
    http.get(format!("{}/{path}", running.admin()))
        .send()
        .await
        .unwrap()
}

async fn get_json(url: String) -> serde_json::Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// chicago's `wfm_runs_total` for `outcome` (every outcome's series is
/// there from the start, at zero).
async fn runs_ended(running: &Running, outcome: &str) -> f64 {
    chicago_sample(running, "wfm_runs_total", Some(outcome)).await
}

/// The value of the sample of `metric` (a gauge or a counter) for the
/// chicago target.
async fn chicago_value(running: &Running, metric: &str) -> f64 {
    chicago_sample(running, metric, None).await
}

/// The value of chicago's sample of `metric`, of `outcome` when given.
async fn chicago_sample(running: &Running, metric: &str, outcome: Option<&str>) -> f64 {
    let url = format!("{}/metrics", running.admin());
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let sample = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == metric
                && s.labels.get("target") == Some("chicago")
                && outcome.is_none_or(|o| s.labels.get("outcome") == Some(o))
        })
        .unwrap_or_else(|| panic!("{metric} missing from:\n{text}"));
    match sample.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Counter(v) => v,
        ref other => panic!("{metric} is neither a gauge nor a counter: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_file_arriving_after_the_cron_time_is_waited_for_then_published() {
    let sim = spawn_sim(no_swaps_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    // Wednesday; the job is Thursday 06:00 in Chicago (12:00Z).
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
    eventually("the first plan", || {
        running.daemon.next_runs().contains_key("chicago")
    })
    .await;
    clock.advance(Duration::from_secs(24 * 3600));
    eventually("the run to wait for its file", || {
        waiting_for_source(&running)
    })
    .await;
    assert!(running.runs().is_empty(), "a missing file is not a refusal");
    let status = get_json(format!("{}/status", running.admin())).await;
    let phase = &status["targets"][0]["phase"];
    assert_eq!(phase["phase"], "waiting_for_source", "{status}");
    assert_eq!(phase["path"], source_path(&cfg).display().to_string());
    assert_eq!(phase["deadline"], SOURCE_DEADLINE);
    assert_eq!(chicago_value(&running, "wfm_waiting_for_source").await, 1.0);
    let deadline = at(SOURCE_DEADLINE).timestamp() as f64;
    let gauge = chicago_value(&running, "wfm_source_deadline_timestamp_seconds").await;
    assert_eq!(gauge, deadline);

    // Two hours late, written in place.
    clock.advance(Duration::from_secs(2 * 3600));
    with_week(&cfg, "2026-11-30", SMALL_WEEK);
    advance_until(&clock, "the run to succeed", || {
        running.latest_is(Outcome::Success)
    })
    .await;
    assert_eq!(running.runs().len(), 1, "one run, no refusal before it");
    assert_eq!(sim.record().published.len(), 2);
    eventually("the run to end", || {
        !running.daemon.is_running(&"chicago".parse().unwrap())
    })
    .await;
    assert_eq!(running.daemon.phase(&"chicago".parse().unwrap()), None);
    assert_eq!(chicago_value(&running, "wfm_waiting_for_source").await, 0.0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_file_that_never_arrives_is_refused_at_the_deadline_naming_it() {
    let sim = spawn_sim(no_swaps_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let (hook, received) = webhook_receiver().await;
    cfg.change(|c| {
        c.target("chicago").source_grace(secs(3600));
        c.notify.webhook_url(&hook);
    });
    // Thursday 08:00 in Chicago: the 06:00 run is caught up at start.
    let clock = ManualClock::new(at("2026-11-26T14:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
    eventually("the caught-up run to wait", || waiting_for_source(&running)).await;

    clock.advance(Duration::from_secs(3600));
    eventually("the late notice", || received.lock().unwrap().len() == 1).await;
    let late = received.lock().unwrap()[0].clone();
    assert_eq!(late["event"], "source_late", "{late}");
    assert_eq!(late["deadline"], SOURCE_DEADLINE);
    assert!(
        waiting_for_source(&running),
        "a late file is still waited for"
    );

    clock.set(at(SOURCE_DEADLINE));
    eventually("the refusal", || running.latest_is(Outcome::Refused)).await;
    let path = source_path(&cfg).display().to_string();
    let summary = running.runs()[0].summary.clone().unwrap_or_default();
    assert!(summary.starts_with(&format!("{path}: ")), "{summary}");
    assert!(summary.contains("did not arrive"), "{summary}");
    eventually("the deadline notice", || {
        received.lock().unwrap().len() == 2
    })
    .await;
    running.stop().await;
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "told once each: {got:?}");
    assert_eq!(got[1]["event"], "source_never_arrived", "{}", got[1]);
    assert_eq!(got[1]["outcome"], "refused");
    assert!(got[1]["text"].as_str().unwrap().contains(&path));
    assert!(sim.record().published.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_write_renamed_into_place_is_published_whole() {
    let sim = spawn_sim(no_swaps_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let clock = ManualClock::new(at("2026-11-26T14:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &["chicago"]).await;
    eventually("the run to wait", || waiting_for_source(&running)).await;

    // The exporter writes beside the file, under names that are not it.
    // Its directory appears only now: the wait polls until it can watch it.
    let dir = source_path(&cfg).with_file_name("");
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join("2026-11-30.csv.partial");
    let first_agent = SMALL_WEEK.lines().take(2).collect::<Vec<_>>().join("\n");
    std::fs::write(&partial, format!("{first_agent}\n")).unwrap();
    std::fs::write(dir.join(".2026-11-30.csv.swp"), SMALL_WEEK).unwrap();
    std::fs::write(dir.join("2026-11-30.csv.tmp"), SMALL_WEEK).unwrap();
    clock.advance(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(waiting_for_source(&running), "no partial file is taken");
    assert!(running.runs().is_empty());

    std::fs::write(&partial, SMALL_WEEK).unwrap();
    std::fs::rename(&partial, source_path(&cfg)).unwrap();
    advance_until(&clock, "the run to succeed", || {
        running.latest_is(Outcome::Success)
    })
    .await;
    assert_eq!(running.runs().len(), 1);
    assert_eq!(
        sim.record().published.len(),
        2,
        "the whole file, both agents"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_source_file_then_a_corrected_one_starts_a_new_attempt() {
    let sim = spawn_sim(no_swaps_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let (hook, received) = webhook_receiver().await;
    cfg.change(|c| {
        c.notify.webhook_url(&hook);
    });
    let clock = ManualClock::new(at("2026-11-26T14:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &["chicago"]).await;
    eventually("the run to wait", || waiting_for_source(&running)).await;

    let invalid = SMALL_WEEK.replace("a-2,2026-12-01,08:00", "a-2,2026-12-01,8 o'clock");
    with_week(&cfg, "2026-11-30", &invalid);
    advance_until(&clock, "the invalid file's refusal", || {
        running.latest_is(Outcome::Refused)
    })
    .await;
    let summary = running.runs()[0].summary.clone().unwrap_or_default();
    let at_line = format!("{}:3: ", source_path(&cfg).display());
    assert!(summary.starts_with(&at_line), "FILE:LINE: what: {summary}");
    eventually("the refusal's notice", || {
        received.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(received.lock().unwrap()[0]["outcome"], "refused");
    eventually("the run to wait for a corrected file", || {
        waiting_for_source(&running)
    })
    .await;
    assert!(running.daemon.is_running(&"chicago".parse().unwrap()));

    // The same content written again is not a new attempt...
    with_week(&cfg, "2026-11-30", &invalid);
    clock.advance(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(running.runs().len(), 1);
    // ...a corrected one is.
    with_week(&cfg, "2026-11-30", SMALL_WEEK);
    advance_until(&clock, "the corrected file's run", || {
        running.latest_is(Outcome::Success)
    })
    .await;
    let runs = running.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[1].outcome, Outcome::Refused);
    assert_eq!(sim.record().published.len(), 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_a_wait_for_the_source_file_and_records_nothing() {
    let sim = spawn_sim(no_swaps_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let clock = ManualClock::new(at("2026-11-26T14:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &["chicago"]).await;
    eventually("the run to wait", || waiting_for_source(&running)).await;
    let store = running.daemon.store.clone();
    // The clock stands still: only the stop can end the wait.
    let reports = running.stop().await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].outcome, None);
    assert!(
        reports[0].problems[0].starts_with("stopped while waiting for "),
        "{:?}",
        reports[0].problems
    );
    assert!(store.recent_runs(10).unwrap().is_empty());
}

/// `cfg` with an admin token in a file next to it.
fn with_admin_token(cfg: &TestConfig, token: &str) {
    std::fs::write(cfg.dir().join("admin_token"), format!("{token}\n")).unwrap();
    cfg.change(|c| {
        c.admin.token_file("admin_token");
    });
}

/// Twenty requests sent at once, each on a connection opened beforehand so
/// that they reach the handlers together; their statuses, sorted.
async fn at_once(
    http: &reqwest::Client,
    admin: &str,
    send: impl Fn() -> reqwest::RequestBuilder,
) -> Vec<u16> {
    let warm = (0..20).map(|_| http.get(format!("{admin}/healthz")).send());
    for answer in futures::future::join_all(warm).await {
        assert_eq!(answer.unwrap().status(), 200);
    }
    let answers = futures::future::join_all((0..20).map(|_| send().send())).await;
    let mut codes: Vec<u16> = answers
        .into_iter()
        .map(|a| a.unwrap().status().as_u16())
        .collect();
    codes.sort();
    codes
}

/// A webhook that takes every request and never answers; counts them.
async fn hanging_webhook() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let got = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::pending::<&'static str>()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Two targets: `chicago`, whose source is missing (its runs fail at once
/// and notify `hook`), and `waiting`, whose week waits on a pending swap
/// (its run stays in progress on the manual clock).
fn failing_and_waiting(sim_base: &str, hook: &str, hook_timeout: Duration) -> TestConfig {
    let cfg = TestConfig::new(sim_base, "publisher");
    with_week(&cfg, "2026-11-30", SMALL_WEEK);
    cfg.change(|c| {
        // No file and no wait for one: chicago's run is refused at once.
        c.target("chicago")
            .source("inbox/none/{week_start}.csv")
            .source_wait(secs(0));
        c.targets
            .insert("waiting".into(), TargetSection::chicago("chicago"));
        c.notify.webhook_url(hook).timeout(hook_timeout);
    });
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_triggers_start_one_run() {
    let sim = spawn_sim(instant_scenario()).await;
    let http = reqwest::Client::new();
    let (hook, hooked) = hanging_webhook().await;
    let cfg = failing_and_waiting(&sim.base_url(), &hook, secs(3));
    with_admin_token(&cfg, "s3cret-admin");
    // Twenty connections from one address: more than its default share.
    cfg.edit(
        "token_file = \"admin_token\"",
        "token_file = \"admin_token\"\nmax_connections_per_address = 20",
    );
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock), &["chicago"]).await;
    // The main loop may be busy (here, with chicago's notification): the
    // answer must not depend on when it gets to the triggers.
    eventually("the failed run's notification", || {
        hooked.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    let url = format!("{}/targets/waiting/runs", running.admin());
    let codes = at_once(&http, &running.admin(), || {
        http.post(&url).bearer_auth("s3cret-admin")
    })
    .await;
    let mut expected = vec![202];
    expected.extend([409; 19]);
    assert_eq!(codes, expected);
    let waiting = || {
        running
            .runs()
            .iter()
            .filter(|r| r.target == "waiting")
            .count()
    };
    eventually("the run to start", || waiting() == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(waiting(), 1, "one run for one 202");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_status_needs_it_and_the_bearer_scheme_is_case_insensitive() {
    let sim = spawn_sim(instant_scenario()).await;
    let http = reqwest::Client::new();
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    with_admin_token(&cfg, "s3cret-admin");
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock), &[]).await;
    let admin = running.admin();
    let status = format!("{admin}/status");
    assert_eq!(http.get(&status).send().await.unwrap().status(), 401);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let answer = http
            .get(&status)
            .header("authorization", format!("{scheme} s3cret-admin"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "scheme {scheme}");
    }
    let wrong = http
        .get(&status)
        .bearer_auth("s3cret-admi")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    for open in ["healthz", "metrics"] {
        let answer = http.get(format!("{admin}/{open}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "/{open} stays open");
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_holds_neither_triggers_nor_the_stop() {
    let sim = spawn_sim(instant_scenario()).await;
    let (hook, hooked) = hanging_webhook().await;
    let cfg = failing_and_waiting(&sim.base_url(), &hook, secs(60));
    cfg.change(|c| {
        c.workers.shutdown_grace(secs(2));
    });
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock), &["chicago"]).await;
    eventually("the failed run's notification", || {
        hooked.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    // The hook hangs for its 60 s timeout; the daemon goes on meanwhile.
    assert!(running.daemon.trigger("waiting", "test"));
    eventually("the triggered run to start", || {
        running.runs().iter().any(|r| r.target == "waiting")
    })
    .await;
    // The stop waits for the hook no longer than the shutdown grace; the
    // timeout only guards against a hang.
    tokio::time::timeout(Duration::from_secs(30), running.stop())
        .await
        .expect("the stop is not held by the webhook");
}

/// Connects `n` clients to `addr` that never finish a request: the even
/// ones send half the headers, the odd ones nothing.
async fn slow_clients(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut clients = Vec::new();
    for i in 0..n {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            client
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .await
                .unwrap();
        }
        clients.push(client);
    }
    clients
}

/// Reads until the server closes `client` (a reset counts as closed).
async fn closed_by_server(client: &mut tokio::net::TcpStream, what: &str) {
    use tokio::io::AsyncReadExt;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut rest));
    let _ = read.await.unwrap_or_else(|_| panic!("{what}: still open"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_admin_clients_are_cut_off_beyond_the_header_timeout() {
    let sim = spawn_sim(instant_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.change(|c| {
        c.admin.header_read_timeout(ms(300)).max_connections(4);
    });
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock), &[]).await;
    let addr = running.daemon.admin_addr().unwrap();
    // More than the four served at once, from one address: beyond its
    // share, they are answered 503 and closed.
    let mut clients = slow_clients(addr, 10).await;
    for (i, client) in clients.iter_mut().enumerate() {
        closed_by_server(client, &format!("slow client {i}")).await;
    }
    let health = reqwest::get(format!("{}/healthz", running.admin()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the endpoint still answers");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_admin_request_does_not_hold_the_stop() {
    let sim = spawn_sim(instant_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.change(|c| {
        c.workers.shutdown_grace(secs(1));
    });
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock), &[]).await;
    let mut clients = slow_clients(running.daemon.admin_addr().unwrap(), 2).await;
    // Served after the slow ones were accepted: they are connections now.
    let health = reqwest::get(format!("{}/healthz", running.admin()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // The bound only guards against a hang; the grace is 1 s.
    tokio::time::timeout(Duration::from_secs(15), running.stop())
        .await
        .expect("the stop is not held by an unfinished request");
    for client in &mut clients {
        closed_by_server(client, "a client at the stop").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_problems_reach_the_webhook_and_status_as_fifty_and_a_count() {
    const ROWS: usize = 20_000;
    let clock = ManualClock::new(at("2026-11-26T12:00:00Z"));
    let (hook, received) = webhook_receiver().await;
    let mut csv = String::from("agent_id,date,start,end,activity\n");
    for i in 0..ROWS {
        csv.push_str(&format!("a-{i},2026-12-01,8am,16:00,phone\n"));
    }
    let (_sim, running) = notifying_run(&hook, &csv, &clock, Outcome::Refused).await;
    // The recorder is the process's, shared by this file's daemons: this
    // run at least (none was ever counted before).
    assert!(
        runs_ended(&running, "refused").await >= 1.0,
        "a refused run counts"
    );
    let status = reqwest::get(format!("{}/status", running.admin()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    eventually("the webhook to hear", || {
        !received.lock().unwrap().is_empty()
    })
    .await;
    running.stop().await;
    assert!(status.len() < 20_000, "/status of {} bytes", status.len());
    assert!(status.contains(&format!("and {} more problems", ROWS - 50)));
    let got = received.lock().unwrap().clone();
    assert_eq!(
        got[0]["problems"].as_array().unwrap().len(),
        50,
        "{}",
        got[0]
    );
    assert_eq!(got[0]["problems_total"], ROWS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_failed_by_an_outage_is_retried_with_backoff_and_shown_in_status() {
    let (sim, cfg) = small_week_setup().await;
    // One attempt per call: the outage fails the run at once, on any clock.
    cfg.change(|c| {
        c.retry.max_attempts(1);
    });
    sim.reconfigure(|live| {
        live.faults.error_rate = 1.0;
        live.faults.error_statuses = vec![503];
    });
    // Thursday 04:00 in Chicago; the job is at 06:00 (12:00Z).
    let clock = ManualClock::new(at("2026-11-26T10:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
    // Counters are the process' (the tests' daemons share it): compared
    // with what they said before.
    let retries_before = chicago_value(&running, "wfm_run_retries_total").await;
    assert!(running.daemon.trigger("chicago", "test"));
    running
        .first_run_ends("the run to fail", Outcome::Failed)
        .await;
    eventually("the retry to be planned", || {
        running.daemon.retry(&"chicago".parse().unwrap()).is_some()
    })
    .await;
    let status = get_json(format!("{}/status", running.admin())).await;
    let retry = &status["targets"][0]["retry"];
    assert_eq!(retry["state"], "waiting", "{status}");
    assert_eq!(retry["attempt"], 1, "{status}");
    assert_eq!(retry["week"], "2026-11-30", "{status}");
    let next: DateTime<Utc> = retry["next_attempt"].as_str().unwrap().parse().unwrap();
    assert!(
        next >= at("2026-11-26T10:01:00Z") && next <= at("2026-11-26T10:02:00Z"),
        "retry.run_initial_delay (1 min) with jitter: {next}"
    );
    assert_eq!(
        retry["until"], "2026-11-26T12:00:00Z",
        "the next run comes first"
    );
    let retries = chicago_value(&running, "wfm_run_retries_total").await;
    assert_eq!(retries - retries_before, 0.0);

    // The outage ends; the retry comes when due.
    sim.reconfigure(|live| live.faults.error_rate = 0.0);
    clock.advance(Duration::from_secs(150));
    eventually("the retry to succeed", || {
        running.latest_is(Outcome::Success)
    })
    .await;
    eventually("the retry to end", || {
        running.daemon.retry(&"chicago".parse().unwrap()).is_none()
    })
    .await;
    assert_eq!(sim.record().published.len(), 2);
    let retries = chicago_value(&running, "wfm_run_retries_total").await;
    assert_eq!(retries - retries_before, 1.0);
    let status = get_json(format!("{}/status", running.admin())).await;
    assert!(status["targets"][0]["retry"].is_null(), "{status}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_week_unknown_to_the_store_is_refused_and_status_says_how_to_adopt() {
    let (sim, cfg) = small_week_setup().await;
    // Published by someone else, or by this publisher before its store was lost.
    let raw = Raw::of_week(&sim, written_week());
    let token = raw.publisher_token().await;
    assert_eq!(
        raw.put_week(&token, "a-1", monday_shift_of(written_week()))
            .await
            .status,
        200
    );
    assert_eq!(raw.publish(&token, &["a-1"]).await.status, 200);
    let before = sim.record().requests.len();
    let clock = ManualClock::new(at("2026-11-26T10:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
    assert!(running.daemon.trigger("chicago", "test"));
    running
        .first_run_ends("the refusal", Outcome::Refused)
        .await;
    let summary = running.runs()[0].summary.clone().unwrap();
    assert!(summary.contains("is already published"), "{summary}");
    let sent = common::publishing::changes_since(&sim.record(), before);
    assert!(sent.is_empty(), "sent {sent:?}");
    eventually("the refusal to be noted", || {
        running
            .daemon
            .adoption(&"chicago".parse().unwrap())
            .is_some()
    })
    .await;
    let status = get_json(format!("{}/status", running.admin())).await;
    let adopt = &status["targets"][0]["adopt"];
    assert_eq!(adopt["week"], "2026-11-30", "{status}");
    let command = adopt["command"].as_str().unwrap();
    assert!(
        command.ends_with("--target chicago --week 2026-11-30 --adopt"),
        "{command}"
    );
    assert!(
        running.daemon.retry(&"chicago".parse().unwrap()).is_none(),
        "a refusal is not retried"
    );
    running.stop().await;
}

/// Issue 27 item 8: a webhook answering 307 is not followed: the report
/// (and the hook URL's key, as a Referer) never reaches the other host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_redirects_is_not_followed() {
    use axum::routing::post;
    let (elsewhere, received_elsewhere) = webhook_receiver().await;
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let to = elsewhere.clone();
            async move {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [("location", to)],
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook?key=s3cret", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let clock = ManualClock::new(at("2026-11-26T12:00:00Z"));
    let (_sim, running) = notifying_run(
        &hook,
        "agent_id,date,start,end,activity\na-1,2026-12-01,8am,16:00,phone\n",
        &clock,
        Outcome::Refused,
    )
    .await;
    eventually("the webhook to be called", || {
        hits.load(std::sync::atomic::Ordering::SeqCst) > 0
    })
    .await;
    running.stop().await;
    assert!(
        received_elsewhere.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
}

/// Issue 27 item 13: on its default loopback address, where no token is
/// asked, the admin endpoint answers only requests that name a loopback
/// host: a page that rebinds its own name to 127.0.0.1 is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_naming_another_host_is_refused_on_loopback() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_sim, cfg) = small_week_setup().await;
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(&cfg, Arc::new(clock.clone()), &[]).await;
    let addr = running.admin().trim_start_matches("http://").to_owned();
    let status_line = |host: &'static str| {
        let addr = addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let request =
                format!("GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer.lines().next().unwrap_or_default().to_owned()
        }
    };
    assert!(status_line("rebind.attacker.example")
        .await
        .contains(" 421 "));
    assert!(status_line("rebind.attacker.example:80")
        .await
        .contains(" 421 "));
    assert!(status_line("localhost").await.contains(" 200 "));
    assert!(status_line("127.0.0.1:9464").await.contains(" 200 "));
    assert!(status_line("[::1]:9464").await.contains(" 200 "));
    running.stop().await;
}

/// The daemon of `cfg` with `admin` keys added to its `[admin]` section;
/// its admin address.
async fn with_admin(cfg: &TestConfig, admin: &str) -> (Running, std::net::SocketAddr) {
    cfg.edit(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:0\"\n{admin}"),
    );
    let clock = ManualClock::new(at("2026-11-25T12:00:00Z"));
    let running = start(cfg, Arc::new(clock), &[]).await;
    let addr = running.daemon.admin_addr().unwrap();
    (running, addr)
}

/// A connection to `addr` from `source` (another loopback address: it
/// never leaves the machine), sending `sent`.
async fn connect_from(
    source: &str,
    addr: std::net::SocketAddr,
    sent: &str,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(sent.as_bytes()).await.unwrap();
    stream
}

/// What the server sent before it closed `client`.
async fn answer_of(client: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut answer));
    read.await.expect("closed by the server").unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// A neighbour on 127.0.0.2 keeping `lanes` connections to `addr` open and
/// idle, each reopened as soon as the server closes it; counts its connects.
fn neighbour(
    addr: std::net::SocketAddr,
    lanes: usize,
) -> (Arc<std::sync::atomic::AtomicUsize>, CancellationToken) {
    let connects = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = CancellationToken::new();
    for _ in 0..lanes {
        use tokio::io::AsyncReadExt;
        let (connects, stop) = (connects.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let mut held = connect_from("127.0.0.2", addr, "").await;
                connects.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut sink = Vec::new();
                tokio::select! {
                    _ = held.read_to_end(&mut sink) => {}
                    _ = stop.cancelled() => {}
                }
                // A breath between reopenings, so that the refused ones do
                // not run the machine out of ports.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    (connects, stop)
}

/// Issue 27 item 6: a neighbour holding every admin connection it can and
/// reopening each as it is closed does not starve the liveness probe: it
/// holds at most its address's share, and only until the first-byte
/// deadline each time. Before, the probes queued in the backlog behind it
/// for the header-read timeout (10 s) and more, and none was answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbour_holding_admin_connections_does_not_starve_the_probes() {
    let (_sim, cfg) = small_week_setup().await;
    let (running, addr) = with_admin(&cfg, "max_connections = 8").await;
    let (connects, stop) = neighbour(addr, 24);
    eventually("the neighbour to connect", || {
        connects.load(std::sync::atomic::Ordering::SeqCst) >= 24
    })
    .await;
    // Probes as the kubelet sends them: a new connection each, asking the
    // server to close it (its prober disables keep-alive, which sends
    // `Connection: close`), a timeout (far below the 10 s they waited
    // before), and a pause between them (its period is a second or more;
    // here a quarter). Sent back to back without the header, a probe's
    // connection was closed only when the client hung up, and on a loaded
    // machine the two before it could still hold the address's share (2)
    // when it came. One probe in five failed so once in CI; what it got
    // was not kept then, and is said now.
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut answers = Vec::new();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let answer = probe
            .get(format!("{}/healthz", running.admin()))
            .header(reqwest::header::CONNECTION, "close")
            .send()
            .await;
        answers.push(match answer {
            Ok(a) => a.status().to_string(),
            Err(e) => format!("{e:?}"),
        });
    }
    stop.cancel();
    assert!(
        answers.iter().all(|a| a.starts_with("200")),
        "probes answered while the neighbour held on: {answers:?}"
    );
    running.stop().await;
}

/// Issue 27 item 6: a connection that sends nothing is closed after the
/// first-byte deadline (2 s), without a word and long before the
/// header-read timeout (here a minute), which alone closed it before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connection_that_sends_nothing_is_closed_at_the_first_byte_deadline() {
    let (_sim, cfg) = small_week_setup().await;
    let (running, addr) = with_admin(&cfg, "header_read_timeout = \"60s\"").await;
    let mut idle = connect_from("127.0.0.1", addr, "").await;
    assert_eq!(answer_of(&mut idle).await, "", "closed without an answer");
    running.stop().await;
}

/// Issue 27 item 6: a connection beyond its address's share, or beyond all
/// the slots, is answered 503 with Retry-After at once and closed; before,
/// it waited in the kernel's backlog for a slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beyond_the_caps_is_answered_503_at_once() {
    let (_sim, cfg) = small_week_setup().await;
    let admin =
        "header_read_timeout = \"60s\"\nmax_connections = 3\nmax_connections_per_address = 2";
    let (running, addr) = with_admin(&cfg, admin).await;
    // Half a request: past the first byte, held until the header timeout.
    let half = "GET /healthz HTTP/1.1\r\n";
    let whole = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut held = vec![
        connect_from("127.0.0.2", addr, half).await,
        connect_from("127.0.0.2", addr, half).await,
    ];
    let over_share = answer_of(&mut connect_from("127.0.0.2", addr, whole).await).await;
    held.push(connect_from("127.0.0.3", addr, half).await);
    let over_all = answer_of(&mut connect_from("127.0.0.1", addr, whole).await).await;
    // Hung up, not left for the stop to wait out.
    drop(held);
    for (answer, names) in [
        (&over_share, "max_connections_per_address"),
        (&over_all, "admin.max_connections connections at once"),
    ] {
        let head = answer.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 503 "), "{answer}");
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{answer}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{answer}");
        assert!(answer.contains(names), "{answer}");
    }
    running.stop().await;
}
