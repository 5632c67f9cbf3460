//! The publisher's own picture of a week: shifts, agents' weeks and the
//! content hash that says whether a week changed. No platform's wire format
//! lives here, so renaming a wire field can never change a hash and
//! republish every agent.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use super::{AgentId, SwapId};

/// Why `id` cannot name a schedule or an agent, if it cannot: it becomes a
/// path segment of the platform's URLs, where `.` and `..` are resolved
/// away (`PUT …/schedule/agent/..` is `PUT …/schedule`) and a slash adds a
/// segment, so such an id would address another resource. A control
/// character is refused too: an accepted id is printed as it is.
pub fn path_id_problem(id: &str) -> Option<String> {
    let shown = crate::echo::echo(id);
    let chars = id.chars().count();
    if chars > MAX_ID_CHARS {
        Some(format!(
            "id {shown} is {chars} characters long, more than the {MAX_ID_CHARS} an id may have"
        ))
    } else if let Some(c) = id.chars().find(|c| is_invisible_format(*c)) {
        // U+202E reverses what follows: "a-1<RLO>…" prints as another id.
        Some(format!(
            "id {shown} cannot contain an invisible formatting character (U+{:04X})",
            c as u32
        ))
    } else if id == "." || id == ".." {
        Some(format!(
            "id {shown} cannot be used: it would address another path on the platform"
        ))
    } else if id.contains(['/', '\\']) {
        Some(format!(
            "id {shown} cannot contain '/' or '\\': it would address another path on the platform"
        ))
    } else if id.chars().any(char::is_control) {
        // Ids are printed in reports and logs as they are once accepted.
        Some(format!("id {shown} cannot contain a control character"))
    } else {
        None
    }
}

/// The longest agent or schedule id accepted, in characters.
pub const MAX_ID_CHARS: usize = 256;

/// Unicode format characters that change how a line reads without showing
/// themselves: bidirectional overrides and isolates, zero-width spaces and
/// joiners, the word joiner, the soft hyphen, the byte-order mark.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// A stretch of time in UTC, as a swap names the shift it trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}–{}",
            self.start.format("%Y-%m-%d %H:%MZ"),
            self.end.format("%H:%MZ")
        )
    }
}

/// One planned shift: when, and doing what. The activity is shared by
/// every shift of it (a week has a handful of activities and, at 50,000
/// agents, a quarter of a million shifts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shift {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub activity: std::sync::Arc<str>,
}

impl Shift {
    pub fn span(&self) -> Span {
        Span {
            start: self.start,
            end: self.end,
        }
    }
}

/// SHA-256 of an agent's week in its canonical encoding; stored and shown
/// as 64 hex digits, held as its 32 bytes (as a String, some 3.5 MB more at
/// 50,000 agents).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// A hash read back from the state store, where it is hex; `None` if
    /// it is not 64 hex digits.
    pub fn from_stored(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).ok()?;
        Some(ContentHash(bytes))
    }

    /// As the store keeps it: 64 lower-case hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// An agent's whole week, shifts sorted by start, with its content hash.
/// Immutable and shared: the plan, the ledger's row and the week handed to
/// the platform are one allocation, not a copy each (at 50,000 agents,
/// each copy of every week was some 20 MB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentWeek(std::sync::Arc<WeekData>);

#[derive(Debug, PartialEq, Eq)]
struct WeekData {
    shifts: Box<[Shift]>,
    hash: ContentHash,
}

impl AgentWeek {
    pub fn new(mut shifts: Vec<Shift>) -> Self {
        shifts.sort();
        let hash = content_hash(&shifts);
        Self::stored(shifts, hash)
    }

    /// A week read back from the state store, with the hash it was stored
    /// with: a resumed run compares what it had, not a recomputation.
    pub fn stored(shifts: Vec<Shift>, hash: ContentHash) -> Self {
        AgentWeek(std::sync::Arc::new(WeekData {
            shifts: shifts.into_boxed_slice(),
            hash,
        }))
    }

    pub fn shifts(&self) -> &[Shift] {
        &self.0.shifts
    }

    pub fn hash(&self) -> &ContentHash {
        &self.0.hash
    }
}

/// The canonical encoding: a JSON array of
/// `{"startTime":RFC3339-Z,"endTime":RFC3339-Z,"activity":STRING}` objects
/// with exactly these keys in this order, no white space, seconds without
/// fraction unless the time has one. It is written out here, not derived
/// from a serde type, because every hash in every state database depends
/// on these bytes: they are the bytes the first release hashed.
fn content_hash(shifts: &[Shift]) -> ContentHash {
    let mut out = String::from("[");
    for (i, s) in shifts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"startTime\":\"");
        out.push_str(&s.start.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        out.push_str("\",\"endTime\":\"");
        out.push_str(&s.end.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        out.push_str("\",\"activity\":");
        out.push_str(&serde_json::Value::String(s.activity.to_string()).to_string());
        out.push('}');
    }
    out.push(']');
    ContentHash(Sha256::digest(out.as_bytes()).into())
}

/// How a platform says a shift swap stands. Platforms with more states
/// (Genesys Cloud's trades) map theirs onto these. The simple contract's
/// wire type (`platform::simple::model::SwapStatus`) and the simulator's
/// (wfm-sim's `wire::SwapStatus`) have the same names on purpose: they are
/// the wire, this is the domain (see the note there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwapStatus {
    /// Awaiting a decision: both agents wait.
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

/// One side of a swap: the agent and the shift it gives, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapParty {
    pub agent_id: AgentId,
    pub shift: Option<Span>,
}

/// A shift swap as the publisher reasons about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub id: SwapId,
    pub status: SwapStatus,
    pub requester: SwapParty,
    pub recipient: SwapParty,
    pub updated_at: DateTime<Utc>,
}

impl Swap {
    pub fn involves(&self, agent_id: &AgentId) -> bool {
        self.requester.agent_id == *agent_id || self.recipient.agent_id == *agent_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// The hashes the first release stored: if this changes, every agent
    /// of every existing state database would be published again.
    #[test]
    fn the_canonical_encoding_hashes_as_the_first_release_did() {
        let week = AgentWeek::new(vec![
            Shift {
                start: at("2026-12-01T23:30:00Z"),
                end: at("2026-12-02T07:30:00Z"),
                activity: "a \"quoted\" é one".into(),
            },
            Shift {
                start: at("2026-11-30T14:00:00Z"),
                end: at("2026-11-30T22:00:00Z"),
                activity: "phone".into(),
            },
        ]);
        assert_eq!(
            week.hash().hex(),
            "dfe4e01fa9bd51998303fada9db67b223c0d2e8ffd657b696029219315ada84d"
        );
        assert_eq!(
            AgentWeek::new(Vec::new()).hash().hex(),
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
    }
}
