//! Publishing to the Genesys simulator: a configuration against it, and a
//! generated week of many agents with trades in every state, with what
//! each agent must hold at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use wfm_publisher::config::PlatformKind;
use wfm_publisher::sim::genesys::scenario::{ManagementUnit, Step, Trade, UserBlock};
use wfm_publisher::sim::genesys::{Record, Scenario, TradeState};
use wfm_publisher::testbed::{ConfigFile, TargetSection, Testbed};

/// Genesys Cloud against the simulator at `base` as `client`, whose
/// secret is in the file `client_secret`; the store `state.db`; the
/// target `chicago`, Chicago Support's weeks from `inbox/chicago/`. Limits,
/// retries and which schedule are the caller's.
pub fn against(base: &str, client: &str) -> ConfigFile {
    let mut c = ConfigFile::default();
    c.platform
        .kind(PlatformKind::GenesysCloud {
            region: "mypurecloud.com".into(),
        })
        .auth_base_url(base)
        .api_base_url(base)
        .allow_insecure_http(true)
        .client_id(client)
        .client_secret_file("client_secret");
    c.store.path("state.db");
    c.target("chicago")
        .time_zone(chrono_tz::America::Chicago)
        .cron("0 6 * * 4")
        .source("inbox/chicago/{week_start}.csv")
        .business_unit("Chicago Support");
    c
}

/// A Genesys Cloud configuration against the simulator as `client`
/// ([`against`]); `target` sets the rest of `[targets.chicago]` (which
/// schedule, how agents are named).
pub fn config(base: &str, client: &str, target: impl FnOnce(&mut TargetSection)) -> Testbed {
    let mut c = against(base, client);
    // A limit of its own far above what these tests send: the simulator's
    // clock may run faster than real time, and its trades move meanwhile.
    c.rate_limits
        .default
        .requests(1000)
        .per(Duration::from_secs(1));
    // Likewise the trade-jobs budget: its pacing is measured on the real
    // clock, and the simulator's minute may pass in a second.
    c.rate_limits
        .trade_jobs
        .requests(1000)
        .per(Duration::from_secs(1));
    c.retry
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(500))
        .max_attempts(6)
        .max_elapsed(Duration::from_secs(120));
    let chicago = c.target("chicago");
    target(chicago);
    chicago.deferral.poll_interval(Duration::from_secs(5));
    bed(c, &format!("{client}-secret"))
}

/// A testbed holding `config`, with the client secret `secret`.
pub fn bed(config: ConfigFile, secret: &str) -> Testbed {
    let bed = Testbed::with_config(None, "config.toml", config).unwrap();
    bed.write_secret("client_secret", secret).unwrap();
    bed
}

/// What each agent holds: (start, minutes), sorted.
pub type Held = Vec<(DateTime<Utc>, i64)>;

/// One side of a trade: an agent and the shift it gives.
pub type Side = (String, Held);

/// A generated week (config/sim-genesys-2000.toml's organization) for
/// `week`, a Monday: the scenario, the source file, and the weeks as
/// planned.
pub struct BigWeek {
    pub scenario: Scenario,
    pub csv: String,
    pub planned: BTreeMap<String, Held>,
    /// Each trade's pair: the initiator with its Monday shift, the
    /// receiver with its Saturday shift.
    pub pairs: BTreeMap<String, (Side, Side)>,
}

/// A management unit of Chicago Support and its block of generated users,
/// `{prefix}{n}` in `team`.
pub struct Unit {
    pub id: &'static str,
    pub name: &'static str,
    pub prefix: &'static str,
    pub team: &'static str,
}

/// config/sim-genesys-2000.toml's one management unit and its agents,
/// `agent-1`, `agent-2`...
pub const PHONES: Unit = Unit {
    id: "mu-phones",
    name: "Chicago Phones",
    prefix: "agent-",
    team: "team-phones",
};

/// How each pair's trade starts and moves: Matched ones are decided
/// during the run (the first after `soon`, the others after `later`);
/// Unmatched ones defer nobody; the decided ones stand.
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

