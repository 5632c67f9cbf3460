//! The ids the publisher reasons with, each its own type: an agent's id
//! cannot be handed where a swap's is expected, and a target's name is
//! checked once, where it is made. They are made at the boundary (the
//! configuration, the source file, a platform's answer) and carried as
//! they are; each is stored and shown as its text, unchanged.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An id over its text: `as_str`, `Display`, `Borrow<str>` (a map keyed by
/// it is looked up with a `&str`) and comparison with `str`.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// Ids with no rule of their own: whatever the source file or the
/// platform calls the thing. (An agent id read from a source file is
/// checked by [`crate::domain::plan::path_id_problem`] with its line, among the
/// file's other problems, before it becomes an `AgentId`.)
macro_rules! free_id {
    ($(#[$doc:meta])* $name:ident) => {
        text_id!($(#[$doc])* $name);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map($name)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }
    };
}

free_id!(
    /// An agent, as the source file and the platform name it (for Genesys
    /// Cloud, after the target's `agent_ids` mapping).
    AgentId
);

free_id!(
    /// A shift swap (a Genesys Cloud trade), as the platform names it.
    SwapId
);

free_id!(
    /// A week's schedule on the platform, as the platform names it: the
    /// target's `schedule_id` with its week filled in, or the id of the
    /// schedule the run found or created.
    ScheduleId
);

free_id!(
    /// A Genesys Cloud business unit's id, as resolved for a run.
    BusinessUnitId
);

text_id!(
    /// A target's name: the `<name>` of its `[targets.<name>]` table, in
    /// logs, the store, metrics' labels and the admin page's URLs, so
    /// only lower-case ASCII letters, digits, `_` and `-`.
    TargetName
);

/// Why a text cannot name a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid target name {}; use only lower-case letters, digits, '_' and '-'",
    crate::echo::echo(.0)
)]
pub struct InvalidTargetName(String);

impl TargetName {
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidTargetName> {
        let name = name.into();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if valid {
            Ok(TargetName(name))
        } else {
            Err(InvalidTargetName(name))
        }
    }
}

impl TryFrom<String> for TargetName {
    type Error = InvalidTargetName;

    fn try_from(name: String) -> Result<Self, InvalidTargetName> {
        TargetName::new(name)
    }
}

impl std::str::FromStr for TargetName {
    type Err = InvalidTargetName;

    fn from_str(name: &str) -> Result<Self, InvalidTargetName> {
        TargetName::new(name)
    }
}

impl<'de> Deserialize<'de> for TargetName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TargetName::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_name_is_lower_case_letters_digits_underscores_and_hyphens() {
        assert_eq!(
            TargetName::new("new_york-2").unwrap().as_str(),
            "new_york-2"
        );
        for bad in [
            "",
            "NewYork",
            "new york",
            "a/b",
            "café",
            "a.b",
            "a\u{202E}b",
        ] {
            assert!(TargetName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_refused_target_name_is_named_escaped_in_the_message() {
        let message = TargetName::new("bad\nname").unwrap_err().to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(message.starts_with("invalid target name"), "{message}");
    }

    #[test]
    fn a_target_name_is_checked_when_deserialized_too() {
        let ok: TargetName = serde_json::from_str("\"chicago\"").unwrap();
        assert_eq!(ok, "chicago");
        assert!(serde_json::from_str::<TargetName>("\"Chicago\"").is_err());
    }

    #[test]
    fn ids_are_stored_and_shown_as_their_text() {
        let agent = AgentId::from("a-1");
        assert_eq!(agent.to_string(), "a-1");
        assert_eq!(serde_json::to_string(&agent).unwrap(), "\"a-1\"");
        let back: AgentId = serde_json::from_str("\"a-1\"").unwrap();
        assert_eq!(back, agent);
        // A map keyed by ids is looked up with the text.
        let map = std::collections::BTreeMap::from([(agent.clone(), 1)]);
        assert_eq!(map.get("a-1"), Some(&1));
    }
}
