//! A string that must never reach a log line, an error message or a status
//! page: the OAuth client secret and the admin token.
//!
//! Every way of printing it (`Debug`, `Display`, serde) yields `[redacted]`,
//! so a `tracing::debug!(?settings)` or a JSON status dump cannot leak it by
//! accident; reading it takes an explicit, greppable [`Secret::expose`].

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const REDACTED: &str = "[redacted]";

/// A secret string; zeroed on drop by `secrecy`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(SecretString::from(value))
    }

    /// The secret itself. Call only where it is sent to its one legitimate
    /// destination (an `Authorization` header, a constant-time comparison).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "s3cr3t-hunter2";

    #[test]
    fn expose_returns_the_value() {
        assert_eq!(Secret::new(VALUE.into()).expose(), VALUE);
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(VALUE.into());
        let out = format!("{s:?} {s:#?} {:?}", Some(s.clone()));
        assert!(!out.contains(VALUE), "{out}");
        assert!(out.contains(REDACTED));
    }

    #[test]
    fn display_is_redacted() {
        let out = Secret::new(VALUE.into()).to_string();
        assert_eq!(out, REDACTED);
    }

    #[test]
    fn serialize_is_redacted() {
        #[derive(Serialize)]
        struct Holder {
            token: Secret,
        }
        let out = serde_json::to_string(&Holder {
            token: Secret::new(VALUE.into()),
        })
        .unwrap();
        assert!(!out.contains(VALUE), "{out}");
        assert_eq!(out, r#"{"token":"[redacted]"}"#);
    }

    #[test]
    fn deserializes_from_a_string() {
        let s: Secret = serde_json::from_str(&format!("\"{VALUE}\"")).unwrap();
        assert_eq!(s.expose(), VALUE);
    }

    #[test]
    fn clone_keeps_the_value() {
        let s = Secret::new(VALUE.into());
        assert_eq!(s.clone().expose(), VALUE);
    }
}
