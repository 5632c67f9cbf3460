//! The publication engine end to end against the simulator: deferral, trades,
//! DST, invalid input, dry runs, and kill -9 at many points.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::publishing::*;
use common::*;
use wfm_publisher::clock::{ScaledClock, SharedClock};
use wfm_publisher::store::{Outcome, SqliteStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_agents_with_thirty_swaps_resolving_over_a_minute() {
    let spec = spec(2000, 30, Duration::from_secs(60));
    let (mut scenario, csv) = scenario_for(&spec);
    // The first swap would resolve 2 simulated seconds (0.2 s) in: on a busy
    // machine, before the engine first lists swaps, so it would never be
    // seen pending. Thirty simulated seconds of head start keep every swap
    // pending at the first listing however slow the machine.
    for swap in &mut scenario.swaps {
        swap.resolve_after = swap.resolve_after.map(|d| d + Duration::from_secs(30));
    }
    // Ten simulated seconds a second, from a Thursday before the week.
    let origin: DateTime<Utc> = utc_at(-4, 6, 0).parse().unwrap();
    let clock: SharedClock = Arc::new(ScaledClock::new(origin, 10.0));
    let sim = spawn_sim_with_clock(scenario, clock.clone()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source(&cfg, &csv);
    let settings = cfg.settings_with(|c| {
        c.workers.concurrency(16);
        c.target("chicago").deferral.poll_interval(secs(3));
    });
    let engine = engine(&settings, clock.clone());
    let report = engine
        .run(&settings.targets["chicago"], to_the_end(week()))
        .await
        .unwrap();
    assert_success(&report);
    assert_eq!(
        report.deferred_then_published.len(),
        60,
        "{}",
        report.render()
    );
    assert_eq!(report.published, 1940);
    assert!(report.unpublished.is_empty());
    // The report shows the first 50 of them; the store keeps every one.
    let store = SqliteStore::open(&settings.store.path).unwrap();
    let run = store.recent_runs(1).unwrap()[0].id;
    let approved = store
        .agents(run)
        .unwrap()
        .into_iter()
        .filter(|a| a.was_deferred && a.trade.as_deref().is_some_and(|t| t.contains("approved")))
        .count();
    assert_eq!(approved, 16, "8 approved swaps, two agents each");
    assert_published_exactly(&sim, &spec);

    // Polling is one paginated list call per interval, never one per agent.
    let record = sim.record();
    let swap_reads = record
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v2/wfm/shiftswaps"))
        .count();
    assert!(swap_reads < 60, "{swap_reads} swap listings");

    // A second run of the same week sends nothing new.
    let before = sim.record().requests.len();
    let again = engine
        .run(&settings.targets["chicago"], to_the_end(week()))
        .await
        .unwrap();
    assert_eq!(again.outcome, Some(Outcome::Success));
    assert_eq!(again.unchanged, 2000, "{}", again.render());
    let writes = sim.record().requests[before..]
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes, 0, "nothing published twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_twelve_points_then_resume_publishes_exactly_the_plan() {
    // The publisher runs on the real clock here.
    let week = future_week();
    let spec = spec_for(week, 300, 8, Duration::from_secs(4));
    let (sim, cfg) = sample_setup(&spec).await;
    // Kill after this many more requests reach the platform, each time.
    let steps = [1, 3, 9, 17, 30, 45, 60, 2, 80, 5, 110, 25];
    let mut kills = 0;
    for step in steps {
        let target = sim.record().requests.len() + step;
        let mut child = publish_process_for(&cfg, week, &[]).await;
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if sim.record().requests.len() >= target {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        match finished {
            None => {
                child.start_kill().unwrap(); // SIGKILL
                child.wait().await.unwrap();
                kills += 1;
            }
            Some(status) => {
                assert!(status.success(), "a run ended early: {status}");
                break;
            }
        }
    }
    assert!(kills >= 10, "killed only {kills} times");
    let out = publish_week_to_the_end(&cfg, week, &[]).await;
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(0), "{stdout}\n{}", out.stderr);
    assert!(stdout.contains(": success"), "{stdout}");
    assert_published_exactly(&sim, &spec);
}

#[tokio::test]
async fn weeks_with_the_dst_changes_of_chicago_publish_the_right_instants() {
    for (week_start, rows, expected) in [
        (
            "2026-03-02",
            "a-1,2026-03-06,08:00,16:00,phone\na-1,2026-03-07,22:00,06:00,phone\na-1,2026-03-08,08:00,16:00,phone\n",
            [
                ("2026-03-06T14:00:00Z", "2026-03-06T22:00:00Z"),
                ("2026-03-08T04:00:00Z", "2026-03-08T11:00:00Z"),
                ("2026-03-08T13:00:00Z", "2026-03-08T21:00:00Z"),
            ],
        ),
        (
            "2026-10-26",
            "a-1,2026-10-30,08:00,16:00,phone\na-1,2026-10-31,22:00,06:00,phone\na-1,2026-11-01,08:00,16:00,phone\n",
            [
                ("2026-10-30T13:00:00Z", "2026-10-30T21:00:00Z"),
                ("2026-11-01T03:00:00Z", "2026-11-01T12:00:00Z"),
                ("2026-11-01T14:00:00Z", "2026-11-01T22:00:00Z"),
            ],
        ),
    ] {
        let week: NaiveDate = week_start.parse().unwrap();
        let mut scenario = small_scenario();
        scenario.swaps.clear();
        scenario.schedules[0].id = format!("chicago-{week_start}");
        scenario.schedules[0].week_start = week;
        let sim = spawn_sim(scenario).await;
        let cfg = TestConfig::new(&sim.base_url(), "publisher");
        let dir = cfg.dir().join("inbox/chicago");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{week_start}.csv")),
            format!("agent_id,date,start,end,activity\n{rows}"),
        )
        .unwrap();
        let settings = cfg.settings();
        let report = engine(&settings, wfm_publisher::clock::system())
            .run(
                &settings.targets["chicago"],
                to_the_end(week),
            )
            .await
            .unwrap();
        assert_eq!(report.outcome, Some(Outcome::Success), "{}", report.render());
        let got = published(&sim.record());
        let want: Vec<(DateTime<Utc>, DateTime<Utc>)> = expected
            .iter()
            .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
            .collect();
        assert_eq!(got["a-1"], want, "week of {week_start}");
    }
}

#[tokio::test]
async fn invalid_files_are_refused_with_file_and_line_and_nothing_is_sent() {
    let header = "agent_id,date,start,end,activity\n";
    let (monday, next_wednesday) = (week(), day(9));
    // A file: the header, then a-1's phone shifts, each `date,start,end`.
    let file = |shifts: &[String]| {
        let rows: String = shifts.iter().map(|s| format!("a-1,{s},phone\n")).collect();
        format!("{header}{rows}")
    };
    let cases = [
        (
            format!("agent_id,date,start,end,activity,mood\na-1,{monday},08:00,16:00,phone,ok\n"),
            ":1:",
            "mood",
        ),
        (
            file(&[format!("{monday},8 o'clock,16:00")]),
            ":2:",
            "8 o'clock",
        ),
        (
            file(&[
                format!("{monday},08:00,16:00"),
                format!("{monday},12:00,20:00"),
            ]),
            ":3:",
            "overlap",
        ),
        (
            file(&[format!("{next_wednesday},08:00,16:00")]),
            ":2:",
            "week",
        ),
        (
            file(&["2026-11-31,08:00,16:00".into()]),
            ":2:",
            "2026-11-31",
        ),
        (header.to_owned(), "", "no"),
    ];
    for (text, line, what) in &cases {
        let sim = spawn_sim(small_scenario()).await;
        let cfg = TestConfig::new(&sim.base_url(), "publisher");
        write_source(&cfg, text);
        let out = publish_to_the_end(&cfg, &[]).await;
        let stdout = &out.stdout;
        assert_eq!(out.code, Some(2), "{text}\n{stdout}");
        let problem = stdout
            .lines()
            .find(|l| l.contains("problem:"))
            .unwrap_or_else(|| panic!("no problem line for {text:?}: {stdout}"));
        assert!(
            problem.contains(&format!("{monday}.csv{line}")),
            "{problem}"
        );
        assert!(problem.to_lowercase().contains(what), "{problem}");
        assert!(only_reads(&sim.record()), "nothing sent for {text:?}");
        assert!(sim
            .record()
            .requests
            .iter()
            .all(|r| r.path.starts_with("/oauth/") || r.method == "GET"));
    }
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_and_only_reads() {
    let spec = spec(40, 4, Duration::from_secs(600));
    let (sim, cfg) = sample_setup(&spec).await;
    let out = publish_to_the_end(&cfg, &["--dry-run"]).await;
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(0), "{stdout}");
    assert!(stdout.contains("dry run"), "{stdout}");
    assert!(stdout.contains("40 agents: 32 to publish"), "{stdout}");
    assert!(
        stdout.contains(&format!("a-1 (swap \"chicago-{}-sw-1\")", week())),
        "{stdout}"
    );
    assert!(only_reads(&sim.record()));
    assert!(
        !Path::new(&cfg.dir().join("state.db")).exists() || {
            let store = SqliteStore::open(&cfg.dir().join("state.db")).unwrap();
            store.recent_runs(5).unwrap().is_empty()
        }
    );
}

#[tokio::test]
async fn a_run_that_does_not_wait_leaves_its_deferrals_to_the_next_and_status_shows_them() {
    let spec = spec(20, 2, Duration::from_secs(3600));
    let (sim, cfg) = sample_setup(&spec).await;
    let out = publish_to_the_end(&cfg, &["--no-wait"]).await;
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(3), "{stdout}");
    assert!(stdout.contains("4 still deferred"), "{stdout}");

    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["status", "--config"])
        .arg(&cfg.path)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("4 pending deferrals"), "{text}");
    // Issue 29 item 10: nothing runs after `--no-wait`; the run waits for
    // its swaps, resumable.
    assert!(text.contains(" waiting "), "{text}");
    assert!(!text.contains("running"), "{text}");

    for swap in sim.swap_statuses().keys() {
        sim.resolve_swap(swap, wfm_publisher::sim::SwapStatus::Denied);
    }
    let out = publish_to_the_end(&cfg, &[]).await;
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(0), "{stdout}");
    assert!(stdout.contains("4 deferred then published"), "{stdout}");
}

