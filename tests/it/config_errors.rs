//! Every kind of configuration mistake is reported, located by file (or
//! environment variable) and dotted key, and never leaks the secret.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use wfm_publisher::config::{
    AmbiguousTimePolicy, ConfigError, NonexistentTimePolicy, Settings, SourceFormat,
};
use wfm_publisher::testbed::Testbed;

const SECRET: &str = "Zq9-very-secret-value";
const SECRET_ENV: &str = "WFM_PUBLISHER__PLATFORM__CLIENT_SECRET";

/// A valid configuration with one target; tests break one piece of it.
const VALID: &str = r#"
[platform]
auth_base_url = "https://login.example.com"
api_base_url = "https://api.example.com"
client_id = "publisher"

[targets.chicago]
schedule_id = "chi-{week_start}"
time_zone = "America/Chicago"
cron = "0 6 * * 4"
source = "inbox/chicago/{week_start}.csv"
"#;

type Fixture = Testbed;

fn write(toml: &str) -> Fixture {
    Testbed::new(None, "config.toml", toml).unwrap()
}

fn secret_env() -> HashMap<String, String> {
    HashMap::from([(SECRET_ENV.to_string(), SECRET.to_string())])
}

fn load(f: &Fixture) -> Result<Settings, ConfigError> {
    Settings::load_with_env(&f.path, secret_env())
}

fn errors(toml: &str) -> (Fixture, ConfigError) {
    let f = write(toml);
    let err = load(&f).expect_err("configuration should be rejected");
    (f, err)
}

/// The error text has a line naming `origin` and `key` and containing `what`.
fn assert_line(err: &ConfigError, origin: &str, key: &str, what: &str) {
    let text = err.to_string();
    let found = text
        .lines()
        .any(|l| l.starts_with(&format!("{origin}: {key}: ")) && l.contains(what));
    assert!(found, "no line `{origin}: {key}: ...{what}...` in:\n{text}");
}

fn file(f: &Fixture) -> String {
    f.path.display().to_string()
}

/// `VALID` with `line` inserted right after the `[header]` line.
fn with(header: &str, line: &str) -> String {
    VALID.replacen(
        &format!("[{header}]\n"),
        &format!("[{header}]\n{line}\n"),
        1,
    )
}

