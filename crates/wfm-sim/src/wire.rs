//! The simulator's JSON, written from CONTRACT.md and kept apart from the
//! client's own types, so that a shared mistake cannot hide in both.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwapStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    Canceled,
}

impl std::str::FromStr for SwapStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| ())
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapParty {
    pub agent_id: String,
    pub shift: Option<Shift>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapEntity {
    pub id: String,
    pub schedule_id: String,
    pub status: SwapStatus,
    pub requester: SwapParty,
    pub recipient: SwapParty,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentWeek {
    pub schedule_id: String,
    pub shifts: Vec<Shift>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishRequest {
    pub schedule_id: String,
    pub agent_ids: Vec<String>,
}