#[tokio::test]
async fn deferred_agents_past_the_deadline_are_reported_unpublished() {
    let spec = spec(10, 1, Duration::from_secs(3600));
    let (scenario, csv) = scenario_for(&spec);
    // The week has started: the deadline has passed already.
    let clock: SharedClock = Arc::new(ScaledClock::new(utc_at(0, 3, 0).parse().unwrap(), 1.0));
    let sim = spawn_sim_with_clock(scenario, clock.clone()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source(&cfg, &csv);
    let settings = cfg.settings();
    let report = engine(&settings, clock)
        .run(&settings.targets["chicago"], to_the_end(week()))
        .await
        .unwrap();
    assert_eq!(
        report.outcome,
        Some(Outcome::Partial),
        "{}",
        report.render()
    );
    assert_eq!(report.unpublished.len(), 2);
    assert!(
        report.unpublished[0].reason.contains("deferral deadline"),
        "{}",
        report.render()
    );
    assert_eq!(report.exit_code(), 3);
}

#[tokio::test]
async fn the_one_shot_publish_refuses_a_missing_source_at_once_unless_told_to_wait() {
    use tokio::io::AsyncBufReadExt;
    // A week whose deferral deadline is days ahead on the real clock.
    let week = wfm_publisher::domain::week::upcoming_week_start(
        Utc::now() + chrono::TimeDelta::days(7),
        "America/Chicago".parse().unwrap(),
        chrono::Weekday::Mon,
    );
    let (scenario, csv) = scenario_for(&spec_for(week, 5, 0, Duration::from_secs(60)));
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.change(|c| {
        c.target("chicago").source_settle(ms(50));
    });

    let (code, stdout) = publish_output(&cfg, week, &[]).await;
    assert_eq!(code, Some(2), "refused at once: {stdout}");
    assert!(stdout.contains("does not exist"), "{stdout}");

    // The directory exists: the watcher, not the 10 s poll, sees the file.
    let dir = cfg.dir().join("inbox/chicago");
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = publish_process_for(&cfg, week, &["--wait-for-source"]).await;
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(line) = log.next_line().await.unwrap() {
        if line.contains("waiting for the week's source file") {
            break;
        }
    }
    // Written beside it, then renamed into place, as exporters do.
    std::fs::write(dir.join(format!("{week}.csv.partial")), &csv).unwrap();
    std::fs::rename(
        dir.join(format!("{week}.csv.partial")),
        dir.join(format!("{week}.csv")),
    )
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(": success"), "{stdout}");
    assert!(stdout.contains("it arrived at"), "{stdout}");
    assert_eq!(sim.record().published.len(), 5);
}

