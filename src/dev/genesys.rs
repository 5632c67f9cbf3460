//! `wfm-publisher dev --platform genesys-cloud`: the embedded default
//! against the Genesys Cloud simulator. A sample business unit ("Dev
//! Support", Chicago, weeks from Monday) with activity codes, generated
//! users mailed at `dev.example`, the coming week's published schedule in
//! the simulator's sample pattern, a source file that changes every third
//! agent's activity, and shift trades in every state, those that are
//! matched decided within seconds.

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{NaiveDate, TimeDelta};
use tokio_util::sync::CancellationToken;

use super::{publish_now, DevOutcome};
use crate::clock::SharedClock;
use crate::daemon::RunNow;
use crate::domain::TargetName;
use crate::sim::genesys::Scenario;
use crate::testbed::Testbed;

const CONFIG: &str = include_str!("../../config/dev-genesys.toml");

const TARGET: &str = "chicago";

/// The organization; `{week}` and `{agents}` are filled in.
const SCENARIO: &str = r#"
kind = "genesys-cloud"

[server]
operation_delay = "500ms"
trade_job_delay = "500ms"

# The platform's own limits, but enough trade queries for a poll every 2 s.
[rate_limits]
per_token = { limit = 300, window = "60s" }
trade_jobs = { limit = 60, window = "60s" }

[organization]
id = "org-dev"
name = "Dev Contact Centre"

[[divisions]]
id = "div-dev"
name = "Dev Division"
home = true

[[business_units]]
id = "bu-dev"
name = "Dev Support"
division = "div-dev"
time_zone = "America/Chicago"
start_day_of_week = "Monday"

[[management_units]]
id = "mu-dev"
name = "Dev Phones"
business_unit = "bu-dev"
division = "div-dev"

[[activity_codes]]
id = "ac-phone"
business_unit = "bu-dev"
name = "phone"
category = "OnQueueWork"

[[activity_codes]]
id = "ac-email"
business_unit = "bu-dev"
name = "email"
category = "OnQueueWork"

[[activity_codes]]
id = "ac-meal"
business_unit = "bu-dev"
name = "Meal"
category = "Meal"
paid = false

[[generated_users]]
prefix = "agent-"
count = {agents}
email_domain = "dev.example"
management_unit = "mu-dev"

[[clients]]
client_id = "dev-publisher"
client_secret = "dev-secret"
name = "Dev publisher"
token_lifetime = "5m"
grants = [
  { permission = "wfm:businessUnit:view", divisions = ["div-dev"] },
  { permission = "wfm:schedule:view", divisions = ["div-dev"] },
  { permission = "wfm:schedule:add", divisions = ["div-dev"] },
  { permission = "wfm:schedule:edit", divisions = ["div-dev"] },
  { permission = "wfm:shiftTradeRequest:view", divisions = ["div-dev"] },
]

[[schedules]]
id = "sched-dev"
business_unit = "bu-dev"
week_date = "{week}"
description = "wfm-publisher chicago {week}"
published = true
generated_agents = ["agent-"]
"#;

/// A trade of the sample: how it starts and what it becomes, and when.
struct SampleTrade {
    state: &'static str,
    timeline: &'static str,
    /// An open offer: nobody on the other side.
    open: bool,
}

const TRADES: [SampleTrade; 6] = [
    SampleTrade {
        state: "Matched",
        timeline: r#"[{ after = "4s", state = "Approved" }]"#,
        open: false,
    },
    SampleTrade {
        state: "Matched",
        timeline: r#"[{ after = "6s", state = "Denied" }]"#,
        open: false,
    },
    SampleTrade {
        state: "Unmatched",
        timeline: r#"[{ after = "2s", state = "Matched" }, { after = "8s", state = "Approved" }]"#,
        open: false,
    },
    SampleTrade {
        state: "Expired",
        timeline: "[]",
        open: false,
    },
    SampleTrade {
        state: "Unmatched",
        timeline: r#"[{ after = "3s", state = "Canceled" }]"#,
        open: false,
    },
    SampleTrade {
        state: "Unmatched",
        timeline: "[]",
        open: true,
    },
];

