//! A Genesys Cloud publication at the platform's real limits, against the
//! simulator on loopback: 2,000 agents in four management units, every
//! one of them to be written, with shift trades decided while the run
//! goes. It asserts only that every agent ends holding what it should; it
//! measures the rest.
//!
//!   cargo bench --bench genesys
//!
//! The publisher runs as its own process (the release binary), so its peak
//! RSS and CPU time are its own, read from /proc and wait4's rusage. The
//! table row is printed and appended to target/benchmarks-genesys.md; every
//! request the platform saw goes to target/benchmarks-genesys-timeline.csv
//! and the publisher's warnings to target/benchmarks-genesys.log.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use wfm_publisher::clock;
use wfm_publisher::sim::genesys::scenario::{ManagementUnit, Step, Trade, UserBlock};
use wfm_publisher::sim::genesys::{Outcome, Record, Scenario, TradeState};
use wfm_publisher::testbed::Testbed;

/// Agents in the week, split evenly over the management units.
const AGENTS: usize = 2000;
/// The management units of Chicago Support: the scenario file's one, then
/// three more. Each holds one block of generated users, `{prefix}{n}`.
const UNITS: [(&str, &str, &str); 4] = [
    ("mu-phones", "Chicago Phones", "mu1-agent-"),
    ("mu-2", "Chicago Email", "mu2-agent-"),
    ("mu-3", "Chicago Chat", "mu3-agent-"),
    ("mu-4", "Chicago Back Office", "mu4-agent-"),
];
/// When Matched trades are decided, from the simulator's start.
const SOON: Duration = Duration::from_secs(10);
const LATER: Duration = Duration::from_secs(25);
/// The platform's limits: 300 calls a minute per token, 5 trade query jobs
/// a minute.
const PER_TOKEN: u32 = 300;
const TOKEN_WINDOW: Duration = Duration::from_secs(60);
const TRADE_JOBS: u32 = 5;
/// The publisher's trade-listing pace at 5 trade jobs a minute.
const POLL_FLOOR: Duration = Duration::from_secs(12);
const SCHEDULE: &str = "sched-2000";

fn target_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name)
}

/// The week after the coming one: its deferral deadline is always ahead.
fn week() -> NaiveDate {
    wfm_publisher::week::upcoming_week_start(
        Utc::now() + TimeDelta::days(7),
        "America/Chicago".parse().unwrap(),
        chrono::Weekday::Mon,
    )
}

/// What an agent holds: (start, minutes), sorted.
type Held = Vec<(DateTime<Utc>, i64)>;

/// One side of a trade: an agent and the shift it gives.
type Side = (String, Held);

struct Week {
    scenario: Scenario,
    csv: String,
    planned: BTreeMap<String, Held>,
    /// Each trade's pair: the initiator with its Monday shift, the
    /// receiver with its Saturday shift.
    pairs: BTreeMap<String, (Side, Side)>,
    /// Trades Matched at the start and decided during the run.
    decided_during_run: usize,
}

/// How each trade starts and moves (as tests/common/genesys.rs plans
/// them): Matched ones are decided during the run (step 1 at `SOON`, step 2
/// at `LATER`); Unmatched ones defer nobody; the decided ones stand.
fn trade_plan(k: usize) -> (TradeState, Vec<(u64, TradeState)>) {
    use TradeState::*;
    match k % 9 {
        0 => (Matched, vec![(1, Approved)]),
        1 => (Matched, vec![(1, Denied)]),
        2 => (Matched, vec![(2, Expired)]),
        3 => (Matched, vec![(2, Canceled)]),
        4 => (Unmatched, vec![]),
        5 => (Unmatched, vec![(1, Canceled)]),
        6 => (Denied, vec![]),
        7 => (Expired, vec![]),
        _ => (Matched, vec![(2, Approved)]),
    }
}

