//! How an agent's row is kept, the same in every backend: the shifts as
//! the JSON the first release wrote, the state as a status with its reason,
//! its reason's kind and its swap. Values only: which state follows which
//! is decided in `publish::lifecycle`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{AgentRow, Outcome};
use crate::domain::lifecycle::{AgentState, StateKind, Unpublished};
use crate::domain::plan::{AgentWeek, ContentHash, Shift};
use crate::domain::{AgentId, SwapId};
use crate::platform::journal::{CarriedWeek, EntryId, Operation, OperationEnd, OperationState};

/// An agent's row read as text, turned into typed values afterwards so
/// that a bad value is reported as such rather than as a SQL error.
pub(super) struct RawAgent {
    pub agent_id: String,
    pub shifts: String,
    pub content_hash: String,
    pub status: String,
    pub reason: Option<String>,
    pub swap_id: Option<String>,
    pub trade: Option<String>,
    pub was_deferred: bool,
    pub reason_kind: Option<String>,
}

pub(super) const AGENT_COLUMNS: &str =
    "agent_id, shifts, content_hash, status, reason, swap_id, trade, was_deferred, reason_kind";

/// How a shift is kept in the `shifts` column: the JSON the first release
/// wrote, so that its databases stay readable.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredShift {
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    #[serde(default)]
    activity: Option<String>,
}

pub(super) fn shifts_json(week: &AgentWeek) -> String {
    let stored: Vec<StoredShift> = week
        .shifts()
        .iter()
        .map(|s| StoredShift {
            start_time: s.start,
            end_time: s.end,
            activity: Some(s.activity.to_string()),
        })
        .collect();
    serde_json::to_string(&stored).expect("shifts serialize")
}

/// The columns an agent's state is kept in.
pub(super) struct StateColumns<'a> {
    pub status: &'static str,
    pub reason: Option<&'a str>,
    pub reason_kind: Option<&'static str>,
    pub swap_id: Option<&'a str>,
}

pub(super) fn state_columns(state: &AgentState) -> StateColumns<'_> {
    let status = state.kind().as_str();
    match state {
        AgentState::Deferred { swap_id } => StateColumns {
            status,
            reason: None,
            reason_kind: None,
            swap_id: Some(swap_id.as_str()),
        },
        AgentState::Unpublished(u) => StateColumns {
            status,
            reason: Some(u.detail.as_str()),
            reason_kind: Some(u.kind.as_str()),
            swap_id: u.swap_id.as_ref().map(SwapId::as_str),
        },
        _ => StateColumns {
            status,
            reason: None,
            reason_kind: None,
            swap_id: None,
        },
    }
}

impl RawAgent {
    /// The typed row, or what is wrong with the stored one.
    pub(super) fn decode(self) -> Result<AgentRow, String> {
        let id = &self.agent_id;
        let week = stored_week(id, &self.shifts, &self.content_hash)?;
        let status: StateKind = self
            .status
            .parse()
            .map_err(|_| format!("agent {id}: status {:?}", self.status))?;
        let state = match status {
            StateKind::Planned => AgentState::Planned,
            StateKind::Written => AgentState::Written,
            StateKind::Published => AgentState::Published,
            StateKind::Deferred => AgentState::Deferred {
                swap_id: self.swap_id.unwrap_or_default().into(),
            },
            StateKind::Unpublished => {
                let kind = self
                    .reason_kind
                    .as_deref()
                    .and_then(|kind| kind.parse().ok())
                    .ok_or_else(|| format!("agent {id}: reason kind {:?}", self.reason_kind))?;
                AgentState::Unpublished(Unpublished {
                    swap_id: self.swap_id.map(SwapId::from),
                    ..Unpublished::new(kind, self.reason.unwrap_or_default())
                })
            }
        };
        Ok(AgentRow {
            agent_id: self.agent_id.into(),
            week,
            state,
            was_deferred: self.was_deferred,
            trade: self.trade,
        })
    }
}

/// An agent's week as a row keeps it: its shifts' JSON and its hash.
fn stored_week(id: &str, shifts: &str, hash: &str) -> Result<AgentWeek, String> {
    let stored: Vec<StoredShift> =
        serde_json::from_str(shifts).map_err(|e| format!("agent {id}: shifts: {e}"))?;
    Ok(AgentWeek::stored(
        stored
            .into_iter()
            .map(|s| Shift {
                start: s.start_time,
                end: s.end_time,
                activity: s.activity.unwrap_or_default().into(),
            })
            .collect(),
        stored_hash(&format!("agent {id}"), hash)?,
    ))
}

