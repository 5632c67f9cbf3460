//! What a simulated Genesys Cloud organization holds, read from TOML: its
//! divisions, business units, management units, users, activity codes,
//! OAuth clients with their grants, schedules, and shift trades with their
//! timelines. Strict like the simple scenario: unknown keys and dangling
//! references are errors naming their place.
//!
//! Deliberately shaped like ../scenario.rs (the simple platform's) without
//! sharing its types: each simulator models its own platform's contract,
//! and one changes without the other.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::scenario::{Bucket, Faults, ScenarioError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Always `"genesys-cloud"`: the key that picks this simulator.
    pub kind: String,
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub rate_limits: RateLimits,
    #[serde(default)]
    pub faults: Faults,
    pub organization: Organization,
    pub divisions: Vec<Division>,
    pub business_units: Vec<BusinessUnit>,
    pub management_units: Vec<ManagementUnit>,
    #[serde(default)]
    pub activity_codes: Vec<ActivityCode>,
    #[serde(default)]
    pub users: Vec<User>,
    /// Blocks of generated users, for large weeks.
    #[serde(default)]
    pub generated_users: Vec<UserBlock>,
    pub clients: Vec<Client>,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub trades: Vec<Trade>,
}

/// How the platform behaves when nothing is wrong.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Seed of every die the simulator casts (faults, inline answers).
    pub seed: u64,
    /// How long an update operation takes before its event arrives.
    #[serde(with = "humantime_serde")]
    pub operation_delay: Duration,
    /// Share of `…/update` calls answered `Complete` inline.
    pub update_inline_rate: f64,
    /// How many of the next updates meet another editor's save (a WFM
    /// administrator in the UI) while they are processed: the schedule's
    /// version moves under them and they end in `Error`.
    pub concurrent_edits: u32,
    /// Share of agent-schedule queries first answered `Processing`.
    pub agent_query_processing_rate: f64,
    /// Agent queries with more agent schedules than this answer with a
    /// `downloadUrl` instead of an inline result.
    pub inline_agent_limit: usize,
    /// More trades than this in a query job's result come as a
    /// `downloadUrl` (`{"entities": [...]}`) instead of `queryTradesResult`:
    /// the size at which Genesys does so is not documented.
    pub inline_trade_limit: usize,
    /// How long a presigned upload URL stays valid.
    #[serde(with = "humantime_serde")]
    pub upload_url_lifetime: Duration,
    /// How long a notification channel lives.
    #[serde(with = "humantime_serde")]
    pub channel_lifetime: Duration,
    /// Share of trade query jobs answered `202` rather than inline.
    pub trade_job_async_rate: f64,
    /// How long a `202` trade query job stays `Processing`.
    #[serde(with = "humantime_serde")]
    pub trade_job_delay: Duration,
    /// The first day (UTC) the legacy MU shift-trade routes answer 404.
    pub legacy_trades_until: NaiveDate,
    /// `bare`: an failed update's event body is exactly `{"status":"Error"}`;
    /// `with-operation-id`: it also carries `operationId` and `eventType`.
    pub error_event: ErrorEvent,
    /// `with-params`: a 403 names its permissions in `messageParams`;
    /// `in-message`: only in the message, `messageParams` empty, as
    /// observed (no documentation gives `messageParams` keys).
    pub permission_errors: PermissionErrors,
    /// `answers`: a channel's `connectUri` is this server's websocket;
    /// `silent`: a host that takes the connection and never answers the
    /// handshake, as behind a proxy that holds it.
    pub notification_socket: NotificationSocket,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            seed: 1,
            operation_delay: Duration::from_secs(2),
            update_inline_rate: 0.0,
            concurrent_edits: 0,
            agent_query_processing_rate: 0.0,
            inline_agent_limit: 500,
            inline_trade_limit: 1000,
            upload_url_lifetime: Duration::from_secs(600),
            channel_lifetime: Duration::from_secs(86_400),
            trade_job_async_rate: 0.0,
            trade_job_delay: Duration::from_secs(2),
            legacy_trades_until: NaiveDate::from_ymd_opt(2026, 8, 24).expect("a date"),
            error_event: ErrorEvent::Bare,
            permission_errors: PermissionErrors::WithParams,
            notification_socket: NotificationSocket::Answers,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionErrors {
    WithParams,
    InMessage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationSocket {
    Answers,
    Silent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorEvent {
    Bare,
    WithOperationId,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// `client.credentials.token.rate.per.minute`: every call, per token.
    pub per_token: Bucket,
    /// `shift.trading.rate.per.user.per.minute`: trade query jobs, per client.
    pub trade_jobs: Bucket,
}

impl Default for RateLimits {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        Self {
            per_token: Bucket {
                limit: 300,
                window: minute,
                kind: Default::default(),
            },
            trade_jobs: Bucket {
                limit: 5,
                window: minute,
                kind: Default::default(),
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Division {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub home: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessUnit {
    pub id: String,
    pub name: String,
    pub division: String,
    pub time_zone: Tz,
    /// `Monday`…`Sunday`.
    pub start_day_of_week: Weekday,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementUnit {
    pub id: String,
    pub name: String,
    pub business_unit: String,
    pub division: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityCode {
    pub id: String,
    pub business_unit: String,
    pub name: String,
    /// OnQueueWork, Break, Meal, Meeting, OffQueueWork, TimeOff, Training,
    /// Unavailable.
    pub category: String,
    #[serde(default)]
    pub length_minutes: u32,
    #[serde(default = "yes")]
    pub paid: bool,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

pub const CATEGORIES: [&str; 8] = [
    "OnQueueWork",
    "Break",
    "Meal",
    "Meeting",
    "OffQueueWork",
    "TimeOff",
    "Training",
    "Unavailable",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub management_unit: String,
    #[serde(default)]
    pub team: Option<String>,
}

/// `count` users `{prefix}{n}` (n from 1), mailed at `{prefix}{n}@{email_domain}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBlock {
    pub prefix: String,
    pub count: usize,
    pub email_domain: String,
    pub management_unit: String,
    #[serde(default)]
    pub team: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    pub name: String,
    /// `accessTokenValiditySeconds`: 5 minutes to 48 hours.
    #[serde(default = "day", with = "humantime_serde")]
    pub token_lifetime: Duration,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

fn day() -> Duration {
    Duration::from_secs(86_400)
}

/// One permission in some divisions (`"*"`: all of them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub permission: String,
    pub divisions: Vec<String>,
    /// A conditional grant, valid only for the teams a request names.
    #[serde(default)]
    pub teams: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub id: String,
    pub business_unit: String,
    pub week_date: NaiveDate,
    #[serde(default = "one")]
    pub week_count: u32,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub published: bool,
    #[serde(default = "one_u64")]
    pub version: u64,
    #[serde(default)]
    pub agents: Vec<AgentSchedule>,
    /// Gives every generated user of these blocks (by prefix) the sample
    /// pattern of shifts, so a large week needs no listing.
    #[serde(default)]
    pub generated_agents: Vec<String>,
}

fn one() -> u32 {
    1
}

fn one_u64() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSchedule {
    pub user: String,
    #[serde(default = "one_u64")]
    pub version: u64,
    #[serde(default)]
    pub shifts: Vec<Shift>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    pub id: String,
    pub start: DateTime<Utc>,
    pub minutes: u32,
    /// The activity code covering the whole shift.
    pub activity: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub enum TradeState {
    Unmatched,
    Matched,
    Approved,
    Denied,
    Expired,
    Canceled,
}

impl TradeState {
    pub fn name(self) -> &'static str {
        match self {
            TradeState::Unmatched => "Unmatched",
            TradeState::Matched => "Matched",
            TradeState::Approved => "Approved",
            TradeState::Denied => "Denied",
            TradeState::Expired => "Expired",
            TradeState::Canceled => "Canceled",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trade {
    pub id: String,
    pub schedule: String,
    pub initiating_user: String,
    pub initiating_shift: String,
    /// The partner: absent while nobody has taken an open offer.
    #[serde(default)]
    pub receiving_user: Option<String>,
    /// The partner's shift given in return; absent for a pick-up.
    #[serde(default)]
    pub receiving_shift: Option<String>,
    #[serde(default = "unmatched")]
    pub state: TradeState,
    pub expiration: DateTime<Utc>,
    #[serde(default)]
    pub one_sided: bool,
    /// Later states, each `after` this long from the simulator's start.
    #[serde(default)]
    pub timeline: Vec<Step>,
}

fn unmatched() -> TradeState {
    TradeState::Unmatched
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    pub state: TradeState,
}

impl Scenario {
    pub fn load(path: &std::path::Path) -> Result<Self, ScenarioError> {
        let (text, shown) = crate::scenario::read(path)?;
        Self::parse(&text, &shown)
    }

    /// Parses and checks a scenario; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: origin.to_owned(),
            source: Box::new(e),
        })?;
        scenario
            .check()
            .map_err(|(key, message)| ScenarioError::Invalid {
                path: origin.to_owned(),
                key,
                message,
            })?;
        Ok(scenario)
    }

    /// Every user, listed and generated.
    pub fn all_users(&self) -> Vec<User> {
        let generated = self.generated_users.iter().flat_map(|b| {
            (1..=b.count).map(move |n| User {
                id: format!("{}{n}", b.prefix),
                name: format!("Agent {}{n}", b.prefix),
                email: format!("{}{n}@{}", b.prefix, b.email_domain),
                management_unit: b.management_unit.clone(),
                team: b.team.clone(),
            })
        });
        self.users.iter().cloned().chain(generated).collect()
    }
}

type Problem = (String, String);

fn missing(key: String, what: &str, id: &str) -> Problem {
    (key, format!("no {what} {id:?}"))
}

impl Scenario {
    fn check(&self) -> Result<(), Problem> {
        if self.kind != super::KIND {
            return Err(("kind".into(), format!("must be {:?}", super::KIND)));
        }
        self.check_units()?;
        self.check_clients()?;
        self.check_schedules()?;
        super::trades::check_scenario(self)
    }

    fn check_units(&self) -> Result<(), Problem> {
        let divisions: HashSet<&str> = self.divisions.iter().map(|d| d.id.as_str()).collect();
        let bus: HashSet<&str> = self.business_units.iter().map(|b| b.id.as_str()).collect();
        for (i, b) in self.business_units.iter().enumerate() {
            if !divisions.contains(b.division.as_str()) {
                return Err(missing(
                    format!("business_units[{i}].division"),
                    "division",
                    &b.division,
                ));
            }
        }
        for (i, m) in self.management_units.iter().enumerate() {
            if !divisions.contains(m.division.as_str()) {
                return Err(missing(
                    format!("management_units[{i}].division"),
                    "division",
                    &m.division,
                ));
            }
            if !bus.contains(m.business_unit.as_str()) {
                return Err(missing(
                    format!("management_units[{i}].business_unit"),
                    "business unit",
                    &m.business_unit,
                ));
            }
        }
        for (i, a) in self.activity_codes.iter().enumerate() {
            if !bus.contains(a.business_unit.as_str()) {
                return Err(missing(
                    format!("activity_codes[{i}].business_unit"),
                    "business unit",
                    &a.business_unit,
                ));
            }
            if !CATEGORIES.contains(&a.category.as_str()) {
                return Err((
                    format!("activity_codes[{i}].category"),
                    format!("one of {CATEGORIES:?}"),
                ));
            }
        }
        let mus: HashSet<&str> = self
            .management_units
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        for (i, u) in self.all_users().iter().enumerate() {
            if !mus.contains(u.management_unit.as_str()) {
                return Err(missing(
                    format!("users[{i}].management_unit"),
                    "management unit",
                    &u.management_unit,
                ));
            }
        }
        Ok(())
    }

    fn check_clients(&self) -> Result<(), Problem> {
        let divisions: HashSet<&str> = self.divisions.iter().map(|d| d.id.as_str()).collect();
        for (i, c) in self.clients.iter().enumerate() {
            let secs = c.token_lifetime.as_secs();
            if !(300..=172_800).contains(&secs) {
                return Err((
                    format!("clients[{i}].token_lifetime"),
                    "between 5 minutes and 48 hours".into(),
                ));
            }
            for (j, g) in c.grants.iter().enumerate() {
                if let Some(d) = g
                    .divisions
                    .iter()
                    .find(|d| *d != "*" && !divisions.contains(d.as_str()))
                {
                    return Err(missing(
                        format!("clients[{i}].grants[{j}].divisions"),
                        "division",
                        d,
                    ));
                }
            }
        }
        for (name, b) in [
            ("per_token", self.rate_limits.per_token),
            ("trade_jobs", self.rate_limits.trade_jobs),
        ] {
            if b.limit == 0 || b.window.is_zero() {
                return Err((
                    format!("rate_limits.{name}"),
                    "limit and window must be positive".into(),
                ));
            }
        }
        Ok(())
    }

    fn check_schedules(&self) -> Result<(), Problem> {
        let users: HashSet<String> = self.all_users().into_iter().map(|u| u.id).collect();
        let blocks: HashSet<&str> = self
            .generated_users
            .iter()
            .map(|b| b.prefix.as_str())
            .collect();
        for (i, s) in self.schedules.iter().enumerate() {
            let Some(bu) = self.business_units.iter().find(|b| b.id == s.business_unit) else {
                return Err(missing(
                    format!("schedules[{i}].business_unit"),
                    "business unit",
                    &s.business_unit,
                ));
            };
            if chrono::Datelike::weekday(&s.week_date) != bu.start_day_of_week {
                return Err((
                    format!("schedules[{i}].week_date"),
                    format!("not a {} of {}", bu.start_day_of_week, bu.id),
                ));
            }
            for (j, a) in s.agents.iter().enumerate() {
                if !users.contains(&a.user) {
                    return Err(missing(
                        format!("schedules[{i}].agents[{j}].user"),
                        "user",
                        &a.user,
                    ));
                }
                let codes = &self.activity_codes;
                if let Some(sh) = a.shifts.iter().find(|sh| {
                    !codes
                        .iter()
                        .any(|c| c.id == sh.activity && c.business_unit == bu.id)
                }) {
                    return Err(missing(
                        format!("schedules[{i}].agents[{j}].shifts"),
                        "activity code",
                        &sh.activity,
                    ));
                }
            }
            if let Some(p) = s
                .generated_agents
                .iter()
                .find(|p| !blocks.contains(p.as_str()))
            {
                return Err(missing(
                    format!("schedules[{i}].generated_agents"),
                    "generated_users block",
                    p,
                ));
            }
        }
        Ok(())
    }
}
