//! What `publish` shows: on a terminal (a pseudo-terminal here, as a person
//! would see it), in a log (no terminal), and under `--quiet`.

use crate::common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use common::publishing::{publish_to_the_end, rate_limited_setup, sample_setup, spec, week};
use common::TestConfig;

/// A pseudo-terminal pair: the master end the test reads, and the slave
/// end the binary gets as its stdin, stdout and stderr.
fn open_pty() -> (std::fs::File, OwnedFd) {
    // SAFETY: plain libc calls on descriptors this function owns; each
    // result is checked before use.
    // Close-on-exec, both ends: the tests beside this one in the binary
    // start processes too, and one that inherited an end would keep the
    // terminal open after the binary exits, so reading it would not end.
    // The binary's copies are made for it (dup2), without the flag.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(master), 0, "grantpt");
        assert_eq!(libc::unlockpt(master), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(slave >= 0, "open the slave end");
        // Wide enough that the bar's lines do not wrap.
        let size = libc::winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(libc::ioctl(slave, libc::TIOCSWINSZ, &size), 0);
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

/// Everything the terminal received, escape sequences removed, carriage
/// returns as line ends.
fn plain(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next_if_eq(&'[').is_some() {
                    // A control sequence ends with a byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => out.push('\n'),
            c => out.push(c),
        }
    }
    out
}

/// The terminal's screen once everything it received is drawn, scrolled
/// back lines included: what a person sees at the end, where [`plain`]
/// keeps every frame ever drawn. The escapes the binary's output uses are
/// followed (cursor up, down, to a column, erase in line and below);
/// others are dropped. Lines wrap at the pty's 200 columns.
fn final_screen(raw: &[u8]) -> Vec<String> {
    const WIDTH: usize = 200;
    let text = String::from_utf8_lossy(raw);
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' if chars.next_if_eq(&'[').is_some() => {
                let mut params = String::new();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        last = c;
                        break;
                    }
                    params.push(c);
                }
                let n = params.parse::<usize>().unwrap_or(0);
                let line = &mut rows[row];
                match last {
                    'A' => row = row.saturating_sub(n.max(1)),
                    'B' => row += n.max(1),
                    'C' => col = (col + n.max(1)).min(WIDTH - 1),
                    'D' => col = col.saturating_sub(n.max(1)),
                    'G' => col = n.max(1) - 1,
                    'K' if n == 0 => line.truncate(col),
                    'K' if n == 1 => line.iter_mut().take(col + 1).for_each(|c| *c = ' '),
                    'K' => line.clear(),
                    'J' => {
                        line.truncate(col);
                        rows.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            // Another escape: its one byte after it dropped.
            '\u{1b}' => {
                chars.next();
            }
            '\r' => col = 0,
            '\n' => row += 1,
            '\u{8}' => col = col.saturating_sub(1),
            c if c.is_control() => {}
            c => {
                if col == WIDTH {
                    (row, col) = (row + 1, 0);
                }
                if rows.len() <= row {
                    rows.resize(row + 1, Vec::new());
                }
                let line = &mut rows[row];
                if line.len() <= col {
                    line.resize(col + 1, ' ');
                }
                line[col] = c;
                col += 1;
            }
        }
        if rows.len() <= row {
            rows.resize(row + 1, Vec::new());
        }
    }
    let mut lines: Vec<String> = rows
        .iter()
        .map(|l| l.iter().collect::<String>().trim_end().to_owned())
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// `publish` run to its end on a pseudo-terminal: its exit code and what
/// the terminal showed.
fn publish_on_a_terminal(cfg: &TestConfig) -> (Option<i32>, String) {
    let (code, raw) = on_a_terminal(publish_command(cfg), |_, _| {});
    (code, plain(&raw))
}

/// `publish` of the test week on `cfg`, as a person would type it.
fn publish_command(cfg: &TestConfig) -> std::process::Command {
    let config = cfg.variant("terminal.toml", |c| {
        c.workers.concurrency(8);
    });
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"));
    command
        .args(["publish", "--target", "chicago", "--config"])
        .arg(&config)
        .args(["--week", &week().to_string()]);
    command
}

/// `command` run to its end on a pseudo-terminal that is its controlling
/// terminal, as a person's is: its exit code and every byte the terminal
/// received. `meanwhile` is given the keyboard (what it writes is typed:
/// `\x03` is Ctrl-C, which the terminal echoes and turns into SIGINT) and
/// what the terminal showed so far; it returns at once if it has nothing
/// to do then, and is called again until the process ends.
fn on_a_terminal(
    mut command: std::process::Command,
    mut meanwhile: impl FnMut(&mut std::fs::File, &str),
) -> (Option<i32>, Vec<u8>) {
    use std::os::unix::process::CommandExt;
    let (mut master, slave) = open_pty();
    let mut keyboard = master.try_clone().unwrap();
    // SAFETY: async-signal-safe calls between fork and exec: a session of
    // its own, with the terminal (its stdin by then) as the controlling
    // one, so Ctrl-C typed there reaches it as SIGINT.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .env("TERM", "xterm-256color")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    // The test's copies of the slave end (the command keeps them) are gone:
    // once the binary exits, reading the master end ends (EIO) instead of
    // blocking.
    drop(command);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = std::thread::spawn({
        let seen = seen.clone();
        move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let so_far = plain(&seen.lock().unwrap());
        meanwhile(&mut keyboard, &so_far);
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(keyboard);
    reader.join().unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(!seen.is_empty(), "the terminal showed nothing");
    (status.code(), seen)
}

/// Every (written, published) pair the bar's status line showed, in order.
fn frames(screen: &str) -> Vec<(u64, u64)> {
    let number = |s: &str| -> Option<u64> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    screen
        .match_indices("written ")
        .filter_map(|(at, _)| {
            let rest = &screen[at + "written ".len()..];
            let written = number(rest)?;
            let published = rest.split("published ").nth(1).and_then(number)?;
            Some((written, published))
        })
        .collect()
}

/// The rate-limited requests the final report counts.
fn rate_limited(report: &str) -> u64 {
    report
        .split(" rate-limited (429)")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_writes_move_the_bar_and_a_burst_of_429s_is_one_warning() {
    let spec = spec(300, 0, Duration::from_secs(1));
    let (sim, cfg) = sample_setup(&spec).await;
    // 100 calls a second, where the client is allowed 1,000: the writes
    // span several windows. With 20 ms on the way, calls are in flight when
    // a window fills, so its first refusal comes with more: a burst, however
    // quickly the pace (issue 28) learns the limit.
    sim.reconfigure(|live| {
        live.faults.latency = Duration::from_millis(20);
        live.rate_limits.default.limit = 100;
        // Unannounced, the limit is found by hitting it: more 429s.
        live.server.advertise_rate_limits = false;
    });
    let (code, screen) = tokio::task::spawn_blocking(move || publish_on_a_terminal(&cfg))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{screen}");
    assert!(rate_limited(&screen) >= 3, "a burst of 429s: {screen}");

    let frames = frames(&screen);
    assert!(
        frames.iter().any(|&(w, p)| w > 0 && p == 0),
        "the written count moves before the first publish: {frames:?}\n{screen}"
    );
    assert!(screen.contains("300 agents: 300 published"), "{screen}");
    assert!(
        screen
            .match_indices("429s ")
            .any(|(at, _)| !screen[at + 5..].starts_with('0')),
        "the status line counts the 429s:\n{screen}"
    );
    // Issue 29 item 5: every wait says whose limit it is; none is the
    // bare "rate-limit hold" that read as the platform's for our pacing.
    const WAITS: [&str; 5] = [
        "the platform's rate limit",
        "own pacing",
        "a token",
        "the schedule's lock",
        "pending swaps",
    ];
    for (at, _) in screen.match_indices("waiting for ") {
        let rest = &screen[at + "waiting for ".len()..];
        assert!(
            WAITS.iter().any(|w| rest.starts_with(w)),
            "an unnamed wait: {}",
            &rest[..rest.len().min(80)]
        );
    }
    let started = screen.matches("rate limited: every worker").count();
    assert_eq!(started, 1, "one warning for the burst:\n{screen}");
    let ended: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("rate limiting ended"))
        .collect();
    assert_eq!(ended.len(), 1, "one line when it ends:\n{screen}");
    assert!(ended[0].contains("count="), "{}", ended[0]);
}

#[tokio::test]
async fn without_a_terminal_the_progress_lines_carry_the_counts() {
    let (_sim, cfg) = rate_limited_setup().await;
    let run = publish_to_the_end(&cfg, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let progress: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["message"] == "progress")
        .collect();
    assert!(!progress.is_empty(), "{}", run.stderr);
    for line in &progress {
        for field in [
            "written",
            "published",
            "deferred",
            "unpublished",
            "of",
            "rate_limited",
            "lock_waits",
            "retries",
        ] {
            assert!(line[field].is_u64(), "{field} in {line}");
        }
        assert!(line["phase"].is_string() && line["waiting"].is_string());
    }
    assert!(
        progress
            .iter()
            .any(|l| l["phase"] == "writing" && l["published"] == 0),
        "the writes are told as they go: {progress:?}"
    );
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no bar and no colours: {}",
        run.stderr
    );
    let warnings = run
        .stderr
        .lines()
        .filter(|l| l.contains("rate limited: every worker"))
        .count();
    assert_eq!(warnings, 1, "{}", run.stderr);
}

#[tokio::test]
async fn quiet_shows_only_the_final_report() {
    let spec = spec(40, 0, Duration::from_secs(1));
    let (_sim, cfg) = sample_setup(&spec).await;
    let run = publish_to_the_end(&cfg, &["--quiet"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stderr, "", "nothing but the report");
    assert!(run
        .stdout
        .starts_with(&format!("target chicago, week {}", week())));
    assert!(
        run.stdout.contains("40 agents: 40 published"),
        "{}",
        run.stdout
    );
}

/// Every position the bar showed, as a fraction of its length, in order:
/// `[00:00:03] ███░░ 296/300` before issue 29, `… 42%` since.
fn bar_positions(screen: &str) -> Vec<f64> {
    screen
        .lines()
        .filter_map(|l| {
            let after = l.split("] ").nth(1)?;
            let rest = after.trim_start_matches(|c: char| !c.is_ascii_digit());
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '/' || *c == '%')
                .collect();
            match token.strip_suffix('%') {
                Some(p) => p.parse::<f64>().ok().map(|p| p / 100.0),
                None => {
                    let (n, m) = token.split_once('/')?;
                    let (n, m) = (n.parse::<f64>().ok()?, m.parse::<f64>().ok()?);
                    (m > 0.0).then(|| n / m)
                }
            }
        })
        .collect()
}

/// Issue 29 item 3: the bar showed `writing 296/300`, then `publishing
/// 0/300`. One measure for the whole run: it only moves forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bar_never_goes_back() {
    let spec = spec(300, 0, Duration::from_secs(1));
    let (_sim, cfg) = sample_setup(&spec).await;
    let (code, screen) = tokio::task::spawn_blocking(move || publish_on_a_terminal(&cfg))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{screen}");
    let positions = bar_positions(&screen);
    assert!(positions.len() > 3, "the bar was drawn: {screen}");
    for pair in positions.windows(2) {
        assert!(pair[1] >= pair[0], "the bar went back: {positions:?}");
    }
    assert!(
        screen.contains("left"),
        "the bar says the time left: {screen}"
    );
}

/// Issue 29 item 8: Ctrl-C mid-run, typed on the terminal. The report
/// says the run stopped and is resumable, counts what was written and what
/// was not sent instead of calling every agent not reached unpublished,
/// gives the one command that resumes it; and once it is over, no line of
/// the bar stays on the screen, above the report or under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_reports_how_far_the_run_got_and_the_command_that_resumes_it() {
    let spec = spec(1500, 0, Duration::from_secs(1));
    let (sim, cfg) = sample_setup(&spec).await;
    // Slow enough to be stopped midway.
    sim.reconfigure(|live| live.rate_limits.default.limit = 150);
    let mut typed = false;
    let (code, raw) = tokio::task::spawn_blocking(move || {
        on_a_terminal(publish_command(&cfg), |keyboard, so_far| {
            let writing = frames(so_far).iter().any(|&(w, _)| w >= 100);
            if writing && !typed {
                typed = true;
                use std::io::Write;
                keyboard.write_all(b"\x03").unwrap();
            }
        })
    })
    .await
    .unwrap();
    let screen = plain(&raw);
    assert_ne!(code, Some(0), "{screen}");
    let at = screen
        .find("target chicago, week")
        .unwrap_or_else(|| panic!("no report: {screen}"));
    let report = &screen[at..];
    assert!(
        report.starts_with(&format!(
            "target chicago, week {}, schedule chicago-{}: stopped before its end; resumable",
            week(),
            week()
        )),
        "{report}"
    );
    assert!(report.contains(" 0 unpublished"), "{report}");
    assert!(report.contains("not sent yet"), "{report}");
    assert!(!report.contains("UNPUBLISHED"), "{report}");
    assert!(
        report.contains(&format!("--target chicago --week {}", week())),
        "{report}"
    );
    let lines = report.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines < 8, "{report}");
    let shown = final_screen(&raw);
    let bars: Vec<&String> = shown
        .iter()
        .filter(|l| !bar_positions(l).is_empty() || !frames(l).is_empty())
        .collect();
    assert!(
        bars.is_empty(),
        "a line of the bar stays on the screen: {bars:?}\n{}",
        shown.join("\n")
    );
    assert!(
        shown.iter().any(|l| l.starts_with("target chicago, week")),
        "the report is on the screen: {}",
        shown.join("\n")
    );
}

/// Issue 29 item 1: on a terminal, the agents a run defers at its start
/// are one line with their count, not a line each, and no line names the
/// code's module.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_deferrals_are_one_line_with_a_count_and_no_module_paths() {
    let spec = spec(300, 10, Duration::from_secs(1));
    let (_sim, cfg) = sample_setup(&spec).await;
    cfg.change(|c| {
        c.target("chicago")
            .deferral
            .poll_interval(Duration::from_millis(300));
    });
    let (code, screen) = tokio::task::spawn_blocking(move || publish_on_a_terminal(&cfg))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{screen}");
    let deferred: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("deferred: pending shift swap"))
        .collect();
    assert_eq!(deferred.len(), 1, "one line for the deferrals:\n{screen}");
    let agents: u64 = deferred[0]
        .split("agents=")
        .nth(1)
        .and_then(|n| n.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(agents > 1, "with their count: {}", deferred[0]);
    assert!(
        !screen.contains("wfm_publisher::"),
        "a module path on the terminal:\n{screen}"
    );
}
