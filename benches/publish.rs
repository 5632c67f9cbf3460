//! How close a publication gets to what the platform allows, against the
//! simulator on loopback. Not a test: it asserts nothing, it measures.
//!
//!   cargo bench --bench publish                       # everything (about 10 minutes)
//!   cargo bench --bench publish -- --agents 2000 --latency 20 --idle-secs 10
//!
//! The publisher runs as its own process (the release binary), so its peak
//! RSS and CPU time are its own, read from wait4's rusage.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use wfm_publisher::clock;
use wfm_publisher::sample::{self, SampleSpec};
use wfm_publisher::sim::{Scenario, SimHandle, WindowKind};
use wfm_publisher::testbed::{self, Testbed};

/// The platform's limits in every scenario, advertised in its headers.
const WRITE_RATE: f64 = 1000.0; // calls per second, default bucket
const PUBLISH_RATE: f64 = 1.0; // calls per second, publish bucket
const CONCURRENCY: &str = "128";
/// What the publisher is configured to: exactly the advertised limit, with
/// the default burst. The advertised budget, not a margin an operator would
/// have to guess, keeps it from being refused.
const CLIENT_RATE: f64 = WRITE_RATE;
/// How long a publish keeps writes out: its own work plus the lock after it.
const LOCK_SECS: f64 = 0.2 + 0.5;

struct Args {
    agents: Vec<usize>,
    latencies: Vec<u64>,
    idle_secs: u64,
    naive_agents: usize,
}

