//! Every way a call to the platform can end badly, each said in one line
//! with what to fix. Secrets never enter these messages.

use super::scopes::Operation;
use crate::domain::{AgentId, SwapId};
use crate::echo::echo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAgent {
    pub agent_id: AgentId,
    pub swap_id: SwapId,
}

/// Where the OAuth client's role holds a permission, as Genesys Cloud
/// tells it (`divisionspermitted`, the grants' conditions), measured
/// against the business unit's division.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Not looked up: no business unit known yet, or the look-up failed.
    Unknown,
    /// Held in no division.
    Nowhere { unit_division: String },
    /// Held, but only in divisions other than the business unit's.
    Elsewhere {
        held_in: Vec<String>,
        unit_division: String,
    },
    /// Held in the business unit's division only under a condition
    /// (team-scoped), while the publisher's updates name no `teamIds`.
    Conditional {
        unit_division: String,
        condition: String,
    },
    /// Held in the business unit's division without a condition.
    Held { unit_division: String },
}

/// A permission a call needs, and where the role holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionGap {
    pub permission: String,
    pub access: Access,
}

/// Said after every change to a role.
const PROPAGATION: &str = "permission changes take up to 5 minutes to apply";

impl Access {
    /// What this means for `permission`, and what to change.
    pub fn explain(&self, permission: &str) -> String {
        match self {
            Access::Unknown => format!("the OAuth client's role lacks {permission} here: grant it to the role in the business unit's division; {PROPAGATION}"),
            Access::Nowhere { unit_division } => format!("the OAuth client's role lacks {permission} in every division: add it to the role, granted in division {unit_division} (the business unit's); {PROPAGATION}"),
            Access::Elsewhere { held_in, unit_division } => format!("{permission} is held in division {}, the business unit is in division {unit_division}: add division {unit_division} to the role's grant; {PROPAGATION}", held_in.join(", ")),
            Access::Conditional { unit_division, condition } => format!("{permission} is held in division {unit_division} only under a condition ({condition}: team-scoped), and the publisher names no teamIds (it writes the whole business unit): remove the condition from {permission} in the OAuth client's role, or grant it without one in division {unit_division}; {PROPAGATION}"),
            Access::Held { unit_division } => format!("{permission} is held in division {unit_division} (the business unit's): a change made within 5 minutes may not apply yet; if its grant is conditional (team-scoped), remove the condition, since the publisher names no teamIds; otherwise ask Genesys Cloud support with the correlation id"),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PlatformError {
    #[error("the platform refused OAuth client \"{client_id}\" (invalid_client): the client id or secret is wrong; check platform.client_id and the secret (platform.client_secret_file, WFM_PUBLISHER__PLATFORM__CLIENT_SECRET or $CREDENTIALS_DIRECTORY/client_secret)")]
    InvalidClient { client_id: String },

    #[error("the OAuth server refused scope {scopes} (invalid_scope: {description}): OAuth client \"{client_id}\" is not entitled to it; grant it to that OAuth client in the platform's admin console, or remove it from platform.scopes (requested: \"{requested}\")")]
    InvalidScope {
        /// The scopes the server named, or every requested one when it named none.
        scopes: String,
        requested: String,
        description: String,
        client_id: String,
    },

    #[error("the OAuth server does not allow the client credentials grant for OAuth client \"{client_id}\" (unauthorized_client: {description}): enable the client credentials grant for that client in the platform's admin console")]
    UnauthorizedClient {
        client_id: String,
        description: String,
    },

    #[error("the server at {url} does not support the client credentials grant (unsupported_grant_type: {description}): platform.auth_base_url may point at a server other than the platform's OAuth server, or the grant is turned off there")]
    UnsupportedGrantType { url: String, description: String },

    #[error("the token endpoint refused the request ({error}: {description}): check platform.auth_base_url points at the platform's OAuth server")]
    TokenRefused { error: String, description: String },

    #[error("stopped: a shutdown was requested before the platform answered")]
    Cancelled,

    /// Genesys Cloud refused a call; its own words and correlation id.
    #[error("{endpoint} answered HTTP {status} ({code}: {message}); ININ-Correlation-Id {correlation_id}")]
    Refused {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
        correlation_id: String,
    },

    /// Genesys Cloud's 403 `missing.permissions`, with what it means here.
    #[error("{endpoint}: 403 {code} (ININ-Correlation-Id {correlation_id}): {}", .access.explain(.permission))]
    MissingPermission {
        endpoint: String,
        permission: String,
        code: String,
        correlation_id: String,
        /// Where the permission is held, if anywhere (boxed: errors stay small).
        access: Box<Access>,
    },

    /// A Genesys Cloud business unit listed `authorized: false`: the role
    /// holds nothing in its division.
    #[error("business unit {unit} is listed authorized: false (the OAuth client's role grants nothing in its division {division}): {}", .gaps.iter().map(|g| g.access.explain(&g.permission)).collect::<Vec<_>>().join("; "))]
    UnitNotAuthorized {
        unit: String,
        division: String,
        gaps: Vec<PermissionGap>,
    },

    /// Found before a run reads anything else: permissions the role does
    /// not hold where the business unit is (the same words as `check`'s).
    #[error("business unit {unit}: {}", .gaps.iter().map(|g| g.access.explain(&g.permission)).collect::<Vec<_>>().join("; "))]
    PermissionsMissing {
        unit: String,
        gaps: Vec<PermissionGap>,
    },

    /// An asynchronous operation of the platform ended without success.
    #[error(
        "{what}: the platform's operation {} ended {}: {hint}",
        echo(operation_id),
        echo(status)
    )]
    OperationFailed {
        what: String,
        operation_id: String,
        status: String,
        hint: String,
    },

    #[error("{host} did not answer within {waited_secs}s: it is unreachable or hanging; check {key}, the network between here and there, and the platform's status page")]
    NoAnswer {
        host: String,
        /// The configuration key naming that host.
        key: &'static str,
        waited_secs: u64,
    },

    /// Only said by a preflight (`check`): a run retries it as any
    /// failure that passes.
    #[error("connection refused at {url}: nothing listens on that host and port; check {key}, and that the server there is running")]
    ConnectionRefused {
        url: String,
        /// The configuration key naming that host.
        key: &'static str,
    },

    #[error("no token after {attempts} attempts at {url} (last: {reason}): the platform's OAuth server is unreachable or failing; check platform.auth_base_url and the platform's status page")]
    TokenUnavailable {
        url: String,
        attempts: u32,
        reason: String,
    },

    #[error("the token lacks scope {scope}, needed to {operation}: the platform granted only \"{granted}\" and silently drops scopes OAuth client \"{client_id}\" is not entitled to; grant {scope} to that OAuth client in the platform's admin console (a WFM role alone is not enough)")]
    MissingScope {
        scope: &'static str,
        operation: Operation,
        granted: String,
        client_id: String,
    },

    #[error("schedule {schedule_id} belongs to {}, but OAuth client \"{client_id}\" gets tokens for organization {}: use an OAuth client of the schedule's organization, or fix the target's schedule_id", echo(schedule_org), echo(token_org))]
    WrongOrganization {
        schedule_id: String,
        schedule_org: String,
        token_org: String,
        client_id: String,
    },

    /// Not a failure: the agents wait for their swaps to resolve.
    #[error("deferred: {} agent(s) have pending shift swaps ({})", pending.len(), pending.iter().map(|p| format!("{} in {}", p.agent_id, echo(&p.swap_id))).collect::<Vec<_>>().join(", "))]
    PendingSwap { pending: Vec<PendingAgent> },

    #[error("403 Insufficient permissions on {endpoint}, with the scope, the organization and no pending swap all in order: ask the platform's support about correlationId {correlation_id}")]
    Forbidden {
        endpoint: String,
        correlation_id: String,
    },

    #[error("401 on {endpoint} even with a fresh token: the API does not accept this OAuth server's tokens; check platform.api_base_url and platform.auth_base_url belong to the same platform")]
    Unauthorized { endpoint: String },

    #[error("the platform rejected {endpoint} ({code}: {message}){}", if details.is_empty() { String::new() } else { format!(": {}", details.join("; ")) })]
    Invalid {
        endpoint: String,
        code: String,
        message: String,
        details: Vec<String>,
    },

    #[error("{endpoint}: not found ({message})")]
    NotFound { endpoint: String, message: String },

    #[error("{endpoint} kept failing after {attempts} attempts over {elapsed_secs}s (last: {reason}): the platform is unavailable; the run can be retried later")]
    Unavailable {
        endpoint: String,
        attempts: u32,
        elapsed_secs: u64,
        reason: String,
    },

    #[error("{endpoint}: gave up after waiting {elapsed_secs}s for {what}: raise retry.max_elapsed, or lower rate_limits if this is a rate limit")]
    GaveUpWaiting {
        endpoint: String,
        what: &'static str,
        elapsed_secs: u64,
    },

    /// The platform asked for a wait (`Retry-After`, a rate-limit reset)
    /// that the call's retry budget cannot hold: it gives up at once.
    #[error("{endpoint}: the platform asked to wait {wait_secs}s, more than the {left_secs}s left of retry.max_elapsed: not waiting; the run is tried again later (raise retry.max_elapsed to wait such answers out)")]
    WaitTooLong {
        endpoint: String,
        wait_secs: u64,
        left_secs: u64,
    },

    #[error("{endpoint} answered HTTP {status} ({message}), which the platform's contract does not describe")]
    Unexpected {
        endpoint: String,
        status: u16,
        message: String,
    },

    #[error("the answer of {endpoint} does not match the platform's contract: {message}")]
    Malformed { endpoint: String, message: String },

    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),

