//! The binary as an operator runs it: the embedded default, and the daemon
//! answering real signals.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn dev_mode_publishes_every_agent_or_explains_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "dev", "--agents", "120", "--dir"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("target chicago"), "{stdout}");
    assert!(stdout.contains("target new_york"), "{stdout}");
    assert!(stdout.contains("0 used after expiry"), "{stdout}");
    assert!(
        stdout.contains("0 writes or publishes while a swap was pending"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every agent published or explained"),
        "{stdout}"
    );
    assert!(!stdout.contains("dev-secret"));
}

fn kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn the_daemon_reloads_on_sighup_keeps_a_bad_config_out_and_stops_on_sigterm() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(&cfg.path)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut wait_for = async |needle: &str| -> String {
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = log.next_line().await.unwrap() {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("the daemon's log ended before {needle:?}");
        })
        .await;
        found.unwrap_or_else(|_| panic!("no {needle:?} in the log"))
    };
    wait_for("wfm-publisher running").await;

    cfg.edit(
        "time_zone = \"America/Chicago\"",
        "time_zone = \"America/Chicgo\"",
    );
    kill(pid, "-HUP");
    let line = wait_for("keeping the previous one").await;
    assert!(line.contains("targets.chicago.time_zone"), "{line}");

    cfg.edit(
        "time_zone = \"America/Chicgo\"",
        "time_zone = \"America/Chicago\"",
    );
    kill(pid, "-HUP");
    wait_for("configuration reloaded").await;

    kill(pid, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops within the grace period")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
