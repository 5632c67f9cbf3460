//! The binary as an operator runs it: the embedded default, and the daemon
//! answering real signals.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};

/// `dev` with `args`, in a temporary directory: exit code and stdout.
async fn dev(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "dev"])
        .args(args)
        .arg("--dir")
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let out = patiently("`dev` to end", out).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout)
}

#[tokio::test]
async fn dev_mode_publishes_every_agent_or_explains_it() {
    let (code, stdout) = dev(&["--agents", "120"]).await;
    assert_eq!(code, Some(0), "{stdout}");
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

#[tokio::test]
async fn dev_mode_on_genesys_cloud_publishes_the_sample_business_unit() {
    let (code, stdout) = dev(&["--platform", "genesys-cloud", "--agents", "60"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("target chicago"), "{stdout}");
    assert!(stdout.contains("60 agents: "), "{stdout}");
    assert!(
        stdout.contains("approved: gave"),
        "an approved trade: {stdout}"
    );
    assert!(
        stdout.contains("denied: original week published"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "0 writes while a trade was Matched, 0 approvals broken, schedule published: true"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("every agent published or explained"),
        "{stdout}"
    );
    assert!(!stdout.contains("dev-secret"));
}

type Log = tokio::io::Lines<BufReader<tokio::process::ChildStderr>>;

/// The binary with `args` and JSON logs, its stderr to read line by line.
fn spawn_logging(args: &[&str], config: &std::path::Path) -> (tokio::process::Child, Log) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json"])
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, log)
}

/// The next log line containing `needle` (within 20 s, a hang guard).
async fn next_with(log: &mut Log, needle: &str) -> String {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the log ended before {needle:?}");
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {needle:?} in the log"))
}

#[tokio::test]
async fn the_daemon_reloads_on_sighup_keeps_a_bad_config_out_and_stops_on_sigterm() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let (mut child, mut log) = spawn_logging(&["run"], &cfg.path);
    let pid = child.id().unwrap();
    let mut wait_for = async |needle: &str| next_with(&mut log, needle).await;
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

/// Every secret the suite's platform knows: client secrets and the shape of
/// its access tokens.
fn leaks(text: &str) -> Vec<String> {
    let mut found: Vec<String> = [
        "dev-secret",
        "publisher-secret",
        "no-admin-secret",
        "not-the-real-one",
    ]
    .iter()
    .filter(|s| text.contains(*s))
    .map(|s| s.to_string())
    .collect();
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices("sim-") {
        let token = &bytes[at + 4..(at + 36).min(bytes.len())];
        if token.len() == 32 && token.iter().all(u8::is_ascii_hexdigit) {
            found.push(text[at..at + 36].to_owned());
        }
    }
    found
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_an_error_even_at_trace_level() {
    // The detector itself finds what it looks for.
    assert_eq!(
        leaks("a dev-secret and sim-0123456789abcdef0123456789abcdef here").len(),
        2
    );
    let mut captured = String::new();
    let dir = tempfile::tempdir().unwrap();
    let dev = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "dev", "--agents", "40", "--dir"])
        .arg(dir.path())
        .env("RUST_LOG", "trace")
        .output()
        .await
        .unwrap();
    assert!(dev.status.success());
    captured.push_str(&String::from_utf8_lossy(&dev.stdout));
    captured.push_str(&String::from_utf8_lossy(&dev.stderr));

    let sim = spawn_sim(small_scenario()).await;
    for (client, secret) in [
        ("publisher", "publisher-secret"),
        ("publisher", "not-the-real-one"),
    ] {
        let cfg = TestConfig::with_secret(&sim.base_url(), client, secret);
        for args in [
            vec!["check", "--week", &week().to_string()],
            vec![
                "publish",
                "--target",
                "chicago",
                "--week",
                &week().to_string(),
                "--no-wait",
            ],
        ] {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
                .args(["--log-format", "pretty"])
                .args(&args)
                .arg("--config")
                .arg(&cfg.path)
                .env("RUST_LOG", "trace")
                .output()
                .await
                .unwrap();
            captured.push_str(&String::from_utf8_lossy(&out.stdout));
            captured.push_str(&String::from_utf8_lossy(&out.stderr));
        }
    }
    assert!(
        captured.len() > 10_000,
        "the runs logged little: {captured}"
    );
    assert_eq!(leaks(&captured), Vec::<String>::new());
}

