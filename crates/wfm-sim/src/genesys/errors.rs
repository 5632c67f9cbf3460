//! Refusals as Genesys Cloud puts them on the wire: an `ErrorBody` whose
//! `contextId` is the response's `ININ-Correlation-Id`, or for the token
//! endpoint an OAuth-style `{error, description}`.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::scenario::PermissionErrors;

/// Which limit a `429` hit, as `ErrorBody.limit` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitName {
    pub key: &'static str,
    pub namespace: &'static str,
}

pub const TOKEN_LIMIT: LimitName = LimitName {
    key: "client.credentials.token.rate.per.minute",
    namespace: "platform.api",
};

pub const TRADE_JOB_LIMIT: LimitName = LimitName {
    key: "shift.trading.rate.per.user.per.minute",
    namespace: "workforce.management",
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GError {
    #[error("no token")]
    AuthenticationRequired,
    #[error("unknown token")]
    BadCredentials,
    #[error("expired token")]
    CredentialsExpired,
    /// None of `permissions` is held in the unit's division.
    #[error("missing permissions {permissions:?}")]
    Missing { permissions: Vec<String> },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{code}: {message}")]
    BadRequest { code: &'static str, message: String },
    #[error("rate limited")]
    RateLimited {
        retry_after: u64,
        limit: LimitName,
        value: u32,
    },
    #[error("unavailable")]
    Unavailable {
        status: u16,
        retry_after: Option<u64>,
    },
    #[error("oauth {error}")]
    OAuth {
        status: u16,
        error: &'static str,
        description: String,
    },
}

impl GError {
    pub fn invalid(message: impl Into<String>) -> Self {
        GError::BadRequest {
            code: "invalid.value",
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        GError::BadRequest {
            code: "bad.request",
            message: message.into(),
        }
    }

    pub fn missing(permissions: &[&str]) -> Self {
        GError::Missing {
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
        }
    }

    pub fn oauth(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        GError::OAuth {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        let code = match self {
            GError::AuthenticationRequired
            | GError::BadCredentials
            | GError::CredentialsExpired => 401,
            GError::Missing { .. } => 403,
            GError::NotFound(_) => 404,
            GError::BadRequest { .. } => 400,
            GError::RateLimited { .. } => 429,
            GError::Unavailable { status, .. } | GError::OAuth { status, .. } => *status,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            GError::RateLimited { retry_after, .. } => Some(*retry_after),
            GError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The `code` of the body, for the request record.
    pub fn code(&self) -> &'static str {
        self.parts().0
    }

    /// Code, message with its `{params}` placeholders, and the params.
    fn parts(&self) -> (&'static str, String, Value) {
        match self {
            GError::AuthenticationRequired => (
                "authentication.required",
                "No authentication bearer token specified in authorization header.".into(),
                json!({}),
            ),
            GError::BadCredentials => (
                "bad.credentials",
                "Invalid login credentials.".into(),
                json!({}),
            ),
            GError::CredentialsExpired => (
                "credentials.expired",
                "The supplied credentials are expired and cannot be used.".into(),
                json!({}),
            ),
            GError::Missing { permissions } => missing_parts(permissions),
            GError::NotFound(what) => (
                "not.found",
                "The requested resource was not found: {resource}".into(),
                json!({"resource": what}),
            ),
            GError::BadRequest { code, message } => (code, message.clone(), json!({})),
            GError::RateLimited { limit, value, .. } => (
                "too.many.requests",
                "Rate limit exceeded the maximum. [{limit}] requests for [{key}]".into(),
                json!({"limit": value.to_string(), "key": limit.key}),
            ),
            GError::Unavailable { .. } => (
                "service.unavailable",
                "The service is currently unavailable".into(),
                json!({}),
            ),
            GError::OAuth { error, .. } => (error, String::new(), json!({})),
        }
    }

    /// The JSON body, with `context_id` as `contextId`; a missing
    /// permission named as `style` says.
    pub fn body(&self, context_id: &str, style: PermissionErrors) -> Value {
        if let GError::OAuth {
            error, description, ..
        } = self
        {
            return json!({"error": error, "description": description, "error_description": description});
        }
        let (code, with_params, params) = match (self, style) {
            (GError::Missing { permissions }, PermissionErrors::InMessage) => (
                self.code(),
                format!("Unable to perform the requested action. You must have at least one of the following permissions assigned: [{}]", permissions.join(", ")),
                json!({}),
            ),
            _ => self.parts(),
        };
        let mut message = with_params.clone();
        if let Some(map) = params.as_object() {
            for (k, v) in map {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                message = message.replace(&format!("{{{k}}}"), &v);
            }
        }
        let mut body = json!({
            "status": self.status().as_u16(),
            "code": code,
            "message": message,
            "messageWithParams": with_params,
            "messageParams": params,
            "contextId": context_id,
            "details": [],
            "errors": [],
        });
        if let GError::RateLimited { limit, value, .. } = self {
            body["limit"] = json!({"key": limit.key, "namespace": limit.namespace, "value": value});
        }
        body
    }
}

fn missing_parts(permissions: &[String]) -> (&'static str, String, Value) {
    let code = if permissions.len() == 1 {
        "missing.permissions"
    } else {
        "missing.any.permissions"
    };
    (
        code,
        "Unable to perform the requested action. You are missing the following permission(s): {permissions}"
            .into(),
        json!({"permissions": permissions.join(", ")}),
    )
}
