//! What a run learns before it sends anything (genesys-cloud/CONTRACT.md
//! §5 steps 2–4): the business unit and its week, the activity codes the
//! source's activities stand for, the users its agents are, and the week's
//! schedule, found by id or description or created.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{Datelike, NaiveDate};
use reqwest::Method;
use serde_json::json;

use super::access::{self, UnitDivision};
use super::http::GenesysHttp;
use super::wire::{
    ActivityCode, BusinessUnit, BusinessUnitItem, Entities, IdRef, ScheduleMeta, UserSearch,
};
use crate::api::{Access, PermissionGap, PlatformError};
use crate::config::{AgentIds, GenesysTarget, TargetSettings};
use crate::domain::{AgentId, BusinessUnitId, ScheduleId};
use crate::echo::{echo, echo_message};
use crate::preflight::{Mismatch, Refusal};
use crate::source::{SourceError, SourceProblem, WeekPlan};

pub const WFM: &str = "api/v2/workforcemanagement";

/// Everything a run keeps about the platform side of its week.
#[derive(Debug, Clone)]
pub struct Facts {
    pub business_unit: BusinessUnitId,
    /// The week's id: the date of the business unit's start day.
    pub week: NaiveDate,
    pub schedule_id: ScheduleId,
    /// The schedule's `published` flag when the run prepared.
    pub published: bool,
    pub management_units: Vec<String>,
    /// Source agent id → Genesys user id, and back.
    pub users: BTreeMap<AgentId, String>,
    pub agents: BTreeMap<String, AgentId>,
    /// Source activity → activity code id, and code id → source activity.
    pub codes: BTreeMap<String, String>,
    pub activities: BTreeMap<String, String>,
    /// The management unit the run found each user's schedule in. Shared
    /// by the run's copies of its facts, so that a read after the first
    /// asks only the units of the users it reads.
    pub homes: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Facts {
    /// The path of the week's schedule, below the API base.
    pub fn schedule_path(&self) -> String {
        format!(
            "{WFM}/businessunits/{}/weeks/{}/schedules/{}",
            self.business_unit, self.week, self.schedule_id
        )
    }

    /// The Genesys user id of a source file's agent, as preparation
    /// resolved it (the agent's own id when it was not resolved).
    pub fn user_of(&self, agent: &AgentId) -> String {
        self.users
            .get(agent)
            .cloned()
            .unwrap_or_else(|| agent.to_string())
    }
}

pub fn genesys(target: &TargetSettings) -> Result<&GenesysTarget, Refusal> {
    target.genesys.as_ref().ok_or_else(|| {
        Refusal::Platform(PlatformError::Setup(format!(
            "targets.{} has no business_unit: a Genesys Cloud target names one",
            target.name
        )))
    })
}

/// A target's business unit, as the run measures its week and rights.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: String,
    pub name: String,
    /// Its division, when the listing names it.
    pub division: Option<UnitDivision>,
    pub time_zone: String,
    /// `Monday`, `Sunday`, …
    pub start_day_of_week: String,
}

impl Unit {
    /// The division's name, for messages.
    pub fn division_name(&self) -> &str {
        self.division
            .as_ref()
            .map_or("(not named)", |d| d.name.as_str())
    }
}

