//! What the logs hold for machines: JSON lines in which `target` is the
//! publishing target, every line of a run carrying its target and week,
//! the daemon's run end as one event with typed fields, and the journal's
//! priorities under systemd.

use crate::common;

use std::os::unix::fs::MetadataExt;
use std::process::Stdio;

use common::publishing::{publish_to_the_end, rate_limited_setup, week};
use serde_json::Value;

/// `dev` (the daemon with two targets against the simulator) run to its
/// end with `agents` agents and stderr into `stderr`; the extra `env`.
async fn dev_run(agents: usize, stderr: std::fs::File, env: &[(&str, String)]) -> Option<i32> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"));
    command
        .args(["dev", "--agents", &agents.to_string()])
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let status = common::patiently("`dev` to end", command.status()).await;
    status.unwrap().code()
}

/// Issue 29 items 20, 7 and 21: a `dev` run's JSON lines name the key
/// `target` once, as the publishing target; every line of a run carries
/// its target and week; each run's end is one event with typed numbers,
/// with no line of the human report.
#[tokio::test]
async fn json_lines_name_the_target_once_and_each_run_ends_in_one_typed_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let code = dev_run(100, std::fs::File::create(&log).unwrap(), &[]).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(0), "{text}");
    let targets = ["chicago", "new_york"];
    let mut ended = Vec::new();
    let mut started = false;
    for line in text.lines() {
        assert!(
            line.matches("\"target\":").count() <= 1,
            "one `target` key: {line}"
        );
        let event: Value = serde_json::from_str(line).unwrap();
        let message = event["message"].as_str().unwrap_or_default();
        assert!(
            !message.starts_with(' '),
            "a line of the human report: {line}"
        );
        if let Some(target) = event.get("target") {
            assert!(
                targets.contains(&target.as_str().unwrap()),
                "`target` is a target: {line}"
            );
        }
        if ["progress", "run started", "run ended"].contains(&message)
            || message.starts_with("agents deferred")
        {
            assert!(
                event["target"].is_string() && event["week"].is_string(),
                "a run's line without its target and week: {line}"
            );
        }
        if message == "wfm-publisher running" {
            assert_eq!(event["version"], env!("CARGO_PKG_VERSION"), "{line}");
            assert!(event["commit"].is_string(), "{line}");
            started = true;
        }
        if message == "run ended" {
            ended.push(event);
        }
    }
    assert!(started, "the start-up line: {text}");
    assert_eq!(ended.len(), 2, "one `run ended` a target: {text}");
    for event in ended {
        assert_eq!(event["outcome"], "success", "{event}");
        for field in [
            "agents",
            "published",
            "deferred_then_published",
            "unpublished",
            "requests",
        ] {
            assert!(event[field].is_u64(), "{field} is a number: {event}");
        }
        assert_eq!(event["agents"], 50, "{event}");
        assert!(
            event.get("problems").is_none(),
            "no empty problems: {event}"
        );
    }
}

/// Issue 29 item 7: a run's lines logged away from its own task (the
/// progress ticks, the end of a burst of 429s) carry its target and week.
#[tokio::test]
async fn the_lines_of_a_run_carry_its_target_and_week() {
    let (_sim, cfg) = rate_limited_setup().await;
    let run = publish_to_the_end(&cfg, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let week = week().to_string();
    let mut seen = std::collections::BTreeSet::new();
    for line in run.stderr.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let message = event["message"].as_str().unwrap_or_default().to_owned();
        if ["progress", "rate limiting ended"].contains(&message.as_str()) {
            assert_eq!(event["target"], "chicago", "{line}");
            assert_eq!(event["week"], week.as_str(), "{line}");
            seen.insert(message);
        }
    }
    assert_eq!(seen.len(), 2, "both kinds of line: {}", run.stderr);
}

/// Issue 29 item 22: with stderr the journal's stream (`JOURNAL_STREAM`
/// names its device and inode, as systemd sets it), each line is text that
/// starts with its syslog priority, which `journalctl -p` filters on.
#[tokio::test]
async fn on_the_journals_stream_each_line_starts_with_its_priority() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let code = dev_run(20, file, &[("JOURNAL_STREAM", stream)]).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.lines().any(|l| l.starts_with("<6>")), "{text}");
    for line in text.lines() {
        let rest = ["<3>", "<4>", "<6>", "<7>"]
            .iter()
            .find_map(|p| line.strip_prefix(p))
            .unwrap_or_else(|| panic!("a line without its priority: {line}"));
        assert!(!rest.starts_with('{'), "text, not JSON: {line}");
        assert!(!rest.contains("wfm_publisher::"), "no module path: {line}");
    }
    let ended = text
        .lines()
        .find(|l| l.contains("run ended"))
        .expect("a run's end");
    assert!(
        ended.starts_with("<6>INFO") || ended.starts_with("<6> INFO"),
        "{ended}"
    );
}