#[tokio::test]
async fn under_systemd_it_says_ready_what_it_does_and_pets_the_watchdog() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let socket_path = cfg.dir().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(&cfg.path)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let messages = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 512];
        while !(seen.iter().any(|m: &String| m.contains("READY=1"))
            && seen.iter().any(|m| m.contains("STATUS="))
            && seen.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
        {
            let n = socket.recv(&mut buf).expect("a notification within 20 s");
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        seen
    })
    .await
    .unwrap();
    assert!(
        messages.iter().any(|m| m.contains("STATUS=ready")),
        "{messages:?}"
    );
    kill(child.id().unwrap(), "-TERM");
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
}

/// a-1 and a-2 are the agents of the small scenario's swap sw-1, pending
/// for its first 20 s: a publish that waits for it is still running then.
fn swapped_week() -> String {
    format!(
        "agent_id,date,start,end,activity\na-1,{},08:00,16:00,phone\na-2,{},08:00,16:00,email\n",
        day(1),
        day(1)
    )
}

#[tokio::test]
async fn an_interrupted_publish_exits_with_the_signals_code() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let sim = spawn_sim(small_scenario()).await;
        let cfg = TestConfig::new(&sim.base_url(), "publisher");
        common::publishing::write_source(&cfg, &swapped_week());
        let args = [
            "publish",
            "--target",
            "chicago",
            "--week",
            &week().to_string(),
        ];
        let (mut child, mut log) = spawn_logging(&args, &cfg.path);
        next_with(&mut log, "deferred: pending shift swap").await;
        kill(child.id().unwrap(), signal);
        tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("stops")
            .unwrap();
        assert_eq!(status.code(), Some(code), "after kill {signal}");
    }
}

#[tokio::test]
async fn a_reload_applies_log_level_and_names_the_keys_that_need_a_restart() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let (mut child, mut log) = spawn_logging(&["run"], &cfg.path);
    let pid = child.id().unwrap();
    next_with(&mut log, "wfm-publisher running").await;
    cfg.change(|c| {
        c.store.path("other.db");
        c.log.level("warn");
    });
    kill(pid, "-HUP");
    let line = next_with(&mut log, "configuration reloaded").await;
    assert!(line.contains("store.path"), "{line}");
    kill(pid, "-TERM");
    let mut rest = Vec::new();
    while let Ok(Some(line)) = log.next_line().await {
        rest.push(line);
    }
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
    // "stop requested" and "stopped" are info lines: filtered out now.
    let info: Vec<_> = rest.iter().filter(|l| l.contains("\"INFO\"")).collect();
    assert!(
        info.is_empty(),
        "info lines after log.level = warn: {info:?}"
    );
}

#[tokio::test]
async fn at_start_every_metric_has_help_and_its_series_exist_at_zero() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let (mut child, mut log) = spawn_logging(&["run"], &cfg.path);
    let line = next_with(&mut log, "wfm-publisher running").await;
    let fields: serde_json::Value = serde_json::from_str(&line).unwrap();
    let admin = fields["admin"]
        .as_str()
        .expect("the admin address, as a value");
    assert!(admin.starts_with("127.0.0.1:"), "{line}");
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    kill(child.id().unwrap(), "-TERM");
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    assert_eq!(child.wait().await.unwrap().code(), Some(0));

    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let names: std::collections::BTreeSet<&str> =
        scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for name in &names {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP:\n{text}"
        );
    }
    for wanted in [
        "wfm_runs_total{target=\"chicago\",outcome=\"failed\"} 0",
        "wfm_runs_total{target=\"chicago\",outcome=\"success\"} 0",
        "wfm_api_requests_total{endpoint=\"publish\",status=\"429\"} 0",
        "wfm_api_requests_total{endpoint=\"write_agent\",status=\"no_answer\"} 0",
        "wfm_agents_failed_total 0",
        "wfm_agents_published_total 0",
        "wfm_token_failures_total 0",
        "wfm_rate_limit_waits_total 0",
        "wfm_pending_deferrals 0",
    ] {
        assert!(text.contains(wanted), "no {wanted:?} at start:\n{text}");
    }
}

