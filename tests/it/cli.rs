//! The command line as a user meets it: every option explained, the exit
//! codes in --help, the man pages and completions made from the same
//! definition, the log level from the command line, and `health` finding
//! the daemon where its configuration says.

use std::process::Command as Process;

use crate::common::*;
use clap::CommandFactory;
use wfm_publisher::cli::{exit, Cli};

fn bin() -> Process {
    let mut p = Process::new(env!("CARGO_BIN_EXE_wfm-publisher"));
    p.env_remove("RUST_LOG");
    p
}

/// Every option and argument of every command says what it is for.
#[test]
fn every_option_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") || arg.is_hide_set() {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{path} --{}", arg.get_long().unwrap_or(id)));
            }
        }
        for sub in cmd.get_subcommands() {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            if about.trim().is_empty() {
                missing.push(format!("{path} {} (no about)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    let mut cmd = Cli::command();
    cmd.build();
    walk(&cmd, "wfm-publisher", &mut missing);
    assert!(missing.is_empty(), "options without help: {missing:?}");
}

/// Issue 29 item 23: `--version` names the commit the binary was built
/// from, as the metrics' build info and the start-up line do.
#[test]
fn version_names_the_commit() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("wfm-publisher {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = text
        .trim_end()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(!commit.is_empty() && !commit.contains(' '), "{text:?}");
}

/// `--help` ends with every exit code and its meaning, for the binary and
/// for the commands whose code a script reads.
#[test]
fn help_lists_the_exit_codes() {
    for args in [
        vec!["--help"],
        vec!["publish", "--help"],
        vec!["check", "--help"],
        vec!["status", "--help"],
        vec!["run", "--help"],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Exit codes:"), "{args:?}: {text}");
        for (code, meaning) in exit::CODES {
            let line = format!("{code:>3}  {meaning}");
            assert!(text.contains(&line), "{args:?} lacks {line:?}: {text}");
        }
    }
}

/// `generate` writes a man page per visible command, with the exit codes
/// as EXIT STATUS, and completions that complete the commands and options.
#[test]
fn man_pages_and_completions_come_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["generate", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let main = std::fs::read_to_string(dir.path().join("man/wfm-publisher.1")).unwrap();
    assert!(main.contains(".SH \"EXIT STATUS\""), "{main}");
    assert!(main.contains("\\fB75\\fR"), "{main}");
    let cmd = Cli::command();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = dir
            .path()
            .join(format!("man/wfm-publisher-{}.1", sub.get_name()));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{page:?}: {e}"));
        assert!(text.contains(".SH OPTIONS"), "{page:?}");
    }
    assert!(!dir.path().join("man/wfm-publisher-generate.1").exists());
    let publish = std::fs::read_to_string(dir.path().join("man/wfm-publisher-publish.1")).unwrap();
    assert!(publish.contains("adopt"), "{publish}");

    // Bash completes a command, then an option of it.
    let script = dir.path().join("completions/wfm-publisher.bash");
    let complete = |words: &str| {
        let line = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             f=$(complete -p wfm-publisher | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p'); \
             $f wfm-publisher \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Process::new("bash").args(["-c", &line]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        complete("wfm-publisher pub")
            .lines()
            .any(|l| l == "publish"),
        "{}",
        complete("wfm-publisher pub")
    );
    assert!(complete("wfm-publisher publish --ad")
        .lines()
        .any(|l| l == "--adopt"));
    for file in ["_wfm-publisher", "wfm-publisher.fish"] {
        let text = std::fs::read_to_string(dir.path().join("completions").join(file)).unwrap();
        assert!(text.contains("adopt"), "{file}");
    }
}

/// `-v` and `--log-level` raise the level the configuration (here, dev
/// mode's info) sets; a level that is none is refused like log.level.
#[test]
fn the_log_level_comes_from_the_command_line() {
    let debug_lines = |args: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = bin()
            .args(["--log-format", "json"])
            .args(args)
            .args(["dev", "--agents", "4", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        stderr.matches("\"level\":\"DEBUG\"").count()
    };
    assert_eq!(debug_lines(&[]), 0);
    assert!(debug_lines(&["-v"]) > 0);
    assert!(debug_lines(&["--log-level", "debug"]) > 0);
    let out = bin()
        .args(["--log-level", "verbose", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid log level"));
}

type Log = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// The daemon on `cfg`, with `args` before `run`, and its JSON log.
fn daemon(cfg: &TestConfig, args: &[&str]) -> (tokio::process::Child, Log) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json"])
        .args(args)
        .args(["run", "--config"])
        .arg(&cfg.path)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    (child, log)
}

/// The next line of `log` containing `needle`.
async fn next_with(log: &mut Log, needle: &str) -> String {
    patiently(needle, async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the daemon's log ended before {needle:?}");
    })
    .await
}

/// `health` with no URL asks the daemon where its configuration's
/// admin.listen says, environment overrides included (as a container sets
/// it), not a fixed address.
#[tokio::test]
async fn health_finds_the_daemon_from_its_configuration() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    // A token, so that an address on all interfaces loads too.
    std::fs::write(cfg.dir().join("admin_token"), "admin-token").unwrap();
    cfg.edit("[admin]\n", "[admin]\ntoken_file = \"admin_token\"\n");
    let (mut daemon, mut log) = daemon(&cfg, &[]);
    // The configuration says port 0; the daemon's log says which it got.
    let running = next_with(&mut log, "wfm-publisher running").await;
    let fields: serde_json::Value = serde_json::from_str(&running).unwrap();
    let admin = fields["admin"].as_str().unwrap().to_owned();
    let health = |listen: Option<&str>| {
        let mut p = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"));
        p.args(["health", "--config"]).arg(&cfg.path);
        if let Some(listen) = listen {
            p.env("WFM_PUBLISHER__ADMIN__LISTEN", listen);
        }
        p.output()
    };
    let at_port_zero = health(None).await.unwrap();
    assert_eq!(
        at_port_zero.status.code(),
        Some(1),
        "nothing listens on port 0"
    );
    let found = health(Some(&admin)).await.unwrap();
    assert!(found.status.success(), "{found:?}");
    let all_interfaces = admin.replace("127.0.0.1", "0.0.0.0");
    let asked_on_loopback = health(Some(&all_interfaces)).await.unwrap();
    assert!(asked_on_loopback.status.success(), "{asked_on_loopback:?}");
    daemon.kill().await.unwrap();
}

/// The command line's level outlives a reload: with log.level = "warn" in
/// the file and `--log-level info` on the command line, the daemon's info
/// lines still come after SIGHUP re-reads the file.
#[tokio::test]
async fn the_command_lines_level_survives_a_reload() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    cfg.change(|c| {
        c.log.level("warn");
    });
    let (mut daemon, mut log) = daemon(&cfg, &["--log-level", "info"]);
    let running = next_with(&mut log, "wfm-publisher running").await;
    assert!(running.contains("\"INFO\""), "{running}");
    kill(daemon.id().unwrap(), "-HUP");
    let reloaded = next_with(&mut log, "configuration reloaded").await;
    assert!(reloaded.contains("\"INFO\""), "{reloaded}");
    daemon.kill().await.unwrap();
}