/// config/sim-genesys-2000.toml's Chicago Support with its agents in four
/// management units, at the platform's real limits. Every agent's plan
/// moves one day an hour later than the platform holds (odd agents'
/// Wednesday, even agents' Thursday), so every one is written; a trade
/// between agents 20k+1 and 20k+2 of each unit.
fn big_week(week: NaiveDate) -> Week {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sim-genesys-2000.toml");
    let mut scenario = Scenario::load(&path).expect("the 2,000-agent scenario loads");
    scenario.rate_limits.per_token.limit = PER_TOKEN;
    scenario.rate_limits.per_token.window = TOKEN_WINDOW;
    scenario.rate_limits.trade_jobs.limit = TRADE_JOBS;
    scenario.rate_limits.trade_jobs.window = TOKEN_WINDOW;
    let template = scenario.generated_users[0].clone();
    let per_unit = AGENTS / UNITS.len();
    for (id, name, _) in &UNITS[1..] {
        scenario.management_units.push(ManagementUnit {
            id: (*id).into(),
            name: (*name).into(),
            business_unit: "bu-chicago".into(),
            division: "div-na".into(),
        });
    }
    scenario.generated_users = UNITS
        .iter()
        .map(|(mu, _, prefix)| UserBlock {
            prefix: (*prefix).into(),
            count: per_unit,
            email_domain: template.email_domain.clone(),
            management_unit: (*mu).into(),
            team: Some(format!("team-{mu}")),
        })
        .collect();
    scenario.schedules[0].id = SCHEDULE.into();
    scenario.schedules[0].week_date = week;
    scenario.schedules[0].generated_agents = UNITS.iter().map(|u| u.2.to_owned()).collect();
    let tz = chrono_tz::America::Chicago;
    let at = |day: i64, hour: u32| {
        let date = week + TimeDelta::days(day);
        tz.from_local_datetime(&date.and_hms_opt(hour, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    let mut planned = BTreeMap::new();
    let mut csv = String::from("agent_id,date,start,end,activity\n");
    for (_, _, prefix) in &UNITS {
        for n in 1..=per_unit {
            let (days, hour, moved) = if n % 2 == 1 {
                (0..5, 8, 2)
            } else {
                (1..6, 12, 3)
            };
            let mut held = Held::new();
            for d in days {
                let h = if d == moved { hour + 1 } else { hour };
                let date = week + TimeDelta::days(d);
                csv.push_str(&format!(
                    "{prefix}{n},{date},{h:02}:00,{:02}:00,phone\n",
                    h + 8
                ));
                held.push((at(d, h), 480));
            }
            held.sort();
            planned.insert(format!("{prefix}{n}"), held);
        }
    }
    let expiration = at(0, 0);
    let mut pairs = BTreeMap::new();
    let mut decided_during_run = 0;
    scenario.trades.clear();
    let mut k = 0;
    for (_, _, prefix) in &UNITS {
        for j in 0..per_unit / 20 {
            let (a, b) = (
                format!("{prefix}{}", 20 * j + 1),
                format!("{prefix}{}", 20 * j + 2),
            );
            let (state, steps) = trade_plan(k);
            if state == TradeState::Matched && !steps.is_empty() {
                decided_during_run += 1;
            }
            let id = format!("t-{k}");
            let timeline = steps
                .into_iter()
                .map(|(which, state)| Step {
                    after: if which == 1 { SOON } else { LATER },
                    state,
                })
                .collect();
            scenario.trades.push(Trade {
                id: id.clone(),
                schedule: SCHEDULE.into(),
                initiating_user: a.clone(),
                initiating_shift: format!("{a}-d0"),
                receiving_user: Some(b.clone()),
                receiving_shift: Some(format!("{b}-d5")),
                state,
                expiration,
                one_sided: false,
                timeline,
            });
            pairs.insert(
                id,
                ((a, vec![(at(0, 8), 480)]), (b, vec![(at(5, 12), 480)])),
            );
            k += 1;
        }
    }
    Week {
        scenario,
        csv,
        planned,
        pairs,
        decided_during_run,
    }
}

impl Week {
    /// What every agent must hold once the trades `record` shows approved
    /// are applied: each pair's shifts exchanged.
    fn expected(&self, record: &Record) -> BTreeMap<String, Held> {
        let mut weeks = self.planned.clone();
        for (id, ((a, given), (b, back))) in &self.pairs {
            if record.trade_states.get(id) != Some(&TradeState::Approved) {
                continue;
            }
            let mut move_shift = |from: &str, to: &str, shifts: &Held| {
                weeks.get_mut(from).unwrap().retain(|s| !shifts.contains(s));
                weeks.get_mut(to).unwrap().extend(shifts.iter().copied());
            };
            move_shift(a, b, given);
            move_shift(b, a, back);
        }
        weeks.values_mut().for_each(|w| w.sort());
        weeks
    }

    /// What every agent holds on the platform now.
    fn held(record: &Record) -> BTreeMap<String, Held> {
        record
            .holdings
            .iter()
            .filter(|((schedule, _), _)| schedule == SCHEDULE)
            .map(|((_, user), shifts)| {
                let mut held: Held = shifts
                    .iter()
                    .map(|s| (s.start_date, s.length_minutes))
                    .collect();
                held.sort();
                (user.clone(), held)
            })
            .collect()
    }
}

/// A Genesys Cloud configuration against the simulator with the
/// production limits of config/genesys-cloud.toml (its retries: the
/// defaults) and a trade poll faster than the budget allows, which the
/// publisher raises to 12 s.
fn config(base: &str) -> Testbed {
    let text = format!(
        r#"
[platform]
kind = "genesys-cloud"
auth_base_url = "{base}"
api_base_url = "{base}"
allow_insecure_http = true
client_id = "publisher"
client_secret_file = "client_secret"

# 300 requests a minute per token, as Genesys Cloud allows.
[rate_limits.default]
requests = 5
per = "1s"

# Shift-trade query jobs: 5 a minute.
[rate_limits.trade_jobs]
requests = 5
per = "60s"

[store]
path = "state.db"

[targets.chicago]
time_zone = "America/Chicago"
cron = "0 6 * * 4"
source = "inbox/chicago/{{week_start}}.csv"
business_unit = "Chicago Support"
schedule_id = "{SCHEDULE}"

[targets.chicago.deferral]
poll_interval = "2s"
"#
    );
    let bed = Testbed::new(None, "config.toml", &text).unwrap();
    bed.write("client_secret", "publisher-secret").unwrap();
    bed
}

struct Measured {
    /// When the process was started.
    started: Instant,
    started_at: DateTime<Utc>,
    wall: Duration,
    peak_rss_kb: i64,
    cpu: Duration,
    code: i32,
    report: serde_json::Value,
    stderr: String,
}

/// Runs the publisher binary to its end and reads its rusage.
// The child is reaped by wait4, which std's wait cannot replace: only wait4
// returns the rusage.
#[allow(clippy::zombie_processes)]
fn run_publisher(dir: &Path, args: &[&str]) -> Measured {
    let started = Instant::now();
    let started_at = Utc::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["--log-format", "json"])
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
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
    let stderr = read_all(Box::new(child.stderr.expect("piped")));
    // SAFETY: plain wait4 on our own child, with valid out-pointers.
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let out = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
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

/// The calls the platform took from the per-token budget: every `/api/v2`
/// request that passed authentication and the token's window (not the
/// OAuth token request, not the presigned upload `PUT`s or downloads, not
/// the websocket). A 429 on a trade query job was refused by the
/// trade-jobs budget after the token's window took it, so it counts; any
/// other 429 is the token's window refusing, which counts nothing.
fn counted_calls(record: &Record) -> usize {
    record
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v2/"))
        .filter(|r| r.status != 401)
        .filter(|r| r.status != 429 || r.path.contains("/shifttrading/trades/query/jobs"))
        .count()
}

struct Floor {
    /// The last Matched trade's decision, from the publisher's start.
    decided: f64,
    /// The decision plus the processing of the update that writes its
    /// agents.
    trades: f64,
    /// What the per-token budget forces.
    budget: f64,
    counted: usize,
}

impl Floor {
    fn total(&self) -> f64 {
        self.trades.max(self.budget)
    }

    /// The floor with one trade poll on top: a run that lists trades at
    /// the budget's pace (one query job every 12 s) sees a decision at
    /// most that late.
    fn with_poll(&self) -> f64 {
        (self.trades + POLL_FLOOR.as_secs_f64()).max(self.budget)
    }
}

/// The run cannot end before the last Matched trade is decided and the
/// update that writes its agents is processed (`operation_delay`; the
/// schedule is published already, and a publish would not wait for the
/// trades anyway: deferred agents are written into the published
/// schedule); nor before the per-token budget has let its calls through:
/// 300 at once, then 5 a second. Seeing the decision takes a trade query
/// job, at most one every 12 s; the floor counts none of that wait, as a
/// poll may land just after the decision.
fn floor(week: &Week, record: &Record, offset: Duration) -> Floor {
    let last = week
        .scenario
        .trades
        .iter()
        .filter(|t| t.state == TradeState::Matched)
        .flat_map(|t| t.timeline.iter().map(|s| s.after))
        .max()
        .unwrap_or_default();
    let decided = last.as_secs_f64() - offset.as_secs_f64();
    let delay = week.scenario.server.operation_delay.as_secs_f64();
    let counted = counted_calls(record);
    let rate = f64::from(PER_TOKEN) / TOKEN_WINDOW.as_secs_f64();
    Floor {
        decided,
        trades: decided.max(0.0) + delay,
        budget: counted.saturating_sub(PER_TOKEN as usize) as f64 / rate,
        counted,
    }
}

/// Every request the platform saw and every trade move, in seconds from
/// the publisher's start.
fn timeline(record: &Record, origin: DateTime<Utc>) -> String {
    let secs = |at: DateTime<Utc>| (at - origin).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let mut lines: Vec<(f64, String)> = record
        .requests
        .iter()
        .map(|r| {
            let path = r
                .path
                .replace(
                    "/api/v2/workforcemanagement/businessunits/bu-chicago",
                    "…bu",
                )
                .replace(&format!("/schedules/{SCHEDULE}"), "/schedules/S");
            let t = secs(r.at);
            (t, format!("{t:.3},{},{path},{}", r.method, r.status))
        })
        .collect();
    lines.extend(record.trade_moves.iter().map(|m| {
        let t = secs(m.at);
        (
            t,
            format!("{t:.3},TRADE,{} {:?}->{:?},", m.trade_id, m.from, m.to),
        )
    }));
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut csv = String::from("s,method,path,status\n");
    for (_, l) in lines {
        csv.push_str(&l);
        csv.push('\n');
    }
    csv
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let week_start = week();
    let week = big_week(week_start);
    let sim_started = Instant::now();
    let sim = wfm_publisher::sim::spawn(
        week.scenario.clone(),
        clock::system(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("the simulator binds a loopback port");
    let bed = config(&sim.base_url());
    bed.write_week("chicago", week_start, &week.csv).unwrap();
    eprintln!(
        "genesys: {AGENTS} agents in {} management units, {} trades decided during the run …",
        UNITS.len(),
        week.decided_during_run
    );
    let dir = bed.dir().to_path_buf();
    let week_arg = week_start.to_string();
    let m = tokio::task::spawn_blocking(move || {
        run_publisher(
            &dir,
            &[
                "publish",
                "--config",
                "config.toml",
                "--target",
                "chicago",
                "--week",
                &week_arg,
                "--adopt",
                "--json",
            ],
        )
    })
    .await
    .unwrap();
    let record = sim.record();
    let offset = m.started.duration_since(sim_started);
    let floor = floor(&week, &record, offset);
    let expected = week.expected(&record);
    let held = Week::held(&record);
    let wrong: Vec<&String> = expected
        .iter()
        .filter(|(agent, w)| held.get(*agent) != Some(w))
        .map(|(agent, _)| agent)
        .collect();
    let errors = record
        .operations
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Error(_)))
        .count();
    let moved = record
        .trade_moves
        .iter()
        .filter(|t| t.from == TradeState::Matched)
        .count();
    let wall = m.wall.as_secs_f64();
    let mut text = String::from(
        "| agents | management units | trades decided during the run | wall (s) | floor (s) | efficiency | floor + one poll (s) | requests | 429s | update operations (Error) | peak RSS (MB) | CPU (s) | every agent as it should be |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    text.push_str(&format!(
        "| {AGENTS} | {} | {} | {wall:.1} | {:.1} | {:.2} | {:.1} | {} | {} | {} ({errors}) | {:.1} | {:.2} | {} |\n",
        UNITS.len(),
        week.decided_during_run,
        floor.total(),
        floor.total() / wall,
        floor.with_poll(),
        record.requests.len(),
        record.count_status(429),
        record.operations.len(),
        m.peak_rss_kb as f64 / 1024.0,
        m.cpu.as_secs_f64(),
        if wrong.is_empty() {
            "yes".to_owned()
        } else {
            format!("**no: {} wrong**", wrong.len())
        },
    ));
    text.push_str(&format!(
        "\nFloor: trades {:.1} s (last decided {:.1} s after the publisher started, + {} s update), budget {:.1} s ({} calls counted per token). Publisher exit {}, outcome {}; {} Matched trades moved during the run. Machine: {} cores.\n",
        floor.trades,
        floor.decided,
        week.scenario.server.operation_delay.as_secs_f64(),
        floor.budget,
        floor.counted,
        m.code,
        m.report["outcome"],
        moved,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    ));
    println!("{text}");
    let csv = timeline(&record, m.started_at);
    let _ = std::fs::write(target_file("benchmarks-genesys-timeline.csv"), &csv);
    let _ = std::fs::write(target_file("benchmarks-genesys.log"), &m.stderr);
    let _ = std::fs::write(
        target_file("benchmarks-genesys-report.json"),
        serde_json::to_string_pretty(&m.report).unwrap_or_default(),
    );
    {
        use std::io::Write;
        let stamp = Utc::now().format("%Y-%m-%d %H:%M UTC");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(target_file("benchmarks-genesys.md"));
        if let Ok(mut f) = file {
            let _ = write!(f, "\n{stamp}\n\n{text}");
        }
    }
    assert!(
        wrong.is_empty(),
        "{} agents do not hold what they should, e.g. {:?}: expected {:?}, held {:?}",
        wrong.len(),
        wrong.first(),
        wrong.first().and_then(|a| expected.get(*a)),
        wrong.first().and_then(|a| held.get(*a)),
    );
}
