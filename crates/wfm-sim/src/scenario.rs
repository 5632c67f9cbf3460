//! What a simulated platform holds and how it misbehaves, read from TOML.
//!
//! Scenario files are test fixtures as much as configuration, so they are
//! strict: unknown keys and dangling references are errors with their place.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;

use super::wire::{Shift, SwapStatus};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read the scenario: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub rate_limits: RateLimits,
    #[serde(default)]
    pub faults: Faults,
    pub organizations: Vec<Organization>,
    pub clients: Vec<Client>,
    #[serde(default)]
    pub templates: Vec<Template>,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub swaps: Vec<Swap>,
}

/// How the platform behaves when nothing is wrong.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// `expires_in` of every token.
    #[serde(with = "humantime_serde")]
    pub token_lifetime: Duration,
    /// How far the server's clock runs ahead of (or, negative, behind) ours:
    /// "10m", "-90s".
    #[serde(deserialize_with = "signed_duration")]
    pub clock_offset: chrono::TimeDelta,
    /// How long a publish holds the schedule's lock while it runs.
    #[serde(with = "humantime_serde")]
    pub publish_duration: Duration,
    /// How long the schedule stays locked after each publish.
    #[serde(with = "humantime_serde")]
    pub publish_lock: Duration,
    /// Answer 403 (with `X-RateLimit-Remaining: 0`) instead of 429.
    pub forbidden_for_rate_limit: bool,
    /// Answer 403 instead of 401 for an expired or unknown token.
    pub forbidden_for_stale_token: bool,
    /// Send the `X-RateLimit-*` headers (and `Retry-After` on a 429).
    pub advertise_rate_limits: bool,
    /// Seed of the fault dice, so a run can be repeated.
    pub seed: u64,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            token_lifetime: Duration::from_secs(3600),
            clock_offset: chrono::TimeDelta::zero(),
            publish_duration: Duration::from_millis(200),
            publish_lock: Duration::from_secs(2),
            forbidden_for_rate_limit: false,
            forbidden_for_stale_token: false,
            advertise_rate_limits: true,
            seed: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    pub default: Bucket,
    pub publish: Bucket,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            default: Bucket {
                limit: 20,
                window: Duration::from_secs(1),
                kind: WindowKind::Fixed,
            },
            publish: Bucket {
                limit: 3,
                window: Duration::from_secs(10),
                kind: WindowKind::Fixed,
            },
        }
    }
}

/// At most `limit` calls per `window`, per client, counted as `kind` says.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub limit: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    #[serde(default)]
    pub kind: WindowKind,
}

/// How a platform counts calls against a bucket's limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// `limit` calls from the first call of a window until `window` later.
    #[default]
    Fixed,
    /// `limit` calls in any `window` ending now.
    Sliding,
    /// `limit` tokens, refilled smoothly at `limit` per `window`.
    TokenBucket,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Added to every request.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Share of `/api/v2` calls answered with one of `error_statuses`.
    pub error_rate: f64,
    pub error_statuses: Vec<u16>,
    /// `Retry-After` seconds sent with an injected 503.
    pub error_retry_after: Option<u64>,
    /// Share of calls that hang for `hang` before being answered.
    pub hang_rate: f64,
    #[serde(with = "humantime_serde")]
    pub hang: Duration,
    /// Share of token requests answered 503.
    pub token_error_rate: f64,
    /// Periods, from the simulator's start, when the token endpoint answers 503.
    pub token_outages: Vec<Outage>,
    /// `/api/v2` paths containing any of these answer 403 for no reason the
    /// publisher can find: the platform's own unexplained refusals. An
    /// entry ending in `$` matches only the end of a path.
    pub forbid_paths: Vec<String>,
}

/// What the faults decided for one request.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub latency: Duration,
    pub hang: Option<Duration>,
    /// An injected error: status and `Retry-After`.
    pub injected: Option<(u16, Option<u64>)>,
}

impl Faults {
    /// Whether `forbid_paths` refuses `path`.
    pub fn forbids(&self, path: &str) -> bool {
        self.forbid_paths.iter().any(|f| match f.strip_suffix('$') {
            Some(end) => path.ends_with(end),
            None => path.contains(f.as_str()),
        })
    }

    /// Casts the dice for one request to `path`; only `/api/v2` calls get
    /// injected errors.
    pub fn draw(&self, rng: &mut fastrand::Rng, path: &str) -> Drawn {
        let hang = self.hang_rate > 0.0 && rng.f64() < self.hang_rate;
        let injected =
            path.starts_with("/api/v2/") && self.error_rate > 0.0 && rng.f64() < self.error_rate;
        let status = if self.error_statuses.is_empty() {
            503
        } else {
            self.error_statuses[rng.usize(..self.error_statuses.len())]
        };
        Drawn {
            latency: self.latency,
            hang: hang.then_some(self.hang),
            injected: injected.then_some((status, self.error_retry_after)),
        }
    }