/// The scenario for `agents` agents and the week of `week`: trade `k`
/// pairs odd agent `k·step+1`, giving its Monday (`-d0`), with even agent
/// `k·step+2`, giving its Saturday (`-d5`).
fn scenario(agents: usize, week: NaiveDate) -> String {
    let mut text = SCENARIO
        .replace("{agents}", &agents.to_string())
        .replace("{week}", &week.to_string());
    let step = (agents / TRADES.len()).max(2) & !1;
    let expiration = week.and_hms_opt(6, 0, 0).expect("a time");
    for (k, t) in TRADES.iter().enumerate() {
        let (from, to) = (k * step + 1, k * step + 2);
        if to > agents {
            break;
        }
        let partner = match t.open {
            true => "one_sided = true".to_owned(),
            false => {
                format!("receiving_user = \"agent-{to}\"\nreceiving_shift = \"agent-{to}-d5\"")
            }
        };
        let _ = write!(
            text,
            "\n[[trades]]\nid = \"t-{k}-{state}\"\nschedule = \"sched-dev\"\ninitiating_user = \"agent-{from}\"\ninitiating_shift = \"agent-{from}-d0\"\n{partner}\nstate = \"{state}\"\nexpiration = \"{expiration}Z\"\ntimeline = {timeline}\n",
            state = t.state,
            timeline = t.timeline,
        );
    }
    text
}

/// The week's source file: the simulator's sample pattern (odd agents
/// Monday to Friday 08–16, even ones Tuesday to Saturday 12–20), every
/// third agent on e-mail instead of the phone, so those are written.
fn source(agents: usize, week: NaiveDate) -> String {
    let mut csv = String::from("agent_id,date,start,end,activity\n");
    for n in 1..=agents {
        let (days, from, to) = if n % 2 == 1 {
            (0..5, 8, 16)
        } else {
            (1..6, 12, 20)
        };
        let activity = if n % 3 == 0 { "email" } else { "phone" };
        for d in days {
            let date = week + TimeDelta::days(d);
            let _ = writeln!(
                csv,
                "agent-{n}@dev.example,{date},{from:02}:00,{to:02}:00,{activity}"
            );
        }
    }
    csv
}

/// Runs the Genesys Cloud dev mode in `dir`. The same parameters as
/// dev::run (the simple platform's) on purpose: the dev command calls
/// either; their scenarios, configurations and summaries differ.
pub async fn run(
    dir: &Path,
    agents: usize,
    clock: SharedClock,
    shutdown: CancellationToken,
) -> anyhow::Result<DevOutcome> {
    let bed = Testbed::new(Some(dir), "config/dev-genesys.toml", CONFIG)?;
    let (week, _) = super::open_week(&bed, TARGET, &clock)?;
    let scenario = Scenario::parse(&scenario(agents, week), "dev Genesys scenario")?;
    let loopback = "127.0.0.1:0".parse().expect("a socket address");
    let sim = crate::sim::spawn(scenario, clock.clone(), loopback)
        .await
        .context("cannot start the Genesys Cloud simulator")?;
    let config = CONFIG.replace("http://127.0.0.1:0", &sim.base_url());
    let bed = Testbed::new(Some(dir), "config/dev-genesys.toml", &config)?;
    bed.write(
        &format!("examples/inbox/{TARGET}/{week}.csv"),
        &source(agents, week),
    )?;
    tracing::info!(platform = %sim.base_url(), dir = %dir.display(), "simulated Genesys Cloud up; publishing the sample business unit");
    let run = RunNow {
        target: TargetName::new(TARGET)?,
        week: Some(week),
    };
    let reports = publish_now(bed.path.clone(), vec![run], clock, shutdown).await?;
    let rec = sim.record();
    sim.shutdown().await?;
    let platform = format!(
        "platform: {} requests, {} tokens issued, {} over a rate limit, {} updates ({} failed), {} writes while a trade was Matched, {} approvals broken, schedule published: {}",
        rec.requests.len(),
        rec.tokens_issued,
        rec.over_limit,
        rec.operations.len(),
        rec.operations.iter().filter(|o| matches!(o.outcome, crate::sim::genesys::Outcome::Error(_))).count(),
        rec.trade_violations.len(),
        rec.trade_failures.len(),
        rec.published.get("sched-dev").copied().unwrap_or(false),
    );
    Ok(DevOutcome {
        reports,
        targets: 1,
        platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_scenario_loads_with_trades_in_every_state() {
        let week = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let full = Scenario::parse(&scenario(60, week), "test").unwrap();
        assert_eq!(full.trades.len(), TRADES.len());
        let small = Scenario::parse(&scenario(4, week), "test").unwrap();
        assert_eq!(small.trades.len(), 2, "only pairs within the roster");
        assert_eq!(source(3, week).lines().count(), 1 + 5 + 5 + 5);
    }
}
