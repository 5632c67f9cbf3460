//! Stop signals against a hanging OAuth server: a preflight ends at once, and
//! a second Ctrl-C ends any command at once (exit 130).

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::oauth::Hanging;
use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A configuration whose token requests hang, with a whole run's retry
/// budget (a minute) and a check deadline that cannot end the test first.
fn hanging_config(server: &Hanging) -> TestConfig {
    let cfg = TestConfig::new(&server.base_url(), "publisher");
    cfg.change(|c| {
        c.platform.check_timeout(secs(600));
    });
    let inbox = cfg.dir().join("inbox/chicago");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join(format!("{}.csv", week())),
        format!(
            "agent_id,date,start,end,activity\na-5,{},08:00,16:00,phone\n",
            week()
        ),
    )
    .unwrap();
    cfg
}

fn spawn(cfg: &TestConfig, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json"])
        .args(args)
        .arg("--config")
        .arg(&cfg.path)
        .args(["--week", &week().to_string()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Until the hanging server holds a request of the child's.
async fn until_a_request_hangs(server: &Hanging) {
    for _ in 0..2000 {
        if server.accepted() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no request reached the hanging server");
}

async fn exit_code(child: &mut tokio::process::Child) -> Option<i32> {
    // A safety net, not a measurement: before the fix the process outlived
    // it by the whole retry budget.
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the process ends promptly after the signal")
        .unwrap()
        .code()
}

#[tokio::test]
async fn sigterm_ends_a_check_waiting_on_a_hanging_oauth_server() {
    let server = Hanging::spawn().await;
    let cfg = hanging_config(&server);
    let mut child = spawn(&cfg, &["check"]);
    until_a_request_hangs(&server).await;
    kill(child.id().unwrap(), "-TERM");
    assert_eq!(exit_code(&mut child).await, Some(130));
}

#[tokio::test]
async fn a_second_ctrl_c_exits_at_once() {
    let server = Hanging::spawn().await;
    let cfg = hanging_config(&server);
    let mut child = spawn(&cfg, &["publish", "--target", "chicago"]);
    let pid = child.id().unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    until_a_request_hangs(&server).await;
    kill(pid, "-INT");
    // The first stop lets requests in flight finish: wait until it is seen,
    // so that the two signals are not merged into one.
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains("stopping") {
                return;
            }
        }
        panic!("the log ended before the first stop was acknowledged");
    })
    .await
    .expect("the first Ctrl-C is acknowledged");
    kill(pid, "-INT");
    assert_eq!(exit_code(&mut child).await, Some(130));
}
