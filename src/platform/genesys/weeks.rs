//! Agents' weeks between the publisher and Genesys Cloud: reading what the
//! platform holds (`…/agentschedules/query`, one management unit at a
//! time), turning it into the publisher's weeks, and writing a week as
//! one agent's part of an update: its old shifts deleted by id, its new
//! ones added, its version sent so that a change made since it was read
//! is refused rather than overwritten.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::json;

use super::http::GenesysHttp;
use super::setup::Facts;
use super::wire::{
    Activity, AgentQueryAnswer, AgentSchedules, AgentUpload, ScheduledShift, ShiftUpload, Version,
};
use crate::api::PlatformError;
use crate::clock::SharedClock;
use crate::domain::plan::{AgentWeek, Shift};

/// A query answered `Processing` is asked again this often, this many times.
const REQUERY: Duration = Duration::from_secs(2);
const REQUERIES: u32 = 60;

/// An agent's schedule as the platform holds it.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub version: Option<u64>,
    pub shifts: Vec<ScheduledShift>,
}

/// The schedules of `users` (Genesys user ids) in the run's schedule. The
/// query is per management unit: a user the run has found is asked only of
/// its unit, the others of every unit (1,200 agents in 40 units: 40
/// queries the first time, not at every read).
pub async fn read(
    http: &GenesysHttp,
    clock: &SharedClock,
    facts: &Facts,
    users: &[String],
) -> Result<BTreeMap<String, Current>, PlatformError> {
    let mut found = BTreeMap::new();
    let path = format!("{}/agentschedules/query", facts.schedule_path());
    for (mu, asked) in asked_per_unit(facts, users) {
        let body = json!({"managementUnitId": mu, "userIds": asked});
        let schedules = query(http, clock, &path, &body).await?;
        let mut homes = facts.homes.lock().expect("user homes");
        for s in schedules.agent_schedules {
            homes.insert(s.user.id.clone(), mu.clone());
            let current = Current {
                version: s.metadata.map(|m| m.version),
                shifts: s.shifts,
            };
            found.insert(s.user.id, current);
        }
    }
    Ok(found)
}

/// Which users to ask of which unit: the users found already of their own
/// unit; if any is not found yet, every user of the run not found yet of
/// every unit, so that one round of queries finds them all (the agents a
/// trade held back are written later, and would cost a round each); a
/// unit with nobody to ask is skipped.
fn asked_per_unit(facts: &Facts, users: &[String]) -> Vec<(String, Vec<String>)> {
    let homes = facts.homes.lock().expect("user homes");
    let unread: BTreeSet<&String> = match users.iter().any(|u| !homes.contains_key(u)) {
        true => facts
            .users
            .values()
            .chain(users)
            .filter(|u| !homes.contains_key(*u))
            .collect(),
        false => BTreeSet::new(),
    };
    facts
        .management_units
        .iter()
        .filter_map(|mu| {
            let mut asked: Vec<String> = users
                .iter()
                .filter(|u| homes.get(*u) == Some(mu))
                .cloned()
                .collect();
            asked.extend(unread.iter().map(|u| (*u).clone()));
            (!asked.is_empty()).then(|| (mu.clone(), asked))
        })
        .collect()
}

async fn query(
    http: &GenesysHttp,
    clock: &SharedClock,
    path: &str,
    body: &serde_json::Value,
) -> Result<AgentSchedules, PlatformError> {
    for _ in 0..REQUERIES {
        let answer: AgentQueryAnswer = http.json(Method::POST, path, Some(body)).await?;
        if let Some(url) = &answer.download_url {
            return http.download(url, "the agents' schedules").await;
        }
        match (answer.status.as_str(), answer.result) {
            ("Complete", Some(result)) => return Ok(result),
            ("Complete", None) => {
                return Ok(AgentSchedules {
                    agent_schedules: Vec::new(),
                })
            }
            ("Error" | "Canceled", _) => {
                return Err(PlatformError::OperationFailed {
                    what: format!("POST /{path}"),
                    operation_id: "(agent query)".into(),
                    status: answer.status,
                    hint:
                        "the platform could not read the agents' schedules; the run can be retried"
                            .into(),
                })
            }
            _ => clock.sleep(REQUERY).await,
        }
    }
    Err(PlatformError::GaveUpWaiting {
        endpoint: format!("POST /{path}"),
        what: "the agents' schedules",
        elapsed_secs: REQUERY.as_secs() * u64::from(REQUERIES),
    })
}

/// The publisher's week of what the platform holds: each shift with the
/// source activity of its first activity's code.
pub fn week_of(current: &Current, facts: &Facts) -> AgentWeek {
    AgentWeek::new(current.shifts.iter().map(|s| shift_of(s, facts)).collect())
}

/// A held shift as the publisher's: its time and source activity.
fn shift_of(s: &ScheduledShift, facts: &Facts) -> Shift {
    let code = s
        .activities
        .first()
        .map(|a| a.activity_code_id.clone())
        .unwrap_or_default();
    Shift {
        start: s.start_date,
        end: s.start_date + TimeDelta::minutes(s.length_minutes),
        activity: facts.activities.get(&code).cloned().unwrap_or(code).into(),
    }
}

