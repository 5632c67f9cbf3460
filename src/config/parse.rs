//! Parsers for single values. Each returns the message of a problem, so the
//! walker can attach the location.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use url::Url;

use crate::api::url::shown_text;
use crate::echo::{echo, echo_message};

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
        format!(
            "invalid duration {}: {} (write e.g. \"500ms\", \"90s\", \"5m\", \"12h\")",
            echo(s),
            echo_message(&e.to_string())
        )
    })
}

pub(crate) fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err(format!("duration {} must be greater than zero", echo(s)));
    }
    Ok(d)
}

/// A base URL. `allow_insecure_http` is `None` when that flag was itself
/// invalid: the scheme check is then skipped rather than guessed. A user
/// name or password in it is refused: reqwest would send them as a second
/// `Authorization` header beside the client's own, and the platform's
/// credentials are `client_id` and the client secret.
pub(crate) fn base_url(s: &str, allow_insecure_http: Option<bool>) -> Result<Url, String> {
    let url = checked_url(s, allow_insecure_http)?;
    let shown = shown_text(s);
    let shown = echo(&shown);
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "URL {shown} must not carry a user name or password (not shown): the OAuth client's credentials are platform.client_id and the client secret"
        ));
    }
    if url.query().is_some() {
        return Err(format!("URL {shown} must not have a query"));
    }
    Ok(url)
}

/// A webhook URL. Chat webhooks carry their key in the query string, so a
/// query is allowed here, and no message ever quotes its values.
pub(crate) fn webhook_url(s: &str, allow_insecure_http: Option<bool>) -> Result<Url, String> {
    checked_url(s, allow_insecure_http)
}

/// Parses `s`: scheme, host, no fragment. Problems show it only as
/// `shown_text` does: no credentials, no query values.
fn checked_url(s: &str, allow_insecure_http: Option<bool>) -> Result<Url, String> {
    let shown = shown_text(s);
    let shown = echo(&shown);
    let url = Url::parse(s).map_err(|e| format!("invalid URL {shown}: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http != Some(false) => {}
        "http" => {
            return Err(format!(
                "URL {shown} is not HTTPS; the client secret and tokens would travel in clear \
                 (set platform.allow_insecure_http = true only for a local simulator)"
            ))
        }
        other => {
            return Err(format!(
                "URL {shown} has scheme {}; expected https",
                echo(other)
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL {shown} has no host"));
    }
    if url.fragment().is_some() {
        return Err(format!("URL {shown} must not have a fragment"));
    }
    Ok(url)
}

/// Same parser and options the scheduler uses: 5 fields, or 6 with seconds.
pub(crate) fn cron(s: &str) -> Result<croner::Cron, String> {
    croner::Cron::new(s)
        .with_seconds_optional()
        .parse()
        .map_err(|e| {
            // The field and its range when one is to blame; the parser's
            // own words only when none is.
            let why =
                super::cron_fields::explain(s).unwrap_or_else(|| echo_message(&e.to_string()));
            format!("invalid cron expression {}: {why}", echo(s))
        })
}

/// Fires closer together than this are refused unless the target says
/// `allow_frequent`: a weekly publication run every second is a typo.
const MIN_CRON_INTERVAL: TimeDelta = TimeDelta::hours(1);
/// How far ahead fires are looked at for their spacing.
const CADENCE_WINDOW: TimeDelta = TimeDelta::weeks(8);
/// A cron with no fire this far ahead (30 February) never fires.
const NEVER_WINDOW: TimeDelta = TimeDelta::days(5 * 366);

/// Refuses a cron that never fires, and one that fires more than once an
/// hour unless `allow_frequent`, looking ahead from `now` (wall-clock time).
pub(crate) fn cron_cadence(
    c: &croner::Cron,
    allow_frequent: bool,
    now: NaiveDateTime,
) -> Result<(), String> {
    let carrier = |t: NaiveDateTime| Utc.from_utc_datetime(&t);
    let next = |after: NaiveDateTime| {
        c.find_next_occurrence(&carrier(after), false)
            .ok()
            .map(|t| t.naive_utc())
    };
    let Some(mut previous) = next(now).filter(|f| *f - now <= NEVER_WINDOW) else {
        return Err(format!(
            "{} never fires (no matching date in the next five years, e.g. 30 February)",
            echo(&c.pattern.to_string())
        ));
    };
    if allow_frequent {
        return Ok(());
    }
    while let Some(fire) = next(previous).filter(|f| *f - now <= CADENCE_WINDOW) {
        if fire - previous < MIN_CRON_INTERVAL {
            return Err(format!(
                "{} fires more than once an hour ({previous} then {fire}); \
                 set allow_frequent = true in this target if that is meant",
                echo(&c.pattern.to_string())
            ));
        }
        previous = fire;
    }
    Ok(())
}

pub(crate) fn time_zone(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>()
        .map_err(|_| format!("unknown time zone {}", echo(s)))
}

pub(crate) fn weekday(s: &str) -> Result<Weekday, String> {
    s.parse::<Weekday>().map_err(|_| {
        format!(
            "unknown weekday {}; expected monday, tuesday, ... sunday",
            echo(s)
        )
    })
}

/// A `tracing` filter directive. Full parsing is left to the subscriber;
/// this catches the common typo of a bare misspelt level.
pub(crate) fn log_level(s: &str) -> Result<String, String> {
    const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];
    if LEVELS.contains(&s.to_ascii_lowercase().as_str()) || s.contains('=') {
        Ok(s.to_string())
    } else {
        Err(format!(
            "invalid log level {}; expected one of trace, debug, info, warn, error, \
             or a filter directive such as \"wfm_publisher=debug,info\"",
            echo(s)
        ))
    }
}

pub(crate) fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>().map_err(|e| {
        format!(
            "invalid listen address {}: {e} (write e.g. \"127.0.0.1:9464\")",
            echo(s)
        )
    })
}

pub(crate) fn scope(s: &str) -> Result<(), String> {
    if KNOWN_SCOPES.contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "unknown scope {}; expected one of {}",
            echo(s),
            KNOWN_SCOPES.join(", ")
        ))
    }
}

