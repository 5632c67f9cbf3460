//! Schedule reads and blank-schedule creation, and the agent-schedule query
//! that sometimes answers `Processing` or with a `downloadUrl`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::Caller;
use super::errors::GError;
use super::model::{agent_json, Schedule};
use super::scenario::BusinessUnit;
use super::state::{PendingQuery, State};
use wfm_clock::delta;

pub const SCHEDULE_VIEW: [&str; 2] = ["wfm:schedule:view", "wfm:publishedSchedule:view"];
const SCHEDULE_ADD: [&str; 1] = ["wfm:schedule:add"];
/// The longest blank schedule the simulator creates (inferred).
const MAX_WEEKS: u32 = 6;

/// A `weekId`: a date on the BU's start day (inferred: others are refused).
pub fn week_id(unit: &BusinessUnit, text: &str) -> Result<NaiveDate, GError> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| GError::invalid(format!("weekId {text:?} is not a yyyy-MM-dd date")))?;
    if chrono::Datelike::weekday(&date) != unit.start_day_of_week {
        return Err(GError::invalid(format!(
            "weekId {date} is not a {} (the business unit's start day)",
            unit.start_day_of_week
        )));
    }
    Ok(date)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBlank {
    description: String,
    week_count: u32,
    #[serde(default)]
    short_term_forecast: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentQuery {
    management_unit_id: Option<String>,
    #[serde(default)]
    user_ids: Option<Vec<String>>,
    #[serde(default)]
    team_ids: Option<Vec<String>>,
}

impl State {
    pub fn list_schedules(
        &self,
        caller: &Caller,
        bu: &str,
        week: &str,
        query: &HashMap<String, String>,
    ) -> Result<Value, GError> {
        let unit = self.visible_bu(caller, bu, &SCHEDULE_VIEW)?;
        let week = week_id(&unit, week)?;
        let only_published = query
            .get("includeOnlyPublished")
            .is_some_and(|v| v == "true");
        let entities: Vec<Value> = self
            .schedules
            .iter()
            .filter(|s| s.bu == bu && s.spans(week))
            .filter(|s| !only_published || s.published)
            .map(Schedule::list_item)
            .collect();
        Ok(json!({ "entities": entities }))
    }

    pub fn create_blank(
        &mut self,
        caller: &Caller,
        bu: &str,
        week: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Value, GError> {
        let unit = self.visible_bu(caller, bu, &SCHEDULE_ADD)?;
        let week = week_id(&unit, week)?;
        let request: CreateBlank = serde_json::from_slice(body)
            .map_err(|e| GError::bad_request(format!("malformed request: {e}")))?;
        let _ = request.short_term_forecast;
        if !(1..=MAX_WEEKS).contains(&request.week_count) {
            return Err(GError::invalid(format!(
                "weekCount must be 1 to {MAX_WEEKS}"
            )));
        }
        let schedule = Schedule {
            id: self.new_id("sched"),
            bu: bu.to_owned(),
            week_date: week,
            week_count: request.week_count,
            description: request.description,
            published: false,
            version: 1,
            modified: now,
            modified_by: caller.client_id.clone(),
            agents: BTreeMap::new(),
        };
        let body = schedule.to_json(&self.units_of(bu), false, unit.time_zone);
        self.schedules.push(schedule);
        Ok(body)
    }

    /// The schedule under `…/weeks/{weekId}/schedules/{sid}`.
    fn week_schedule(&self, bu: &str, week: &str, sid: &str) -> Result<&Schedule, GError> {
        let unit = self.business_unit(bu)?;
        let week = week_id(unit, week)?;
        let s = &self.schedules[self.schedule_index(bu, sid)?];
        if !s.spans(week) {
            return Err(GError::NotFound(format!("schedule {sid} in week {week}")));
        }
        Ok(s)
    }

    pub fn get_schedule(
        &self,
        caller: &Caller,
        (bu, week, sid): (&str, &str, &str),
        query: &HashMap<String, String>,
    ) -> Result<Value, GError> {
        let unit = self.visible_bu(caller, bu, &SCHEDULE_VIEW)?;
        let s = self.week_schedule(bu, week, sid)?;
        let expand = query.get("expand").map(String::as_str).unwrap_or_default();
        let agents = expand.split(',').any(|e| e == "managementUnits.agents");
        Ok(s.to_json(&self.units_of(bu), agents, unit.time_zone))
    }

    pub fn query_agents(
        &mut self,
        caller: &Caller,
        (bu, week, sid): (&str, &str, &str),
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Value, GError> {
        let unit = self.visible_bu(caller, bu, &SCHEDULE_VIEW)?;
        let request: AgentQuery = serde_json::from_slice(body)
            .map_err(|e| GError::bad_request(format!("malformed query: {e}")))?;
        let mu_id = request
            .management_unit_id
            .ok_or_else(|| GError::invalid("managementUnitId is required"))?;
        let mu = self
            .management_unit(&mu_id)
            .filter(|m| m.business_unit == bu)
            .ok_or_else(|| GError::NotFound(format!("management unit {mu_id}")))?
            .clone();
        self.require_any(caller, &SCHEDULE_VIEW, &mu.division)?;
        let key = format!(
            "{sid}|{mu_id}|{:?}|{:?}",
            request.user_ids, request.team_ids
        );
        if let Some(pending) = self.still_processing(&key, now) {
            return Ok(json!({"status": "Processing", "operationId": pending}));
        }
        let schedule = self.week_schedule(bu, week, sid)?;
        let agents: Vec<Value> = schedule
            .agents
            .iter()
            .filter(|(user, _)| {
                self.user(user).is_some_and(|u| {
                    u.management_unit == mu_id
                        && request
                            .user_ids
                            .as_ref()
                            .is_none_or(|ids| ids.contains(user))
                        && request
                            .team_ids
                            .as_ref()
                            .is_none_or(|t| u.team.as_ref().is_some_and(|team| t.contains(team)))
                })
            })
            .map(|(user, a)| agent_json(user, a))
            .collect();
        let count = agents.len();
        let result =
            json!({"agentSchedules": agents, "businessUnitTimeZone": unit.time_zone.name()});
        Ok(self.deliver_query(result, count))
    }

    /// Whether this query is (or now starts) processing; its operation id if so.
    fn still_processing(&mut self, key: &str, now: DateTime<Utc>) -> Option<String> {
        if let Some(p) = self.queries.get(key) {
            if now < p.ready {
                return Some(p.operation_id.clone());
            }
            self.queries.remove(key);
            return None;
        }
        if !self.roll(self.scenario.server.agent_query_processing_rate) {
            return None;
        }
        let operation_id = self.new_id("query");
        let ready = now + delta(self.scenario.server.operation_delay);
        self.queries.insert(
            key.to_owned(),
            PendingQuery {
                operation_id: operation_id.clone(),
                ready,
            },
        );
        Some(operation_id)
    }

    /// The result inline, or behind a `downloadUrl` when it is large.
    fn deliver_query(&mut self, result: Value, count: usize) -> Value {
        let operation_id = self.new_id("query");
        if count <= self.scenario.server.inline_agent_limit {
            return json!({"status": "Complete", "operationId": operation_id, "result": result});
        }
        let key = self.new_id("dl");
        let url = format!("{}/downloads/{key}", self.base_url);
        self.downloads.insert(key, result);
        json!({"status": "Complete", "operationId": operation_id, "downloadUrl": url})
    }
}