/// One agent's part of an update: a held shift the week keeps as it is
/// is left out; one the week keeps in time but with another activity is
/// changed in place, by its id; the other held shifts are deleted by id and
/// the week's remaining shifts added. A shift keeps its id wherever its time
/// stands, because a trade offered on it (`Unmatched`) names that id: a new
/// id would make the platform refuse the trade's approval later.
pub fn upload(
    user_id: &str,
    week: &AgentWeek,
    current: Option<&Current>,
    facts: &Facts,
) -> AgentUpload {
    let held: Vec<(&ScheduledShift, Shift)> = current
        .into_iter()
        .flat_map(|c| &c.shifts)
        .map(|s| (s, shift_of(s, facts)))
        .collect();
    let mut open: Vec<&Shift> = week
        .shifts()
        .iter()
        .filter(|s| !held.iter().any(|(_, mine)| mine == *s))
        .collect();
    let mut shifts = Vec::new();
    for (s, mine) in held
        .iter()
        .filter(|(_, mine)| !week.shifts().contains(mine))
    {
        let same_time = open
            .iter()
            .position(|p| p.start == mine.start && p.end == mine.end);
        shifts.push(match same_time {
            Some(i) => written(Some(s.id.clone()), open.remove(i), facts),
            None => ShiftUpload {
                id: Some(s.id.clone()),
                start_date: None,
                length_minutes: None,
                activities: Vec::new(),
                delete: true,
            },
        });
    }
    shifts.extend(open.into_iter().map(|p| written(None, p, facts)));
    AgentUpload {
        user_id: user_id.to_owned(),
        metadata: current
            .and_then(|c| c.version)
            .map(|version| Version { version }),
        shifts,
    }
}

/// Shift `s` as an update writes it: a new shift (`id` none) or a held one
/// changed in place.
fn written(id: Option<String>, s: &Shift, facts: &Facts) -> ShiftUpload {
    let minutes = (s.end - s.start).num_minutes();
    ShiftUpload {
        id,
        start_date: Some(s.start),
        length_minutes: Some(minutes),
        activities: vec![Activity {
            activity_code_id: facts.codes.get(&*s.activity).cloned().unwrap_or_default(),
            start_date: s.start,
            length_minutes: minutes,
        }],
        delete: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn facts() -> Facts {
        let codes: BTreeMap<String, String> = [("phone", "c-phone"), ("email", "c-email")]
            .map(|(a, c)| (a.to_owned(), c.to_owned()))
            .into();
        Facts {
            business_unit: "bu".into(),
            week: chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date"),
            schedule_id: "s".into(),
            published: true,
            management_units: vec!["mu".into()],
            users: BTreeMap::new(),
            agents: BTreeMap::new(),
            activities: codes.iter().map(|(a, c)| (c.clone(), a.clone())).collect(),
            codes,
            homes: Default::default(),
        }
    }

    fn at(hour: u32) -> DateTime<Utc> {
        facts()
            .week
            .and_hms_opt(hour, 0, 0)
            .expect("a time")
            .and_utc()
    }

    fn held(id: &str, hour: u32, code: &str) -> ScheduledShift {
        ScheduledShift {
            id: id.into(),
            start_date: at(hour),
            length_minutes: 480,
            activities: vec![Activity {
                activity_code_id: code.into(),
                start_date: at(hour),
                length_minutes: 480,
            }],
        }
    }

    fn planned(hour: u32, activity: &str) -> Shift {
        Shift {
            start: at(hour),
            end: at(hour + 8),
            activity: activity.into(),
        }
    }

    #[test]
    fn a_shift_whose_activity_changes_keeps_its_id() {
        // A trade offered on s-1 (Unmatched) names its id: deleting it and
        // adding a new one would make the trade's approval fail later.
        let current = Current {
            version: Some(3),
            shifts: vec![held("s-1", 8, "c-phone"), held("s-2", 0, "c-phone")],
        };
        let week = AgentWeek::new(vec![planned(8, "email"), planned(14, "phone")]);
        let upload = upload("u-1", &week, Some(&current), &facts());
        let by_id = |id: &str| upload.shifts.iter().find(|s| s.id.as_deref() == Some(id));
        let changed = by_id("s-1").expect("s-1 changed in place");
        assert!(!changed.delete);
        assert_eq!(changed.activities[0].activity_code_id, "c-email");
        assert_eq!(changed.start_date, Some(at(8)));
        assert!(by_id("s-2").expect("s-2 deleted").delete);
        let added: Vec<_> = upload.shifts.iter().filter(|s| s.id.is_none()).collect();
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].start_date, Some(at(14)));
        assert_eq!(upload.shifts.len(), 3);
    }

    #[test]
    fn a_shift_held_as_planned_is_left_out() {
        let current = Current {
            version: Some(1),
            shifts: vec![held("s-1", 8, "c-phone")],
        };
        let week = AgentWeek::new(vec![planned(8, "phone")]);
        let upload = upload("u-1", &week, Some(&current), &facts());
        assert!(upload.shifts.is_empty());
        assert_eq!(upload.metadata.map(|m| m.version), Some(1));
    }
}