fn without(line_start: &str) -> String {
    VALID
        .lines()
        .filter(|l| !l.starts_with(line_start))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn valid_minimal_config_loads_with_defaults() {
    let f = write(VALID);
    let s = load(&f).unwrap();
    assert_eq!(s.source, f.path);
    assert_eq!(s.log.level, "info");
    assert_eq!(s.platform.client_secret.expose(), SECRET);
    assert_eq!(s.platform.scopes.len(), 4);
    assert_eq!(s.platform.request_timeout, Duration::from_secs(30));
    assert_eq!(s.rate_limits.default.requests, 10);
    // One call: a burst of `requests` overruns a fixed window.
    assert_eq!(s.rate_limits.default.burst, 1);
    assert_eq!(s.rate_limits.publish.per, Duration::from_secs(2));
    assert_eq!(s.retry.initial_delay, Duration::from_millis(500));
    assert_eq!(s.retry.max_attempts, 8);
    assert_eq!(s.workers.concurrency, 256);
    assert_eq!(
        s.store.path,
        PathBuf::from("/var/lib/wfm-publisher/state.db")
    );
    assert_eq!(s.admin.listen.to_string(), "127.0.0.1:9464");
    assert!(s.admin.admin_token.is_none());
    assert!(s.notify.webhook_url.is_none());
    let t = &s.targets["chicago"];
    assert_eq!(t.time_zone, chrono_tz::America::Chicago);
    assert_eq!(t.week_start_day, chrono::Weekday::Mon);
    assert_eq!(t.catch_up, Duration::from_secs(6 * 3600));
    assert_eq!(t.deferral.poll_interval, Duration::from_secs(60));
    assert_eq!(t.deferral.deadline, Duration::from_secs(12 * 3600));
    assert_eq!(t.dst.nonexistent, NonexistentTimePolicy::Error);
    assert_eq!(t.dst.ambiguous, AmbiguousTimePolicy::Error);
    assert_eq!(t.source.format, SourceFormat::Csv);
    // Relative to the config file's directory, not the working directory.
    assert!(
        t.source.pattern.starts_with(f.dir()),
        "{:?}",
        t.source.pattern
    );
    let week = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    assert!(t
        .source
        .path_for(week)
        .ends_with("inbox/chicago/2026-11-30.csv"));
    assert_eq!(t.schedule_id_for(week), "chi-2026-11-30");
}

#[test]
fn unknown_top_level_key() {
    let (f, err) = errors(&format!("verbose = true\n{VALID}"));
    assert_line(&err, &file(&f), "verbose", "unknown key");
}

#[test]
fn unknown_key_in_section_suggests_the_right_one() {
    let (f, err) = errors(&with("platform", r#"client_idd = "x""#));
    assert_line(
        &err,
        &file(&f),
        "platform.client_idd",
        "did you mean `client_id`",
    );
}

#[test]
fn unknown_key_inside_a_target() {
    let (f, err) = errors(&with("targets.chicago", r#"time_zon = "UTC""#));
    assert_line(&err, &file(&f), "targets.chicago.time_zon", "unknown key");
}

#[test]
fn unknown_section() {
    let (f, err) = errors(&format!("{VALID}\n[metrics]\nport = 1\n"));
    assert_line(&err, &file(&f), "metrics", "unknown key");
}

#[test]
fn wrong_type() {
    let (f, err) = errors(&format!("{VALID}\n[workers]\nconcurrency = \"eight\"\n"));
    assert_line(
        &err,
        &file(&f),
        "workers.concurrency",
        "expected an integer, found string \"eight\"",
    );
}

#[test]
fn wrong_type_string_expected() {
    let (f, err) = errors(&with("targets.chicago", "week_start_day = 1"));
    assert_line(
        &err,
        &file(&f),
        "targets.chicago.week_start_day",
        "expected a string",
    );
}

#[test]
fn wrong_type_table_expected() {
    let (f, err) = errors(&format!("retry = 3\n{VALID}"));
    assert_line(&err, &file(&f), "retry", "expected a table");
}

#[test]
fn missing_required_key() {
    let (f, err) = errors(&without("client_id"));
    assert_line(
        &err,
        &file(&f),
        "platform.client_id",
        "missing required key",
    );
}

#[test]
fn missing_required_key_in_target() {
    let (f, err) = errors(&without("cron"));
    assert_line(
        &err,
        &file(&f),
        "targets.chicago.cron",
        "missing required key",
    );
}

#[test]
fn no_targets() {
    let toml = VALID.split("[targets.chicago]").next().unwrap();
    let (f, err) = errors(toml);
    assert_line(&err, &file(&f), "targets", "at least one");
}

#[test]
fn bad_duration() {
    let (f, err) = errors(&format!(
        "{VALID}\n[retry]\nmax_delay = \"30 seconds-ish\"\n"
    ));
    assert_line(&err, &file(&f), "retry.max_delay", "invalid duration");
}

#[test]
fn zero_duration() {
    let (f, err) = errors(&format!("{VALID}\n[rate_limits.publish]\nper = \"0s\"\n"));
    assert_line(
        &err,
        &file(&f),
        "rate_limits.publish.per",
        "greater than zero",
    );
}

#[test]
fn source_wait_keys_default_parse_and_are_located() {
    let s = load(&write(VALID)).unwrap();
    let wait = &s.targets["chicago"].source_wait;
    assert_eq!(wait.wait, None, "until the deferral deadline");
    assert_eq!(wait.grace, Duration::from_secs(3600));
    assert_eq!(wait.settle, Duration::from_secs(5));

    let keys = "source_wait = \"0s\"\nsource_grace = \"30m\"\nsource_settle = \"2s\"";
    let s = load(&write(&with("targets.chicago", keys))).unwrap();
    let wait = &s.targets["chicago"].source_wait;
    assert_eq!(wait.wait, Some(Duration::ZERO), "refuse at once");
    assert_eq!(wait.grace, Duration::from_secs(1800));
    assert_eq!(wait.settle, Duration::from_secs(2));

    let bad = "source_wait = \"soon\"\nsource_settle = \"0s\"";
    let (f, err) = errors(&with("targets.chicago", bad));
    assert_line(
        &err,
        &file(&f),
        "targets.chicago.source_wait",
        "invalid duration",
    );
    let key = "targets.chicago.source_settle";
    assert_line(&err, &file(&f), key, "greater than zero");
}

#[test]
fn max_source_bytes_defaults_to_64_mib_parses_and_is_located() {
    let s = load(&write(VALID)).unwrap();
    assert_eq!(s.targets["chicago"].max_source_bytes, 64 * 1024 * 1024);

    let s = load(&write(&with(
        "targets.chicago",
        "max_source_bytes = 1048576",
    )))
    .unwrap();
    assert_eq!(s.targets["chicago"].max_source_bytes, 1_048_576);

    let key = "targets.chicago.max_source_bytes";
    let (f, err) = errors(&with("targets.chicago", "max_source_bytes = 0"));
    assert_line(&err, &file(&f), key, "out of range");
    let (f, err) = errors(&with("targets.chicago", "max_source_bytes = \"64MB\""));
    assert_line(&err, &file(&f), key, "expected an integer");
}

#[test]
fn bad_cron() {
    let (f, err) = errors(&VALID.replace("0 6 * * 4", "0 25 * * 4"));
    assert_line(
        &err,
        &file(&f),
        "targets.chicago.cron",
        "invalid cron expression",
    );
}

/// Issue 29 item 15: a number out of its field's range names the field and
/// the range, in the publisher's words, not the parser's.
#[test]
fn a_cron_number_out_of_range_names_its_field_and_range() {
    for (cron, what) in [
        ("0 25 * * 4", "field 2 (hour) is 25; allowed 0-23"),
        ("61 6 * * 4", "field 1 (minute) is 61; allowed 0-59"),
        ("0 6 32 * *", "field 3 (day of month) is 32; allowed 1-31"),
        ("0 6 * 13 *", "field 4 (month) is 13; allowed 1-12"),
        ("0 6 * * 1-9", "field 5 (day of week) is 9; allowed 0-7"),
        ("75 0 6 * * 4", "field 1 (second) is 75; allowed 0-59"),
    ] {
        let (f, err) = errors(&VALID.replace("0 6 * * 4", cron));
        assert_line(&err, &file(&f), "targets.chicago.cron", what);
        assert!(!err.to_string().contains("Component error"), "{err}");
    }
    let (f, err) = errors(&VALID.replace("0 6 * * 4", "0 6 * *"));
    assert_line(
        &err,
        &file(&f),
        "targets.chicago.cron",
        "has 4 fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (a second first)",
    );
}

#[test]
fn cron_with_seconds_is_accepted() {
    let f = write(&VALID.replace("0 6 * * 4", "30 0 6 * * 4"));
    load(&f).unwrap();
}

#[test]
fn unknown_time_zone() {
    let (f, err) = errors(&VALID.replace("America/Chicago", "America/Chicgo"));
    assert_line(
        &err,
        &file(&f),
        "targets.chicago.time_zone",
        "unknown time zone \"America/Chicgo\"",
    );
}

#[test]
fn http_url_without_allow_insecure_http() {
    let (f, err) = errors(&VALID.replace("https://api.example.com", "http://api.example.com"));
    assert_line(&err, &file(&f), "platform.api_base_url", "not HTTPS");
}

/// Issue 29 item 16: the URL is quoted as the operator wrote it, without a
/// slash the file does not have.
#[test]
fn a_url_is_quoted_as_written() {
    let (f, err) = errors(&VALID.replace("https://api.example.com", "http://127.0.0.1:18081"));
    assert_line(
        &err,
        &file(&f),
        "platform.api_base_url",
        "URL \"http://127.0.0.1:18081\" is not HTTPS",
    );
}

#[test]
fn http_url_with_allow_insecure_http() {
    let toml = with("platform", "allow_insecure_http = true")
        .replace("https://api.example.com", "http://127.0.0.1:0");
    let s = load(&write(&toml)).unwrap();
    assert_eq!(s.platform.api_base_url.scheme(), "http");
}

#[test]
fn bad_url() {
    let (f, err) = errors(&VALID.replace("https://login.example.com", "login.example.com"));
    assert_line(&err, &file(&f), "platform.auth_base_url", "invalid URL");
}

#[test]
fn http_webhook_without_allow_insecure_http() {
    let (f, err) = errors(&format!(
        "{VALID}\n[notify]\nwebhook_url = \"http://hooks.example.com/x\"\n"
    ));
    assert_line(&err, &file(&f), "notify.webhook_url", "not HTTPS");
}

#[test]
fn unknown_scope() {
    let (f, err) = errors(&with(
        "platform",
        r#"scopes = ["wfm:schedule:read", "wfm:publish"]"#,
    ));
    assert_line(
        &err,
        &file(&f),
        "platform.scopes",
        "unknown scope \"wfm:publish\"",
    );
}

#[test]
fn out_of_range_number() {
    let (f, err) = errors(&format!("{VALID}\n[workers]\nconcurrency = 0\n"));
    assert_line(&err, &file(&f), "workers.concurrency", "out of range");
    let (f, err) = errors(&format!("{VALID}\n[rate_limits.default]\nrequests = -5\n"));
    assert_line(
        &err,
        &file(&f),
        "rate_limits.default.requests",
        "out of range",
    );
}

#[test]
fn bad_source_extension() {
    let (f, err) = errors(&VALID.replace("{week_start}.csv", "{week_start}.xlsx"));
    assert_line(&err, &file(&f), "targets.chicago.source", ".csv or .json");
}

#[test]
fn bad_target_name() {
    let (f, err) = errors(&VALID.replace("[targets.chicago]", "[targets.Chicago]"));
    assert_line(&err, &file(&f), "targets.Chicago", "invalid target name");
}

#[test]
fn bad_dst_policy_and_weekday() {
    let toml = format!(
        "{}\nweek_start_day = \"mondy\"\n[targets.chicago.dst]\nambiguous = \"first\"\n",
        VALID.trim_end()
    );
    let (f, err) = errors(&toml);
    assert_line(
        &err,
        &file(&f),
        "targets.chicago.week_start_day",
        "unknown weekday",
    );
    assert_line(
        &err,
        &file(&f),
        "targets.chicago.dst.ambiguous",
        "unknown policy",
    );
}

#[test]
fn bad_log_level() {
    let (f, err) = errors(&format!("[log]\nlevel = \"verbose\"\n{VALID}"));
    assert_line(&err, &file(&f), "log.level", "invalid log level");
}

#[test]
fn missing_secret_names_all_four_sources() {
    let f = write(VALID);
    let err = Settings::load_with_env(&f.path, HashMap::new()).unwrap_err();
    assert_line(
        &err,
        &file(&f),
        "platform.client_secret",
        "no client secret",
    );
    let text = err.to_string();
    for source in [
        "client_secret_file",
        SECRET_ENV,
        "platform.client_secret in this file",
        "CREDENTIALS_DIRECTORY",
    ] {
        assert!(text.contains(source), "{source} not mentioned in:\n{text}");
    }
}

#[test]
fn secret_sources_in_order() {
    let f = write(&with("platform", r#"client_secret = "from-file""#));
    // The file's inline secret is used when nothing else is set.
    let s = Settings::load_with_env(&f.path, HashMap::new()).unwrap();
    assert_eq!(s.platform.client_secret.expose(), "from-file");
    // The environment override beats it.
    let s = load(&f).unwrap();
    assert_eq!(s.platform.client_secret.expose(), SECRET);
    // A secret file beats both, trailing newline trimmed.
    let secret_file = f.dir().join("client_secret");
    fs::write(&secret_file, "from-secret-file\n").unwrap();
    let mut env = secret_env();
    env.insert(
        "WFM_PUBLISHER__PLATFORM__CLIENT_SECRET_FILE".into(),
        "client_secret".into(),
    );
    let s = Settings::load_with_env(&f.path, env).unwrap();
    assert_eq!(s.platform.client_secret.expose(), "from-secret-file");
}

#[test]
fn secret_from_systemd_credentials_directory() {
    let f = write(VALID);
    let creds = tempfile::tempdir().unwrap();
    fs::write(creds.path().join("client_secret"), "from-credential\n").unwrap();
    let env = HashMap::from([(
        "CREDENTIALS_DIRECTORY".to_string(),
        creds.path().display().to_string(),
    )]);
    let s = Settings::load_with_env(&f.path, env).unwrap();
    assert_eq!(s.platform.client_secret.expose(), "from-credential");
}

/// A `$CREDENTIALS_DIRECTORY` holding `credentials` (name, content), as
/// systemd's `LoadCredential=` makes one; the directory lives as long as the
/// returned guard.
fn credentials(credentials: &[(&str, &str)]) -> (TempDir, HashMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in credentials {
        fs::write(dir.path().join(name), content).unwrap();
    }
    let env = HashMap::from([(
        "CREDENTIALS_DIRECTORY".to_string(),
        dir.path().display().to_string(),
    )]);
    (dir, env)
}

#[test]
fn unreadable_secret_file_gives_way_to_the_credential_and_says_so() {
    let f = write(&with("platform", r#"client_secret_file = "nope/secret""#));
    let (_creds, env) = credentials(&[("client_secret", &format!("{SECRET}\n"))]);
    let s = Settings::load_with_env(&f.path, env).unwrap();
    assert_eq!(s.platform.client_secret.expose(), SECRET);
    let warnings: Vec<String> = s.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(
        w.starts_with(&format!("{}: platform.client_secret_file: ", file(&f))),
        "{w}"
    );
    assert!(w.contains("cannot read"), "{w}");
    assert!(w.contains("nope/secret"), "{w}");
    assert!(
        w.contains("using the systemd credential client_secret"),
        "{w}"
    );
    assert!(!w.contains(SECRET), "{w}");
}

#[test]
fn unreadable_secret_file_without_credential_names_both_places() {
    let toml = with("platform", r#"client_secret_file = "nope/secret""#);
    // No $CREDENTIALS_DIRECTORY at all.
    let (f, err) = errors(&toml);
    assert_line(
        &err,
        &file(&f),
        "platform.client_secret_file",
        "cannot read",
    );
    let text = err.to_string();
    assert!(text.contains("nope/secret"), "{text}");
    assert!(
        text.contains("no systemd credential client_secret: $CREDENTIALS_DIRECTORY is not set"),
        "{text}"
    );
    // A credentials directory without that credential: it is named.
    let (creds, env) = credentials(&[("admin_token", "t")]);
    let err = Settings::load_with_env(&f.path, env).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("nope/secret"), "{text}");
    assert!(
        text.contains(&format!(
            "no systemd credential client_secret in $CREDENTIALS_DIRECTORY ({})",
            creds.path().display()
        )),
        "{text}"
    );
}

#[test]
fn admin_token_from_systemd_credentials_directory() {
    let f = write(VALID);
    let (creds, mut env) = credentials(&[("admin_token", "admin-from-credential\n")]);
    env.extend(secret_env());
    let s = Settings::load_with_env(&f.path, env).unwrap();
    assert_eq!(
        s.admin.admin_token.as_ref().map(|t| t.expose()),
        Some("admin-from-credential")
    );
    assert_eq!(s.admin.token_file, Some(creds.path().join("admin_token")));
    assert!(s.warnings.is_empty());
}

#[test]
fn unreadable_admin_token_file_gives_way_to_the_credential() {
    let f = write(&format!(
        "{VALID}\n[admin]\ntoken_file = \"missing-token\"\n"
    ));
    let (_creds, mut env) = credentials(&[("admin_token", "admin-from-credential")]);
    env.extend(secret_env());
    let s = Settings::load_with_env(&f.path, env).unwrap();
    assert_eq!(
        s.admin.admin_token.as_ref().map(|t| t.expose()),
        Some("admin-from-credential")
    );
    let w = s.warnings[0].to_string();
    assert!(w.contains("admin.token_file: cannot read"), "{w}");
    assert!(
        w.contains("using the systemd credential admin_token"),
        "{w}"
    );
    assert!(!w.contains("admin-from-credential"), "{w}");
    // Without it, both places are named.
    let err = load(&f).unwrap_err();
    assert_line(&err, &file(&f), "admin.token_file", "missing-token");
    assert!(err
        .to_string()
        .contains("no systemd credential admin_token"));
}

#[test]
fn an_unusable_credential_is_reported_without_its_content() {
    let f = write(VALID);
    let (_creds, env) = credentials(&[("client_secret", "\n"), ("admin_token", "\n")]);
    let err = Settings::load_with_env(&f.path, env).unwrap_err();
    assert_line(
        &err,
        &file(&f),
        "platform.client_secret",
        "systemd credential client_secret",
    );
    assert_line(
        &err,
        &file(&f),
        "admin.token_file",
        "systemd credential admin_token",
    );
    assert!(err.to_string().contains("is empty"), "{err}");
}

#[test]
fn unreadable_secret_file_is_located() {
    let (f, err) = errors(&with("platform", r#"client_secret_file = "nope/secret""#));
    assert_line(
        &err,
        &file(&f),
        "platform.client_secret_file",
        "cannot read",
    );
}

#[test]
fn unreadable_admin_token_file_is_located() {
    let (f, err) = errors(&format!(
        "{VALID}\n[admin]\ntoken_file = \"missing-token\"\n"
    ));
    assert_line(&err, &file(&f), "admin.token_file", "cannot read");
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let err = Settings::load_with_env(&path, secret_env()).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    let line = err.to_string();
    assert!(line.starts_with(&format!("{}: ", path.display())), "{line}");
    assert!(line.contains("cannot read configuration file"), "{line}");
}

#[test]
fn toml_syntax_error() {
    let f = write(&format!("{VALID}\n[workers\nconcurrency = 4\n"));
    let err = load(&f).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line expected: {text}");
    assert!(
        text.starts_with(&format!("{}: invalid TOML at line", file(&f))),
        "{text}"
    );
}

#[test]
fn every_mistake_is_reported_at_once() {
    let toml = r#"
loglevel = "debug"

[platform]
auth_base_url = "http://login.example.com"
api_base_url = "https://api.example.com"
scopes = ["wfm:admin", "admin"]
request_timeout = "soon"

[workers]
concurrency = 1000

[targets.chicago]
schedule_id = "chi"
time_zone = "America/Chicgo"
cron = "every thursday"
source = "in.txt"
colour = "blue"

[targets.new_york]
time_zone = "America/New_York"
cron = "0 5 * * 4"
source = "in.json"
"#;
    let (f, err) = errors(toml);
    let p = file(&f);
    assert_line(&err, &p, "loglevel", "unknown key");
    assert_line(&err, &p, "platform.auth_base_url", "not HTTPS");
    assert_line(&err, &p, "platform.client_id", "missing required key");
    assert_line(&err, &p, "platform.scopes", "unknown scope \"admin\"");
    assert_line(&err, &p, "platform.request_timeout", "invalid duration");
    assert_line(&err, &p, "workers.concurrency", "out of range");
    assert_line(&err, &p, "targets.chicago.time_zone", "unknown time zone");
    assert_line(&err, &p, "targets.chicago.cron", "invalid cron expression");
    assert_line(&err, &p, "targets.chicago.source", ".csv or .json");
    assert_line(&err, &p, "targets.chicago.colour", "unknown key");
    assert_line(
        &err,
        &p,
        "targets.new_york.schedule_id",
        "missing required key",
    );
    assert_eq!(err.problems.len(), 11, "{err}");
}

#[test]
fn env_override_applies_and_is_located_when_bad() {
    let f = write(VALID);
    let mut env = secret_env();
    env.insert("WFM_PUBLISHER__WORKERS__CONCURRENCY".into(), "3".into());
    env.insert(
        "WFM_PUBLISHER__TARGETS__CHICAGO__CRON".into(),
        "15 7 * * 4".into(),
    );
    // try_parsing would turn this into the integer 7; ids keep their text.
    env.insert("WFM_PUBLISHER__PLATFORM__CLIENT_ID".into(), "007".into());
    let s = Settings::load_with_env(&f.path, env.clone()).unwrap();
    assert_eq!(s.workers.concurrency, 3);
    assert_eq!(s.targets["chicago"].cron, "15 7 * * 4");
    assert_eq!(s.platform.client_id, "007");

    env.insert(
        "WFM_PUBLISHER__TARGETS__CHICAGO__TIME_ZONE".into(),
        "Mars/Olympus".into(),
    );
    env.insert("WFM_PUBLISHER__WORKERS__CONCURRENCY".into(), "many".into());
    env.insert("WFM_PUBLISHER__PLATFORM__CLIENT_IDD".into(), "x".into());
    env.insert("WFM_PUBLISHER__NOPE__X".into(), "1".into());
    let err = Settings::load_with_env(&f.path, env).unwrap_err();
    assert_line(
        &err,
        "WFM_PUBLISHER__TARGETS__CHICAGO__TIME_ZONE",
        "targets.chicago.time_zone",
        "unknown time zone \"Mars/Olympus\"",
    );
    assert_line(
        &err,
        "WFM_PUBLISHER__WORKERS__CONCURRENCY",
        "workers.concurrency",
        "expected an integer",
    );
    assert_line(
        &err,
        "WFM_PUBLISHER__PLATFORM__CLIENT_IDD",
        "platform.client_idd",
        "unknown key",
    );
    assert_line(&err, "WFM_PUBLISHER__NOPE__X", "nope.x", "unknown key");
    assert_eq!(err.problems.len(), 4, "{err}");
}

#[test]
fn env_override_list_is_comma_separated() {
    let f = write(VALID);
    let mut env = secret_env();
    env.insert(
        "WFM_PUBLISHER__PLATFORM__SCOPES".into(),
        "wfm:schedule:read, org:read".into(),
    );
    let s = Settings::load_with_env(&f.path, env).unwrap();
    assert_eq!(s.platform.scopes, ["wfm:schedule:read", "org:read"]);
}

#[test]
fn secret_never_appears_in_errors_or_debug() {
    // Inline secret plus mistakes elsewhere: the error must not echo it.
    let toml = with("platform", &format!("client_secret = \"{SECRET}\""))
        .replace("America/Chicago", "America/Chicgo");
    let f = write(&toml);
    let err = Settings::load_with_env(&f.path, HashMap::new()).unwrap_err();
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(!format!("{err:?}").contains(SECRET));

    // A secret of the wrong type is reported without its value.
    let f = write(&with("platform", "client_secret = 918273645"));
    let err = Settings::load_with_env(&f.path, HashMap::new()).unwrap_err();
    assert_line(
        &err,
        &file(&f),
        "platform.client_secret",
        "expected a string",
    );
    assert!(!err.to_string().contains("918273645"), "{err}");

    // Loaded settings print redacted.
    let token = f.dir().join("admin_token");
    fs::write(&token, "admin-token-value-xyz\n").unwrap();
    let f = write(&format!(
        "{VALID}\n[admin]\ntoken_file = \"{}\"\n",
        token.display()
    ));
    let s = load(&f).unwrap();
    assert_eq!(
        s.admin.admin_token.as_ref().unwrap().expose(),
        "admin-token-value-xyz"
    );
    let debug = format!("{s:?} {s:#?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains("admin-token-value-xyz"));
    assert!(debug.contains("[redacted]"));
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

#[test]
fn example_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client_secret");
    let token = dir.path().join("admin_token");
    fs::write(&secret, format!("{SECRET}\n")).unwrap();
    fs::write(&token, "token\n").unwrap();
    // The example points at /etc paths that do not exist here; redirect the
    // two secret files, exactly as an operator could.
    let env = HashMap::from([
        (
            "WFM_PUBLISHER__PLATFORM__CLIENT_SECRET_FILE".to_string(),
            secret.display().to_string(),
        ),
        (
            "WFM_PUBLISHER__ADMIN__TOKEN_FILE".to_string(),
            token.display().to_string(),
        ),
    ]);
    let s = Settings::load_with_env(&example("wfm-publisher.toml"), env).unwrap();
    assert_eq!(s.platform.client_secret.expose(), SECRET);
    assert_eq!(
        s.targets.keys().collect::<Vec<_>>(),
        ["chicago", "new_york"]
    );
    assert_eq!(
        s.targets["new_york"].time_zone,
        chrono_tz::America::New_York
    );
    assert_eq!(s.targets["new_york"].source.format, SourceFormat::Json);
    assert_eq!(
        s.targets["new_york"].dst.nonexistent,
        NonexistentTimePolicy::ShiftForward
    );
    assert!(s.notify.webhook_url.is_some());
}

/// docs/DEPLOYMENT.md's systemd install: the example configuration as it is,
/// both secrets as credentials (`LoadCredential=`), nothing else.
#[test]
fn example_config_loads_with_systemd_credentials_only() {
    let (_creds, env) = credentials(&[
        ("client_secret", &format!("{SECRET}\n")),
        ("admin_token", "token\n"),
    ]);
    let s = Settings::load_with_env(&example("wfm-publisher.toml"), env).unwrap();
    assert_eq!(s.platform.client_secret.expose(), SECRET);
    assert_eq!(
        s.admin.admin_token.as_ref().map(|t| t.expose()),
        Some("token")
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn dev_config_loads() {
    let s = Settings::load_with_env(&example("dev.toml"), HashMap::new()).unwrap();
    assert!(s.platform.allow_insecure_http);
    assert_eq!(s.platform.client_id, "dev-publisher");
    assert_eq!(s.store.path, example("dev-state.db"));
    assert_eq!(
        s.targets["chicago"].deferral.poll_interval,
        Duration::from_secs(2)
    );
    assert_eq!(s.targets.len(), 2);
}

#[test]
fn the_genesys_cloud_example_loads() {
    let s = Settings::load_with_env(&example("genesys-cloud.toml"), secret_env()).unwrap();
    assert_eq!(
        s.platform.api_base_url.as_str(),
        "https://api.mypurecloud.com/"
    );
    let g = s.targets["chicago"].genesys.clone().unwrap();
    assert_eq!(g.business_unit, "Chicago Support");
    assert_eq!(g.activity_codes["lunch"], "Meal");
}

/// A Genesys Cloud target: the region gives both hosts, the business unit
/// and how agents are named are the target's.
const GENESYS: &str = r#"
[platform]
kind = "genesys-cloud"
region = "api.mypurecloud.ie"
client_id = "publisher"

[targets.dublin]
time_zone = "Europe/Dublin"
cron = "0 6 * * 4"
source = "inbox/dublin/{week_start}.csv"
business_unit = "Dublin Support"
agent_ids = "email"

[targets.dublin.activity_codes]
phone = "On Queue"
"#;

#[test]
fn a_genesys_cloud_target_derives_its_hosts_from_the_region() {
    let f = write(GENESYS);
    let s = load(&f).unwrap();
    assert_eq!(
        s.platform.kind,
        wfm_publisher::config::PlatformKind::GenesysCloud {
            region: "mypurecloud.ie".into()
        }
    );
    assert_eq!(
        s.platform.auth_base_url.as_str(),
        "https://login.mypurecloud.ie/"
    );
    assert_eq!(
        s.platform.api_base_url.as_str(),
        "https://api.mypurecloud.ie/"
    );
    assert!(s.platform.scopes.is_empty(), "roles, not scopes");
    let g = s.targets["dublin"].genesys.clone().unwrap();
    assert_eq!(g.business_unit, "Dublin Support");
    assert_eq!(g.agent_ids, wfm_publisher::config::AgentIds::Email);
    assert_eq!(g.activity_codes["phone"], "On Queue");
    let week = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    assert_eq!(g.description_for(week), "wfm-publisher dublin 2026-11-30");
}

#[test]
fn a_genesys_cloud_target_needs_its_business_unit_and_a_known_kind() {
    let (f, err) = errors(&GENESYS.replace("business_unit = \"Dublin Support\"\n", ""));
    assert_line(&err, &file(&f), "targets.dublin.business_unit", "required");
    let (f, err) = errors(&GENESYS.replace("agent_ids = \"email\"", "agent_ids = \"login\""));
    assert_line(&err, &file(&f), "targets.dublin.agent_ids", "\"email\"");
    let (f, err) = errors(&GENESYS.replace("genesys-cloud", "genesis"));
    assert_line(&err, &file(&f), "platform.kind", "genesys-cloud");
    let (f, err) = errors(&GENESYS.replace("api.mypurecloud.ie", "not a domain"));
    assert_line(&err, &file(&f), "platform.region", "mypurecloud.com");
    let (f, err) = errors(&GENESYS.replace("phone = \"On Queue\"", "phone = 3"));
    assert_line(
        &err,
        &file(&f),
        "targets.dublin.activity_codes.phone",
        "string",
    );
}

/// Chat webhooks carry their key in the query string.
#[test]
fn webhook_url_with_a_query_is_accepted_and_its_values_never_printed() {
    let url = "https://chat.example.com/v1/spaces/AAA/messages?key=KEY-s3cr3t&token=TOK-s3cr3t";
    let s = load(&write(&format!(
        "{VALID}\n[notify]\nwebhook_url = \"{url}\"\n"
    )))
    .unwrap();
    assert_eq!(s.notify.webhook_url.unwrap().as_str(), url);

    for bad in [
        "http://chat.example.com/x?key=KEY-s3cr3t",
        "https://chat example.com/x?key=KEY-s3cr3t",
        "https://chat.example.com/x?key=KEY-s3cr3t#TOK-s3cr3t",
    ] {
        let (f, err) = errors(&format!("{VALID}\n[notify]\nwebhook_url = \"{bad}\"\n"));
        assert_line(&err, &file(&f), "notify.webhook_url", "key=…");
        let text = err.to_string();
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}

#[test]
fn a_cron_firing_more_than_once_an_hour_is_refused_unless_allowed() {
    for every in ["* * * * * *", "*/10 * * * *", "0,30 6 * * 4"] {
        let (f, err) = errors(&VALID.replace("0 6 * * 4", every));
        assert_line(
            &err,
            &file(&f),
            "targets.chicago.cron",
            "more than once an hour",
        );
        assert_line(&err, &file(&f), "targets.chicago.cron", "allow_frequent");
    }
    let allowed =
        with("targets.chicago", "allow_frequent = true").replace("0 6 * * 4", "* * * * * *");
    load(&write(&allowed)).unwrap();
    // Hourly is the most frequent accepted by default.
    load(&write(&VALID.replace("0 6 * * 4", "0 * * * *"))).unwrap();
}

#[test]
fn a_cron_that_never_fires_is_refused() {
    let (f, err) = errors(&VALID.replace("0 6 * * 4", "0 6 30 2 *"));
    assert_line(&err, &file(&f), "targets.chicago.cron", "never fires");
}

#[test]
fn a_schedule_id_that_would_address_another_path_is_refused() {
    for id in [".", "..", "chi/{week_start}"] {
        let (f, err) = errors(&VALID.replace("chi-{week_start}", id));
        assert_line(
            &err,
            &file(&f),
            "targets.chicago.schedule_id",
            "would address another path",
        );
    }
}

#[test]
fn a_non_loopback_admin_listen_needs_a_token() {
    let open = format!("{VALID}\n[admin]\nlisten = \"0.0.0.0:9464\"\n");
    let (f, err) = errors(&open);
    assert_line(&err, &file(&f), "admin.listen", "admin.token_file");
    let token = f.dir().join("admin_token");
    fs::write(&token, "t0ken\n").unwrap();
    let guarded = format!("{open}token_file = \"admin_token\"\n");
    let s = load(write_in(&f, &guarded)).unwrap();
    assert!(!s.admin.listen.ip().is_loopback());
    // Loopback needs none.
    load(&write(&format!(
        "{VALID}\n[admin]\nlisten = \"127.0.0.1:9464\"\n"
    )))
    .unwrap();
}

/// Rewrites the fixture's file, keeping its directory (and files beside it).
fn write_in<'a>(f: &'a Fixture, toml: &str) -> &'a Fixture {
    fs::write(&f.path, toml).unwrap();
    f
}

/// Issue 27 items 1 and 3: a password in the store URL's query is refused
/// without being repeated; off loopback an unverified sslmode is said, and
/// no sslmode at all means verify-full.
#[test]
fn a_store_url_keeps_its_password_out_and_says_when_it_is_not_verified() {
    let store = |url: &str| format!("{VALID}\n[store]\nurl = \"{url}\"\n");
    let (f, err) = errors(&store("postgres://wfm@db.example/wfm?password=s3cr3t-db"));
    assert_line(&err, &file(&f), "store.url", "must not contain a password");
    assert!(!err.to_string().contains("s3cr3t-db"), "{err}");
    for (mode, said) in [("prefer", true), ("require", true), ("verify-full", false)] {
        let f = write(&store(&format!(
            "postgres://wfm@db.example/wfm?sslmode={mode}"
        )));
        let s = load(&f).unwrap();
        let warned = s
            .warnings
            .iter()
            .any(|w| w.to_string().contains("store.url: sslmode="));
        assert_eq!(warned, said, "sslmode={mode}: {:?}", s.warnings);
    }
    let f = write(&store("postgres://wfm@127.0.0.1/wfm?sslmode=disable"));
    assert!(
        load(&f).unwrap().warnings.is_empty(),
        "loopback is this machine"
    );
    let (_, tls) =
        wfm_publisher::config::split_postgres_url("postgres://wfm@db.example/wfm").unwrap();
    assert_eq!(tls.mode, wfm_publisher::config::SslMode::VerifyFull);
}

/// Issue 27 item 14: plain http to another machine is said at start.
#[test]
fn plain_http_to_another_machine_is_warned_about() {
    let remote = VALID
        .replace("https://login.example.com", "http://login.example.com")
        .replace("https://api.example.com", "http://api.example.com")
        .replace("[platform]\n", "[platform]\nallow_insecure_http = true\n");
    let s = load(&write(&remote)).unwrap();
    assert!(
        s.warnings.iter().any(|w| w
            .to_string()
            .contains("platform.allow_insecure_http: plain http to another machine")),
        "{:?}",
        s.warnings
    );
    let local = remote
        .replace("http://login.example.com", "http://127.0.0.1:1")
        .replace("http://api.example.com", "http://localhost:2");
    assert!(load(&write(&local)).unwrap().warnings.is_empty());
}

/// Issue 27 item 10: a secret file other users can read is said at start,
/// with the fix.
#[test]
fn a_secret_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let f = write(&with("platform", r#"client_secret_file = "secret""#));
    let path = f.dir().join("secret");
    fs::write(&path, format!("{SECRET}\n")).unwrap();
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let s = Settings::load_with_env(&f.path, HashMap::new()).unwrap();
        let said = s
            .warnings
            .iter()
            .any(|w| w.to_string().contains("chmod 600"));
        assert_eq!(said, warned, "mode {mode:o}: {:?}", s.warnings);
    }
}

#[test]
fn an_admin_client_address_holds_a_quarter_of_the_connections_unless_set() {
    let s = load(&write(&admin("max_connections = 10"))).unwrap();
    assert_eq!(s.admin.max_connections_per_address, 2);
    let s = load(&write(&admin("max_connections = 2"))).unwrap();
    assert_eq!(s.admin.max_connections_per_address, 1, "at least one");
    let set = "max_connections = 8\nmax_connections_per_address = 8";
    let s = load(&write(&admin(set))).unwrap();
    assert_eq!(s.admin.max_connections_per_address, 8);

    let over = "max_connections = 8\nmax_connections_per_address = 9";
    let (f, err) = errors(&admin(over));
    let key = "admin.max_connections_per_address";
    assert_line(&err, &file(&f), key, "more than admin.max_connections (8)");
}

/// `VALID` with an `[admin]` section of `lines`.
fn admin(lines: &str) -> String {
    format!("{VALID}\n[admin]\n{lines}\n")
}
