//! Trying the publisher against the simulator with nothing to write by
//! hand: `sim --write-sources` writes the week's source files for the week
//! it serves and prints its clients and schedules, and the shipped
//! config/sim-2000-publisher.toml publishes config/sim-2000.toml.

use std::process::Stdio;

use crate::common::*;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A running `sim` with `--write-sources DIR`: its child, and every line it
/// printed up to its `schedules`th schedule.
async fn sim_writing(
    scenario: &str,
    schedules: usize,
    dir: &std::path::Path,
) -> (tokio::process::Child, Vec<String>) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "sim", "--scenario"])
        .arg(repo_file(scenario))
        .arg("--write-sources")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    patiently("sim to print its schedules", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push(line);
            if printed
                .iter()
                .filter(|l| l.starts_with("schedule "))
                .count()
                == schedules
            {
                return;
            }
        }
        panic!("sim ended: {printed:?}");
    })
    .await;
    (child, printed)
}

fn after<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {lines:?}"))
}

/// The week the sim said it serves.
fn served_week(lines: &[String]) -> String {
    let served = after(lines, "serving the week of ");
    served.split(' ').next().unwrap_or(served).to_owned()
}

/// Some printed line starts with `prefix` and contains `part`.
#[track_caller]
fn assert_printed(lines: &[String], prefix: &str, part: &str) {
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains(part)),
        "{lines:?}"
    );
}

#[tokio::test]
async fn the_2000_agent_scenario_publishes_with_the_shipped_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let (_sim, printed) = sim_writing("config/sim-2000.toml", 1, &inbox).await;
    let base = after(&printed, "listening on ").to_owned();
    let week = served_week(&printed);
    assert_printed(&printed, "client publisher: ", "wfm:admin");
    let schedule =
        format!("schedule chicago-{week}: week of {week}, America/Chicago, 2000 agents, 30 swaps");
    assert!(printed.contains(&schedule), "{printed:?}");

    let csv = std::fs::read_to_string(inbox.join(format!("chicago-{week}.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2000 * 5, "five shifts each");
    assert!(csv.contains(&format!("a-1,{week},08:00,16:00,phone")));

    // The shipped configuration, pointed at this simulator, this inbox and
    // a store of its own.
    let source = inbox.join("chicago-{week_start}.csv");
    let store = dir.path().join("state.db");
    let run = |args: &[&str]| {
        let mut p = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"));
        p.args(["--log-format", "json"])
            .args(args)
            .args(["--config"])
            .arg(repo_file("config/sim-2000-publisher.toml"))
            .args(["--week", &week])
            .env("WFM_PUBLISHER__PLATFORM__AUTH_BASE_URL", &base)
            .env("WFM_PUBLISHER__PLATFORM__API_BASE_URL", &base)
            .env("WFM_PUBLISHER__TARGETS__CHICAGO__SOURCE", &source)
            .env("WFM_PUBLISHER__STORE__PATH", &store)
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        p
    };
    let check = patiently("check", run(&["check"]).output()).await.unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{text}");
    assert!(text.contains("2000 agents"), "{text}");
    let mut dry = run(&["publish", "--target", "chicago", "--dry-run"]);
    let dry = patiently("a dry run", dry.output()).await.unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(dry.status.code(), Some(0), "{text}");
    assert!(!text.contains("problem"), "{text}");
}

/// A Genesys Cloud scenario's files are its agents' shifts, with the
/// activity codes' names, for the week served.
#[tokio::test]
async fn a_genesys_scenario_writes_its_agents_shifts() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, printed) = sim_writing("config/sim-genesys.toml", 2, dir.path()).await;
    let week = served_week(&printed);
    assert_printed(&printed, "schedule sched-w48: ", "6 agents");
    let csv = std::fs::read_to_string(dir.path().join("sched-w48.csv")).unwrap();
    assert!(
        csv.starts_with("agent_id,date,start,end,activity\n"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("u-ana,{week},08:00,16:00,phone")),
        "{csv}"
    );
}
