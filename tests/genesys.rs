//! Publishing to Genesys Cloud, end to end against the Genesys simulator:
//! the publisher's adapter is written to genesys-cloud/CONTRACT.md, the
//! simulator separately; these tests check that the two agree on a week
//! with trades in every state, on refusals before anything is sent, and on
//! a missing permission explained in one line.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use wfm_publisher::clock::{ScaledClock, SharedClock};
use wfm_publisher::publish::{Report, RunOptions};
use wfm_publisher::sim::genesys::{GenesysHandle, Record, Scenario};
use wfm_publisher::store::Outcome;
use wfm_publisher::testbed::{self, Testbed};

const WEEK: &str = "2026-11-30";

fn week() -> NaiveDate {
    WEEK.parse().unwrap()
}

/// The simulator's clock and the publisher's, `factor` times real time.
fn clock_at(factor: f64) -> SharedClock {
    Arc::new(ScaledClock::new(
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(),
        factor,
    ))
}

/// A hundred times real time: a 2 s operation takes 20 ms.
fn clock() -> SharedClock {
    clock_at(100.0)
}

fn scenario() -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sim-genesys.toml");
    Scenario::load(&path).expect("the Genesys scenario loads")
}

async fn sim(clock: SharedClock) -> GenesysHandle {
    spawn(scenario(), clock).await
}

