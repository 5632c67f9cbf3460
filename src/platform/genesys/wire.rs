//! Genesys Cloud's JSON as the publisher reads and writes it, field names
//! as in the Platform API's models (genesys-cloud/CONTRACT.md §4–§7). Kept
//! apart from the simulator's own types so that a shared mistake cannot
//! hide in both.
//!
//! Deliberately like platform/simple/model.rs in places (listings with a
//! cursor, optional names, write results): each platform's wire model
//! follows its own contract, and sharing types would couple the two.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
pub struct Entities<T> {
    #[serde(default = "Vec::new")]
    pub entities: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdRef {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BusinessUnitItem {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub authorized: Option<bool>,
    #[serde(default)]
    pub division: Option<Division>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Division {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `DivsPermittedEntityListing`: where the token holds a permission.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DivisionsPermitted {
    #[serde(default)]
    pub entities: Vec<Division>,
    #[serde(default)]
    pub all_divs_permitted: bool,
}

/// `AuthzSubject` (`/api/v2/authorization/subjects/me`): the role grants
/// of the token's subject, each in one division.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthzSubject {
    #[serde(default)]
    pub grants: Vec<AuthzGrant>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthzGrant {
    #[serde(default)]
    pub division: Option<Division>,
    #[serde(default)]
    pub role: Option<GrantRole>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GrantRole {
    #[serde(default)]
    pub policies: Vec<GrantPolicy>,
}

/// `AuthzGrantPolicy`: `domain:entityName:action` for each action, limited
/// by `condition` when there is one.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantPolicy {
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub entity_name: Option<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub condition: Option<String>,
}

impl GrantPolicy {
    /// Whether the policy grants `permission` (`domain:entity:action`,
    /// `*` matching anything).
    pub fn covers(&self, permission: &str) -> bool {
        let mut parts = permission.splitn(3, ':');
        let (Some(domain), Some(entity), Some(action)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let matches = |have: Option<&str>, want: &str| have.is_some_and(|h| h == "*" || h == want);
        matches(self.domain.as_deref(), domain)
            && matches(self.entity_name.as_deref(), entity)
            && self.actions.iter().any(|a| a == "*" || a == action)
    }

    /// The condition limiting the grant, if any.
    pub fn condition(&self) -> Option<&str> {
        self.condition.as_deref().filter(|c| !c.trim().is_empty())
    }
}

/// `TokenInfo`, as far as `check` shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub organization: Named,
    /// `OAuthClient` in the SDKs' `TokenInfo`; `oAuthClient` accepted too.
    #[serde(default, rename = "OAuthClient", alias = "oAuthClient")]
    pub o_auth_client: Option<Named>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessUnit {
    pub id: String,
    pub name: String,
    pub settings: BusinessUnitSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessUnitSettings {
    /// `Monday`, `Sunday`, …
    pub start_day_of_week: String,
    /// An Olson zone name.
    pub time_zone: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityCode {
    pub id: String,
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserSearch {
    #[serde(default)]
    pub results: Vec<UserHit>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserHit {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Version {
    pub version: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleMeta {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub published: bool,
    pub metadata: Version,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentQueryAnswer {
    pub status: String,
    #[serde(default)]
    pub result: Option<AgentSchedules>,
    #[serde(default)]
    pub download_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSchedules {
    #[serde(default)]
    pub agent_schedules: Vec<AgentSchedule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSchedule {
    pub user: IdRef,
    #[serde(default)]
    pub shifts: Vec<ScheduledShift>,
    #[serde(default)]
    pub metadata: Option<Version>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledShift {
    pub id: String,
    pub start_date: DateTime<Utc>,
    pub length_minutes: i64,
    #[serde(default)]
    pub activities: Vec<Activity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub activity_code_id: String,
    pub start_date: DateTime<Utc>,
    pub length_minutes: i64,
}

/// `UpdateScheduleUploadSchema`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    pub metadata: Version,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
    pub agent_schedules: Vec<AgentUpload>,
}

/// `BuUpdateAgentScheduleUploadSchema`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentUpload {
    pub user_id: String,
    /// Required when the agent has a schedule already; omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Version>,
    pub shifts: Vec<ShiftUpload>,
}

/// `BuUpdateAgentScheduleShift`: a new shift, or an existing one deleted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftUpload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Activity>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadUrl {
    pub upload_key: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `BuAsyncScheduleResponse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncOperation {
    pub status: String,
    #[serde(default)]
    pub operation_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    pub connect_uri: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub missing_permissions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub event_body: Option<EventBody>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub operation_id: Option<String>,
}

/// `ShiftTradeQueryTradesBuJobResponse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TradeJob {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub query_trades_result: Option<Entities<Trade>>,
    /// Where the result is instead, when it is too large to pass inline.
    #[serde(default)]
    pub download_url: Option<String>,
}

/// A trade job's result as downloaded: "the same schema as would
/// normally be returned", which for a job is its `queryTradesResult` or
/// the job itself; both are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DownloadedTrades {
    // First: a listing's `entities` may be absent, so it matches anything.
    Job {
        #[serde(rename = "queryTradesResult")]
        query_trades_result: Entities<Trade>,
    },
    Listing(Entities<Trade>),
}

impl DownloadedTrades {
    pub fn trades(self) -> Vec<Trade> {
        match self {
            DownloadedTrades::Listing(e) => e.entities,
            DownloadedTrades::Job {
                query_trades_result,
            } => query_trades_result.entities,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trade {
    pub id: String,
    pub state: String,
    pub initiating: TradeSide,
    #[serde(default)]
    pub receiving: Option<TradeSide>,
    #[serde(default)]
    pub metadata: Option<TradeMeta>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TradeMeta {
    #[serde(default)]
    pub date_modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TradeSide {
    pub user: IdRef,
    #[serde(default)]
    pub shift: Option<TradeShift>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TradeShift {
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
}

/// `ErrorBody`, as far as an error line needs it. Deliberately its own
/// type beside the simple contract's
/// (`platform::simple::model::ErrorBody`): the two platforms' bodies
/// differ (`messageWithParams`, `contextId`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub message_with_params: Option<String>,
    #[serde(default)]
    pub message_params: BTreeMap<String, serde_json::Value>,
}

impl ErrorBody {
    /// `messageWithParams` with its `{name}`s filled in, else `message`.
    pub fn text(&self) -> String {
        match &self.message_with_params {
            Some(template) => {
                let mut text = template.clone();
                for (name, value) in &self.message_params {
                    let value = match value {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    text = text.replace(&format!("{{{name}}}"), &value);
                }
                text
            }
            None => self.message.clone().unwrap_or_default(),
        }
    }

    /// The permission(s) a `missing.permissions` answer names: in
    /// `messageParams.permissions` where it has them, else those written in
    /// the message ("…following permissions assigned: [wfm:schedule:edit]",
    /// `messageParams` empty, as observed; no documentation names its keys).
    pub fn permissions(&self) -> Option<String> {
        let from_params = match self.message_params.get("permissions") {
            Some(serde_json::Value::String(s)) => permission_names(s),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str())
                .flat_map(permission_names)
                .collect(),
            _ => Vec::new(),
        };
        let names = match from_params.is_empty() {
            true => permission_names(&self.text()),
            false => from_params,
        };
        (!names.is_empty()).then(|| names.join(", "))
    }
}

/// Whether `text` is permission names, ", "-separated, and nothing else.
pub fn is_permission(text: &str) -> bool {
    let names = permission_names(text);
    !names.is_empty() && names.join(", ") == text
}

/// The words of `text` shaped like a permission (`domain:entity:action`),
/// in order, each once.
fn permission_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '*'));
    for word in words {
        let parts: Vec<&str> = word.split(':').collect();
        let shaped = parts.len() == 3 && parts.iter().all(|p| !p.is_empty());
        if shaped && !names.iter().any(|n| n == word) {
            names.push(word.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_fills_in_its_parameters() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"code":"missing.permissions","message":"Missing permission",
                "messageWithParams":"Missing permission {permissions}",
                "messageParams":{"permissions":"wfm:schedule:edit"}}"#,
        )
        .unwrap();
        assert_eq!(body.text(), "Missing permission wfm:schedule:edit");
        assert_eq!(body.permissions().as_deref(), Some("wfm:schedule:edit"));
    }

    #[test]
    fn permissions_written_only_in_the_message_are_found() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"code":"missing.any.permissions","messageParams":{},
                "message":"Unable to perform the requested action. You must have at least one of the following permissions assigned: [wfm:schedule:edit, wfm:schedule:add]"}"#,
        )
        .unwrap();
        assert_eq!(
            body.permissions().as_deref(),
            Some("wfm:schedule:edit, wfm:schedule:add")
        );
        let none: ErrorBody =
            serde_json::from_str(r#"{"message":"Unable to perform the requested action."}"#)
                .unwrap();
        assert_eq!(none.permissions(), None);
    }

    #[test]
    fn an_upload_leaves_out_what_is_not_sent() {
        let upload = Upload {
            metadata: Version { version: 12 },
            published: None,
            agent_schedules: vec![AgentUpload {
                user_id: "u2".into(),
                metadata: None,
                shifts: vec![ShiftUpload {
                    id: Some("s7".into()),
                    start_date: None,
                    length_minutes: None,
                    activities: Vec::new(),
                    delete: true,
                }],
            }],
        };
        assert_eq!(
            serde_json::to_value(&upload).unwrap(),
            serde_json::json!({"metadata":{"version":12},
                "agentSchedules":[{"userId":"u2","shifts":[{"id":"s7","delete":true}]}]})
        );
    }
}
