//! `…/schedules/{sid}/update`: the uploaded `UpdateScheduleUploadSchema`,
//! taken by an operation that ends `Complete` or, for a reason the platform
//! never tells, `Error`. The rules are in the module doc of `genesys`.

mod agents;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::{Caller, EditScope};
use super::errors::GError;
use super::model::{Activity, AgentSchedule, Shift};
use super::record::{Content, ContentMark, OperationEntry, Outcome, TradeViolation};
use super::scenario::TradeState;
use super::state::State;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadSchema {
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub published: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub short_term_forecast: Option<Value>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub headcount_forecast: Option<Value>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub agent_update_filter: Option<Value>,
    #[serde(default)]
    pub agent_schedules: Vec<AgentUpload>,
}

/// `WfmVersionedEntityMetadata`: only `version` matters here.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentUpload {
    pub user_id: String,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub work_plan_id: Option<Value>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub work_plan_ids_per_week: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub shifts: Vec<ShiftUpload>,
    #[serde(default)]
    pub full_day_time_off_markers: Option<Vec<Value>>,
    #[serde(default)]
    pub delete: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShiftUpload {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub length_minutes: Option<i64>,
    #[serde(default)]
    pub activities: Option<Vec<ActivityUpload>>,
    #[serde(default)]
    pub manually_edited: Option<bool>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub schedule: Option<Value>,
    #[serde(default)]
    pub delete: Option<bool>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub work_plan_id: Option<Value>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub work_plan_shift_id: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivityUpload {
    pub start_date: DateTime<Utc>,
    pub length_minutes: i64,
    pub activity_code_id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub paid: Option<bool>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub time_off_request_id: Option<String>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub external_activity_id: Option<String>,
    // Part of the SDK model: accepted, not simulated.
    #[allow(dead_code)]
    #[serde(default)]
    pub external_activity_type: Option<String>,
}

impl UploadSchema {
    /// Each agent's change this upload carries, written out, and the
    /// published flag when it sets it: what the record counts.
    pub fn contents(&self, schedule_id: &str) -> Vec<Content> {
        let mut out: Vec<Content> = self
            .agent_schedules
            .iter()
            .map(|a| {
                let mut kept: Vec<String> = a
                    .shifts
                    .iter()
                    .filter(|s| s.delete != Some(true))
                    .map(|s| {
                        let codes = s
                            .activities
                            .iter()
                            .flatten()
                            .map(|x| x.activity_code_id.as_str());
                        let codes: Vec<&str> = codes.collect();
                        format!(
                            "{:?} {:?} {:?} {}",
                            s.id,
                            s.start_date,
                            s.length_minutes,
                            codes.join("+")
                        )
                    })
                    .collect();
                kept.sort();
                let mut deleted: Vec<&str> = a
                    .shifts
                    .iter()
                    .filter(|s| s.delete == Some(true))
                    .filter_map(|s| s.id.as_deref())
                    .collect();
                deleted.sort();
                let whole = if a.delete == Some(true) {
                    " and the schedule"
                } else {
                    ""
                };
                let change = format!(
                    "set [{}] delete [{}]{whole}",
                    kept.join(", "),
                    deleted.join(", ")
                );
                (schedule_id.to_owned(), a.user_id.clone(), change)
            })
            .collect();
        if self.published == Some(true) {
            out.push((schedule_id.to_owned(), String::new(), "published".into()));
        }
        out
    }
}

/// Parses an uploaded body: JSON in the schema's shape, unknown fields refused.
pub fn parse(json: &[u8]) -> Result<UploadSchema, String> {
    serde_json::from_slice(json).map_err(|e| format!("not an UpdateScheduleUploadSchema: {e}"))
}

/// An update taken by an operation that has not ended yet.
#[derive(Debug, Clone)]
pub struct PendingOp {
    pub bu: String,
    pub schedule_id: String,
    pub client_id: String,
    pub upload: UploadSchema,
    /// The teams a team-scoped editor named; `None` for a full editor.
    pub teams: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProcessRequest {
    upload_key: String,
    #[serde(default)]
    team_ids: Option<Vec<String>>,
    #[serde(default)]
    management_unit_ids_for_added_team_users: Option<Vec<String>>,
}

pub fn topic(bu: &str) -> String {
    format!("v2.workforcemanagement.businessunits.{bu}.schedules")
}

impl State {
    /// `POST …/update`: takes the upload; the answer and, when the
    /// operation ends later, its id.
    pub fn process_update(
        &mut self,
        caller: &Caller,
        (bu, week, sid): (&str, &str, &str),
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(Value, Option<String>), GError> {
        let unit = self.business_unit(bu)?.clone();
        let scope = self.edit_scope(caller, &unit.division)?;
        super::schedules::week_id(&unit, week)?;
        self.schedule_index(bu, sid)?;
        let request: ProcessRequest = serde_json::from_slice(body)
            .map_err(|e| GError::bad_request(format!("malformed request: {e}")))?;
        let _ = request.management_unit_ids_for_added_team_users;
        let teams = team_scope(scope, request.team_ids)?;
        let upload = self.take_upload(&request.upload_key, bu, sid)?;
        let operation_id = self.new_id("op");
        let upload_key = request.upload_key;
        self.pending_ops.insert(
            operation_id.clone(),
            PendingOp {
                bu: bu.to_owned(),
                schedule_id: sid.to_owned(),
                client_id: caller.client_id.clone(),
                upload,
                teams,
            },
        );
        self.record.operations.push(OperationEntry {
            operation_id: operation_id.clone(),
            upload_key,
            schedule_id: sid.to_owned(),
            client_id: caller.client_id.clone(),
            outcome: Outcome::Processing,
        });
        if self.scenario.server.concurrent_edits > 0 {
            self.scenario.server.concurrent_edits -= 1;
            let i = self.schedule_index(bu, sid)?;
            let s = &mut self.schedules[i];
            s.version += 1;
            s.modified = now;
            s.modified_by = "another editor".into();
            self.record.concurrent_edits += 1;
        }
        if self.roll(self.scenario.server.update_inline_rate) {
            let (_, event) = self.complete_operation(&operation_id, now);
            self.notify(&topic(bu), event.clone());
            if event["status"] != "Complete" {
                return Ok((
                    json!({"status": "Error", "operationId": operation_id}),
                    None,
                ));
            }
            let i = self.schedule_index(bu, sid)?;
            let result = self.schedules[i].to_json(&self.units_of(bu), false, unit.time_zone);
            let answer =
                json!({"status": "Complete", "operationId": operation_id, "result": result});
            return Ok((answer, None));
        }
        let answer = json!({"status": "Processing", "operationId": operation_id});
        Ok((answer, Some(operation_id)))
    }

    /// Notes what became of each of `contents`.
    pub fn mark(&mut self, contents: Vec<Content>, mark: ContentMark) {
        for c in contents {
            self.record.contents.entry(c).or_default().push(mark);
        }
    }

    /// The parsed body behind a key, which this call uses up.
    fn take_upload(&mut self, key: &str, bu: &str, sid: &str) -> Result<UploadSchema, GError> {
        let upload = self
            .uploads
            .get_mut(key)
            .filter(|u| u.bu == bu && u.schedule_id == sid)
            .ok_or_else(|| GError::invalid(format!("no upload {key:?} for this schedule")))?;
        if upload.processed {
            return Err(GError::invalid(format!(
                "upload {key:?} was already processed"
            )));
        }
        let body = upload
            .body
            .clone()
            .ok_or_else(|| GError::invalid(format!("nothing was uploaded under {key:?}")))?;
        upload.processed = true;
        Ok(body)
    }

    /// Ends an operation: applies its update or fails it. Returns the BU
    /// and the event body for the BU's schedules topic.
    pub fn complete_operation(
        &mut self,
        operation_id: &str,
        now: DateTime<Utc>,
    ) -> (String, Value) {
        let Some(op) = self.pending_ops.remove(operation_id) else {
            return (String::new(), Value::Null);
        };
        let outcome = match self.apply(&op, operation_id, now) {
            Ok(version) => {
                let contents = op.upload.contents(&op.schedule_id);
                self.mark(contents, ContentMark::Completed);
                Outcome::Complete { version }
            }
            Err(reason) => Outcome::Error(reason),
        };
        if let Some(entry) = self
            .record
            .operations
            .iter_mut()
            .find(|o| o.operation_id == operation_id)
        {
            entry.outcome = outcome.clone();
        }
        let event = match outcome {
            Outcome::Complete { .. } => {
                let s = &self.schedules[self
                    .schedule_index(&op.bu, &op.schedule_id)
                    .expect("applied")];
                json!({"status": "Complete", "operationId": operation_id, "eventType": "Update",
                       "result": {"id": s.id, "weekDate": s.week_date, "weekCount": s.week_count,
                                  "published": s.published, "metadata": s.metadata()}})
            }
            _ => match self.scenario.server.error_event {
                super::scenario::ErrorEvent::Bare => json!({"status": "Error"}),
                super::scenario::ErrorEvent::WithOperationId => {
                    json!({"status": "Error", "operationId": operation_id, "eventType": "Update"})
                }
            },
        };
        (op.bu, event)
    }

    /// Applies an update whole or not at all; the new schedule version, or
    /// why the operation fails.
    fn apply(
        &mut self,
        op: &PendingOp,
        operation_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, String> {
        let i = self
            .schedule_index(&op.bu, &op.schedule_id)
            .map_err(|e| e.to_string())?;
        let tz = self
            .business_unit(&op.bu)
            .map_err(|e| e.to_string())?
            .time_zone;
        let schedule = &self.schedules[i];
        let (current, span) = (schedule.version, schedule.span(tz));
        match op.upload.metadata.as_ref().and_then(|m| m.version) {
            None => return Err("the schedule's metadata.version is missing".into()),
            Some(v) if v != current => {
                return Err(format!("stale schedule version {v}, current {current}"))
            }
            Some(_) => {}
        }
        let mut agents = schedule.agents.clone();
        for a in &op.upload.agent_schedules {
            self.apply_agent(op, span, &mut agents, a)?;
        }
        let written: Vec<String> = op
            .upload
            .agent_schedules
            .iter()
            .map(|a| a.user_id.clone())
            .collect();
        self.note_violations(op, operation_id, &written);
        self.commit(i, op, agents, now)
    }

    fn commit(
        &mut self,
        i: usize,
        op: &PendingOp,
        agents: BTreeMap<String, AgentSchedule>,
        now: DateTime<Utc>,
    ) -> Result<u64, String> {
        if op.upload.published == Some(true) {
            let (bu, week) = (self.schedules[i].bu.clone(), self.schedules[i].week_date);
            // Publishing over another schedule of the week un-publishes it.
            for other in self
                .schedules
                .iter_mut()
                .filter(|s| s.bu == bu && s.week_date == week)
            {
                other.published = false;
            }
            self.schedules[i].published = true;
        }
        let s = &mut self.schedules[i];
        if let Some(d) = &op.upload.description {
            s.description = d.clone();
        }
        s.agents = agents;
        s.version += 1;
        s.modified = now;
        s.modified_by = op.client_id.clone();
        Ok(s.version)
    }

    fn note_violations(&mut self, op: &PendingOp, operation_id: &str, users: &[String]) {
        let found: Vec<TradeViolation> = self
            .trades
            .iter()
            .filter(|t| t.state == TradeState::Matched && t.bu == op.bu)
            .filter(|t| {
                let s = self.schedules.iter().find(|s| s.id == op.schedule_id);
                s.is_some_and(|s| s.spans(t.week))
            })
            .flat_map(|t| {
                users
                    .iter()
                    .filter(|u| t.involves(u))
                    .map(|u| TradeViolation {
                        schedule_id: op.schedule_id.clone(),
                        user_id: u.clone(),
                        trade_id: t.def.id.clone(),
                        operation_id: operation_id.to_owned(),
                    })
            })
            .collect();
        self.record.trade_violations.extend(found);
    }
}

fn activity(a: &ActivityUpload) -> Activity {
    Activity {
        start_date: a.start_date,
        length_minutes: a.length_minutes,
        activity_code_id: a.activity_code_id.clone(),
        paid: a.paid,
        description: a.description.clone(),
    }
}

/// The teams an update may touch: a team-scoped editor must name some,
/// all within its grant.
fn team_scope(
    scope: EditScope,
    requested: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, GError> {
    const EDIT: &str = "wfm:schedule:edit";
    match scope {
        EditScope::All => Ok(requested.filter(|t| !t.is_empty())),
        EditScope::Teams(allowed) => match requested {
            Some(t) if !t.is_empty() && t.iter().all(|x| allowed.contains(x)) => Ok(Some(t)),
            _ => Err(GError::missing(&[EDIT])),
        },
    }
}