/// A source path that is a symbolic link is not read: a link could make the
/// publisher read, and echo in its errors, any file the service can read
/// (here, the client secret). `follow_symlinks` reads it when meant.
#[tokio::test]
async fn a_symlinked_source_is_refused_unless_the_target_follows_links() {
    let spec = spec(10, 0, Duration::from_secs(1));
    let (_sim, cfg) = sample_setup(&spec).await;
    let path = cfg.dir().join(format!("inbox/chicago/{}.csv", week()));
    let real = cfg.dir().join("week.csv");
    std::fs::rename(&path, &real).unwrap();
    std::os::unix::fs::symlink(cfg.dir().join("client_secret"), &path).unwrap();
    let out = publish_to_the_end(&cfg, &[]).await;
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(out.stdout.contains("is a symbolic link"), "{}", out.stdout);
    assert!(out.stdout.contains("follow_symlinks"), "{}", out.stdout);
    assert!(!out.stdout.contains("publisher-secret") && !out.stderr.contains("publisher-secret"));

    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&real, &path).unwrap();
    cfg.change(|c| {
        c.target("chicago").follow_symlinks(true);
    });
    let out = publish_to_the_end(&cfg, &[]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
}

#[tokio::test]
async fn a_week_of_agents_the_platform_does_not_know_stops_after_a_few_writes_refused() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let mut csv = String::from("agent_id,date,start,end,activity\n");
    // a-5..a-10 exist (a-1..a-4 wait for swaps); the 2,000 others do not:
    // the id column of another system.
    for agent in (5..=10)
        .map(|n| format!("a-{n}"))
        .chain((0..2000).map(|n| format!("emp-{n:05}")))
    {
        csv.push_str(&format!("{agent},{},08:00,16:00,phone\n", day(1)));
    }
    write_source(&cfg, &csv);
    let settings = cfg.settings();
    let report = engine(&settings, wfm_publisher::clock::system())
        .run(&settings.targets["chicago"], to_the_end(week()))
        .await
        .unwrap();
    let text = report.render();
    assert_eq!(report.outcome, Some(Outcome::Refused), "{text}");
    let problem = report.problems.join("\n");
    assert!(problem.contains("does not know"), "{problem}");
    // The first ids written, quoted; writes go in an order spread over
    // the ids, so which five is not the file's order.
    assert_eq!(problem.matches("\"emp-0").count(), 5, "{problem}");

    let record = sim.record();
    let writes = record
        .requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with("/api/v2/wfm/schedule/agent/"))
        .count();
    // 6 known agents, 20 unknown ones, and at most the workers' writes in
    // the air when the run stopped.
    let ceiling = 6 + 20 + settings.workers.concurrency;
    assert!(writes <= ceiling, "{writes} writes (at most {ceiling})");
    assert!(
        !record.requests.iter().any(|r| r.path.contains("publish")),
        "nothing published"
    );
    let store = SqliteStore::open(&settings.store.path).unwrap();
    let run = &store.recent_runs(1).unwrap()[0];
    assert_eq!(run.outcome, Outcome::Refused);
}

