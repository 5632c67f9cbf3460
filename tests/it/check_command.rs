//! `wfm-publisher check` against the simulator: one row per failure, with
//! the fix, and an exit code that says whether a publication would succeed.

use crate::common;

use common::*;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `wfm-publisher check` of `cfg` for the test week, with `extra`.
fn check_command(cfg: &TestConfig, extra: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"));
    command
        .args(["--log-format", "json", "check", "--config"])
        .arg(&cfg.path)
        .args(["--week", &week().to_string()])
        .args(extra)
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    command
}

async fn check(cfg: &TestConfig, extra: &[&str]) -> Run {
    let out = check_command(cfg, extra).output();
    let out = patiently("`check` to end", out).await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn with_source(cfg: &TestConfig) {
    let dir = cfg.dir().join("inbox/chicago");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{}.csv", week())),
        format!(
            "agent_id,date,start,end,activity\na-1,{},08:00,16:00,phone\n",
            week()
        ),
    )
    .unwrap();
}

fn failing_rows(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter(|l| l.contains("  FAIL  "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_healthy_setup_passes() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    with_source(&cfg);
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("A publication would succeed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("2 listed, 2 pending"), "{}", run.stdout);

    let json = check(&cfg, &["--json", "--target", "chicago"]).await;
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert!(report["rows"].as_array().unwrap().len() >= 8);
}

#[tokio::test]
async fn a_client_missing_wfm_admin_is_told_to_grant_it() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "no-admin");
    with_source(&cfg);
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let failing = failing_rows(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(failing[0].starts_with("scopes"), "{}", failing[0]);
    assert!(failing[0].contains("wfm:admin"), "{}", failing[0]);
    assert!(
        failing[0].contains("grant wfm:admin to that OAuth client"),
        "{}",
        failing[0]
    );
}

#[tokio::test]
async fn a_client_of_another_organization_is_named() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "other-org");
    with_source(&cfg);
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let failing = failing_rows(&run).join("\n");
    assert!(failing.contains("chicago: schedule"), "{failing}");
    assert!(failing.contains("org-globex"), "{failing}");
    assert!(
        failing.contains("use an OAuth client of the schedule's organization"),
        "{failing}"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_named_without_showing_it() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::with_secret(&sim.base_url(), "publisher", "hunter2-not-it");
    with_source(&cfg);
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let failing = failing_rows(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(failing[0].contains("invalid_client"), "{}", failing[0]);
    assert!(failing[0].contains("platform.client_id"), "{}", failing[0]);
    assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"));
}

#[tokio::test]
async fn a_missing_source_file_fails_its_row() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 2);
    let failing = failing_rows(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(
        failing[0].contains(&format!(
            "{}.csv: the week's source file does not exist",
            week()
        )),
        "{}",
        failing[0]
    );
}

/// `check` reads the source file exactly as `publish` does: a file that
/// exists but that a run would refuse fails its row, with the line.
#[tokio::test]
async fn a_source_file_publish_would_refuse_fails_its_row() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let dir = cfg.dir().join("inbox/chicago");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{}.csv", week())),
        format!("agent_id,date,start,end,activity\na-1,{},08:00,16:00,phone\na-1,{},12:00,18:00,phone\n", week(), week()),
    )
    .unwrap();
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let failing = failing_rows(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(
        failing[0].contains(&format!("{}.csv:3:", week())),
        "{}",
        failing[0]
    );
    assert!(failing[0].contains("overlaps"), "{}", failing[0]);
}

#[tokio::test]
async fn a_bad_configuration_is_refused_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[platform]\nauth_base_url = \"http://x\"\nbogus = 1\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("platform.bogus"), "{stderr}");
    assert!(stderr.contains("platform.api_base_url"), "{stderr}");
}

/// A hanging OAuth server costs one row's deadline, named, not every retry.
#[tokio::test]
async fn a_hanging_endpoint_is_named_after_the_row_deadline() {
    let server = common::oauth::Hanging::spawn().await;
    let cfg = TestConfig::new(&server.base_url(), "publisher");
    cfg.change(|c| {
        c.platform.check_timeout(secs(1));
    });
    with_source(&cfg);
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let failing = failing_rows(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(failing[0].starts_with("token"), "{}", failing[0]);
    let host = server.addr.to_string();
    assert!(
        failing[0].contains(&format!("{host} did not answer within 1s")),
        "{}",
        failing[0]
    );
    assert!(
        failing[0].contains("platform.auth_base_url"),
        "{}",
        failing[0]
    );
}

/// Issue 29 item 13: a wrong secret is said once, in its row: no log line
/// promising a retry that `check` never makes.
#[tokio::test]
async fn a_wrong_secret_is_said_once_without_a_promised_retry() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::with_secret(&sim.base_url(), "publisher", "hunter2-not-it");
    with_source(&cfg);
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(all.matches("invalid_client").count(), 1, "{all}");
    assert!(
        !all.contains("backing off") && !all.contains("retry_in"),
        "{all}"
    );
}