    /// The run's journal of platform operations could not be written or
    /// read: nothing more is sent without it.
    #[error(transparent)]
    Journal(#[from] crate::platform::journal::JournalError),
}

impl PlatformError {
    /// An answer that is not what the contract describes. serde's message
    /// may quote the answer, so it is escaped and cut like any input.
    pub fn malformed(endpoint: String, error: &serde_json::Error) -> Self {
        PlatformError::Malformed {
            endpoint,
            message: crate::echo::echo_message(&error.to_string()),
        }
    }

    /// One request that got no answer, not retried here.
    pub fn unanswered(endpoint: String, error: &reqwest::Error) -> Self {
        PlatformError::Unavailable {
            endpoint,
            attempts: 1,
            elapsed_secs: 0,
            reason: super::classify::transport_reason(error),
        }
    }

    /// About the client or the platform as a whole, as opposed to one
    /// agent's week: no point going on with the other agents.
    pub fn is_run_level(&self) -> bool {
        !matches!(
            self,
            PlatformError::Invalid { .. }
                | PlatformError::NotFound { .. }
                | PlatformError::Forbidden { .. }
                | PlatformError::Unexpected { .. }
                | PlatformError::Malformed { .. }
                | PlatformError::PendingSwap { .. }
        )
    }

    /// Worth running again later, as opposed to needing a person to fix something.
    /// An answer about who the publisher is or what its role may do: it
    /// stays the same until an administrator changes the grant, so a run it
    /// stops is refused (told what to grant), not retried. A permission the
    /// role is seen to hold where it is needed is the exception: a grant
    /// made minutes ago may not apply yet, so that run is retried.
    pub fn is_access(&self) -> bool {
        match self {
            PlatformError::MissingPermission { access, .. } => {
                !matches!(**access, Access::Held { .. })
            }
            PlatformError::InvalidClient { .. }
            | PlatformError::InvalidScope { .. }
            | PlatformError::UnauthorizedClient { .. }
            | PlatformError::UnitNotAuthorized { .. }
            | PlatformError::PermissionsMissing { .. }
            | PlatformError::MissingScope { .. }
            | PlatformError::WrongOrganization { .. } => true,
            _ => false,
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PlatformError::TokenUnavailable { .. }
                | PlatformError::Unavailable { .. }
                | PlatformError::NoAnswer { .. }
                | PlatformError::ConnectionRefused { .. }
                | PlatformError::GaveUpWaiting { .. }
                | PlatformError::WaitTooLong { .. }
                | PlatformError::OperationFailed { .. }
        )
    }
}