/// Only `{week_start}` may appear in braces; anything else is a typo that
/// would otherwise surface as a file that never exists.
pub(crate) fn placeholders(s: &str) -> Result<(), String> {
    let rest = s.replace(WEEK_START_PLACEHOLDER, "");
    if rest.contains('{') || rest.contains('}') {
        Err(format!(
            "{} contains an unknown placeholder; only {WEEK_START_PLACEHOLDER} is supported",
            echo(s)
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
            "{} is not a region's domain such as mypurecloud.com, mypurecloud.ie or usw2.pure.cloud", echo(s)))
    }
}

/// A schedule id: not empty, only `{week_start}` in braces, and none of
/// the ids that would address another path on the platform.
pub(crate) fn schedule_id(s: &str) -> Result<String, String> {
    let s = non_empty(s)?;
    placeholders(&s)?;
    let sample = s.replace(WEEK_START_PLACEHOLDER, "2026-11-30");
    match crate::domain::plan::path_id_problem(&sample) {
        Some(problem) => Err(problem),
        None => Ok(s),
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
/// A PostgreSQL URL without a password (it would show wherever the URL
/// does). The message never repeats the value.
pub(crate) fn postgres_url(s: &str) -> Result<String, String> {
    let url = Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "expected a postgres:// URL, found scheme {}",
            echo(url.scheme())
        ));
    }
    if url.password().is_some() {
        return Err(
            "must not contain a password: set store.password_file, the environment \
             variable WFM_PUBLISHER__STORE__PASSWORD, or the systemd credential store_password"
                .into(),
        );
    }
    let (driver_url, _) = super::postgres_url::split(s)?;
    driver_url
        .parse::<tokio_postgres::Config>()
        .map_err(|e| format!("not a PostgreSQL connection URL: {e}"))?;
    Ok(s.to_owned())
}

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
                "source {} must end in .csv or .json (the extension selects the format)",
                echo(s)
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
            "unknown policy {}; expected \"error\" or \"shift_forward\"",
            echo(s)
        )),
    }
}

pub(crate) fn ambiguous_policy(s: &str) -> Result<AmbiguousTimePolicy, String> {
    match s {
        "error" => Ok(AmbiguousTimePolicy::Error),
        "earliest" => Ok(AmbiguousTimePolicy::Earliest),
        "latest" => Ok(AmbiguousTimePolicy::Latest),
        _ => Err(format!(
            "unknown policy {}; expected \"error\", \"earliest\" or \"latest\"",
            echo(s)
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

    fn now() -> NaiveDateTime {
        "2026-11-25T12:00:00".parse().unwrap()
    }

    #[test]
    fn cadence() {
        assert!(cron_cadence(&cron("0 6 * * 4").unwrap(), false, now()).is_ok());
        assert!(cron_cadence(&cron("0 * * * *").unwrap(), false, now()).is_ok());
        assert!(cron_cadence(&cron("0 6 29 2 *").unwrap(), false, now()).is_ok());
        let every_second = cron("* * * * * *").unwrap();
        assert!(cron_cadence(&every_second, false, now())
            .unwrap_err()
            .contains("more than once an hour"));
        assert!(cron_cadence(&every_second, true, now()).is_ok());
        assert!(cron_cadence(&cron("0,30 6 * * 4").unwrap(), false, now()).is_err());
        let never = cron("0 6 30 2 *").unwrap();
        assert!(cron_cadence(&never, true, now())
            .unwrap_err()
            .contains("never fires"));
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
        for url in [
            "https://h/x?key=K1-hush",
            "https://user:pw-hush@h/x",
            "https://h:99999/x?key=K1-hush#pw-hush",
            "user:pw-hush@h/x",
        ] {
            let problem = base_url(url, Some(false)).unwrap_err();
            assert!(!problem.contains("hush"), "{problem}");
        }
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
        assert!(log_level("info").is_ok());
        assert!(log_level("wfm_publisher=debug").is_ok());
        assert!(log_level("verbose").is_err());
        assert!(weekday("sunday").is_ok());
        assert!(time_zone("America/Chicgo").is_err());
    }
}
