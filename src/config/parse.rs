//! Parsers for single values. Each returns the message of a problem, so the
//! walker can attach the location.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Weekday;
use chrono_tz::Tz;
use url::Url;

use super::settings::{
    AmbiguousTimePolicy, NonexistentTimePolicy, SourceFormat, SourcePattern, WEEK_START_PLACEHOLDER,
};

/// The scopes the platform defines (CONTRACT.md §1); anything else would be
/// dropped silently by the platform, so it is refused here instead.
pub(crate) const KNOWN_SCOPES: [&str; 4] = [
    "wfm:schedule:read",
    "wfm:schedule:write",
    "wfm:admin",
    "org:read",
];

pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!("invalid duration {s:?}: {e} (write e.g. \"500ms\", \"90s\", \"5m\", \"12h\")")
    })
}

pub(crate) fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err(format!("duration {s:?} must be greater than zero"));
    }
    Ok(d)
}

/// A base URL. `allow_insecure_http` is `None` when that flag was itself
/// invalid: the scheme check is then skipped rather than guessed.
pub(crate) fn base_url(s: &str, allow_insecure_http: Option<bool>) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http != Some(false) => {}
        "http" => {
            return Err(format!(
                "URL {s:?} is not HTTPS; the client secret and tokens would travel in clear \
                 (set platform.allow_insecure_http = true only for a local simulator)"
            ))
        }
        other => return Err(format!("URL {s:?} has scheme {other:?}; expected https")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL {s:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("URL {s:?} must not have a query or fragment"));
    }
    Ok(url)
}

/// Same parser and options the scheduler uses: 5 fields, or 6 with seconds.
pub(crate) fn cron(s: &str) -> Result<croner::Cron, String> {
    croner::Cron::new(s)
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("invalid cron expression {s:?}: {e}"))
}

pub(crate) fn time_zone(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>()
        .map_err(|_| format!("unknown time zone {s:?}"))
}

pub(crate) fn weekday(s: &str) -> Result<Weekday, String> {
    s.parse::<Weekday>()
        .map_err(|_| format!("unknown weekday {s:?}; expected monday, tuesday, ... sunday"))
}

/// A `tracing` filter directive. Full parsing is left to the subscriber;
/// this catches the common typo of a bare misspelt level.
pub(crate) fn log_level(s: &str) -> Result<String, String> {
    const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];
    if LEVELS.contains(&s.to_ascii_lowercase().as_str()) || s.contains('=') {
        Ok(s.to_string())
    } else {
        Err(format!(
            "invalid log level {s:?}; expected one of trace, debug, info, warn, error, \
             or a filter directive such as \"wfm_publisher=debug,info\""
        ))
    }
}

pub(crate) fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .map_err(|e| format!("invalid listen address {s:?}: {e} (write e.g. \"127.0.0.1:9464\")"))
}

pub(crate) fn scope(s: &str) -> Result<(), String> {
    if KNOWN_SCOPES.contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "unknown scope {s:?}; expected one of {}",
            KNOWN_SCOPES.join(", ")
        ))
    }
}

pub(crate) fn target_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid target name {s:?}; use only lower-case letters, digits, '_' and '-'"
        ))
    }
}

/// Only `{week_start}` may appear in braces; anything else is a typo that
/// would otherwise surface as a file that never exists.
pub(crate) fn placeholders(s: &str) -> Result<(), String> {
    let rest = s.replace(WEEK_START_PLACEHOLDER, "");
    if rest.contains('{') || rest.contains('}') {
        Err(format!(
            "{s:?} contains an unknown placeholder; only {WEEK_START_PLACEHOLDER} is supported"
        ))
    } else {
        Ok(())
    }
}

/// A Genesys Cloud region's domain, e.g. `mypurecloud.com`; an `api.` or
/// `login.` prefix is dropped as the SDKs do.
pub(crate) fn region(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let s = s
        .strip_prefix("https://")
        .unwrap_or(s)
        .trim_start_matches("api.")
        .trim_start_matches("login.");
    let valid = s.contains('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if valid {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "{s:?} is not a region's domain such as mypurecloud.com, mypurecloud.ie or usw2.pure.cloud"
        ))
    }
}

pub(crate) fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

/// Relative paths are relative to the configuration file, not to whatever
/// directory the daemon happened to be started from.
pub(crate) fn path(s: &str, base: &Path) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("path must not be empty".into());
    }
    Ok(base.join(s))
}

pub(crate) fn source(s: &str, base: &Path) -> Result<SourcePattern, String> {
    placeholders(s)?;
    let pattern = path(s, base)?;
    let ext = pattern
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let format = match ext.as_deref() {
        Some("csv") => SourceFormat::Csv,
        Some("json") => SourceFormat::Json,
        _ => {
            return Err(format!(
                "source {s:?} must end in .csv or .json (the extension selects the format)"
            ))
        }
    };
    Ok(SourcePattern { pattern, format })
}

pub(crate) fn nonexistent_policy(s: &str) -> Result<NonexistentTimePolicy, String> {
    match s {
        "error" => Ok(NonexistentTimePolicy::Error),
        "shift_forward" => Ok(NonexistentTimePolicy::ShiftForward),
        _ => Err(format!(
            "unknown policy {s:?}; expected \"error\" or \"shift_forward\""
        )),
    }
}

pub(crate) fn ambiguous_policy(s: &str) -> Result<AmbiguousTimePolicy, String> {
    match s {
        "error" => Ok(AmbiguousTimePolicy::Error),
        "earliest" => Ok(AmbiguousTimePolicy::Earliest),
        "latest" => Ok(AmbiguousTimePolicy::Latest),
        _ => Err(format!(
            "unknown policy {s:?}; expected \"error\", \"earliest\" or \"latest\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(duration("5 minutes please").is_err());
        assert!(positive_duration("0s").is_err());
    }

    #[test]
    fn cron_accepts_five_or_six_fields() {
        assert!(cron("0 6 * * 4").is_ok());
        assert!(cron("30 0 6 * * 4").is_ok());
        assert!(cron("0 6 * *").is_err());
        assert!(cron("0 25 * * *").is_err());
    }

    #[test]
    fn urls() {
        assert!(base_url("https://wfm.example.com/", Some(false)).is_ok());
        assert!(base_url("http://127.0.0.1:0", Some(true)).is_ok());
        assert!(base_url("http://wfm.example.com", Some(false))
            .unwrap_err()
            .contains("not HTTPS"));
        assert!(base_url("ftp://x", Some(true)).is_err());
        assert!(base_url("not a url", Some(true)).is_err());
    }

    #[test]
    fn sources() {
        let s = source("in/{week_start}.CSV", Path::new("/etc/w")).unwrap();
        assert_eq!(s.format, SourceFormat::Csv);
        assert_eq!(s.pattern, PathBuf::from("/etc/w/in/{week_start}.CSV"));
        assert!(source("/abs/{week}.json", Path::new("/")).is_err());
        assert!(source("/abs/x.xlsx", Path::new("/")).is_err());
        let abs = source("/abs/x.json", Path::new("/etc")).unwrap();
        assert_eq!(abs.pattern, PathBuf::from("/abs/x.json"));
    }

    #[test]
    fn names_and_levels() {
        assert!(target_name("new_york-2").is_ok());
        assert!(target_name("NewYork").is_err());
        assert!(log_level("info").is_ok());
        assert!(log_level("wfm_publisher=debug").is_ok());
        assert!(log_level("verbose").is_err());
        assert!(weekday("sunday").is_ok());
        assert!(time_zone("America/Chicgo").is_err());
    }
}