/// `n` rows, each with two mistakes (a start and an end that are not times).
fn bad_rows(n: usize) -> String {
    let mut csv = String::with_capacity(n * 40);
    csv.push_str("agent_id,date,start,end,activity\n");
    for i in 0..n {
        csv.push_str(&format!("a-{i},{},8am,4pm,phone\n", day(1)));
    }
    csv
}

#[tokio::test]
async fn a_file_of_many_bad_rows_gives_fifty_problems_and_a_count_everywhere() {
    const ROWS: usize = 200_000;
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source(&cfg, &bad_rows(ROWS));

    let out = publish_to_the_end(&cfg, &[]).await;
    assert_eq!(
        out.code,
        Some(2),
        "{}",
        &out.stdout[..out.stdout.len().min(2000)]
    );
    let problems = out
        .stdout
        .lines()
        .filter(|l| l.contains("problem: "))
        .count();
    assert_eq!(problems, 50, "{} bytes on stdout", out.stdout.len());
    let more = format!("and {} more problems", 2 * ROWS - 50);
    assert!(out.stdout.contains(&more), "no {more:?}");
    assert!(
        out.stdout.len() < 20_000,
        "{} bytes on stdout",
        out.stdout.len()
    );
    assert!(
        out.stderr.len() < 50_000,
        "{} bytes on stderr",
        out.stderr.len()
    );

    let json = publish_to_the_end(&cfg, &["--json"]).await;
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 50);
    assert_eq!(report["problems_total"], 2 * ROWS);

    let store = SqliteStore::open(&cfg.dir().join("state.db")).unwrap();
    for run in store.recent_runs(5).unwrap() {
        let summary = run.summary.unwrap_or_default();
        assert!(
            summary.len() < 20_000,
            "a summary of {} bytes",
            summary.len()
        );
        assert!(summary.ends_with(&more), "{summary}");
    }
    assert!(only_reads(&sim.record()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_store_refuses_a_published_week_until_adopted_and_adoption_keeps_the_trades() {
    let week = future_week();
    let spec = spec_for(week, 40, 4, Duration::from_secs(2));
    let (sim, cfg) = sample_setup(&spec).await;
    let out = publish_week_to_the_end(&cfg, week, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert_published_exactly(&sim, &spec);

    // The store is lost (its -wal with it).
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(cfg.dir().join(format!("state.db{suffix}")));
    }
    let before = sim.record().requests.len();
    let out = publish_week_to_the_end(&cfg, week, &[]).await;
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(2), "{stdout}");
    assert!(
        stdout.contains("is already published on the platform"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("--week {week} --adopt")),
        "{stdout}"
    );
    assert_eq!(changes_since(&sim.record(), before), Vec::<String>::new());
    let dry = publish_week_to_the_end(&cfg, week, &["--dry-run"]).await;
    assert_eq!(dry.code, Some(2), "a dry run says so too: {}", dry.stdout);

    let out = publish_week_to_the_end(&cfg, week, &["--adopt"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    // The approved trades were applied before writing: every agent holds
    // the traded week, and nothing published changed.
    assert_published_exactly(&sim, &spec);
}

/// A week's file over `targets.NAME.max_source_bytes` is refused before it
/// is read (exit 2), naming the file, its size and the key; nothing is
/// sent. This one is not even a week: had it been read, its first line
/// would have been reported as a column.
#[tokio::test]
async fn a_source_over_the_size_limit_is_refused_before_it_is_read() {
    let spec = spec(10, 0, Duration::from_secs(1));
    let (sim, cfg) = sample_setup(&spec).await;
    let path = cfg.dir().join(format!("inbox/chicago/{}.csv", week()));
    std::fs::write(&path, "not,a,week\n".repeat(200)).unwrap();
    cfg.change(|c| {
        c.target("chicago").max_source_bytes(1000);
    });
    let out = publish_to_the_end(&cfg, &[]).await;
    assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
    let expected = format!(
        "{}: is 2200 bytes, over the limit of 1000 (targets.chicago.max_source_bytes)",
        path.display()
    );
    assert!(out.stdout.contains(&expected), "{}", out.stdout);
    assert!(!out.stdout.contains("column"), "{}", out.stdout);
    assert!(only_reads(&sim.record()));

    // Under the limit, the same file is read (and refused for what it says).
    std::fs::write(&path, "not,a,week\n").unwrap();
    let out = publish_to_the_end(&cfg, &[]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stdout.contains("not a week's CSV file"),
        "{}",
        out.stdout
    );
}

/// Issue 32 item 6: an outage stops run 1 mid-week (some agents published,
/// some written); a retry during the outage fails before it plans anything;
/// once the platform is back, the next run resumes run 1, and a publish
/// after that sends nothing: no agent is written or published twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_fails_before_planning_does_not_hide_the_run_it_retries() {
    let spec = spec(1200, 0, Duration::from_secs(1));
    let (sim, cfg) = sample_setup(&spec).await;
    // Few retries while the platform is down, so that a run fails soon;
    // time enough for the publish lock's waits (Retry-After: 1) before.
    let down = cfg.settings_with(|c| {
        c.retry.max_attempts(2).max_elapsed(secs(5));
    });
    let up = cfg.settings();
    let run = |settings: &wfm_publisher::config::Settings| {
        let engine = engine(settings, wfm_publisher::clock::system());
        let target = settings.targets["chicago"].clone();
        async move { engine.run(&target, to_the_end(week())).await.unwrap() }
    };
    let outage = |on: bool| {
        sim.reconfigure(|live| {
            live.faults.error_rate = if on { 1.0 } else { 0.0 };
            live.faults.error_statuses = vec![503];
        })
    };
    // The outage begins once 700 agents are written (500 published).
    let first = tokio::spawn(run(&down));
    patiently("700 writes", async {
        while sim.record().writes.len() < 700 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    outage(true);
    let first = first.await.unwrap();
    assert_eq!(first.outcome, Some(Outcome::Failed), "{}", first.render());
    let retried = run(&down).await;
    assert_eq!(
        retried.outcome,
        Some(Outcome::Failed),
        "{}",
        retried.render()
    );
    outage(false);
    let resumed = run(&up).await;
    assert_success(&resumed);
    let before = sim.record().requests.len();
    let again = run(&up).await;
    assert_eq!(again.outcome, Some(Outcome::Success), "{}", again.render());
    let record = sim.record();
    assert!(
        changes_since(&record, before).is_empty(),
        "the finished week sent again: {:?}",
        changes_since(&record, before)
    );
    let twice: Vec<_> = record.writes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "written twice: {} agents", twice.len());
    let mut published = BTreeMap::new();
    for e in &record.publish_events {
        *published.entry(e.agent_id.clone()).or_insert(0) += 1;
    }
    assert!(
        published.values().all(|n| *n == 1),
        "an agent published twice"
    );
    assert_published_exactly(&sim, &spec);
}

/// Issue 32 item 3: swaps are listed every poll interval while the writes
/// go on, not only after them: a swap approved a moment into a long write
/// phase has its agents written beside the others, not after them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_decided_while_writing_has_its_agents_written_meanwhile() {
    let spec = spec(2000, 1, Duration::from_secs(1));
    let (mut scenario, csv) = scenario_for(&spec);
    // 400 calls a second: the writes take 5 s, the swap is decided at 1 s.
    scenario.rate_limits.default.limit = 400;
    for swap in &mut scenario.swaps {
        swap.resolve_after = Some(Duration::from_secs(1));
        swap.resolution = Some(wfm_publisher::sim::SwapStatus::Approved);
    }
    let traded: Vec<String> = scenario
        .swaps
        .iter()
        .flat_map(|s| [s.requester.agent_id.clone(), s.recipient.agent_id.clone()])
        .collect();
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source(&cfg, &csv);
    let settings = cfg.settings_with(|c| {
        c.target("chicago").deferral.poll_interval(ms(300));
    });
    let report = engine(&settings, wfm_publisher::clock::system())
        .run(&settings.targets["chicago"], to_the_end(week()))
        .await
        .unwrap();
    assert_success(&report);
    let record = sim.record();
    let puts: Vec<&str> = record
        .requests
        .iter()
        .filter(|r| r.method == "PUT" && r.status == 200)
        .map(|r| r.path.rsplit('/').next().unwrap())
        .collect();
    let traded_at = puts
        .iter()
        .position(|a| traded.iter().any(|t| t == a))
        .unwrap();
    assert!(
        traded_at < puts.len() - 200,
        "the traded agents were written at {traded_at} of {} writes",
        puts.len()
    );
    assert_published_exactly(&sim, &spec);
}