/// Learns the facts of `target`'s week of `plan`, or says why not.
pub async fn prepare(
    http: &GenesysHttp,
    target: &TargetSettings,
    plan: &WeekPlan,
) -> Result<Facts, Refusal> {
    let g = genesys(target)?;
    let unit = business_unit(http, target).await?;
    check_week(target, &unit, plan.week_start)?;
    // What `check` asks, before the reads a run spends its budget on: a
    // missing grant refuses the run here, not at its first write.
    if let Some(division) = &unit.division {
        let needed = access::needed(target, plan.week_start);
        let mut gaps = access::gaps(http, &needed, division).await;
        // A look-up that failed proves nothing: the calls will tell.
        gaps.retain(|g| g.access != Access::Unknown);
        if !gaps.is_empty() {
            return Err(Refusal::Platform(PlatformError::PermissionsMissing {
                unit: unit.name.clone(),
                gaps,
            }));
        }
    }
    let management_units = management_units(http, &unit).await?;
    // Both checked before either refuses: every bad line at once.
    let codes = activity_codes(http, g, &unit, plan).await;
    let users = users(http, g, plan).await;
    let (codes, users) = match (codes, users) {
        (Ok(c), Ok(u)) => (c, u),
        (Err(Refusal::Source(a)), Err(Refusal::Source(b))) => {
            let mut problems = a.problems;
            problems.extend(b.problems);
            problems.sort_by_key(|p| p.line);
            return Err(Refusal::Source(SourceError::new(problems)));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let found = match find_schedule(http, target, &unit, plan.week_start).await? {
        Some(found) => found,
        None => create_schedule(http, g, &unit, plan.week_start).await?,
    };
    Ok(Facts::new(
        &unit,
        plan.week_start,
        (found.id, found.published),
        management_units,
        users,
        codes,
    ))
}

impl Facts {
    pub fn new(
        unit: &Unit,
        week: NaiveDate,
        (schedule_id, published): (String, bool),
        management_units: Vec<String>,
        users: BTreeMap<AgentId, String>,
        codes: BTreeMap<String, String>,
    ) -> Facts {
        Facts {
            business_unit: unit.id.as_str().into(),
            week,
            schedule_id: schedule_id.into(),
            published,
            management_units,
            agents: users.iter().map(|(a, u)| (u.clone(), a.clone())).collect(),
            users,
            activities: codes.iter().map(|(a, c)| (c.clone(), a.clone())).collect(),
            codes,
            homes: Arc::default(),
        }
    }
}

/// The management units of `unit` the role may see.
pub async fn management_units(
    http: &GenesysHttp,
    unit: &Unit,
) -> Result<Vec<String>, PlatformError> {
    let path = format!("{WFM}/businessunits/{}/managementunits", unit.id);
    let mus: Entities<IdRef> = http.json(Method::GET, &path, None::<&()>).await?;
    Ok(mus.entities.into_iter().map(|m| m.id).collect())
}

/// The business unit by id, or by name, with its settings; from here on
/// a 403 is explained against its division.
pub async fn business_unit(http: &GenesysHttp, target: &TargetSettings) -> Result<Unit, Refusal> {
    let g = genesys(target)?;
    let listed: Entities<BusinessUnitItem> = http
        .json(Method::GET, &format!("{WFM}/businessunits"), None::<&()>)
        .await?;
    let wanted = &g.business_unit;
    let Some(found) = listed
        .entities
        .iter()
        .find(|b| b.id == *wanted)
        .or_else(|| {
            listed
                .entities
                .iter()
                .find(|b| b.name.eq_ignore_ascii_case(wanted))
        })
    else {
        let names: Vec<&str> = listed.entities.iter().map(|b| b.name.as_str()).collect();
        return Err(Refusal::Schedule {
            schedule_id: format!("business unit {}", echo(wanted)),
            mismatches: vec![Mismatch::BusinessUnit {
                target: target.name.clone(),
                name: wanted.clone(),
                known: names.join(", "),
            }],
        });
    };
    let division = found.division.as_ref().map(|d| UnitDivision {
        id: d.id.clone().unwrap_or_default(),
        name: d.name.clone().or(d.id.clone()).unwrap_or_default(),
    });
    if let Some(d) = &division {
        http.set_unit(d.clone());
    }
    if found.authorized == Some(false) {
        return Err(Refusal::Platform(
            not_authorized(http, found, division).await,
        ));
    }
    let path = format!("{WFM}/businessunits/{}?expand=settings", found.id);
    let unit: BusinessUnit = http.json(Method::GET, &path, None::<&()>).await?;
    Ok(Unit {
        id: unit.id,
        name: unit.name,
        division,
        time_zone: unit.settings.time_zone,
        start_day_of_week: unit.settings.start_day_of_week,
    })
}

/// A business unit listed `authorized: false`: where the role holds each
/// permission a run needs instead.
async fn not_authorized(
    http: &GenesysHttp,
    found: &BusinessUnitItem,
    division: Option<UnitDivision>,
) -> PlatformError {
    let mut gaps = Vec::new();
    if let Some(unit) = &division {
        gaps = access::gaps(http, &access::NEEDED, unit).await;
    }
    if gaps.is_empty() {
        gaps = access::NEEDED
            .iter()
            .map(|p| PermissionGap {
                permission: (*p).to_owned(),
                access: Access::Unknown,
            })
            .collect();
    }
    PlatformError::UnitNotAuthorized {
        unit: found.name.clone(),
        division: division.map_or_else(|| "(not named)".into(), |d| d.name),
        gaps,
    }
}

/// The target's zone and first day of the week are the business unit's.
pub fn check_week(target: &TargetSettings, unit: &Unit, week: NaiveDate) -> Result<(), Refusal> {
    let mut mismatches = Vec::new();
    if unit.time_zone != target.time_zone.name() {
        mismatches.push(Mismatch::Zone {
            target: target.name.clone(),
            found: unit.time_zone.clone(),
            expected: target.time_zone.name().to_owned(),
        });
    }
    let day = week.weekday().to_string();
    let starts = &unit.start_day_of_week;
    if !starts
        .to_ascii_lowercase()
        .starts_with(&day.to_ascii_lowercase())
    {
        mismatches.push(Mismatch::StartDay {
            target: target.name.clone(),
            found: starts.clone(),
            expected: week,
        });
    }
    if mismatches.is_empty() {
        return Ok(());
    }
    Err(Refusal::Schedule {
        schedule_id: format!("business unit {}", unit.name),
        mismatches,
    })
}

fn problem(plan: &WeekPlan, line: Option<usize>, message: String) -> SourceProblem {
    SourceProblem {
        file: plan.source.clone(),
        line,
        message,
    }
}

/// Source activity → activity code id of `unit`; every unknown one a
/// `FILE:LINE`.
pub async fn activity_codes(
    http: &GenesysHttp,
    g: &GenesysTarget,
    unit: &Unit,
    plan: &WeekPlan,
) -> Result<BTreeMap<String, String>, Refusal> {
    let path = format!("{WFM}/businessunits/{}/activitycodes", unit.id);
    let codes: Entities<ActivityCode> = http.json(Method::GET, &path, None::<&()>).await?;
    map_activities(g, &codes.entities, plan, &unit.name)
}

fn map_activities(
    g: &GenesysTarget,
    codes: &[ActivityCode],
    plan: &WeekPlan,
    unit: &str,
) -> Result<BTreeMap<String, String>, Refusal> {
    let mut found = BTreeMap::new();
    let mut problems = Vec::new();
    for (activity, line) in &plan.lines.activities {
        let wanted = g.activity_codes.get(activity).unwrap_or(activity);
        let code = codes
            .iter()
            .filter(|c| c.active)
            .find(|c| c.id == *wanted || c.name.eq_ignore_ascii_case(wanted));
        match code {
            Some(c) => {
                found.insert(activity.clone(), c.id.clone());
            }
            None => {
                let known: Vec<&str> = codes
                    .iter()
                    .filter(|c| c.active)
                    .map(|c| c.name.as_str())
                    .collect();
                problems.push(problem(plan, *line, format!(
                    "activity {} is not an active activity code of business unit {unit} (it has: {}); map it under [targets.NAME.activity_codes]",
                    echo(wanted),
                    echo_message(&known.join(", "))
                )));
            }
        }
    }
    match problems.is_empty() {
        true => Ok(found),
        false => Err(Refusal::Source(SourceError::new(problems))),
    }
}

/// Source agent id → user id: the same, or an e-mail resolved through the
/// Users API, every unknown one a `FILE:LINE`.
pub async fn users(
    http: &GenesysHttp,
    g: &GenesysTarget,
    plan: &WeekPlan,
) -> Result<BTreeMap<AgentId, String>, Refusal> {
    if g.agent_ids == AgentIds::UserId {
        return Ok(plan
            .agents
            .keys()
            .map(|a| (a.clone(), a.to_string()))
            .collect());
    }
    let emails: Vec<&AgentId> = plan.agents.keys().collect();
    let mut found = BTreeMap::new();
    for chunk in emails.chunks(100) {
        let query = json!({
            "pageSize": 100,
            "query": [{"fields": ["email"], "values": chunk, "type": "EXACT"}],
        });
        let hits: UserSearch = http
            .json(Method::POST, "api/v2/users/search", Some(&query))
            .await?;
        for hit in hits.results {
            if let Some(email) = hit.email {
                let agent = chunk
                    .iter()
                    .find(|e| e.as_str().eq_ignore_ascii_case(&email));
                if let Some(agent) = agent {
                    found.insert((*agent).clone(), hit.id);
                }
            }
        }
    }
    let problems: Vec<SourceProblem> = plan
        .agents
        .keys()
        .filter(|a| !found.contains_key(*a))
        .map(|a| problem(plan, plan.lines.agents.get(a).copied().flatten(), format!(
            "no Genesys Cloud user has the e-mail address {}: fix the file, or set targets.NAME.agent_ids = \"user_id\" if the column holds user ids",
            echo(a)
        )))
        .collect();
    match problems.is_empty() {
        true => Ok(found),
        false => Err(Refusal::Source(SourceError::new(problems))),
    }
}

/// The week's schedule: the configured id (refused when the week has no
/// such schedule), or the one with the target's description, if any.
pub async fn find_schedule(
    http: &GenesysHttp,
    target: &TargetSettings,
    unit: &Unit,
    week: NaiveDate,
) -> Result<Option<ScheduleMeta>, Refusal> {
    let g = genesys(target)?;
    let path = format!("{WFM}/businessunits/{}/weeks/{week}/schedules", unit.id);
    let listed: Entities<ScheduleMeta> = http
        .json(
            Method::GET,
            &format!("{path}?includeOnlyPublished=false"),
            None::<&()>,
        )
        .await?;
    let configured = target.schedule_id_for(week);
    if !configured.is_empty() {
        return match listed.entities.into_iter().find(|s| s.id == configured) {
            Some(s) => Ok(Some(s)),
            None => Err(Refusal::Schedule {
                schedule_id: configured.clone(),
                mismatches: vec![Mismatch::NoSchedule {
                    target: target.name.clone(),
                    week,
                }],
            }),
        };
    }
    let description = g.description_for(week);
    Ok(listed
        .entities
        .into_iter()
        .find(|s| s.description.as_deref() == Some(&description)))
}

/// Creates the week's schedule with the target's description
/// (`wfm:schedule:add`).
async fn create_schedule(
    http: &GenesysHttp,
    g: &GenesysTarget,
    unit: &Unit,
    week: NaiveDate,
) -> Result<ScheduleMeta, Refusal> {
    let path = format!("{WFM}/businessunits/{}/weeks/{week}/schedules", unit.id);
    let description = g.description_for(week);
    tracing::info!(%description, %week, "creating the week's schedule");
    let body = json!({"description": description, "weekCount": 1});
    Ok(http.json(Method::POST, &path, Some(&body)).await?)
}
