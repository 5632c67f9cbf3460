//! The platform's JSON as the publisher reads and writes it (CONTRACT.md §1, §3).

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
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    /// RFC 6749 §5.1 only recommends it, and some servers send it as a
    /// string ("3599"); absent, `platform.default_token_lifetime` applies.
    #[serde(default, deserialize_with = "seconds")]
    pub expires_in: Option<u64>,
    /// RFC 6749 §5.1: absent when identical to what was asked for.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A number of seconds written as a JSON number or a numeric string.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(u64),
        // Some servers send a float ("3599.0" or 3599.5): whole seconds suffice.
        Float(f64),
        Text(String),
    }
    let invalid = |what: &str| {
        serde::de::Error::custom(format!(
            "expires_in must be a number of seconds, not {what}"
        ))
    };
    match Option::<Seconds>::deserialize(d)? {
        None => Ok(None),
        Some(Seconds::Number(n)) => Ok(Some(n)),
        Some(Seconds::Float(f)) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
        Some(Seconds::Float(f)) => Err(invalid(&f.to_string())),
        Some(Seconds::Text(t)) => match t.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
            _ => Err(invalid(&format!("{t:?}"))),
        },
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    /// Not in RFC 6749, but some servers (oidc-provider) name the refused
    /// scopes of an `invalid_scope` here.
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub exp: Option<i64>,
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

impl SwapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SwapStatus::Pending => "pending",
            SwapStatus::Approved => "approved",
            SwapStatus::Denied => "denied",
            SwapStatus::Expired => "expired",
            SwapStatus::Canceled => "canceled",
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn expires_in(json: &str) -> Result<Option<u64>, String> {
        serde_json::from_str::<TokenResponse>(json)
            .map(|t| t.expires_in)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn expires_in_is_optional_and_may_be_a_numeric_string() {
        let ok = |v: &str| format!(r#"{{"access_token":"t","token_type":"Bearer"{v}}}"#);
        assert_eq!(expires_in(&ok(r#","expires_in":3600"#)), Ok(Some(3600)));
        assert_eq!(expires_in(&ok(r#","expires_in":"3599""#)), Ok(Some(3599)));
        assert_eq!(expires_in(&ok(r#","expires_in":" 60 ""#)), Ok(Some(60)));
        assert_eq!(expires_in(&ok(r#","expires_in":59.7"#)), Ok(Some(59)));
        assert_eq!(expires_in(&ok("")), Ok(None));
        assert_eq!(expires_in(&ok(r#","expires_in":null"#)), Ok(None));
        let err = expires_in(&ok(r#","expires_in":"soon""#)).unwrap_err();
        assert!(err.contains("expires_in"), "{err}");
        assert!(expires_in(&ok(r#","expires_in":-5"#)).is_err());
    }
}