fn args() -> Args {
    let mut a = Args {
        agents: vec![2000, 10_000, 50_000],
        latencies: vec![20, 100],
        idle_secs: 60,
        naive_agents: 2000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    fn list<T: std::str::FromStr>(s: &str) -> Vec<T> {
        s.split(',')
            .map(|x| x.parse().ok().expect("a comma-separated list of numbers"))
            .collect()
    }
    let mut i = 0;
    while i < argv.len() {
        match argv[i].as_str() {
            "--agents" => a.agents = list(&argv[i + 1]),
            "--latency" => a.latencies = list(&argv[i + 1]),
            "--idle-secs" => a.idle_secs = argv[i + 1].parse().expect("seconds"),
            "--naive-agents" => a.naive_agents = argv[i + 1].parse().expect("a number"),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn week() -> NaiveDate {
    wfm_publisher::week::upcoming_week_start(
        Utc::now() + chrono::TimeDelta::days(7),
        "America/Chicago".parse().unwrap(),
        chrono::Weekday::Mon,
    )
}

fn spec(agents: usize) -> SampleSpec {
    let week = week();
    SampleSpec {
        schedule_id: format!("chicago-{week}"),
        org_id: "org-bench".into(),
        time_zone: "America/Chicago".parse().unwrap(),
        week_start: week,
        agent_prefix: "a-".into(),
        agents,
        swaps: 0,
        resolve_within: Duration::from_secs(1),
    }
}

fn scenario(spec: &SampleSpec, latency_ms: u64) -> (Scenario, String) {
    let mut s = Scenario::parse(
        r#"
[server]
token_lifetime = "10m"
publish_duration = "200ms"
publish_lock = "500ms"

[rate_limits]
default = { limit = 1000, window = "1s" }
publish = { limit = 1, window = "1s" }

[[organizations]]
id = "org-bench"
name = "Bench"

[[clients]]
client_id = "bench"
client_secret = "bench-secret"
org_id = "org-bench"
scopes = ["wfm:schedule:read", "wfm:schedule:write", "wfm:admin", "org:read"]
"#,
        "bench scenario",
    )
    .unwrap();
    let generated = sample::generate(spec);
    s.schedules.push(generated.schedule);
    s.faults.latency = Duration::from_millis(latency_ms);
    (s, generated.csv)
}

/// The standard testbed, tuned as the benchmark's client is: its rate,
/// bursts, workers and retries.
fn write_config(base: &str, client_rate: f64, csv: &str) -> Testbed {
    let bed = Testbed::standard(base, "bench", "bench-secret").unwrap();
    bed.write_week("chicago", week(), csv).unwrap();
    bed.edit(
        "[rate_limits.default]\nrequests = 1000\nper = \"1s\"",
        &format!("[rate_limits.default]\nrequests = {client_rate}\nper = \"1s\""),
    )
    .unwrap();
    let publish_rate = PUBLISH_RATE * client_rate / WRITE_RATE;
    bed.edit(
        "[rate_limits.publish]\nrequests = 100\nper = \"1s\"",
        &format!("[rate_limits.publish]\nrequests = {publish_rate}\nper = \"1s\""),
    )
    .unwrap();
    bed.edit(
        "initial_delay = \"20ms\"\nmax_delay = \"500ms\"\nmax_attempts = 6",
        "initial_delay = \"100ms\"\nmax_delay = \"2s\"\nmax_attempts = 10",
    )
    .unwrap();
    bed.append(&format!("\n[workers]\nconcurrency = {CONCURRENCY}\n"))
        .unwrap();
    bed
}

struct Measured {
    wall: Duration,
    peak_rss_kb: i64,
    cpu: Duration,
    report: serde_json::Value,
}

/// Runs the publisher binary to its end and reads its rusage.
// The child is reaped by wait4, which std's wait cannot replace: only wait4
// returns the rusage.
#[allow(clippy::zombie_processes)]
fn run_publisher(dir: &Path, args: &[&str]) -> Measured {
    let started = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json"])
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
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
    let mut stdout = child.stdout.expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    // SAFETY: plain wait4 on our own child, with valid out-pointers.
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let out = reader.join().unwrap();
    watcher.join().unwrap();
    Measured {
        wall,
        peak_rss_kb: peak.load(std::sync::atomic::Ordering::Relaxed),
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        report: serde_json::from_str(&out).unwrap_or(serde_json::Value::Null),
    }
}

async fn spawn(s: Scenario) -> SimHandle {
    testbed::spawn_sim(s, clock::system()).await.unwrap()
}

/// The time the limits alone impose when publishes overlap writes: the
/// publish bucket's ⌈N ÷ 500⌉ calls, or the writes plus the time every
/// publish but the last keeps them out (at most one publish period each),
/// whichever is longer.
fn floor(agents: usize) -> f64 {
    let publishes = (agents as f64 / 500.0).ceil();
    let period = 1.0 / PUBLISH_RATE;
    let writes = agents as f64 / WRITE_RATE + (publishes - 1.0) * LOCK_SECS.min(period) + period;
    writes.max(publishes * period)
}

struct Row {
    name: String,
    agents: usize,
    latency: u64,
    m: Measured,
    rejected_429: usize,
    masked_403: usize,
    retries: u64,
    settled: Option<Duration>,
    /// First to last agent write, and first to last publish, as the platform saw them.
    phases: Option<(Duration, Duration)>,
    gate_holds: u64,
}

async fn publication(
    name: &str,
    agents: usize,
    latency: u64,
    tweak: impl FnOnce(&mut Scenario),
    client_rate: f64,
) -> Row {
    let spec = spec(agents);
    let (mut s, csv) = scenario(&spec, latency);
    tweak(&mut s);
    let sim = spawn(s).await;
    let bed = write_config(&sim.base_url(), client_rate, &csv);
    let week = week().to_string();
    let dir_path = bed.dir().to_path_buf();
    let m = tokio::task::spawn_blocking(move || {
        run_publisher(
            &dir_path,
            &[
                "publish",
                "--config",
                "config.toml",
                "--target",
                "chicago",
                "--week",
                &week,
                "--json",
            ],
        )
    })
    .await
    .unwrap();
    let record = sim.record();
    let first = record.requests.first().map(|r| r.at);
    let last_429 = record
        .requests
        .iter()
        .filter(|r| r.status == 429)
        .map(|r| r.at)
        .max();
    let settled = first
        .zip(last_429)
        .map(|(a, b)| (b - a).to_std().unwrap_or_default());
    let span = |method: &str| {
        let times: Vec<_> = record
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.starts_with("/api/"))
            .map(|r| r.at)
            .collect();
        let first = times.iter().min()?;
        let last = times.iter().max()?;
        (*last - *first).to_std().ok()
    };
    let phases = span("PUT").zip(span("POST"));
    let published = record.published.len();
    assert_eq!(published, agents, "{name}: every agent published");
    Row {
        name: name.to_owned(),
        agents,
        latency,
        rejected_429: record.count_status(429),
        masked_403: record.requests.iter().filter(|r| r.status == 403).count(),
        retries: m.report["client"]["retries"].as_u64().unwrap_or(0),
        gate_holds: m.report["client"]["gate_holds"].as_u64().unwrap_or(0),
        m,
        settled,
        phases,
    }
}

fn kinds(s: &mut Scenario, kind: WindowKind) {
    s.rate_limits.default.kind = kind;
    s.rate_limits.publish.kind = kind;
}

/// The naive way: one request at a time, waiting only after a 429.
async fn naive(agents: usize, latency: u64) -> Row {
    let spec = spec(agents);
    let (s, _) = scenario(&spec, latency);
    let sim = spawn(s).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let started = Instant::now();
    let token: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth("bench", Some("bench-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let expected = sample::expected(&spec);
    let send = |req: reqwest::RequestBuilder| async move {
        loop {
            let r = req.try_clone().unwrap().send().await.unwrap();
            match r.status().as_u16() {
                429 | 409 => {
                    let wait: u64 = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                _ => return r,
            }
        }
    };
    for (agent, week) in &expected {
        let shifts: Vec<_> = week
            .iter()
            .map(|(a, b)| serde_json::json!({"startTime": a, "endTime": b, "activity": "phone"}))
            .collect();
        let req = http
            .put(format!("{base}/api/v2/wfm/schedule/agent/{agent}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"scheduleId": spec.schedule_id, "shifts": shifts}));
        send(req).await;
    }
    let ids: Vec<&String> = expected.keys().collect();
    for chunk in ids.chunks(500) {
        let req = http
            .post(format!("{base}/api/v2/wfm/schedule/publish"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"scheduleId": spec.schedule_id, "agentIds": chunk}));
        send(req).await;
    }
    let record = sim.record();
    Row {
        name: "naive: one at a time, wait only after a 429".into(),
        agents,
        latency,
        rejected_429: record.count_status(429),
        masked_403: 0,
        retries: 0,
        settled: None,
        phases: None,
        gate_holds: 0,
        m: Measured {
            wall: started.elapsed(),
            peak_rss_kb: 0,
            cpu: Duration::ZERO,
            report: serde_json::Value::Null,
        },
    }
}

/// The daemon with nothing due: its resident memory, and the CPU it burns.
async fn idle(secs: u64) -> (i64, Duration) {
    let spec = spec(10);
    let (s, csv) = scenario(&spec, 0);
    let sim = spawn(s).await;
    let bed = write_config(&sim.base_url(), CLIENT_RATE, &csv);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json", "run", "--config", "config.toml"])
        .current_dir(bed.dir())
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let read = |field: &str| -> i64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let cpu_ticks = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or_default();
        let f: Vec<&str> = after.split_whitespace().collect();
        f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = cpu_ticks();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let ticks = cpu_ticks() - before;
    let rss = read("VmRSS:");
    // SAFETY: SIGTERM to our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    child.wait().unwrap();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    (rss, Duration::from_millis(ticks * 1000 / hz.max(1)))
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | agents | latency | wall (s) | floor (s) | efficiency | writes (s) | publishes (s) | 429s | masked 403s | retries | holds | last 429 after (s) | peak RSS (MB) | CPU (s) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let fl = floor(r.agents);
        let wall = r.m.wall.as_secs_f64();
        let phase =
            |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64()));
        out.push_str(&format!(
            "| {} | {} | {} ms | {:.1} | {:.1} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            r.agents,
            r.latency,
            wall,
            fl,
            fl / wall,
            phase(r.phases.map(|p| p.0)),
            phase(r.phases.map(|p| p.1)),
            r.rejected_429,
            r.masked_403,
            r.retries,
            r.gate_holds,
            r.settled
                .map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64())),
            if r.m.peak_rss_kb > 0 {
                format!("{:.1}", r.m.peak_rss_kb as f64 / 1024.0)
            } else {
                "-".into()
            },
            if r.m.cpu > Duration::ZERO {
                format!("{:.2}", r.m.cpu.as_secs_f64())
            } else {
                "-".into()
            },
        ));
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let mut rows = Vec::new();
    for &latency in &args.latencies {
        for &agents in &args.agents {
            eprintln!("publishing {agents} agents at {latency} ms …");
            rows.push(publication("advertised limits", agents, latency, |_| {}, CLIENT_RATE).await);
        }
    }
    let n = *args.agents.iter().min().unwrap_or(&2000);
    for (name, kind) in [
        ("sliding window", WindowKind::Sliding),
        ("token bucket", WindowKind::TokenBucket),
    ] {
        eprintln!("{name} …");
        let row = publication(name, n, args.latencies[0], |s| kinds(s, kind), CLIENT_RATE);
        rows.push(row.await);
    }
    eprintln!("client configured at twice the advertised limit …");
    let twice = "advertised limits, client set 2x too fast";
    rows.push(publication(twice, n, args.latencies[0], |_| {}, WRITE_RATE * 2.0).await);
    let n = args
        .naive_agents
        .min(*args.agents.iter().min().unwrap_or(&2000));
    let latency = args.latencies[0];
    eprintln!("unadvertised limit, 5% 503s, naive …");
    // Long enough for the publisher to settle after the first 429s.
    let unadvertised = args
        .agents
        .iter()
        .copied()
        .find(|&a| a >= 10_000)
        .unwrap_or(n);
    rows.push(
        publication(
            "limit not advertised (client set 2x too fast)",
            unadvertised,
            latency,
            |s| s.server.advertise_rate_limits = false,
            WRITE_RATE * 2.0,
        )
        .await,
    );
    rows.push(
        publication(
            "5% injected 503s",
            n,
            latency,
            |s| {
                s.faults.error_rate = 0.05;
                s.faults.error_statuses = vec![503];
            },
            CLIENT_RATE,
        )
        .await,
    );
    rows.push(naive(n, latency).await);
    let mut text = render(&rows);
    if args.idle_secs > 0 {
        eprintln!("idle daemon for {} s …", args.idle_secs);
        let (rss, cpu) = idle(args.idle_secs).await;
        text.push_str(&format!(
            "\nIdle daemon: RSS {:.1} MB, CPU {:.2} s over {} s.\n",
            rss as f64 / 1024.0,
            cpu.as_secs_f64(),
            args.idle_secs
        ));
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    text.push_str(&format!("\nMachine: {cores} cores.\n"));
    println!("{text}");
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/benchmarks.md"),
        &text,
    );
}
