//! The one error type of configuration loading: every problem found, each
//! located, so an operator fixes the whole file in one pass instead of one
//! restart per mistake.

use std::fmt;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where to fix it: the configuration file's path, the environment
    /// variable that supplied the value, or the file a value was read from.
    pub origin: String,
    /// Dotted key, e.g. `targets.chicago.cron`; empty when the problem is the
    /// file as a whole (unreadable, not TOML).
    pub key: String,
    /// What is wrong. Never contains a secret's value.
    pub message: String,
}

impl Problem {
    pub fn new(
        origin: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            origin: origin.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.message)
        }
    }
}

/// The configuration could not be used; `Display` prints one problem a line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", lines(.problems))]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

fn lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_problem() {
        let err = ConfigError {
            problems: vec![
                Problem::new(
                    "/etc/x.toml",
                    "targets.chicago.time_zone",
                    "unknown time zone \"America/Chicgo\"",
                ),
                Problem::new(
                    "/etc/x.toml",
                    "",
                    "cannot read configuration file: not found",
                ),
            ],
        };
        assert_eq!(
            err.to_string(),
            "/etc/x.toml: targets.chicago.time_zone: unknown time zone \"America/Chicgo\"\n\
             /etc/x.toml: cannot read configuration file: not found"
        );
    }
}
