//! What `publish` shows: on a terminal (a pseudo-terminal here, as a person
//! would see it), in a log (no terminal), and under `--quiet`.

use crate::common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use common::publishing::{
    publish_to_the_end, rate_limited_setup, sample_setup, scenario_for, spec, week, write_source,
};
use common::{ms, secs, spawn_sim, TestConfig};
use wfm_publisher::sample::SampleSpec;

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

/// The terminal's screen once everything it received is drawn: what a
/// person sees at the end, where [`plain`] keeps every frame ever drawn.
/// A terminal emulator (vt100) follows the cursor as a real one does; it is
/// tall enough that nothing the run prints scrolls off, as wide as the pty.
fn final_screen(raw: &[u8]) -> Vec<String> {
    const ROWS: u16 = 1000;
    const COLS: u16 = 200;
    let size = |n| std::num::NonZeroU16::new(n).expect("a size");
    let mut terminal = vt100::Parser::new(size(ROWS), size(COLS), 0);
    terminal.process(raw);
    let mut lines: Vec<String> = terminal
        .screen()
        .rows(0, COLS)
        .map(|l| l.trim_end().to_owned())
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
    // span several windows. With 40 ms on the way, calls are in flight
    // when a window fills, so its first refusal comes with more: a burst,
    // however quickly the pace learns the limit (6 or 7 429s on an idle
    // machine with 20, 40 or 60 ms; with 20 ms a loaded machine once sent
    // too slowly for three to be in the air).
    sim.reconfigure(|live| {
        live.faults.latency = Duration::from_millis(40);
        live.rate_limits.default.limit = 100;
        // Unannounced, the limit is found by hitting it: more 429s.
        live.server.advertise_rate_limits = false;
    });
    let (code, screen) = tokio::task::spawn_blocking(move || publish_on_a_terminal(&cfg))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{screen}");
    assert!(rate_limited(&screen) >= 2, "a burst of 429s: {screen}");

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

/// `spec`'s week published on a terminal, its swaps listed every 300 ms,
/// with `deadline` as the deferral deadline when given.
async fn swaps_on_a_terminal(
    spec: SampleSpec,
    deadline: Option<Duration>,
) -> (Option<i32>, String) {
    let (_sim, cfg) = sample_setup(&spec).await;
    cfg.change(|c| {
        let deferral = &mut c.target("chicago").deferral;
        deferral.poll_interval(ms(300));
        if let Some(deadline) = deadline {
            deferral.deadline(deadline);
        }
    });
    tokio::task::spawn_blocking(move || publish_on_a_terminal(&cfg))
        .await
        .unwrap()
}

/// Issue 29 item 1: on a terminal, the agents a run defers at its start
/// are one line with their count, not a line each, and no line names the
/// code's module.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_deferrals_are_one_line_with_a_count_and_no_module_paths() {
    let (code, screen) = swaps_on_a_terminal(spec(300, 10, Duration::from_secs(1)), None).await;
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

/// The agent ids (`a-12`) on a line, each once.
fn agents_named(line: &str) -> Vec<&str> {
    let mut named: Vec<&str> = line
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| {
            w.strip_prefix("a-")
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    named.dedup();
    named
}

/// Issue 29 item 2: sixty agents given up at the deferral deadline, their
/// swaps still pending, were an ERROR line each and then a report line
/// each, the fix said every time. Now the cause is said once with its fix,
/// and no agent is named twice on the terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_unpublished_for_one_cause_are_the_cause_and_its_fix_once() {
    // 30 swaps of two agents each, pending for an hour; a cut-off 30 days
    // before the week starts, passed for any test week: the swaps are
    // listed once more and their agents given up.
    let spec = spec(300, 30, Duration::from_secs(3600));
    let (code, screen) = swaps_on_a_terminal(spec, Some(secs(30 * 86_400))).await;
    assert_ne!(code, Some(0), "{screen}");
    assert!(screen.contains("60 unpublished"), "{screen}");
    // Frames of the bar are not on the screen for good: lines written above it.
    let lines: Vec<&str> = screen
        .lines()
        .filter(|l| frames(l).is_empty() && bar_positions(l).is_empty())
        .collect();
    let naming: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !agents_named(l).is_empty())
        .collect();
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for agent in naming.iter().flat_map(|l| agents_named(l)) {
        *seen.entry(agent).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "agents named twice: {twice:?}\n{screen}");
    assert!(
        naming.len() <= 30,
        "{} lines name agents:\n{screen}",
        naming.len()
    );
    let fix = "fix: Their shift trade was still pending";
    let fixes = lines.iter().filter(|l| l.contains(fix)).count();
    assert_eq!(fixes, 1, "the fix said once:\n{screen}");
    let headings = lines.iter().filter(|l| l.contains("UNPUBLISHED")).count();
    assert_eq!(headings, 1, "one line for the cause:\n{screen}");
}