    /// Whether the token endpoint is down `elapsed` after the start.
    pub fn token_down(&self, elapsed: Duration, rng: &mut fastrand::Rng) -> bool {
        self.token_outages
            .iter()
            .any(|o| elapsed >= o.from && elapsed < o.until)
            || (self.token_error_rate > 0.0 && rng.f64() < self.token_error_rate)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    #[serde(with = "humantime_serde")]
    pub from: Duration,
    #[serde(with = "humantime_serde")]
    pub until: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    pub org_id: String,
    /// Scopes the OAuth application is entitled to; others asked for are
    /// dropped silently, as the platform does.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub org_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub id: String,
    pub org_id: String,
    pub week_start: NaiveDate,
    pub time_zone: Tz,
    #[serde(default)]
    pub published: bool,
    /// Agents by id, and/or `agent_count` agents named `agent_prefix` + 1..=count.
    #[serde(default)]
    pub agents: Vec<String>,
    #[serde(default)]
    pub agent_prefix: Option<String>,
    #[serde(default)]
    pub agent_count: usize,
}

impl Schedule {
    pub fn roster(&self) -> Vec<String> {
        let prefix = self.agent_prefix.as_deref().unwrap_or("a-");
        self.agents
            .iter()
            .cloned()
            .chain((1..=self.agent_count).map(|n| format!("{prefix}{n}")))
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Swap {
    pub id: String,
    pub schedule_id: String,
    pub requester: SwapSide,
    pub recipient: SwapSide,
    #[serde(default = "pending")]
    pub status: SwapStatus,
    /// When, from the simulator's start, the swap resolves into `resolution`.
    #[serde(default, with = "humantime_serde")]
    pub resolve_after: Option<Duration>,
    #[serde(default)]
    pub resolution: Option<SwapStatus>,
}

fn pending() -> SwapStatus {
    SwapStatus::Pending
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapSide {
    pub agent_id: String,
    #[serde(default)]
    pub shift: Option<Shift>,
}

fn signed_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<chrono::TimeDelta, D::Error> {
    let text = String::deserialize(d)?;
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let parsed = humantime::parse_duration(magnitude.trim()).map_err(serde::de::Error::custom)?;
    let delta = chrono::TimeDelta::from_std(parsed).map_err(serde::de::Error::custom)?;
    Ok(if negative { -delta } else { delta })
}

/// A scenario file's text, and its path as errors name it.
pub fn read(path: &Path) -> Result<(String, String), ScenarioError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: shown.clone(),
        source,
    })?;
    Ok((text, shown))
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let (text, shown) = read(path)?;
        Self::parse(&text, &shown)
    }

    /// Parses and checks a scenario; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: origin.to_owned(),
            source: Box::new(e),
        })?;
        scenario.check(origin)?;
        Ok(scenario)
    }

    fn check(&self, origin: &str) -> Result<(), ScenarioError> {
        let invalid = |key: String, message: String| ScenarioError::Invalid {
            path: origin.to_owned(),
            key,
            message,
        };
        let orgs: HashSet<&str> = self.organizations.iter().map(|o| o.id.as_str()).collect();
        let owners = self
            .clients
            .iter()
            .map(|c| ("clients", &c.org_id))
            .chain(self.templates.iter().map(|t| ("templates", &t.org_id)))
            .chain(self.schedules.iter().map(|s| ("schedules", &s.org_id)));
        let mut index: std::collections::HashMap<&str, usize> = Default::default();
        for (list, org) in owners {
            let i = index.entry(list).or_insert(0);
            if !orgs.contains(org.as_str()) {
                return Err(invalid(
                    format!("{list}[{i}].org_id"),
                    format!("no organization {org:?}"),
                ));
            }
            *i += 1;
        }
        for (name, bucket) in [
            ("default", self.rate_limits.default),
            ("publish", self.rate_limits.publish),
        ] {
            if bucket.limit == 0 || bucket.window.is_zero() {
                return Err(invalid(
                    format!("rate_limits.{name}"),
                    "limit and window must be positive".into(),
                ));
            }
        }
        for (i, w) in self.swaps.iter().enumerate() {
            self.check_swap(w)
                .map_err(|(key, message)| invalid(format!("swaps[{i}]{key}"), message))?;
        }
        Ok(())
    }

    /// A swap's problem, as the key below `swaps[i]` and what is wrong.
    fn check_swap(&self, w: &Swap) -> Result<(), (String, String)> {
        let Some(schedule) = self.schedules.iter().find(|s| s.id == w.schedule_id) else {
            return Err((
                ".schedule_id".into(),
                format!("no schedule {:?}", w.schedule_id),
            ));
        };
        let roster = schedule.roster();
        for (side, agent) in [("requester", &w.requester), ("recipient", &w.recipient)] {
            if !roster.contains(&agent.agent_id) {
                return Err((
                    format!(".{side}.agent_id"),
                    format!("{:?} is not on schedule {:?}", agent.agent_id, schedule.id),
                ));
            }
        }
        if w.requester.shift.is_none() {
            return Err((
                ".requester.shift".into(),
                "a swap's requester always gives a shift".into(),
            ));
        }
        match (w.resolve_after, w.resolution) {
            (Some(_), None) | (None, Some(_)) => {
                Err(("".into(), "resolve_after and resolution go together".into()))
            }
            (_, Some(SwapStatus::Pending)) => Err((
                ".resolution".into(),
                "a swap resolves into approved, denied, expired or canceled".into(),
            )),
            _ => Ok(()),
        }
    }
}
