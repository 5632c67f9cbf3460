//! The organization's structure: business units, management units,
//! activity codes and users, as the caller's grants let it see them.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::access::Caller;
use super::errors::GError;
use super::state::State;

/// "Requires ANY" for a BU's own routes and its activity codes (a few of
/// the documented list).
pub const BU_VIEW: [&str; 5] = [
    "wfm:businessUnit:view",
    "wfm:businessUnit:edit",
    "wfm:schedule:view",
    "wfm:schedule:edit",
    "wfm:activityCode:view",
];

impl State {
    /// The BU, once the caller may see it.
    pub fn visible_bu(
        &self,
        caller: &Caller,
        bu: &str,
        permissions: &[&str],
    ) -> Result<super::scenario::BusinessUnit, GError> {
        let unit = self.business_unit(bu)?.clone();
        self.require_any(caller, permissions, &unit.division)?;
        Ok(unit)
    }

    pub fn business_units(
        &self,
        caller: &Caller,
        query: &HashMap<String, String>,
    ) -> Result<Value, GError> {
        let division = query.get("divisionId");
        let entities: Vec<Value> = self
            .scenario
            .business_units
            .iter()
            .filter(|b| division.is_none_or(|d| *d == b.division))
            .map(|b| {
                json!({
                    "id": b.id,
                    "name": b.name,
                    "authorized": self.authorized_in(caller, &b.division),
                    "division": self.division_json(&b.division),
                })
            })
            .collect();
        Ok(json!({ "entities": entities }))
    }

    fn division_json(&self, id: &str) -> Value {
        let name = self
            .scenario
            .divisions
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.name.clone())
            .unwrap_or_default();
        json!({"id": id, "name": name})
    }

    pub fn business_unit_json(
        &self,
        caller: &Caller,
        bu: &str,
        query: &HashMap<String, String>,
    ) -> Result<Value, GError> {
        let unit = self.visible_bu(caller, bu, &BU_VIEW)?;
        let mut body = json!({
            "id": unit.id,
            "name": unit.name,
            "division": self.division_json(&unit.division),
        });
        let expand = query.get("expand").map(String::as_str).unwrap_or_default();
        if expand.split(',').any(|e| e == "settings") {
            body["settings"] = json!({
                "startDayOfWeek": unit.start_day_of_week.to_string_full(),
                "timeZone": unit.time_zone.name(),
                "metadata": {"version": 1},
            });
        }
        Ok(body)
    }

    /// MUs under a BU: only those in divisions the caller is authorized in.
    pub fn management_units(&self, caller: &Caller, bu: &str) -> Result<Value, GError> {
        let unit = self.business_unit(bu)?;
        let entities: Vec<Value> = self
            .scenario
            .management_units
            .iter()
            .filter(|m| m.business_unit == unit.id && self.authorized_in(caller, &m.division))
            .map(|m| {
                json!({
                    "id": m.id,
                    "name": m.name,
                    "businessUnit": {"id": m.business_unit},
                    "division": self.division_json(&m.division),
                })
            })
            .collect();
        Ok(json!({ "entities": entities }))
    }

    pub fn activity_codes(&self, caller: &Caller, bu: &str) -> Result<Value, GError> {
        self.visible_bu(caller, bu, &BU_VIEW)?;
        let entities: Vec<Value> = self
            .scenario
            .activity_codes
            .iter()
            .filter(|c| c.business_unit == bu)
            .map(|c| {
                json!({
                    "id": c.id,
                    "name": c.name,
                    "active": c.active,
                    "defaultCode": false,
                    "category": c.category,
                    "lengthInMinutes": c.length_minutes,
                    "countsAsPaidTime": c.paid,
                    "countsAsWorkTime": c.category != "TimeOff",
                    "metadata": {"version": 1},
                })
            })
            .collect();
        Ok(json!({ "entities": entities, "downloadUrl": null }))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    query: Vec<Criterion>,
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    page_number: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Criterion {
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    values: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
}

impl Criterion {
    /// Whether a user matches. Only `EXACT` on `email`, `name` or `id` is
    /// simulated (case-insensitive, as e-mail addresses are).
    fn matches(&self, u: &super::scenario::User) -> bool {
        let wanted: Vec<&String> = self.value.iter().chain(self.values.iter()).collect();
        self.fields.iter().any(|f| {
            let have = match f.as_str() {
                "email" => &u.email,
                "name" => &u.name,
                "id" => &u.id,
                _ => return false,
            };
            wanted.iter().any(|w| w.eq_ignore_ascii_case(have))
        })
    }
}

impl State {
    /// `POST /api/v2/users/search`.
    pub fn search_users(&self, body: &[u8]) -> Result<Value, GError> {
        let request: SearchRequest = serde_json::from_slice(body)
            .map_err(|e| GError::bad_request(format!("malformed search: {e}")))?;
        if request.query.is_empty() {
            return Err(GError::invalid("query must not be empty"));
        }
        if let Some(c) = request.query.iter().find(|c| c.kind != "EXACT") {
            return Err(GError::invalid(format!(
                "search type {:?} is not simulated; use EXACT",
                c.kind
            )));
        }
        let page_size = request.page_size.unwrap_or(25).clamp(1, 100);
        let page_number = request.page_number.unwrap_or(1).max(1);
        let found: Vec<Value> = self
            .users
            .iter()
            .filter(|u| request.query.iter().all(|c| c.matches(u)))
            .map(|u| {
                let division = self
                    .management_unit(&u.management_unit)
                    .map(|m| m.division.clone());
                json!({"id": u.id, "name": u.name, "email": u.email, "state": "active",
                       "division": {"id": division}})
            })
            .collect();
        let total = found.len();
        let results: Vec<Value> = found
            .into_iter()
            .skip((page_number - 1) * page_size)
            .take(page_size)
            .collect();
        Ok(json!({
            "total": total,
            "pageCount": total.div_ceil(page_size),
            "pageSize": page_size,
            "pageNumber": page_number,
            "types": ["users"],
            "results": results,
        }))
    }
}

trait FullName {
    fn to_string_full(&self) -> String;
}

impl FullName for chrono::Weekday {
    /// `Monday`, as `startDayOfWeek` spells it.
    fn to_string_full(&self) -> String {
        use chrono::Weekday::*;
        match self {
            Mon => "Monday",
            Tue => "Tuesday",
            Wed => "Wednesday",
            Thu => "Thursday",
            Fri => "Friday",
            Sat => "Saturday",
            Sun => "Sunday",
        }
        .to_owned()
    }
}
