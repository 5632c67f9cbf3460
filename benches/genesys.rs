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

mod common;
// The integration tests' generated week; the bench uses not all of it.
#[allow(dead_code)]
#[path = "../tests/it/common/genesys.rs"]
mod genesys;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use wfm_publisher::clock;
use wfm_publisher::sim::genesys::{Outcome, Record, TradeState};
use wfm_publisher::testbed::Testbed;

use common::{run_publisher, Stderr};
use genesys::{BigWeek, Unit};

/// Agents in the week, split evenly over the management units.
const AGENTS: usize = 2000;
/// The management units of Chicago Support: the scenario file's one, then
/// three more. Each holds one block of generated users, `{prefix}{n}`.
const UNITS: [Unit; 4] = [
    Unit {
        id: "mu-phones",
        name: "Chicago Phones",
        prefix: "mu1-agent-",
        team: "team-mu-phones",
    },
    Unit {
        id: "mu-2",
        name: "Chicago Email",
        prefix: "mu2-agent-",
        team: "team-mu-2",
    },
    Unit {
        id: "mu-3",
        name: "Chicago Chat",
        prefix: "mu3-agent-",
        team: "team-mu-3",
    },
    Unit {
        id: "mu-4",
        name: "Chicago Back Office",
        prefix: "mu4-agent-",
        team: "team-mu-4",
    },
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
    wfm_publisher::domain::week::upcoming_week_start(
        Utc::now() + TimeDelta::days(7),
        "America/Chicago".parse().unwrap(),
        chrono::Weekday::Mon,
    )
}

/// config/sim-genesys-2000.toml's Chicago Support with its agents in four
/// management units (tests/it/common/genesys.rs's generated week: every agent
/// to be written, a trade between agents 20k+1 and 20k+2 of each unit), at
/// the platform's real limits.
fn big_week(week: NaiveDate) -> BigWeek {
    let mut big = BigWeek::in_units(&UNITS, AGENTS / UNITS.len(), week, SOON, LATER);
    let limits = &mut big.scenario.rate_limits;
    limits.per_token.limit = PER_TOKEN;
    limits.per_token.window = TOKEN_WINDOW;
    limits.trade_jobs.limit = TRADE_JOBS;
    limits.trade_jobs.window = TOKEN_WINDOW;
    big
}

/// The trades Matched at the start and decided during the run.
fn decided_during_run(week: &BigWeek) -> usize {
    week.scenario
        .trades
        .iter()
        .filter(|t| t.state == TradeState::Matched && !t.timeline.is_empty())
        .count()
}

/// A Genesys Cloud configuration against the simulator with the
/// production limits of config/genesys-cloud.toml (its retries: the
/// defaults) and a trade poll faster than the budget allows, which the
/// publisher raises to 12 s.
fn config(base: &str) -> Testbed {
    let mut c = genesys::against(base, "publisher");
    // 300 requests a minute per token, as Genesys Cloud allows.
    c.rate_limits
        .default
        .requests(5)
        .per(Duration::from_secs(1));
    // Shift-trade query jobs: 5 a minute.
    c.rate_limits
        .trade_jobs
        .requests(5)
        .per(Duration::from_secs(60));
    let chicago = c.target("chicago");
    chicago.schedule_id(SCHEDULE);
    chicago.deferral.poll_interval(Duration::from_secs(2));
    genesys::bed(c, "publisher-secret")
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
fn floor(week: &BigWeek, record: &Record, offset: Duration) -> Floor {
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
    let decided = decided_during_run(&week);
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
        decided
    );
    let dir = bed.dir().to_path_buf();
    let week_arg = week_start.to_string();
    let m = tokio::task::spawn_blocking(move || {
        run_publisher(
            &dir,
            None,
            Stderr::Keep,
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
    let held = BigWeek::held(&record);
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
        decided,
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
