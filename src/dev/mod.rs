//! `wfm-publisher dev`: the embedded default. A simulated platform with a
//! realistic sample (two targets, short-lived tokens, swaps resolving within
//! seconds, a rate limit to respect) and the daemon against it, started at
//! once, until every run has ended.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, TimeDelta};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::daemon::{self, DaemonOptions, RunNow};
use crate::domain::TargetName;
use crate::publish::Report;
use crate::sample::{self, SampleSpec};
use crate::sim::Scenario;
use crate::store::Outcome;
use crate::testbed::{self, Testbed};

mod genesys;

/// What dev mode's configuration is: config/dev.toml, built in so that the
/// command works from any directory.
const DEV_CONFIG: &str = include_str!("../../config/dev.toml");

struct Target {
    name: &'static str,
    prefix: &'static str,
    schedule_prefix: &'static str,
}

const TARGETS: [Target; 2] = [
    Target {
        name: "chicago",
        prefix: "chi-",
        schedule_prefix: "chi-",
    },
    Target {
        name: "new_york",
        prefix: "nyc-",
        schedule_prefix: "nyc-",
    },
];

const SCENARIO: &str = r#"
[server]
# Short-lived tokens, refreshed several times during the run, and a server
# clock two minutes ahead of ours.
token_lifetime = "20s"
clock_offset = "2m"
publish_duration = "300ms"
publish_lock = "1s"

[rate_limits]
default = { limit = 40, window = "1s" }
publish = { limit = 5, window = "5s" }

[[organizations]]
id = "org-dev"
name = "Dev Contact Centre"

[[clients]]
client_id = "dev-publisher"
client_secret = "dev-secret"
org_id = "org-dev"
scopes = ["wfm:schedule:read", "wfm:schedule:write", "wfm:admin", "org:read"]

[[templates]]
id = "tpl-day"
name = "Day shift"
org_id = "org-dev"
"#;

/// Which simulated platform dev mode publishes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DevPlatform {
    /// The simplified contract (CONTRACT.md).
    Simple,
    /// Genesys Cloud WFM (genesys-cloud/CONTRACT.md).
    GenesysCloud,
}

pub struct DevOutcome {
    pub reports: Vec<Report>,
    /// How many targets were run.
    pub targets: usize,
    /// What the platform saw, in one line.
    pub platform: String,
}

impl DevOutcome {
    pub fn success(&self) -> bool {
        self.reports.len() == self.targets
            && self
                .reports
                .iter()
                .all(|r| r.outcome == Some(Outcome::Success))
    }
}

/// Runs dev mode against `platform` in `dir`, with `agents` agents.
pub async fn run_on(
    platform: DevPlatform,
    dir: &Path,
    agents: usize,
    clock: SharedClock,
    shutdown: CancellationToken,
) -> anyhow::Result<DevOutcome> {
    match platform {
        DevPlatform::Simple => run(dir, agents, clock, shutdown).await,
        DevPlatform::GenesysCloud => genesys::run(dir, agents, clock, shutdown).await,
    }
}

/// How far ahead of now the published week's deferral deadline must be:
/// the sample's swaps resolve within seconds, a run takes under a minute.
const DEADLINE_MARGIN: TimeDelta = TimeDelta::hours(2);

/// The daemon, told to run `runs` at once and to exit when they end.
async fn publish_now(
    config: PathBuf,
    runs: Vec<RunNow>,
    clock: SharedClock,
    shutdown: CancellationToken,
) -> anyhow::Result<Vec<Report>> {
    Ok(daemon::run(DaemonOptions {
        config,
        clock,
        shutdown,
        reload_on_sighup: false,
        at_start: Some(daemon::AtStart {
            runs,
            // A fresh sandbox over a simulated platform: its store has no
            // record of the week the simulator shows published already.
            adopt: true,
            exit_when_done: true,
        }),
    })
    .await?)
}

