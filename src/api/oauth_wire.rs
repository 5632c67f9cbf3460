//! The OAuth server's JSON: token and introspection answers, errors.

use serde::Deserialize;

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