async fn spawn(scenario: Scenario, clock: SharedClock) -> GenesysHandle {
    wfm_publisher::sim::spawn(scenario, clock, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator binds a loopback port")
}

/// A Genesys Cloud configuration against the simulator as `client`.
fn config(base: &str, client: &str) -> Testbed {
    common::genesys::config(
        base,
        client,
        "schedule_id = \"sched-w48\"\nagent_ids = \"email\"",
    )
}

/// The week: Monday to Saturday, local times in Chicago (UTC−6).
const SOURCE: &str = "agent_id,date,start,end,activity
ana.alvarez@acme.example,2026-11-30,08:00,16:00,phone
ana.alvarez@acme.example,2026-12-01,08:00,16:00,phone
ben.brooks@acme.example,2026-12-05,12:00,20:00,phone
ben.brooks@acme.example,2026-12-01,12:00,20:00,phone
ben.brooks@acme.example,2026-12-03,12:00,20:00,phone
cho.chen@acme.example,2026-11-30,08:00,16:00,phone
dev.desai@acme.example,2026-12-02,08:00,16:00,phone
eve.evans@acme.example,2026-11-30,09:00,17:00,email
eve.evans@acme.example,2026-12-04,09:00,17:00,email
fin.fischer@acme.example,2026-12-03,09:00,17:00,email
";

async fn run(bed: &Testbed, clock: SharedClock, wait: bool) -> Report {
    let settings = bed.settings_with(&[]).unwrap();
    let engine = testbed::engine(&settings, clock).unwrap();
    let options = RunOptions {
        week: week(),
        dry_run: false,
        wait,
    };
    engine
        .run(&settings.targets["chicago"], options)
        .await
        .unwrap()
}

fn held(sim: &GenesysHandle, user: &str) -> Vec<(String, i64)> {
    let record = sim.record();
    let shifts = record
        .holdings
        .get(&("sched-w48".to_owned(), user.to_owned()))
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<(String, i64)> = shifts
        .iter()
        .map(|s| (s.start_date.to_rfc3339(), s.length_minutes))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_with_trades_in_every_state_is_published_and_no_matched_agent_is_written() {
    // Ten times real time, and the trades that move do so a minute in:
    // the first run (a few simulated seconds) has written its week before
    // t-swap is matched, so no write of it can land on a Matched trade.
    let clock = clock_at(10.0);
    let mut scenario = scenario();
    for t in scenario.trades.iter_mut() {
        for step in t.timeline.iter_mut() {
            step.after += Duration::from_secs(40);
        }
    }
    let sim = spawn(scenario, clock.clone()).await;
    let bed = config(&sim.base_url(), "publisher");
    bed.write_week("chicago", week(), SOURCE).unwrap();

    // Matched trades hold cho and dev (t-matched), fin and eve (t-denied).
    let first = run(&bed, clock.clone(), false).await;
    assert_eq!(first.outcome, Some(Outcome::Running), "{}", first.render());
    // t-swap (ana, ben) may be matched by the time the week is written.
    assert!(first.still_deferred.len() >= 4, "{}", first.render());

    // Past 70 simulated seconds: t-swap approved (applied by the
    // platform), t-denied denied; t-matched still waits.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let second = run(&bed, clock.clone(), false).await;
    let text = second.render();
    assert_eq!(second.still_deferred.len(), 2, "{text}");
    assert!(
        text.contains("t-denied denied: original week published"),
        "{text}"
    );

    let record = sim.record();
    assert!(
        record.trade_violations.is_empty(),
        "writes while Matched: {:?}",
        record.trade_violations
    );
    assert!(
        record.trade_failures.is_empty(),
        "approvals broken by a write: {:?}",
        record.trade_failures
    );
    assert_eq!(record.published.get("sched-w48"), Some(&true));
    // The approved trade stands: Ana holds Ben's Saturday, Ben Ana's Monday.
    assert!(
        held(&sim, "u-ana").contains(&("2026-12-05T18:00:00+00:00".into(), 480)),
        "{:?}",
        held(&sim, "u-ana")
    );
    assert!(
        held(&sim, "u-ben").contains(&("2026-11-30T14:00:00+00:00".into(), 480)),
        "{:?}",
        held(&sim, "u-ben")
    );
    assert!(
        held(&sim, "u-ben").contains(&("2026-12-03T18:00:00+00:00".into(), 480)),
        "ben's new Thursday written"
    );
    // Eve's week after the denied trade: the planned one.
    assert_eq!(
        held(&sim, "u-eve"),
        vec![
            ("2026-11-30T15:00:00+00:00".into(), 480),
            ("2026-12-04T15:00:00+00:00".into(), 480)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_activity_or_user_is_refused_with_its_line_before_anything_is_sent() {
    let clock = clock();
    let sim = sim(clock.clone()).await;
    let bed = config(&sim.base_url(), "publisher");
    let source = format!("{SOURCE}zed@acme.example,2026-12-01,08:00,16:00,phone\nfin.fischer@acme.example,2026-12-01,09:00,17:00,chat\n");
    bed.write_week("chicago", week(), &source).unwrap();
    let report = run(&bed, clock, true).await;
    assert_eq!(
        report.outcome,
        Some(Outcome::Refused),
        "{}",
        report.render()
    );
    let problems = report.problems.join("\n");
    assert!(
        problems.contains(&format!("{WEEK}.csv:13:")) && problems.contains("\"chat\""),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("{WEEK}.csv:12:")) && problems.contains("zed@acme.example"),
        "{problems}"
    );
    let record = sim.record();
    assert!(record.uploads.is_empty(), "nothing uploaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_named_in_one_line() {
    let clock = clock();
    // No trades: every agent is written, so the missing permission shows.
    let mut quiet = scenario();
    quiet.trades.clear();
    let sim = spawn(quiet, clock.clone()).await;
    let bed = config(&sim.base_url(), "no-edit");
    bed.write_week("chicago", week(), SOURCE).unwrap();
    let report = run(&bed, clock, false).await;
    let problems = report.problems.join("\n");
    assert_eq!(report.outcome, Some(Outcome::Failed), "{}", report.render());
    assert!(problems.contains("lacks wfm:schedule:edit"), "{problems}");
    assert!(problems.contains("ININ-Correlation-Id"), "{problems}");
    assert!(!problems.contains("no-edit-secret"));
}

async fn check(bed: &Testbed) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "check", "--config"])
        .arg(&bed.path)
        .args(["--week", WEEK])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_each_permission_the_setup_and_the_trades() {
    let clock = clock();
    let sim = sim(clock).await;
    let good = config(&sim.base_url(), "publisher");
    good.write_week("chicago", week(), SOURCE).unwrap();
    let (code, stdout) = check(&good).await;
    assert_eq!(code, Some(0), "{stdout}");
    for row in [
        "permission wfm:schedule:edit",
        "chicago: setup",
        "chicago: shift trades",
        "chicago: source",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(row) && l.contains(" ok ")),
            "{row}:\n{stdout}"
        );
    }
    assert!(stdout.contains("schedule sched-w48"), "{stdout}");

    let reader = config(&sim.base_url(), "no-edit");
    reader.write_week("chicago", week(), SOURCE).unwrap();
    let (code, stdout) = check(&reader).await;
    assert_eq!(code, Some(2), "{stdout}");
    let failing: Vec<&str> = stdout.lines().filter(|l| l.contains("  FAIL  ")).collect();
    assert!(
        failing
            .iter()
            .any(|l| l.starts_with("permission wfm:schedule:edit") && l.contains("no division")),
        "{stdout}"
    );
}

/// The scenario without trades, every week written in one update, and
/// `tweak` applied.
fn quiet(tweak: impl FnOnce(&mut Scenario)) -> Scenario {
    let mut s = scenario();
    s.trades.clear();
    tweak(&mut s);
    s
}

fn assert_each_content_uploaded_once(sim: &GenesysHandle) {
    let record = sim.record();
    let again: Vec<_> = record
        .uploads_per_content()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(again.is_empty(), "uploaded more than once: {again:?}");
    assert_eq!(record.published.get("sched-w48"), Some(&true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_in_flight_at_kill_9_is_followed_after_the_restart_not_uploaded_again() {
    use tokio::io::AsyncBufReadExt;
    // The process runs on the real clock: so does the platform, whose
    // update takes three seconds to end.
    let clock = wfm_publisher::clock::system();
    let scenario = quiet(|s| s.server.operation_delay = Duration::from_secs(3));
    let sim = spawn(scenario, clock).await;
    let bed = config(&sim.base_url(), "publisher");
    bed.write_week("chicago", week(), SOURCE).unwrap();

    let mut child = common::publishing::publish_process_for(&bed, week(), &[]).await;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("schedule update sent") {
            break;
        }
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let record = sim.record();
    assert_eq!(record.operations.len(), 1);
    assert_eq!(
        record.operations[0].outcome,
        wfm_publisher::sim::genesys::Outcome::Processing,
        "killed while the update was in flight"
    );

    let (code, stdout) = common::publishing::publish_output(&bed, week(), &[]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_each_content_uploaded_once(&sim);
}

/// The operations the bed's state store has journaled and not ended.
fn unfinished(bed: &Testbed) -> Vec<(i64, wfm_publisher::platform::journal::Operation)> {
    use wfm_publisher::store::{SqliteStore, Store};
    let store = SqliteStore::open(&bed.dir().join("state.db")).unwrap();
    store.unfinished_operations("sched-w48").unwrap()
}

/// The next run, to its success; what the platform saw.
async fn resumed(sim: &GenesysHandle, bed: &Testbed, clock: SharedClock) -> Record {
    let report = run(bed, clock, true).await;
    assert_eq!(
        report.outcome,
        Some(Outcome::Success),
        "{}",
        report.render()
    );
    sim.record()
}

/// A first run stopped after its upload, before `…/update` answered (the
/// platform refuses the call); what the journal holds then.
async fn stopped_after_the_upload(clock: SharedClock) -> (GenesysHandle, Testbed, String) {
    let scenario = quiet(|s| s.faults.forbid_paths = vec!["/update$".into()]);
    let sim = spawn(scenario, clock.clone()).await;
    let bed = config(&sim.base_url(), "publisher");
    bed.write_week("chicago", week(), SOURCE).unwrap();
    let first = run(&bed, clock, true).await;
    assert_eq!(first.outcome, Some(Outcome::Failed), "{}", first.render());
    let key = sim.record().uploads[0].upload_key.clone();
    let open = unfinished(&bed);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].1.upload_key, key, "the key journaled");
    assert_eq!(
        open[0].1.state,
        wfm_publisher::platform::journal::OperationState::Uploaded
    );
    sim.reconfigure(|live| live.faults.forbid_paths.clear());
    (sim, bed, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_upload_key_is_sent_to_update_by_the_next_run_instead_of_uploading_again() {
    let clock = clock_at(200.0);
    let (sim, bed, key) = stopped_after_the_upload(clock.clone()).await;
    let record = resumed(&sim, &bed, clock).await;
    assert!(
        record.operations.iter().any(|o| o.upload_key == key),
        "the recorded key was used"
    );
    assert_each_content_uploaded_once(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_upload_key_is_never_sent_to_update() {
    // Two hundred times real time: ten minutes, the upload URL's life,
    // pass in three seconds.
    let clock = clock_at(200.0);
    let (sim, bed, key) = stopped_after_the_upload(clock.clone()).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let record = resumed(&sim, &bed, clock).await;
    assert!(
        record.operations.iter().all(|o| o.upload_key != key),
        "an expired key was sent to …/update"
    );
    let open = unfinished(&bed);
    assert!(open.is_empty(), "the old key's entry ended: {open:?}");
}
