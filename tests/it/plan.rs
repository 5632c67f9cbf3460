//! `publish --dry-run`'s plan on both platforms: per agent, what publishing
//! would change (shifts added, removed, moved, activity changed) against
//! what the platform holds, grouped by kind, and `--detailed-exitcode`
//! saying whether anything would change, both ways. Weeks come from the
//! clock.

use crate::common;

use std::time::Duration;

use chrono::{NaiveDate, TimeDelta};
use common::publishing::*;
use serde_json::Value;
use wfm_publisher::config::AgentIds;
use wfm_publisher::sim::{AnyScenario, Dating};

/// The agent ids of a group of the plan's JSON.
fn ids(plan: &Value, group: &str) -> Vec<String> {
    let agents = plan[group]
        .as_array()
        .unwrap_or_else(|| panic!("{group}: {plan}"));
    agents
        .iter()
        .map(|a| a["agent_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The report's plan, from `publish --json`'s stdout.
fn plan_of(stdout: &str) -> Value {
    let report: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    report["changes"].clone()
}

fn date(week: NaiveDate, day: i64) -> NaiveDate {
    week + TimeDelta::days(day)
}

/// The simple contract has no read of an agent's shifts: the plan is
/// against what the publisher last published (its store). Before the
/// first publication every agent's week is added, and the two a pending
/// swap holds are shown deferred; after it, nothing would change (exit
/// 0); a file that moves, removes, adds and changes the activity of a
/// shift shows each, in its group, and the others unchanged (exit 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simple_contract_plans_against_what_was_last_published() {
    let week = future_week();
    let spec = spec_for(week, 12, 1, Duration::from_secs(3600));
    let (sim, cfg) = sample_setup(&spec).await;
    let detailed = ["--dry-run", "--detailed-exitcode"];

    let first = publish_week_to_the_end(&cfg, week, &detailed).await;
    let stdout = &first.stdout;
    assert_eq!(first.code, Some(4), "{stdout}\n{}", first.stderr);
    assert!(
        stdout.contains("plan, against what this publisher last published"),
        "{stdout}"
    );
    assert!(
        stdout.contains("10 agents change, 0 unchanged, 2 deferred (times in America/Chicago)"),
        "{stdout}"
    );
    assert!(stdout.contains("  shifts added (10 agents):"), "{stdout}");
    // Local times: a-3 works Monday 08:00–16:00 in Chicago.
    let monday = week.format("%a %d %b");
    assert!(
        stdout.contains(&format!("    a-3: {monday} 08:00–16:00 \"email\"; ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("deferred for a pending swap, not written by this run (2 agents):"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "    a-1: waiting for shift swap \"chicago-{week}-sw-1\""
        )),
        "{stdout}"
    );
    assert!(only_reads(&sim.record()));

    for swap in sim.swap_statuses().keys() {
        sim.resolve_swap(swap, wfm_publisher::sim::SwapStatus::Denied);
    }
    let published = publish_week_to_the_end(&cfg, week, &[]).await;
    assert_eq!(published.code, Some(0), "{}", published.stdout);
    let none = publish_week_to_the_end(&cfg, week, &detailed).await;
    assert_eq!(none.code, Some(0), "{}", none.stdout);
    assert!(
        none.stdout
            .contains("0 agents change, 12 unchanged, 0 deferred"),
        "{}",
        none.stdout
    );

    let edited = spec_edits(week, &sample_csv(&spec));
    write_source_for(&cfg, week, &edited);
    let changed =
        publish_week_to_the_end(&cfg, week, &["--dry-run", "--detailed-exitcode", "--json"]).await;
    assert_eq!(changed.code, Some(4), "{}", changed.stdout);
    let plan = plan_of(&changed.stdout);
    assert_eq!(plan["basis"], "last_published", "{plan}");
    assert_eq!(plan["has_changes"], true, "{plan}");
    assert_eq!(
        (plan["changed"].as_u64(), plan["unchanged"].as_u64()),
        (Some(4), Some(8)),
        "{plan}"
    );
    assert_eq!(ids(&plan, "moved"), ["a-3"], "{plan}");
    assert_eq!(ids(&plan, "activity_changed"), ["a-4"], "{plan}");
    assert_eq!(ids(&plan, "removed"), ["a-5"], "{plan}");
    assert_eq!(ids(&plan, "added"), ["a-7"], "{plan}");
    assert_eq!(plan["moved_total"], 1, "{plan}");
    let moved = &plan["moved"][0]["shifts"][0];
    let hour = |at: &Value| at.as_str().unwrap()[11..13].parse::<u32>().unwrap();
    assert_eq!(
        hour(&moved["after"]["start"]),
        (hour(&moved["before"]["start"]) + 1) % 24,
        "{moved}"
    );
    assert_eq!(
        plan["activity_changed"][0]["shifts"][0]["after"]["activity"], "email",
        "{plan}"
    );
}

fn sample_csv(spec: &wfm_publisher::sample::SampleSpec) -> String {
    wfm_publisher::sample::generate(spec).csv
}

/// The sample week edited: a-3's Monday an hour later, a-4's Tuesday on
/// email, a-5's Monday gone, a-7 working Saturday too.
fn spec_edits(week: NaiveDate, csv: &str) -> String {
    let (mon, tue, sat) = (date(week, 0), date(week, 1), date(week, 5));
    let mut out = String::new();
    for line in csv.lines() {
        let edited = if line == format!("a-3,{mon},08:00,16:00,email") {
            format!("a-3,{mon},09:00,17:00,email")
        } else if line == format!("a-4,{tue},12:00,20:00,phone") {
            format!("a-4,{tue},12:00,20:00,email")
        } else if line == format!("a-5,{mon},08:00,16:00,phone") {
            continue;
        } else {
            line.to_owned()
        };
        out.push_str(&edited);
        out.push('\n');
    }
    out.push_str(&format!("a-7,{sat},08:00,16:00,phone\n"));
    let applied = out.contains(&format!("a-3,{mon},09:00"))
        && out.contains(&format!("a-4,{tue},12:00,20:00,email"))
        && !out.contains(&format!("a-5,{mon},"));
    assert!(applied, "every edit applied: {out}");
    out
}

/// config/sim-genesys.toml served for `week`, without its trades.
fn genesys_scenario(week: NaiveDate) -> wfm_publisher::sim::genesys::Scenario {
    let path = common::repo_file("config/sim-genesys.toml");
    let mut scenario = match AnyScenario::load_dated(&path, Dating::Week(week)) {
        Ok((AnyScenario::Genesys(s), _)) => *s,
        Ok(_) => panic!("config/sim-genesys.toml is a Genesys Cloud scenario"),
        Err(e) => panic!("the Genesys scenario loads: {e}"),
    };
    scenario.trades.clear();
    scenario.server.operation_delay = Duration::from_millis(50);
    // Every agents' query answered with a downloadUrl, as a large one is.
    scenario.server.inline_agent_limit = 0;
    scenario
}

/// The Genesys week in local times: Ana without her Tuesday, Cho with a
/// Thursday more, Dev's Wednesday an hour later, Eve's Monday on the
/// phone; Ben and Fin as the platform holds them.
fn genesys_source(week: NaiveDate) -> String {
    let d = |n| date(week, n);
    format!(
        "agent_id,date,start,end,activity
ana.alvarez@acme.example,{},08:00,16:00,phone
ben.brooks@acme.example,{},12:00,20:00,phone
ben.brooks@acme.example,{},12:00,20:00,phone
cho.chen@acme.example,{},08:00,16:00,phone
cho.chen@acme.example,{},08:00,16:00,phone
dev.desai@acme.example,{},09:00,17:00,phone
eve.evans@acme.example,{},09:00,17:00,phone
fin.fischer@acme.example,{},09:00,17:00,email
",
        d(0),
        d(5),
        d(1),
        d(0),
        d(3),
        d(2),
        d(0),
        d(3),
    )
}

/// Genesys Cloud is read: the plan is against the agents' schedules the
/// platform holds (served at a `downloadUrl`), whatever the store knows
/// (here, nothing yet). Each kind
/// of change is in its group, the agents as the platform holds them are
/// unchanged (exit 4); once published, nothing would change (exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genesys_cloud_plans_against_the_schedules_it_holds() {
    let week = future_week();
    let sim = wfm_publisher::sim::spawn(
        genesys_scenario(week),
        wfm_publisher::clock::system(),
        common::loopback(),
    )
    .await
    .expect("the simulator binds a loopback port");
    let bed = common::genesys::config(&sim.base_url(), "publisher", |t| {
        t.schedule_id("sched-w48").agent_ids(AgentIds::Email);
    });
    bed.write_week("chicago", week, &genesys_source(week))
        .unwrap();
    let dry = ["--dry-run", "--detailed-exitcode", "--adopt", "--json"];

    let (code, stdout) = publish_output(&bed, week, &dry).await;
    assert_eq!(code, Some(4), "{stdout}");
    let plan = plan_of(&stdout);
    assert_eq!(plan["basis"], "platform", "{plan}");
    assert_eq!(plan["time_zone"], "America/Chicago", "{plan}");
    assert_eq!(
        (plan["changed"].as_u64(), plan["unchanged"].as_u64()),
        (Some(4), Some(2)),
        "{plan}"
    );
    assert_eq!(
        ids(&plan, "removed"),
        ["ana.alvarez@acme.example"],
        "{plan}"
    );
    assert_eq!(ids(&plan, "added"), ["cho.chen@acme.example"], "{plan}");
    assert_eq!(ids(&plan, "moved"), ["dev.desai@acme.example"], "{plan}");
    assert_eq!(
        ids(&plan, "activity_changed"),
        ["eve.evans@acme.example"],
        "{plan}"
    );
    let change = &plan["activity_changed"][0]["shifts"][0];
    assert_eq!(
        (&change["before"]["activity"], &change["after"]["activity"]),
        (&"email".into(), &"phone".into()),
        "{plan}"
    );
    let record = sim.record();
    let calls = |part: &str| {
        record
            .requests
            .iter()
            .filter(|r| r.path.contains(part))
            .count()
    };
    assert_eq!(calls("/update"), 0, "a dry run asks for no update");
    assert!(
        calls("/downloads/") > 0,
        "the schedules were read at their downloadUrl"
    );

    let (code, stdout) = publish_output(&bed, week, &["--adopt"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    let (code, stdout) = publish_output(&bed, week, &["--dry-run", "--detailed-exitcode"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("plan, against what the platform holds now: 0 agents change"),
        "{stdout}"
    );
}

/// `--detailed-exitcode` says something only of a dry run: alone, it is
/// refused before anything is read, naming `--dry-run`.
#[tokio::test]
async fn the_detailed_exit_code_needs_a_dry_run() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["publish", "--config", "/nonexistent/config.toml"])
        .args(["--target", "chicago", "--detailed-exitcode"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--dry-run"), "{stderr}");
    assert!(!stderr.contains("/nonexistent"), "{stderr}");
}
