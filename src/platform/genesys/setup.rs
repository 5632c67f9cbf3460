//! What a run learns before it sends anything (genesys-cloud/CONTRACT.md
//! §5 steps 2–4): the business unit and its week, the activity codes the
//! source's activities stand for, the users its agents are, and the week's
//! schedule, found by id or description or created.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use reqwest::Method;
use serde_json::json;

use super::http::GenesysHttp;
use super::wire::{
    ActivityCode, BusinessUnit, BusinessUnitItem, Entities, IdRef, ScheduleMeta, UserSearch,
};
use crate::api::PlatformError;
use crate::config::{AgentIds, GenesysTarget, TargetSettings};
use crate::preflight::{Mismatch, Refusal};
use crate::source::{SourceError, SourceProblem, WeekPlan};

pub const WFM: &str = "api/v2/workforcemanagement";

/// Everything a run keeps about the platform side of its week.
#[derive(Debug, Clone)]
pub struct Facts {
    pub business_unit: String,
    /// The week's id: the date of the business unit's start day.
    pub week: NaiveDate,
    pub schedule_id: String,
    /// The schedule's `published` flag when the run prepared.
    pub published: bool,
    pub management_units: Vec<String>,
    /// Source agent id → Genesys user id, and back.
    pub users: BTreeMap<String, String>,
    pub agents: BTreeMap<String, String>,
    /// Source activity → activity code id, and code id → source activity.
    pub codes: BTreeMap<String, String>,
    pub activities: BTreeMap<String, String>,
}

impl Facts {
    /// The path of the week's schedule, below the API base.
    pub fn schedule_path(&self) -> String {
        format!(
            "{WFM}/businessunits/{}/weeks/{}/schedules/{}",
            self.business_unit, self.week, self.schedule_id
        )
    }
}

fn genesys(target: &TargetSettings) -> Result<&GenesysTarget, Refusal> {
    target.genesys.as_ref().ok_or_else(|| {
        Refusal::Platform(PlatformError::Setup(format!(
            "targets.{} has no business_unit: a Genesys Cloud target names one",
            target.name
        )))
    })
}

/// Learns the facts of `target`'s week of `plan`, or says why not.
pub async fn prepare(
    http: &GenesysHttp,
    target: &TargetSettings,
    plan: &WeekPlan,
) -> Result<Facts, Refusal> {
    let g = genesys(target)?;
    let unit = business_unit(http, target, g).await?;
    check_week(target, &unit, plan.week_start)?;
    let path = format!("{WFM}/businessunits/{}", unit.id);
    let mus: Entities<IdRef> = http
        .json(Method::GET, &format!("{path}/managementunits"), None::<&()>)
        .await?;
    let codes: Entities<ActivityCode> = http
        .json(Method::GET, &format!("{path}/activitycodes"), None::<&()>)
        .await?;
    // Both checked before either refuses: every bad line at once.
    let codes = activity_codes(g, &codes.entities, plan, &unit.name);
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
    let found = schedule(http, target, g, &unit.id, plan.week_start).await?;
    Ok(Facts {
        business_unit: unit.id,
        week: plan.week_start,
        schedule_id: found.id,
        published: found.published,
        management_units: mus.entities.into_iter().map(|m| m.id).collect(),
        agents: users.iter().map(|(a, u)| (u.clone(), a.clone())).collect(),
        users,
        activities: codes.iter().map(|(a, c)| (c.clone(), a.clone())).collect(),
        codes,
    })
}

/// The business unit by id, or by name, with its settings.
async fn business_unit(
    http: &GenesysHttp,
    target: &TargetSettings,
    g: &GenesysTarget,
) -> Result<BusinessUnit, Refusal> {
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
            schedule_id: format!("business unit {wanted:?}"),
            mismatches: vec![Mismatch::BusinessUnit {
                target: target.name.clone(),
                name: wanted.clone(),
                known: names.join(", "),
            }],
        });
    };
    if found.authorized == Some(false) {
        let division = found
            .division
            .as_ref()
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| "its division".into());
        return Err(Refusal::Platform(PlatformError::MissingPermission {
            endpoint: format!("GET /{WFM}/businessunits"),
            permission: "every WFM permission in that division".into(),
            code: "authorized: false".into(),
            correlation_id: "(none)".into(),
            hint: format!(
                "business unit {} is in division {division}, where the OAuth client's role grants nothing: add that division to the role (wfm:businessUnit:view, wfm:schedule:view, wfm:schedule:edit, wfm:schedule:add, wfm:shiftTradeRequest:view)",
                found.name
            ),
        }));
    }
    let path = format!("{WFM}/businessunits/{}?expand=settings", found.id);
    Ok(http.json(Method::GET, &path, None::<&()>).await?)
}

/// The target's zone and first day of the week are the business unit's.
fn check_week(
    target: &TargetSettings,
    unit: &BusinessUnit,
    week: NaiveDate,
) -> Result<(), Refusal> {
    let mut mismatches = Vec::new();
    if unit.settings.time_zone != target.time_zone.name() {
        mismatches.push(Mismatch::Zone {
            target: target.name.clone(),
            found: unit.settings.time_zone.clone(),
            expected: target.time_zone.name().to_owned(),
        });
    }
    let day = week.weekday().to_string();
    let starts = &unit.settings.start_day_of_week;
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

/// Source activity → activity code id; every unknown one a `FILE:LINE`.
fn activity_codes(
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
                    "activity {wanted:?} is not an active activity code of business unit {unit} (it has: {}); map it under [targets.NAME.activity_codes]",
                    known.join(", ")
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
async fn users(
    http: &GenesysHttp,
    g: &GenesysTarget,
    plan: &WeekPlan,
) -> Result<BTreeMap<String, String>, Refusal> {
    if g.agent_ids == AgentIds::UserId {
        return Ok(plan.agents.keys().map(|a| (a.clone(), a.clone())).collect());
    }
    let emails: Vec<&String> = plan.agents.keys().collect();
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
                let agent = chunk.iter().find(|e| e.eq_ignore_ascii_case(&email));
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
            "no Genesys Cloud user has the e-mail address {a:?}: fix the file, or set targets.NAME.agent_ids = \"user_id\" if the column holds user ids"
        )))
        .collect();
    match problems.is_empty() {
        true => Ok(found),
        false => Err(Refusal::Source(SourceError::new(problems))),
    }
}

/// The week's schedule: the configured id, or the one with the target's
/// description, created (`wfm:schedule:add`) when the week has none.
async fn schedule(
    http: &GenesysHttp,
    target: &TargetSettings,
    g: &GenesysTarget,
    unit: &str,
    week: NaiveDate,
) -> Result<ScheduleMeta, Refusal> {
    let path = format!("{WFM}/businessunits/{unit}/weeks/{week}/schedules");
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
            Some(s) => Ok(s),
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
    if let Some(s) = listed
        .entities
        .into_iter()
        .find(|s| s.description.as_deref() == Some(&description))
    {
        return Ok(s);
    }
    tracing::info!(%description, %week, "creating the week's schedule");
    let body = json!({"description": description, "weekCount": 1});
    Ok(http.json(Method::POST, &path, Some(&body)).await?)
}
