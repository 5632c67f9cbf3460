//! The metrics the dashboard and the alerts need beyond the counters: each
//! target's latest week by agent state and by unpublished reason, its
//! deferral deadline, when it last published successfully, which process
//! publishes, and the waits for a schedule locked by a publish.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::running::Running;
use crate::common::*;
use wfm_publisher::store::Outcome;

/// `metric`'s samples in a scrape of `running`, keyed by their labels
/// (`target=chicago,state=published`, sorted; empty for none).
async fn samples(running: &Running, metric: &str) -> BTreeMap<String, f64> {
    let text = reqwest::get(format!("{}/metrics", running.admin()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape
        .samples
        .into_iter()
        .filter(|s| s.metric == metric)
        .map(|s| {
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let value = match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Counter(v) => v,
                other => panic!("{metric}: {other:?}"),
            };
            (labels.join(","), value)
        })
        .collect()
}

/// chicago's samples of `metric`, by the value of its other label `label`.
async fn chicago_by(running: &Running, metric: &str, label: &str) -> BTreeMap<String, f64> {
    samples(running, metric)
        .await
        .into_iter()
        .filter_map(|(labels, v)| {
            let rest = labels.strip_suffix(",target=chicago")?;
            Some((rest.strip_prefix(&format!("{label}="))?.to_owned(), v))
        })
        .collect()
}

fn expect(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

async fn value(running: &Running, metric: &str, labels: &str) -> f64 {
    let all = samples(running, metric).await;
    *all.get(labels)
        .unwrap_or_else(|| panic!("{metric}{{{labels}}} missing; there are {all:?}"))
}

fn week_of(agents: &[&str]) -> String {
    let mut csv = String::from("agent_id,date,start,end,activity\n");
    for agent in agents {
        csv.push_str(&format!("{agent},{},08:00,16:00,phone\n", day(1)));
    }
    csv
}

/// Waits for the daemon's `nth` run (from 1) to end, with `outcome`.
async fn ends(running: &Running, nth: i64, outcome: Outcome) {
    patiently("the run to end", async {
        loop {
            let runs = running.daemon.store.recent_runs(1).unwrap();
            if runs
                .first()
                .is_some_and(|r| r.id >= nth && r.finished_at.is_some())
            {
                assert_eq!(runs[0].outcome, outcome, "{:?}", runs[0].summary);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_gauges_follow_each_targets_runs() {
    let mut scenario = small_scenario();
    scenario.swaps.clear();
    scenario.server.publish_duration = std::time::Duration::ZERO;
    // Long enough that the daemon's first writes come while it lasts.
    scenario.server.publish_lock = std::time::Duration::from_secs(6);
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.write_week("chicago", week(), &week_of(&["a-1", "a-2", "ghost-1"]))
        .unwrap();
    let settings = cfg.settings();
    let deadline = wfm_publisher::publish::deferral_deadline(&settings.targets["chicago"], week());

    // Someone else publishes: the schedule is locked for a while, and
    // shows published (so the daemon adopts the week).
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    assert_eq!(raw.publish(&token, &["a-10"]).await.status, 200);
    let running = Running::start(&cfg.path, &["chicago"], week(), true).await;
    ends(&running, 1, Outcome::Partial).await;
    let states = [
        ("deferred", 0.0),
        ("planned", 0.0),
        ("published", 2.0),
        ("unpublished", 1.0),
        ("written", 0.0),
    ];
    assert_eq!(
        chicago_by(&running, "wfm_agents", "state").await,
        expect(&states)
    );
    let reasons = [
        ("deadline_passed", 0.0),
        ("not_confirmed", 0.0),
        ("refused", 0.0),
        ("swap_mismatch", 0.0),
        ("unknown_agent", 1.0),
    ];
    let unpublished = chicago_by(&running, "wfm_agents_unpublished", "reason").await;
    assert_eq!(unpublished, expect(&reasons));
    let at = |metric| value(&running, metric, "target=chicago");
    assert_eq!(
        at("wfm_deferral_deadline_timestamp_seconds").await,
        deadline.timestamp() as f64
    );
    let first = running.daemon.store.recent_runs(1).unwrap()[0].clone();
    assert_eq!(
        at("wfm_last_success_timestamp_seconds").await,
        first.started_at.timestamp() as f64,
        "no success yet: counted from the first run"
    );
    assert_eq!(value(&running, "wfm_leader", "").await, 1.0);
    assert!(value(&running, "wfm_lock_waits_total", "").await >= 1.0);
    running.stop().await;

    // ghost-1 taken out of the file: the next run succeeds.
    cfg.write_week("chicago", week(), &week_of(&["a-1", "a-2"]))
        .unwrap();
    let running = Running::start(&cfg.path, &["chicago"], week(), false).await;
    ends(&running, 2, Outcome::Success).await;
    let last = running.daemon.store.recent_runs(1).unwrap()[0].clone();
    let success = value(
        &running,
        "wfm_last_success_timestamp_seconds",
        "target=chicago",
    )
    .await;
    assert_eq!(success, last.finished_at.unwrap().timestamp() as f64);
    let unpublished = chicago_by(&running, "wfm_agents_unpublished", "reason").await;
    assert!(unpublished.values().all(|n| *n == 0.0), "{unpublished:?}");
    let agents = chicago_by(&running, "wfm_agents", "state").await;
    assert_eq!((agents["published"], agents["unpublished"]), (2.0, 0.0));
    running.stop().await;
}

/// A target a reload removes is gone from the next scrape: its gauges are
/// not repeated with their last values for good (and its alerts with
/// them). Its counters stay: they are the process' history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_a_reload_removes_leaves_the_scrape() {
    use wfm_publisher::testbed::TargetSection;
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.change(|c| {
        c.targets
            .insert("boston".into(), TargetSection::chicago("boston"));
    });
    // A Wednesday: no cron time comes while the test looks.
    let clock = wfm_publisher::clock::ManualClock::new("2026-11-25T12:00:00Z".parse().unwrap());
    let running = Running::launch(&cfg.path, Arc::new(clock), Default::default()).await;
    let boston = |all: BTreeMap<String, f64>| -> Vec<String> {
        all.into_keys()
            .filter(|k| k.contains("target=boston"))
            .collect()
    };
    let gauges = [
        "wfm_agents",
        "wfm_last_success_timestamp_seconds",
        "wfm_waiting_for_source",
        "wfm_seconds_until_next_run",
    ];
    for gauge in gauges {
        assert!(
            !boston(samples(&running, gauge).await).is_empty(),
            "{gauge}"
        );
    }
    cfg.change(|c| {
        c.targets.remove("boston");
    });
    running.daemon.reload().unwrap();
    for gauge in gauges {
        let left = boston(samples(&running, gauge).await);
        assert!(left.is_empty(), "{gauge} still says {left:?}");
    }
    let runs = boston(samples(&running, "wfm_runs_total").await);
    assert!(!runs.is_empty(), "the counters stay");
    running.stop().await;
}
