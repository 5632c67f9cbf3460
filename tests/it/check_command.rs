//! `wfm-publisher check` against the simulator: one row per failure, with
//! the fix, and an exit code that says whether a publication would succeed.

use crate::common;

use common::*;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn check(cfg: &TestConfig, extra: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "check", "--config"])
        .arg(&cfg.path)
        .args(["--week", &week().to_string()])
        .args(extra)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
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