/// A string a log field should never hold: Rust's debug text of an
/// `Option` or a `Duration` ("Some(…)", "None", "1.5s", "250ms").
fn debug_text(value: &str) -> bool {
    let number_then_unit = value
        .strip_suffix("ms")
        .or_else(|| value.strip_suffix("µs"))
        .or_else(|| value.strip_suffix("ns"))
        .or_else(|| value.strip_suffix('s'))
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.'));
    value.starts_with("Some(") || value == "None" || number_then_unit
}

#[tokio::test]
async fn log_fields_are_values_not_debug_text() {
    assert!(debug_text("Some(127.0.0.1:46051)") && debug_text("1.5s") && !debug_text("phone"));
    // Two calls a second, far below what the configuration allows: the
    // rate-limit lines are logged, with their waits.
    let mut scenario = small_scenario();
    scenario.rate_limits.default.limit = 2;
    scenario.server.advertise_rate_limits = false;
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let mut week = String::from("agent_id,date,start,end,activity\n");
    for agent in 5..=10 {
        week.push_str(&format!("a-{agent},{},08:00,16:00,phone\n", day(1)));
    }
    common::publishing::write_source(&cfg, &week);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "publish", "--target", "chicago"])
        .args([
            "--week",
            &common::week().to_string(),
            "--no-wait",
            "--config",
        ])
        .arg(&cfg.path)
        .env("RUST_LOG", "debug")
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let mut fields = 0;
    for line in log.lines() {
        let Ok(serde_json::Value::Object(event)) = serde_json::from_str(line) else {
            continue;
        };
        for (name, value) in event {
            if let serde_json::Value::String(text) = value {
                fields += 1;
                assert!(!debug_text(&text), "{name}: {text:?} in {line}");
            }
        }
    }
    assert!(log.contains("rate limited"), "no rate limit met:\n{log}");
    assert!(fields > 20, "few fields logged:\n{log}");
}

/// Secrets of the test below, each where an operator might put it.
const ADMIN_TOKEN: &str = "admin-token-hush-7731";
const URL_PASSWORD: &str = "url-password-hush-7732";
const URL_QUERY_KEY: &str = "url-query-hush-7733";
const HOOK_KEY: &str = "hook-key-hush-7734";

/// What the suite's `leaks` finds, and this test's own secrets.
fn every_leak(text: &str) -> Vec<String> {
    let mut found = leaks(text);
    for secret in [ADMIN_TOKEN, URL_PASSWORD, URL_QUERY_KEY, HOOK_KEY] {
        if text.contains(secret) {
            found.push(secret.to_owned());
        }
    }
    found
}