/// The weeks last published to a schedule, from its `published` rows
/// joined with the agents' rows of the same content: (agent, shifts JSON,
/// hex hash) rows, any of an agent's rows (they hold the same shifts, as
/// they have the same hash), or what is wrong with the first bad one.
pub(super) const PUBLISHED_WEEKS: &str = "SELECT a.agent_id, a.shifts, a.content_hash
     FROM published p
     JOIN runs r ON r.schedule_id = p.schedule_id
     JOIN agents a ON a.run_id = r.id AND a.agent_id = p.agent_id AND a.content_hash = p.content_hash";

pub(super) fn published_weeks(
    rows: impl IntoIterator<Item = (String, String, String)>,
) -> Result<BTreeMap<AgentId, AgentWeek>, String> {
    let mut weeks = BTreeMap::new();
    for (agent, shifts, hash) in rows {
        if let std::collections::btree_map::Entry::Vacant(slot) = weeks.entry(AgentId::from(agent))
        {
            let week = stored_week(slot.key().as_str(), &shifts, &hash)?;
            slot.insert(week);
        }
    }
    Ok(weeks)
}

/// `'running', 'failed'`: the outcomes [`Outcome::is_resumable`] names.
pub(super) fn resumable_outcomes() -> String {
    Outcome::RESUMABLE
        .iter()
        .map(|o| format!("'{o}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A journaled operation's row read as values, typed afterwards.
pub(super) struct RawOperation {
    pub id: EntryId,
    pub schedule_id: String,
    pub upload_key: String,
    pub issued_at: DateTime<Utc>,
    pub schedule_version: i64,
    pub sets_published: bool,
    pub agents: String,
    pub state: String,
    pub operation_id: Option<String>,
}

/// The `published` table's (agent, hex hash) rows of a schedule, or what
/// is wrong with the first whose hash is not one.
pub(super) fn published_rows(
    rows: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<AgentId, ContentHash>, String> {
    rows.into_iter()
        .map(|(agent, hex)| {
            let hash = stored_hash(&format!("published agent {agent}"), &hex)?;
            Ok((AgentId::from(agent), hash))
        })
        .collect()
}

/// A content hash as a store keeps it (hex), or what is wrong with it,
/// naming `whose`.
pub(super) fn stored_hash(whose: &str, hex: &str) -> Result<ContentHash, String> {
    ContentHash::from_stored(hex).ok_or_else(|| {
        format!(
            "{whose}: content hash {} is not 64 hex digits",
            crate::echo::echo(hex)
        )
    })
}

pub(super) const OPERATION_COLUMNS: &str = "id, schedule_id, upload_key, issued_at, schedule_version, sets_published, agents, state, operation_id";

/// How a carried week is kept in the `agents` column.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCarried {
    agent: String,
    hash: String,
}

pub(super) fn carried_json(agents: &[CarriedWeek]) -> String {
    let stored: Vec<StoredCarried> = agents
        .iter()
        .map(|a| StoredCarried {
            agent: a.agent_id.to_string(),
            hash: a.hash.hex(),
        })
        .collect();
    serde_json::to_string(&stored).expect("carried weeks serialize")
}

/// An operation's state as the `state` column keeps it, without the
/// operation id (a column of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredState {
    Uploading,
    Uploaded,
    Submitted,
    Complete,
    Failed,
    Abandoned,
}

text_enum!(StoredState {
    Uploading => "uploading",
    Uploaded => "uploaded",
    Submitted => "submitted",
    Complete => "complete",
    Failed => "failed",
    Abandoned => "abandoned",
});

/// The `state` and `operation_id` columns of an operation's state.
pub(super) fn operation_state_columns(state: &OperationState) -> (&'static str, Option<&str>) {
    let (stored, operation_id) = match state {
        OperationState::Uploading => (StoredState::Uploading, None),
        OperationState::Uploaded => (StoredState::Uploaded, None),
        OperationState::Submitted { operation_id } => {
            (StoredState::Submitted, Some(operation_id.as_str()))
        }
        OperationState::Ended(OperationEnd::Complete) => (StoredState::Complete, None),
        OperationState::Ended(OperationEnd::Failed) => (StoredState::Failed, None),
        OperationState::Ended(OperationEnd::Abandoned) => (StoredState::Abandoned, None),
    };
    (stored.as_str(), operation_id)
}

/// `'uploading', 'uploaded', 'submitted'`: the states of an operation not
/// ended yet, for the stores' queries.
pub(super) fn unfinished_states() -> String {
    [
        StoredState::Uploading,
        StoredState::Uploaded,
        StoredState::Submitted,
    ]
    .iter()
    .map(|s| format!("'{s}'"))
    .collect::<Vec<_>>()
    .join(", ")
}

impl RawOperation {
    pub(super) fn decode(self) -> Result<(EntryId, Operation), String> {
        let id = self.id;
        let stored: Vec<StoredCarried> = serde_json::from_str(&self.agents)
            .map_err(|e| format!("operation {id}: agents: {e}"))?;
        let bad_state = || format!("operation {id}: state {:?}", self.state);
        let column: StoredState = self.state.parse().map_err(|_| bad_state())?;
        let state = match (column, self.operation_id) {
            (StoredState::Uploading, _) => OperationState::Uploading,
            (StoredState::Uploaded, _) => OperationState::Uploaded,
            (StoredState::Submitted, Some(operation_id)) => {
                OperationState::Submitted { operation_id }
            }
            // Submitted without the id the platform answered: unusable.
            (StoredState::Submitted, None) => return Err(bad_state()),
            (StoredState::Complete, _) => OperationState::Ended(OperationEnd::Complete),
            (StoredState::Failed, _) => OperationState::Ended(OperationEnd::Failed),
            (StoredState::Abandoned, _) => OperationState::Ended(OperationEnd::Abandoned),
        };
        let operation = Operation {
            schedule_id: self.schedule_id.into(),
            upload_key: self.upload_key,
            issued_at: self.issued_at,
            schedule_version: u64::try_from(self.schedule_version)
                .map_err(|e| format!("operation {id}: schedule_version: {e}"))?,
            sets_published: self.sets_published,
            agents: stored
                .into_iter()
                .map(|c| {
                    let hash = stored_hash(&format!("operation {id}: agent {}", c.agent), &c.hash)?;
                    Ok(CarriedWeek {
                        agent_id: c.agent.into(),
                        hash,
                    })
                })
                .collect::<Result<_, String>>()?,
            state,
        };
        Ok((id, operation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_operation(state: &str, operation_id: Option<&str>) -> RawOperation {
        RawOperation {
            id: 1,
            schedule_id: "s-1".into(),
            upload_key: "key-1".into(),
            issued_at: "2026-11-26T06:00:00Z".parse().unwrap(),
            schedule_version: 3,
            sets_published: false,
            agents: r#"[{"agent":"a-1","hash":"4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"}]"#.into(),
            state: state.into(),
            operation_id: operation_id.map(str::to_owned),
        }
    }

    /// The texts every store holds: an operation's state is written and
    /// read as the release that made the journal wrote it, and the rows
    /// it wrote read back with their carried agents.
    #[test]
    fn operation_states_keep_the_texts_stored_since_the_journal_began() {
        assert_eq!(unfinished_states(), "'uploading', 'uploaded', 'submitted'");
        let submitted = OperationState::Submitted {
            operation_id: "op-1".into(),
        };
        for (state, text) in [
            (OperationState::Uploading, "uploading"),
            (OperationState::Uploaded, "uploaded"),
            (submitted, "submitted"),
            (OperationState::Ended(OperationEnd::Complete), "complete"),
            (OperationState::Ended(OperationEnd::Failed), "failed"),
            (OperationState::Ended(OperationEnd::Abandoned), "abandoned"),
        ] {
            let (column, operation_id) = operation_state_columns(&state);
            assert_eq!(column, text);
            let (_, read) = raw_operation(text, operation_id).decode().unwrap();
            assert_eq!(read.state, state);
            assert_eq!(read.agents[0].agent_id, "a-1");
        }
        let unknown = raw_operation("sent", None).decode().unwrap_err();
        assert_eq!(unknown, "operation 1: state \"sent\"");
        let no_id = raw_operation("submitted", None).decode().unwrap_err();
        assert_eq!(no_id, "operation 1: state \"submitted\"");
    }

    /// An agent's row of an earlier release reads back with its state and
    /// swap; a status no release wrote is named.
    #[test]
    fn agent_rows_keep_the_texts_stored_since_the_first_release() {
        let raw = |status: &str, swap_id: Option<&str>, reason_kind: Option<&str>| RawAgent {
            agent_id: "a-1".into(),
            shifts: "[]".into(),
            content_hash: "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945".into(),
            status: status.into(),
            reason: reason_kind.map(|_| "why".to_owned()),
            swap_id: swap_id.map(str::to_owned),
            trade: None,
            was_deferred: false,
            reason_kind: reason_kind.map(str::to_owned),
        };
        let deferred = raw("deferred", Some("sw-1"), None).decode().unwrap();
        assert_eq!(deferred.agent_id, "a-1");
        assert_eq!(
            deferred.state,
            AgentState::Deferred {
                swap_id: "sw-1".into()
            }
        );
        let given_up = raw("unpublished", Some("sw-1"), Some("deadline_passed"));
        let AgentState::Unpublished(why) = given_up.decode().unwrap().state else {
            panic!("not unpublished")
        };
        assert_eq!(why.swap_id, Some("sw-1".into()));
        for (text, kind) in [
            ("planned", StateKind::Planned),
            ("written", StateKind::Written),
            ("published", StateKind::Published),
        ] {
            assert_eq!(raw(text, None, None).decode().unwrap().state.kind(), kind);
        }
        let unknown = raw("sent", None, None).decode().unwrap_err();
        assert_eq!(unknown, "agent a-1: status \"sent\"");
    }
}