/// `agents` agents in the one management unit [`PHONES`], with the rate
/// limits lifted: [`BigWeek::in_units`].
pub fn big_week(agents: usize, week: NaiveDate, soon: Duration, later: Duration) -> BigWeek {
    BigWeek::in_units(&[PHONES], agents, week, soon, later)
}

impl BigWeek {
    /// `per_unit` agents in each of `units` (the scenario's management
    /// units, in that order), with the rate limits lifted far above what a
    /// test sends; a trade between agents 20k+1 and 20k+2 of each unit for
    /// every k, numbered `t-0`, `t-1`... across the units. Matched trades
    /// are decided `soon` and `later` after the simulator starts. Every
    /// agent's plan moves one day an hour later than the platform holds
    /// (odd agents' Wednesday, even agents' Thursday), so that every one is
    /// written; the traded shifts stay.
    pub fn in_units(
        units: &[Unit],
        per_unit: usize,
        week: NaiveDate,
        soon: Duration,
        later: Duration,
    ) -> BigWeek {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sim-genesys-2000.toml");
        let mut scenario = Scenario::load(&path).expect("the 2,000-agent scenario loads");
        scenario.rate_limits.per_token.limit = 100_000;
        scenario.rate_limits.trade_jobs.limit = 100_000;
        let home = scenario.management_units[0].clone();
        scenario.management_units = units
            .iter()
            .map(|u| ManagementUnit {
                id: u.id.into(),
                name: u.name.into(),
                ..home.clone()
            })
            .collect();
        let template = scenario.generated_users[0].clone();
        scenario.generated_users = units
            .iter()
            .map(|u| UserBlock {
                prefix: u.prefix.into(),
                count: per_unit,
                email_domain: template.email_domain.clone(),
                management_unit: u.id.into(),
                team: Some(u.team.into()),
            })
            .collect();
        scenario.schedules[0].week_date = week;
        scenario.schedules[0].generated_agents = units.iter().map(|u| u.prefix.into()).collect();
        let tz = chrono_tz::America::Chicago;
        let at = |day: i64, hour: u32| {
            let date = week + TimeDelta::days(day);
            tz.from_local_datetime(&date.and_hms_opt(hour, 0, 0).unwrap())
                .unwrap()
                .with_timezone(&Utc)
        };
        let mut planned = BTreeMap::new();
        let mut csv = String::from("agent_id,date,start,end,activity\n");
        for Unit { prefix, .. } in units {
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
        scenario.trades.clear();
        let each_pair = units
            .iter()
            .flat_map(|&Unit { prefix, .. }| (0..per_unit / 20).map(move |j| (prefix, j)));
        for (k, (prefix, j)) in each_pair.enumerate() {
            let a = format!("{prefix}{}", 20 * j + 1);
            let b = format!("{prefix}{}", 20 * j + 2);
            let (state, steps) = trade_plan(k);
            let id = format!("t-{k}");
            let timeline = steps
                .into_iter()
                .map(|(which, state)| Step {
                    after: if which == 1 { soon } else { later },
                    state,
                })
                .collect();
            scenario.trades.push(Trade {
                id: id.clone(),
                schedule: "sched-2000".into(),
                initiating_user: a.clone(),
                initiating_shift: format!("{a}-d0"),
                receiving_user: Some(b.clone()),
                receiving_shift: Some(format!("{b}-d5")),
                state,
                expiration,
                one_sided: false,
                timeline,
            });
            let given = (a, vec![(at(0, 8), 480)]);
            let back = (b, vec![(at(5, 12), 480)]);
            pairs.insert(id, (given, back));
        }
        BigWeek {
            scenario,
            csv,
            planned,
            pairs,
        }
    }

    /// What every agent must hold once the trades `record` shows approved
    /// are applied: each pair's shifts exchanged.
    pub fn expected(&self, record: &Record) -> BTreeMap<String, Held> {
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
    pub fn held(record: &Record) -> BTreeMap<String, Held> {
        record
            .holdings
            .iter()
            .filter(|((schedule, _), _)| schedule == "sched-2000")
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