/// The week dev mode publishes for `target` of the configuration in `bed`:
/// the first one whose swaps can still be decided before its deferral
/// deadline, said in the log; and the target's time zone.
fn open_week(bed: &Testbed, target: &str, clock: &SharedClock) -> anyhow::Result<(NaiveDate, Tz)> {
    let settings = bed.settings()?;
    let target = settings
        .targets
        .get(target)
        .with_context(|| format!("the dev configuration has no target {target}"))?;
    let cutoff = TimeDelta::from_std(target.deferral.deadline)? + DEADLINE_MARGIN;
    let week = crate::domain::week::first_week_with_cutoff_ahead(
        clock.now(),
        target.time_zone,
        target.week_start_day,
        cutoff,
    );
    let deadline = crate::publish::deferral_deadline(target, week);
    tracing::info!(target = %target.name, %week, %deadline, "dev mode publishes the first week whose swap cut-off is ahead");
    Ok((week, target.time_zone))
}

/// Runs dev mode in `dir` (its configuration, inbox and state), with
/// `agents` agents split over the two targets.
pub async fn run(
    dir: &Path,
    agents: usize,
    clock: SharedClock,
    shutdown: CancellationToken,
) -> anyhow::Result<DevOutcome> {
    let mut scenario = Scenario::parse(SCENARIO, "dev scenario")?;
    let bed = Testbed::new(Some(dir), "config/dev.toml", DEV_CONFIG)?;
    let mut runs = Vec::new();
    for t in &TARGETS {
        let (week, zone) = open_week(&bed, t.name, &clock)?;
        let spec = SampleSpec {
            schedule_id: format!("{}{week}", t.schedule_prefix),
            org_id: "org-dev".into(),
            time_zone: zone,
            week_start: week,
            agent_prefix: t.prefix.into(),
            agents: agents / TARGETS.len(),
            swaps: 10,
            resolve_within: Duration::from_secs(8),
        };
        let generated = sample::generate(&spec);
        bed.write(
            &format!("examples/inbox/{}/{week}.csv", t.name),
            &generated.csv,
        )?;
        scenario.schedules.push(generated.schedule);
        scenario.swaps.extend(generated.swaps);
        runs.push(RunNow {
            target: TargetName::new(t.name)?,
            week: Some(week),
        });
    }
    let sim = testbed::spawn_sim(scenario, clock.clone())
        .await
        .context("cannot start the simulator")?;
    let config = DEV_CONFIG.replace("http://127.0.0.1:0", &sim.base_url());
    let bed = Testbed::new(Some(dir), "config/dev.toml", &config)?;
    let config_path = bed.path.clone();
    tracing::info!(platform = %sim.base_url(), dir = %dir.display(), "simulated platform up; publishing both targets");
    let reports = publish_now(config_path, runs, clock, shutdown).await?;
    let rec = sim.record();
    sim.shutdown().await?;
    let platform = format!(
        "platform: {} requests, {} tokens issued, {} used after expiry, {} over a rate limit, {} writes or publishes while a swap was pending, peak concurrency {}",
        rec.requests.len(),
        rec.tokens_issued,
        rec.expired_token_uses.len(),
        rec.over_limit,
        rec.swap_violations.len(),
        rec.peak_concurrency
    );
    Ok(DevOutcome {
        reports,
        targets: TARGETS.len(),
        platform,
    })
}

/// The closing summary: each target's report, and what the platform saw.
pub fn render(outcome: &DevOutcome) -> String {
    let mut out = String::new();
    for r in &outcome.reports {
        out.push_str(&r.render());
    }
    out.push_str(&outcome.platform);
    out.push('\n');
    out.push_str(if outcome.success() {
        "every agent published or explained.\n"
    } else {
        "some runs did not succeed: see above.\n"
    });
    out
}

/// Where dev mode keeps its files: `dir`, or a fresh temporary directory.
pub fn workdir(dir: Option<PathBuf>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            Ok((d, None))
        }
        None => {
            let t = tempfile::tempdir()?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}