/// The binary with `args` and `--config`, logging at trace in `format`:
/// its exit code, and its stdout and stderr together.
async fn traced(format: &str, args: &[&str], config: &std::path::Path) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", format])
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "trace")
        .output()
        .await
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_secret_fed_through_every_path_never_comes_out() {
    // Sunday evening before the week: the run ends at once.
    let sim = spawn_sim(small_scenario()).await;
    let (hook, received) = webhook_receiver().await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    std::fs::write(cfg.dir().join("admin_token"), ADMIN_TOKEN).unwrap();
    cfg.change(|c| {
        c.admin.token_file("admin_token");
        c.notify
            .webhook_url(format!("{hook}?key={HOOK_KEY}"))
            .timeout(secs(2));
        c.log.level("trace");
        // The week's file is a link to the client secret, and links are
        // followed.
        c.target("chicago").follow_symlinks(true);
    });
    let inbox = cfg.dir().join("inbox/chicago");
    std::fs::create_dir_all(&inbox).unwrap();
    std::os::unix::fs::symlink(
        cfg.dir().join("client_secret"),
        inbox.join(format!("{}.csv", week())),
    )
    .unwrap();

    let mut captured = String::new();
    let publish = [
        "publish",
        "--target",
        "chicago",
        "--week",
        &week().to_string(),
    ];
    for format in ["pretty", "json"] {
        for args in [
            &["check", "--week", &week().to_string()][..],
            &["check", "--week", &week().to_string(), "--json"],
            &publish,
            &[&publish[..], &["--json"]].concat(),
            &["status"],
        ] {
            let (_, text) = traced(format, args, &cfg.path).await;
            captured.push_str(&text);
        }
    }
    assert!(
        captured.contains(&format!("{}.csv:1: ", week())),
        "the secret file was not refused as a source:\n{captured}"
    );

    // Credentials in the auth URL, in its user info and in its query, are
    // refused at load, as a file's key and as an environment variable.
    let base = sim.base_url();
    let with_password = base.replacen("http://", &format!("http://user:{URL_PASSWORD}@"), 1);
    let with_key = format!("{base}/?key={URL_QUERY_KEY}");
    for bad in [&with_password, &with_key] {
        let bad_cfg = TestConfig::new(bad, "publisher");
        for format in ["pretty", "json"] {
            let (code, text) = traced(format, &["check"], &bad_cfg.path).await;
            assert_eq!(code, Some(2), "{text}");
            captured.push_str(&text);
        }
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
            .args(["check", "--config"])
            .arg(&cfg.path)
            .env("WFM_PUBLISHER__PLATFORM__AUTH_BASE_URL", bad)
            .output()
            .await
            .unwrap();
        captured.push_str(&String::from_utf8_lossy(&out.stdout));
        captured.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    // The daemon, logging JSON at trace (log.level): a triggered run, the
    // webhook, /status and /metrics.
    let (mut child, mut log) = spawn_logging(&["run"], &cfg.path);
    let line = next_with(&mut log, "wfm-publisher running").await;
    captured.push_str(&line);
    let fields: serde_json::Value = serde_json::from_str(&line).unwrap();
    let admin = format!("http://{}", fields["admin"].as_str().unwrap());
    let http = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::POST, "targets/chicago/runs"),
        (reqwest::Method::GET, "status"),
        (reqwest::Method::GET, "metrics"),
    ] {
        let answer = http
            .request(method, format!("{admin}/{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "/{path}");
        captured.push_str(&answer.text().await.unwrap());
        if path.ends_with("runs") {
            // The run has ended, refused, once the webhook has heard.
            captured.push_str(&next_with(&mut log, "webhook").await);
        }
    }
    kill(child.id().unwrap(), "-TERM");
    while let Ok(Some(line)) = log.next_line().await {
        captured.push_str(&line);
        captured.push('\n');
    }
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
    let bodies = received.lock().unwrap().clone();
    assert_eq!(
        bodies.first().map(|b| b["outcome"].clone()),
        Some("refused".into())
    );
    for body in bodies {
        captured.push_str(&body.to_string());
    }
    for db in ["state.db", "state.db-wal"] {
        if let Ok(bytes) = std::fs::read(cfg.dir().join(db)) {
            captured.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    assert!(captured.len() > 50_000, "little was captured:\n{captured}");
    assert_eq!(every_leak(&captured), Vec::<String>::new());
}

/// The binary's `publish` of the week of swapped_week(), on `cfg`'s store.
fn publish_swapped(cfg: &TestConfig, extra: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"));
    cmd.args(["--log-format", "json", "publish", "--target", "chicago"])
        .args(["--week", &week().to_string(), "--config"])
        .arg(&cfg.path)
        .args(extra)
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn one_publisher_per_sqlite_store_and_a_killed_one_is_taken_over() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    common::publishing::write_source(&cfg, &swapped_week());
    // The first waits for swap sw-1 (pending for 20 s): still running.
    let mut first = publish_swapped(&cfg, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(first.stderr.take().unwrap()).lines();
    next_with(&mut log, "deferred: pending shift swap").await;
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    let pid = first.id().unwrap();
    let publishes = || {
        sim.record()
            .requests
            .iter()
            .filter(|r| r.path.ends_with("/schedule/publish"))
            .count()
    };
    let before = publishes();

    let second = publish_swapped(&cfg, &["--no-wait"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("`wfm-publisher publish` (pid {pid} on ")),
        "the holder named: {stderr}"
    );
    let daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["run", "--config"])
        .arg(&cfg.path)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&daemon.stderr);
    assert_eq!(
        daemon.status.code(),
        Some(2),
        "the daemon beside it: {stderr}"
    );
    assert!(stderr.contains(&format!("(pid {pid} on ")), "{stderr}");
    assert_eq!(publishes(), before, "a refused process published");

    // kill -9: the kernel drops the lock with the process; the next one
    // takes it over and resumes the run.
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let third = publish_swapped(&cfg, &["--no-wait"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(!stderr.contains("run lock"), "{stderr}");
    assert!(stderr.contains("resuming the unfinished run"), "{stderr}");
}

#[tokio::test]
async fn publish_is_refused_beside_the_daemon_on_its_sqlite_store() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let (mut daemon, mut log) = spawn_logging(&["run"], &cfg.path);
    next_with(&mut log, "wfm-publisher running").await;
    let out = publish_swapped(&cfg, &["--no-wait"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let holder = format!(
        "the daemon (`wfm-publisher run`) (pid {} on ",
        daemon.id().unwrap()
    );
    assert!(stderr.contains(&holder), "{stderr}");
    kill(daemon.id().unwrap(), "-TERM");
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    assert_eq!(daemon.wait().await.unwrap().code(), Some(0));
}

#[tokio::test]
async fn status_check_and_a_dry_run_never_create_a_store() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.change(|c| {
        c.store.path("stat.db");
    });
    common::publishing::write_source(&cfg, &swapped_week());
    let run = |args: &[&str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
            .args(args)
            .arg("--config")
            .arg(&cfg.path)
            .env_remove("RUST_LOG")
            .output()
    };
    let status = run(&["status"]).await.unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("stat.db does not exist"), "{stderr}");
    let dry = run(&[
        "publish",
        "--target",
        "chicago",
        "--week",
        &week().to_string(),
        "--dry-run",
    ])
    .await
    .unwrap();
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dry.stdout)
    );
    run(&["check", "--week", &week().to_string()])
        .await
        .unwrap();
    let created: Vec<_> = std::fs::read_dir(cfg.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("stat.db"))
        .collect();
    assert!(created.is_empty(), "created {created:?}");
}

#[tokio::test]
async fn an_outage_fails_publish_with_exit_75_and_the_next_run_completes_it() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let week = &format!(
        "agent_id,date,start,end,activity\na-5,{},08:00,16:00,phone\na-6,{},08:00,16:00,email\n",
        day(1),
        day(1)
    );
    common::publishing::write_source(&cfg, week);
    cfg.change(|c| {
        c.retry.max_attempts(2).max_elapsed(secs(1));
    });
    let publish = || publish_swapped(&cfg, &["--no-wait"]).output();
    // The OAuth server down, then every API call answering 503.
    sim.reconfigure(|live| live.faults.token_error_rate = 1.0);
    let down = publish().await.unwrap();
    let stdout = String::from_utf8_lossy(&down.stdout);
    assert_eq!(
        down.status.code(),
        Some(75),
        "token endpoint down: {stdout}"
    );
    assert!(stdout.contains(": failed"), "{stdout}");
    sim.reconfigure(|live| {
        live.faults.token_error_rate = 0.0;
        live.faults.error_rate = 1.0;
        live.faults.error_statuses = vec![503];
    });
    let down = publish().await.unwrap();
    let stdout = String::from_utf8_lossy(&down.stdout);
    assert_eq!(down.status.code(), Some(75), "503 everywhere: {stdout}");
    assert!(!stdout.contains("raise retry.max_elapsed"), "{stdout}");

    sim.reconfigure(|live| live.faults.error_rate = 0.0);
    let up = publish().await.unwrap();
    let stdout = String::from_utf8_lossy(&up.stdout);
    assert_eq!(up.status.code(), Some(0), "{stdout}");
    assert_eq!(sim.record().published.len(), 2);
}