/// Issue 29 item 17: a failed token does not hide the local rows: each
/// target's source file is still read and said.
#[tokio::test]
async fn a_token_failure_still_checks_the_source() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::with_secret(&sim.base_url(), "publisher", "hunter2-not-it");
    let run = check(&cfg, &[]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let failing = failing_rows(&run);
    assert_eq!(failing.len(), 2, "{}", run.stdout);
    assert!(failing[0].starts_with("token"), "{}", run.stdout);
    assert!(failing[1].starts_with("chicago: source"), "{}", run.stdout);
    assert!(
        failing[1].contains("the week's source file does not exist"),
        "{}",
        failing[1]
    );
}

/// A port nothing listens on: bound, read, released.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Issue 29 item 14: a refused connection is said at once, as refused, not
/// after the row's deadline as an endpoint that did not answer.
#[tokio::test]
async fn a_refused_connection_is_said_at_once() {
    let cfg = TestConfig::new(&format!("http://127.0.0.1:{}", dead_port()), "publisher");
    cfg.change(|c| {
        c.platform.check_timeout(secs(60));
    });
    with_source(&cfg);
    let started = std::time::Instant::now();
    let run = check(&cfg, &[]).await;
    let took = started.elapsed();
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let failing = failing_rows(&run);
    assert!(failing[0].starts_with("token"), "{}", run.stdout);
    assert!(failing[0].contains("connection refused"), "{}", failing[0]);
    assert!(
        failing[0].contains("platform.auth_base_url"),
        "{}",
        failing[0]
    );
    assert!(!failing[0].contains("did not answer"), "{}", failing[0]);
    // The row's deadline is 60 s: a check that waited for it took that long.
    assert!(took < secs(30), "took {took:?}");
}

/// Issue 29 item 18: a reader that goes away (`| head -c 10`) ends the
/// command quietly, with a closed pipe's conventional exit, not a panic.
#[tokio::test]
async fn a_closed_stdout_ends_quietly() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    with_source(&cfg);
    let mut child = check_command(&cfg, &["--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the report is written.
    drop(child.stdout.take());
    let out = patiently("`check` to end", child.wait_with_output())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

/// Issue 29 item 11: a week whose swap cut-off has passed is warned about
/// in one line that says what to do, by `check` and before `publish
/// --dry-run` (and `publish`) sends anything.
#[tokio::test]
async fn a_week_past_its_swap_cut_off_is_warned_about() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    // A cut-off 30 days before the week starts: long passed for any week
    // `week()` can be.
    cfg.change(|c| {
        c.target("chicago").deferral.deadline(secs(30 * 86_400));
    });
    with_source(&cfg);
    let run = check(&cfg, &[]).await;
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("chicago: swap cut-off"))
        .unwrap_or_else(|| panic!("no cut-off row:\n{}", run.stdout));
    assert!(row.contains("  WARN  "), "{row}");
    assert!(row.contains("passed"), "{row}");
    assert!(row.contains("--week"), "{row}");
    assert!(row.contains("targets.chicago.deferral.deadline"), "{row}");
    // A warning: the rest is healthy, so a publication still succeeds.
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "publish", "--dry-run", "--config"])
        .arg(&cfg.path)
        .args(["--target", "chicago", "--week", &week().to_string()])
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let out = patiently("`publish --dry-run` to end", out).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("swap cut-off"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("--week"), "{stderr}");

    // A week whose cut-off is ahead has no such row.
    cfg.change(|c| {
        c.target("chicago").deferral.deadline(secs(3600));
    });
    let run = check(&cfg, &[]).await;
    assert!(!run.stdout.contains("swap cut-off"), "{}", run.stdout);
}

/// Issue 29 item 19: `check --config-only` reads the configuration and
/// the local source files, contacts nothing, and exits 0 or 2.
#[tokio::test]
async fn config_only_contacts_nothing() {
    // Something listens where the platform would be: it must hear nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let cfg = TestConfig::new(
        &format!("http://{}", listener.local_addr().unwrap()),
        "publisher",
    );
    with_source(&cfg);
    let run = check(&cfg, &["--config-only"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("configuration"), "{}", run.stdout);
    assert!(run.stdout.contains("chicago: source"), "{}", run.stdout);
    assert!(!run.stdout.contains("token"), "{}", run.stdout);
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "config-only connected to the platform"
    );

    // A missing source file fails its row.
    std::fs::remove_dir_all(cfg.dir().join("inbox/chicago")).unwrap();
    let run = check(&cfg, &["--config-only"]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(failing_rows(&run).len(), 1, "{}", run.stdout);

    // A bad configuration: the same where-and-what lines as any command.
    std::fs::write(&cfg.path, "[platform]\nbogus = 1\n").unwrap();
    let run = check(&cfg, &["--config-only"]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("platform.bogus"), "{}", run.stderr);
}