/// Issue 29 item 6: the wait's next poll in the target's local time with
/// its zone (it was UTC, unsaid), and a trade's note across midnight with
/// both dates. Issue 29 item 9: the report says how long the run took and
/// how fast it published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_on_the_terminal_are_the_targets_with_its_zone() {
    use chrono::{NaiveTime, TimeDelta, TimeZone};
    use wfm_publisher::sim::scenario::{Swap, SwapSide};
    use wfm_publisher::sim::{Shift, SwapStatus};
    let chicago = chrono_tz::America::Chicago;
    let spec = spec(20, 0, Duration::from_secs(1));
    let (mut scenario, mut csv) = scenario_for(&spec);
    // a-1 works Saturday night, 22:00 to Sunday 06:00, and gives it away.
    let saturday = week() + TimeDelta::days(5);
    csv.push_str(&format!("a-1,{saturday},22:00,06:00,phone\n"));
    let local = |day: chrono::NaiveDate, h: u32| {
        let at = day.and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap());
        chicago.from_local_datetime(&at).unwrap().to_utc()
    };
    let sunday = saturday + TimeDelta::days(1);
    scenario.swaps.push(Swap {
        id: "night".into(),
        schedule_id: spec.schedule_id.clone(),
        requester: SwapSide {
            agent_id: "a-1".into(),
            shift: Some(Shift {
                start_time: local(saturday, 22),
                end_time: local(sunday, 6),
                activity: None,
            }),
        },
        recipient: SwapSide {
            agent_id: "a-2".into(),
            shift: None,
        },
        status: SwapStatus::Pending,
        resolve_after: Some(Duration::from_secs(3)),
        resolution: Some(SwapStatus::Approved),
    });
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    write_source(&cfg, &csv);
    cfg.change(|c| {
        c.target("chicago").deferral.poll_interval(ms(300));
    });
    let (code, screen) = tokio::task::spawn_blocking(move || publish_on_a_terminal(&cfg))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{screen}");

    let now = chrono::Utc::now().with_timezone(&chicago);
    let zone = now.format("%Z").to_string();
    let polls: Vec<&str> = screen
        .match_indices("next poll at ")
        .map(|(at, _)| &screen[at + "next poll at ".len()..])
        .collect();
    assert!(!polls.is_empty(), "the wait for the swap shown: {screen}");
    for poll in polls {
        let (time, rest) = poll.split_once(' ').unwrap();
        assert!(rest.starts_with(&zone), "the zone named: {poll:.40}");
        let time = NaiveTime::parse_from_str(time, "%H:%M:%S").unwrap();
        let off = (time - now.time()).num_seconds().abs();
        // Local, not UTC (5 or 6 hours off); a poll at midnight aside.
        assert!(!(120..=86_280).contains(&off), "{time} is not {now}");
    }
    // The span's zone is its end's (a DST change may lie between).
    let end = local(sunday, 6).with_timezone(&chicago).format("%Z");
    let night = format!("{saturday} 22:00 – {sunday} 06:00 {end}");
    let note =
        format!("deferred, then published: a-2: swap \"night\" approved: took {night} from a-1");
    assert!(screen.contains(&note), "{note}\n{screen}");

    let took = screen
        .lines()
        .find(|l| l.starts_with("  took "))
        .unwrap_or_else(|| panic!("no elapsed time: {screen}"));
    assert!(took.contains("agents published a second"), "{took}");
}

/// Issue 29 item 9: `dev` printed each report twice, the daemon's log
/// lines then stdout. Each report is on the terminal once, with its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_shows_each_report_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = std::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"));
    dev.args(["dev", "--agents", "40", "--dir"]).arg(dir.path());
    let (code, raw) = tokio::task::spawn_blocking(move || on_a_terminal(dev, |_, _| {}))
        .await
        .unwrap();
    let screen = plain(&raw);
    assert_eq!(code, Some(0), "{screen}");
    for target in ["chicago", "new_york"] {
        let heading = format!("target {target}, week ");
        let reports = screen.lines().filter(|l| l.contains(&heading)).count();
        assert_eq!(reports, 1, "one report of {target}:\n{screen}");
    }
    let took = screen.lines().filter(|l| l.starts_with("  took ")).count();
    assert_eq!(took, 2, "each report's time, once:\n{screen}");
}