/// Issue 27 item 9: the process is not dumpable from its start: no core
/// dump holds its secrets, and /proc/PID's files are root's, not its user's
/// (which is how this test sees the flag from outside).
#[tokio::test]
async fn the_process_is_not_dumpable() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"));
    cmd.args(["sim", "--as-written", "--scenario"])
        .arg(repo_file("config/sim-small.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // As another user than root when the tests run as root: a dumpable
    // process's /proc files would then be that user's.
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(65534).gid(65534);
    }
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    patiently("the simulator to start", lines.next_line())
        .await
        .unwrap();
    let status = std::fs::metadata(format!("/proc/{}/status", child.id().unwrap())).unwrap();
    assert_eq!(
        status.uid(),
        0,
        "/proc/PID/status is not root's: the process is dumpable"
    );
    child.kill().await.unwrap();
}

/// The small scenario's swap of a-1 and a-2, pending, with the id `id`,
/// and a configuration with the week they are in.
async fn with_swap_id(id: &str) -> (wfm_publisher::sim::SimHandle, TestConfig) {
    let mut scenario = small_scenario();
    scenario.swaps[0].id = id.into();
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    common::publishing::write_source(&cfg, &swapped_week());
    (sim, cfg)
}

/// Issue 27 item 7: text from the platform (here a swap id with a newline
/// and ANSI escapes) is escaped in log lines: in the pretty format it
/// cannot forge a line of its own or clear the screen.
#[tokio::test]
async fn platform_text_cannot_forge_a_log_line() {
    let forged = "sw-1\nINFO run ended outcome=success\u{1b}[2J";
    let (_sim, cfg) = with_swap_id(forged).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args([
            "--log-format",
            "pretty",
            "publish",
            "--target",
            "chicago",
            "--no-wait",
        ])
        .args(["--week", &week().to_string(), "--config"])
        .arg(&cfg.path)
        // The line naming the swap is per agent, so debug.
        .env("RUST_LOG", "wfm_publisher=debug,info")
        .kill_on_drop(true)
        .output();
    let out = patiently("`publish --no-wait` to end", out).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("DEBUG") && l.contains("deferred: pending shift swap")),
        "{stderr}"
    );
    // The pretty format colours its own fields; the platform's clear-screen
    // sequence must not get through.
    assert!(
        !stderr.contains("\u{1b}[2J"),
        "the platform's escape reached the log: {stderr:?}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("INFO run ended")),
        "a forged line: {stderr}"
    );
}

