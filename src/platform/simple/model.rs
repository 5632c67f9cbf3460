//! The simple contract's JSON as the publisher reads and writes it
//! (CONTRACT.md §1, §3).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// Swap entities carry no activity; written shifts always do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentWeek<'a> {
    pub schedule_id: &'a str,
    pub shifts: &'a [Shift],
}

#[derive(Debug, Clone, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entities<T> {
    pub entities: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleInfo {
    pub id: String,
    pub org_id: String,
    pub week_start: NaiveDate,
    pub time_zone: String,
    pub state: String,
    pub version: u64,
}

// Deliberately the same names as `plan::SwapStatus` and the simulator's
// `sim::wire::SwapStatus`: this one is the client's wire type, that one the
// publisher's own (Genesys Cloud's six trade states map onto it), and the
// simulator's is written apart so that a shared mistake cannot hide in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwapStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    Canceled,
}

text_enum!(SwapStatus {
    Pending => "pending",
    Approved => "approved",
    Denied => "denied",
    Expired => "expired",
    Canceled => "canceled",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapParty {
    pub agent_id: String,
    #[serde(default)]
    pub shift: Option<Shift>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Swap {
    pub id: String,
    pub schedule_id: String,
    pub status: SwapStatus,
    pub requester: SwapParty,
    pub recipient: SwapParty,
    pub updated_at: DateTime<Utc>,
}

impl Swap {
    pub fn involves(&self, agent_id: &str) -> bool {
        self.requester.agent_id == agent_id || self.recipient.agent_id == agent_id
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapPage {
    pub entities: Vec<Swap>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteResult {
    pub version: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishResult {
    pub published_agent_ids: Vec<String>,
    pub version: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub details: Vec<String>,
}
