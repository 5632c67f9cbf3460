//! What both benchmarks share: the publisher run as its own process (the
//! release binary), its peak RSS and CPU time its own, read from /proc and
//! wait4's rusage.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

/// What one run of the publisher took.
pub struct Measured {
    /// When the process was started.
    pub started: Instant,
    pub started_at: DateTime<Utc>,
    pub wall: Duration,
    pub peak_rss_kb: i64,
    pub cpu: Duration,
    /// Its exit code; -1 if a signal ended it.
    pub code: i32,
    /// Its stdout, the `--json` report.
    pub report: serde_json::Value,
    /// What it wrote to stderr, if [`Stderr::Keep`].
    pub stderr: String,
}

impl Measured {
    /// A run since `started` that is not the publisher's own process: its
    /// wall time only.
    pub fn wall_only(started: Instant) -> Measured {
        let wall = started.elapsed();
        Measured {
            started,
            started_at: Utc::now() - TimeDelta::from_std(wall).unwrap_or_default(),
            wall,
            peak_rss_kb: 0,
            cpu: Duration::ZERO,
            code: 0,
            report: serde_json::Value::Null,
            stderr: String::new(),
        }
    }
}

/// What becomes of the publisher's stderr (its warnings).
#[derive(Clone, Copy)]
pub enum Stderr {
    /// Read into [`Measured::stderr`].
    Keep,
    /// Thrown away.
    Discard,
}

/// Runs the publisher binary with `args` in `dir` to its end (under the
/// command `wrap`, a heap profiler, if any) and reads its rusage.
// The child is reaped by wait4, which std's wait cannot replace: only wait4
// returns the rusage.
#[allow(clippy::zombie_processes)]
pub fn run_publisher(dir: &Path, wrap: Option<&str>, stderr: Stderr, args: &[&str]) -> Measured {
    let started = Instant::now();
    let started_at = Utc::now();
    let publisher = env!("CARGO_BIN_EXE_wfm-publisher");
    let mut command = match wrap {
        Some(wrap) => {
            let mut words = wrap.split_whitespace();
            let mut c = std::process::Command::new(words.next().expect("a command to wrap in"));
            c.args(words).arg(publisher);
            c
        }
        None => std::process::Command::new(publisher),
    };
    let child = command
        .args(["--log-format", "json"])
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(match stderr {
            Stderr::Keep => std::process::Stdio::piped(),
            Stderr::Discard => std::process::Stdio::null(),
        })
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // VmHWM of the process's own address space: wait4's ru_maxrss would
    // also count the benchmark's memory, inherited at fork.
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let watcher = {
        let peak = peak.clone();
        std::thread::spawn(move || loop {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            match status.lines().find(|l| l.starts_with("VmHWM:")) {
                Some(l) => {
                    let kb = l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    peak.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
                }
                None => return,
            }
            std::thread::sleep(Duration::from_millis(20));
        })
    };
    let read_all = |mut from: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            from.read_to_string(&mut s).unwrap();
            s
        })
    };
    let stdout = read_all(Box::new(child.stdout.expect("piped")));
    let stderr = child.stderr.map(|e| read_all(Box::new(e)));
    // SAFETY: plain wait4 on our own child, with valid out-pointers.
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let out = stdout.join().unwrap();
    let stderr = stderr.map(|r| r.join().unwrap()).unwrap_or_default();
    watcher.join().unwrap();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Measured {
        started,
        started_at,
        wall,
        peak_rss_kb: peak.load(std::sync::atomic::Ordering::Relaxed),
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        code,
        report: serde_json::from_str(&out).unwrap_or(serde_json::Value::Null),
        stderr,
    }
}
