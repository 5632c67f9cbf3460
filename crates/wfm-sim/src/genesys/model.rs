//! The organization's WFM data as the simulator holds it while running, and
//! its JSON in the SDK models' camelCase names.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{json, Value};

use super::scenario::{self, Scenario};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub start_date: DateTime<Utc>,
    pub length_minutes: i64,
    pub activity_code_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    pub id: String,
    pub start_date: DateTime<Utc>,
    pub length_minutes: i64,
    pub activities: Vec<Activity>,
    pub manually_edited: bool,
}

impl Shift {
    pub fn end(&self) -> DateTime<Utc> {
        self.start_date + TimeDelta::minutes(self.length_minutes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSchedule {
    pub shifts: Vec<Shift>,
    pub time_off: Vec<Value>,
    pub version: u64,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub id: String,
    pub bu: String,
    pub week_date: NaiveDate,
    pub week_count: u32,
    pub description: String,
    pub published: bool,
    pub version: u64,
    pub modified: DateTime<Utc>,
    pub modified_by: String,
    pub agents: BTreeMap<String, AgentSchedule>,
}

impl Schedule {
    /// Whether the schedule spans the week starting `week`.
    pub fn spans(&self, week: NaiveDate) -> bool {
        week >= self.week_date
            && week < self.week_date + TimeDelta::days(7 * i64::from(self.week_count))
    }

    /// The instants a shift may start in: `weekCount` weeks plus one day,
    /// from local midnight of the first day.
    pub fn span(&self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let days = 7 * i64::from(self.week_count) + 1;
        (
            local(tz, self.week_date, 0),
            local(tz, self.week_date + TimeDelta::days(days), 0),
        )
    }

    pub fn metadata(&self) -> Value {
        json!({
            "version": self.version,
            "dateModified": self.modified,
            "modifiedBy": {"id": self.modified_by},
        })
    }

    /// `BuScheduleMetadata`; with `agents`, each MU lists its agents.
    pub fn to_json(&self, units: &[(String, Vec<String>)], agents: bool, tz: Tz) -> Value {
        let (start, end) = self.span(tz);
        let management_units: Vec<Value> = units
            .iter()
            .map(|(mu, users)| {
                let here: Vec<&String> = users
                    .iter()
                    .filter(|u| self.agents.contains_key(*u))
                    .collect();
                let mut v = json!({
                    "managementUnit": {"id": mu},
                    "agentCount": here.len(),
                    "startDate": start,
                    "endDate": end,
                });
                if agents {
                    v["agents"] = json!(here.iter().map(|u| json!({"id": u})).collect::<Vec<_>>());
                }
                v
            })
            .collect();
        let mut body = self.list_item();
        body["managementUnits"] = json!(management_units);
        body
    }

    /// `BuScheduleListItem`.
    pub fn list_item(&self) -> Value {
        json!({
            "id": self.id,
            "weekDate": self.week_date,
            "weekCount": self.week_count,
            "description": self.description,
            "published": self.published,
            "metadata": self.metadata(),
        })
    }
}

/// `BuAgentScheduleQueryResponse` for one agent.
pub fn agent_json(user: &str, a: &AgentSchedule) -> Value {
    json!({
        "user": {"id": user},
        "shifts": a.shifts,
        "fullDayTimeOffMarkers": a.time_off,
        "workPlan": null,
        "metadata": {"version": a.version},
    })
}

/// `hour`:00 local time on `date` in `tz`, as UTC.
pub fn local(tz: Tz, date: NaiveDate, hour: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour, 0, 0).expect("a whole hour");
    let naive = date.and_time(time);
    naive
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        // A whole hour lost to a DST gap: the platform would move it; UTC is near enough.
        .unwrap_or_else(|| naive.and_utc())
}

fn whole_shift(id: String, start: DateTime<Utc>, minutes: i64, code: &str) -> Shift {
    Shift {
        id,
        start_date: start,
        length_minutes: minutes,
        activities: vec![Activity {
            start_date: start,
            length_minutes: minutes,
            activity_code_id: code.to_owned(),
            paid: Some(true),
            description: None,
        }],
        manually_edited: false,
    }
}

/// The sample pattern of a generated agent `n`: odd ones work Monday to
/// Friday 08:00–16:00, even ones Tuesday to Saturday 12:00–20:00, local
/// time, counting days from the week's first day. Shift ids are
/// `{user}-d{day}`, so scenario trades can name them.
pub fn generated_shifts(user: &str, n: usize, week: NaiveDate, tz: Tz, code: &str) -> Vec<Shift> {
    let (days, hour) = if n % 2 == 1 { (0..5, 8) } else { (1..6, 12) };
    days.map(|d| {
        let date = week + TimeDelta::days(d);
        whole_shift(format!("{user}-d{d}"), local(tz, date, hour), 480, code)
    })
    .collect()
}

/// The schedules a scenario starts with.
pub fn initial_schedules(s: &Scenario, started: DateTime<Utc>) -> Vec<Schedule> {
    s.schedules
        .iter()
        .map(|def| {
            let bu = s
                .business_units
                .iter()
                .find(|b| b.id == def.business_unit)
                .expect("checked scenario");
            let mut agents: BTreeMap<String, AgentSchedule> = def
                .agents
                .iter()
                .map(|a| (a.user.clone(), listed_agent(a)))
                .collect();
            agents.extend(generated_agents(s, def, bu));
            Schedule {
                id: def.id.clone(),
                bu: def.business_unit.clone(),
                week_date: def.week_date,
                week_count: def.week_count,
                description: def.description.clone(),
                published: def.published,
                version: def.version,
                modified: started - TimeDelta::days(1),
                modified_by: "scenario".into(),
                agents,
            }
        })
        .collect()
}

fn listed_agent(a: &scenario::AgentSchedule) -> AgentSchedule {
    AgentSchedule {
        shifts: a
            .shifts
            .iter()
            .map(|sh| whole_shift(sh.id.clone(), sh.start, i64::from(sh.minutes), &sh.activity))
            .collect(),
        time_off: Vec::new(),
        version: a.version,
    }
}

fn generated_agents(
    s: &Scenario,
    def: &scenario::Schedule,
    bu: &scenario::BusinessUnit,
) -> Vec<(String, AgentSchedule)> {
    let code = s
        .activity_codes
        .iter()
        .find(|c| c.business_unit == bu.id && c.category == "OnQueueWork")
        .map(|c| c.id.clone())
        .unwrap_or_else(|| "0".into());
    s.generated_users
        .iter()
        .filter(|b| def.generated_agents.contains(&b.prefix))
        .flat_map(|b| {
            let code = code.clone();
            (1..=b.count).map(move |n| {
                let user = format!("{}{n}", b.prefix);
                let shifts = generated_shifts(&user, n, def.week_date, bu.time_zone, &code);
                let agent = AgentSchedule {
                    shifts,
                    time_off: Vec::new(),
                    version: 1,
                };
                (user, agent)
            })
        })
        .collect()
}

/// The first day of the week holding `date` for a BU starting on `start`.
pub fn week_of(date: NaiveDate, start: chrono::Weekday) -> NaiveDate {
    let back = (7 + date.weekday().num_days_from_monday() - start.num_days_from_monday()) % 7;
    date - TimeDelta::days(i64::from(back))
}