/// Issue 27 item 7: such a swap id reaches the run's report on stdout and
/// `status`'s pending deferrals too: there as well it is escaped, forging
/// no line and clearing no screen.
#[tokio::test]
async fn platform_text_cannot_forge_a_report_or_status_line() {
    let forged = "sw-1\n  published: every agent; run ended outcome=success\u{1b}[2J";
    let (_sim, cfg) = with_swap_id(forged).await;
    let run = |args: &[&str]| {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
            .args(args)
            .arg("--config")
            .arg(&cfg.path)
            .env_remove("RUST_LOG")
            .kill_on_drop(true)
            .output();
        async {
            String::from_utf8_lossy(&patiently("the command", output).await.unwrap().stdout)
                .into_owned()
        }
    };
    let week = week().to_string();
    let report = run(&[
        "publish",
        "--target",
        "chicago",
        "--no-wait",
        "--week",
        &week,
    ])
    .await;
    let status = run(&["status"]).await;
    for (what, out) in [("the report", report), ("status", status)] {
        assert!(
            out.contains(r"sw-1\n  published: every agent"),
            "{what} names the swap, escaped: {out}"
        );
        assert!(
            !out.contains('\u{1b}'),
            "{what}: the platform's escape got through: {out:?}"
        );
        assert!(
            !out.lines()
                .any(|l| l.trim_start().starts_with("published: every agent")),
            "{what}: a forged line: {out}"
        );
    }
}
