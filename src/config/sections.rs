//! One reader per section: keys, defaults and the checks that span keys.
//!
//! Each function reads every key of its section before combining them, so
//! one bad key never hides the next; it returns `None` only after a problem
//! has been recorded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::parse;
use super::reader::{Field, Reader, Table};
use super::secrets;
use super::settings::*;
use super::target_sections::targets;

/// The size over which a week's file is not read, unless the target says
/// otherwise (`targets.NAME.max_source_bytes`).
pub const DEFAULT_MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

const DEFAULT_STORE_PATH: &str = "/var/lib/wfm-publisher/state.db";
/// Loopback: the admin endpoint is not meant to face the network.
const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn settings(root: &mut Table, r: &mut Reader, base: &Path) -> Option<Settings> {
    let log = section(root, r, "log", log);
    let platform = section(root, r, "platform", |t, r| platform(t, r, base));
    let allow_insecure_http = platform.as_ref().map(|p| p.allow_insecure_http);
    let rate_limits = section(root, r, "rate_limits", rate_limits);
    let retry = section(root, r, "retry", retry);
    let workers = section(root, r, "workers", workers);
    let store = section(root, r, "store", |t, r| store(t, r, base));
    let admin = section(root, r, "admin", |t, r| admin(t, r, base));
    let notify = section(root, r, "notify", |t, r| notify(t, r, allow_insecure_http));
    let kind = platform.as_ref().map(|p| p.kind.clone());
    let targets = targets(root, r, base, kind.as_ref());
    Some(Settings {
        source: r.file().to_path_buf(),
        log: log?,
        platform: platform?,
        rate_limits: rate_limits?,
        retry: retry?,
        workers: workers?,
        store: store?,
        admin: admin?,
        notify: notify?,
        targets: targets?,
        warnings: r.warnings().to_vec(),
    })
}

/// Reads sub-table `name` with `read`, then reports its leftovers.
pub(super) fn section<T>(
    parent: &mut Table,
    r: &mut Reader,
    name: &'static str,
    read: impl FnOnce(&mut Table, &mut Reader) -> Option<T>,
) -> Option<T> {
    let mut table = parent.table(r, name);
    let value = read(&mut table, r);
    table.finish(r);
    value
}

fn log(t: &mut Table, r: &mut Reader) -> Option<LogSettings> {
    let level = t.parsed(r, "level", parse::log_level).or("info".into())?;
    Some(LogSettings { level })
}

fn platform(t: &mut Table, r: &mut Reader, base: &Path) -> Option<PlatformSettings> {
    // Read first: the URL checks depend on it.
    let allow = t.bool(r, "allow_insecure_http").or(false);
    let kind = platform_kind(t, r);
    let (auth, api) = base_urls(t, r, allow, kind.as_ref());
    insecure_http_warning(t, r, [&auth, &api]);
    let client_id = t.parsed(r, "client_id", parse::non_empty);
    let client_id = t.require(r, "client_id", client_id);
    let client_secret = secrets::client_secret(t, r, base);
    // Genesys Cloud grants client credentials by role, not by scope.
    let scopes = match kind {
        Some(PlatformKind::GenesysCloud { .. }) => Some(Vec::new()),
        _ => scopes(t, r),
    };
    let request_timeout = t
        .parsed(r, "request_timeout", parse::positive_duration)
        .or(secs(30));
    let connect_timeout = t
        .parsed(r, "connect_timeout", parse::positive_duration)
        .or(secs(10));
    let refresh_before = t
        .parsed(r, "refresh_before", parse::positive_duration)
        .or(secs(300));
    let min_token_margin = t
        .parsed(r, "min_token_margin", parse::positive_duration)
        .or(secs(30));
    let default_token_lifetime = t
        .parsed(r, "default_token_lifetime", parse::positive_duration)
        .or(secs(600));
    let check_timeout = t
        .parsed(r, "check_timeout", parse::positive_duration)
        .or(secs(15));
    let max_answer_bytes = t
        .integer(r, "max_answer_bytes", 1024, i64::MAX)
        .or(crate::api::body::DEFAULT_MAX_ANSWER_BYTES);

    // A refresh scheduled after the margin would let tokens become unusable
    // before a fresh one is fetched.
    if let (Some(refresh), Some(margin)) = (refresh_before, min_token_margin) {
        if refresh <= margin {
            t.problem(
                r,
                "refresh_before",
                format!(
                    "must be longer than platform.min_token_margin ({}), or tokens run out \
                     before they are refreshed",
                    humantime::format_duration(margin)
                ),
            );
            return None;
        }
    }
    Some(PlatformSettings {
        kind: kind?,
        auth_base_url: auth?,
        api_base_url: api?,
        allow_insecure_http: allow?,
        client_id: client_id?,
        client_secret: client_secret?,
        scopes: scopes?,
        request_timeout: request_timeout?,
        connect_timeout: connect_timeout?,
        refresh_before: refresh_before?,
        min_token_margin: min_token_margin?,
        default_token_lifetime: default_token_lifetime?,
        check_timeout: check_timeout?,
        max_answer_bytes: max_answer_bytes?,
    })
}

fn platform_kind(t: &mut Table, r: &mut Reader) -> Option<PlatformKind> {
    let kind = t.string(r, "kind").or("simple".into());
    let region = t
        .parsed(r, "region", parse::region)
        .or("mypurecloud.com".into());
    match kind?.as_str() {
        "simple" => Some(PlatformKind::Simple),
        "genesys-cloud" => Some(PlatformKind::GenesysCloud { region: region? }),
        other => {
            t.problem(
                r,
                "kind",
                format!(
                    "{} is not a platform: use \"simple\" or \"genesys-cloud\"",
                    crate::echo::echo(other)
                ),
            );
            None
        }
    }
}

/// The OAuth and API bases: required for the simple contract; derived from
/// the region for Genesys Cloud unless set (a proxy, or the simulator).
/// Plain http to another machine: the client secret and every token cross
/// the network in clear. `allow_insecure_http` is meant for a local
/// simulator; said at start when a base URL is not on loopback.
fn insecure_http_warning(t: &mut Table, r: &mut Reader, urls: [&Option<url::Url>; 2]) {
    let remote_http = urls.into_iter().flatten().any(|u| {
        u.scheme() == "http" && !u.host_str().is_some_and(crate::api::url::is_loopback_name)
    });
    if remote_http {
        t.warning(
            r,
            "allow_insecure_http",
            "plain http to another machine: the client secret and the tokens cross the network in clear; use https (this switch is for a local simulator)",
        );
    }
}

fn base_urls(
    t: &mut Table,
    r: &mut Reader,
    allow: Option<bool>,
    kind: Option<&PlatformKind>,
) -> (Option<url::Url>, Option<url::Url>) {
    let auth = t.parsed(r, "auth_base_url", |s| parse::base_url(s, allow));
    let api = t.parsed(r, "api_base_url", |s| parse::base_url(s, allow));
    match kind {
        Some(PlatformKind::GenesysCloud { region }) => {
            let derived = |host: &str| url::Url::parse(&format!("https://{host}.{region}/")).ok();
            (
                auth.optional().and_then(|a| a.or_else(|| derived("login"))),
                api.optional().and_then(|a| a.or_else(|| derived("api"))),
            )
        }
        _ => (
            t.require(r, "auth_base_url", auth),
            t.require(r, "api_base_url", api),
        ),
    }
}

fn scopes(t: &mut Table, r: &mut Reader) -> Option<Vec<String>> {
    let default = parse::KNOWN_SCOPES.iter().map(|s| s.to_string()).collect();
    let scopes = t.strings(r, "scopes").or(default)?;
    let bad: Vec<String> = scopes
        .iter()
        .filter_map(|s| parse::scope(s).err())
        .collect();
    if scopes.is_empty() {
        t.problem(r, "scopes", "must list at least one scope");
        return None;
    }
    if !bad.is_empty() {
        for msg in bad {
            t.problem(r, "scopes", msg);
        }
        return None;
    }
    Some(scopes)
}

fn rate_limits(t: &mut Table, r: &mut Reader) -> Option<RateLimits> {
    let default = section(t, r, "default", |t, r| rate_limit(t, r, 10, secs(1)));
    let publish = section(t, r, "publish", |t, r| rate_limit(t, r, 1, secs(2)));
    let trade_jobs = section(t, r, "trade_jobs", |t, r| rate_limit(t, r, 5, secs(60)));
    Some(RateLimits {
        default: default?,
        publish: publish?,
        trade_jobs: trade_jobs?,
    })
}

fn rate_limit(t: &mut Table, r: &mut Reader, requests: u32, per: Duration) -> Option<RateLimit> {
    let max = i64::from(u32::MAX);
    let requests = t.integer(r, "requests", 1, max).or(requests);
    let per = t.parsed(r, "per", parse::positive_duration).or(per);
    // A burst defaults to one call: the governor then admits at most
    // `requests` calls in any `per`, so even a platform counting in fixed
    // windows is never sent more than its limit in one window. A burst of
    // `requests` admitted up to twice the limit into one fixed window
    // (measured: 148 429s in 1,356 calls at 60/s).
    let burst = t.integer(r, "burst", 1, max).optional();
    let requests = requests?;
    Some(RateLimit {
        requests,
        per: per?,
        burst: burst?.unwrap_or(1),
    })
}

fn retry(t: &mut Table, r: &mut Reader) -> Option<RetrySettings> {
    let initial_delay = t
        .parsed(r, "initial_delay", parse::positive_duration)
        .or(Duration::from_millis(500));
    let max_delay = t
        .parsed(r, "max_delay", parse::positive_duration)
        .or(secs(30));
    let max_attempts = t.integer(r, "max_attempts", 1, i64::from(u32::MAX)).or(8);
    let max_elapsed = t
        .parsed(r, "max_elapsed", parse::positive_duration)
        .or(secs(300));
    let run_initial_delay = t
        .parsed(r, "run_initial_delay", parse::positive_duration)
        .or(secs(60));
    let run_max_delay = t
        .parsed(r, "run_max_delay", parse::positive_duration)
        .or(secs(30 * 60));
    let ordered = at_most(
        t,
        r,
        ("initial_delay", initial_delay),
        ("max_delay", max_delay),
    ) & at_most(
        t,
        r,
        ("run_initial_delay", run_initial_delay),
        ("run_max_delay", run_max_delay),
    );
    if !ordered {
        return None;
    }
    Some(RetrySettings {
        initial_delay: initial_delay?,
        max_delay: max_delay?,
        max_attempts: max_attempts?,
        max_elapsed: max_elapsed?,
        run_initial_delay: run_initial_delay?,
        run_max_delay: run_max_delay?,
    })
}

/// Whether the `[retry]` delay `low` is at most `high`; says so when not.
fn at_most(
    t: &mut Table,
    r: &mut Reader,
    (low_key, low): (&str, Option<Duration>),
    (high_key, high): (&str, Option<Duration>),
) -> bool {
    let (Some(low), Some(high)) = (low, high) else {
        return true;
    };
    if low <= high {
        return true;
    }
    t.problem(
        r,
        low_key,
        format!(
            "must not exceed retry.{high_key} ({})",
            humantime::format_duration(high)
        ),
    );
    false
}

fn workers(t: &mut Table, r: &mut Reader) -> Option<WorkerSettings> {
    let concurrency = t.integer(r, "concurrency", 1, 256).or(256);
    let shutdown_grace = t
        .parsed(r, "shutdown_grace", parse::positive_duration)
        .or(secs(30));
    Some(WorkerSettings {
        concurrency: concurrency?,
        shutdown_grace: shutdown_grace?,
    })
}

fn store(t: &mut Table, r: &mut Reader, base: &Path) -> Option<StoreSettings> {
    let path = t
        .parsed(r, "path", |s| parse::path(s, base))
        .or(DEFAULT_STORE_PATH.into());
    // Never quoted in a message: a URL may carry a password by mistake.
    let url = match t.secret_string(r, "url") {
        Field::Present(s) => match parse::postgres_url(&s) {
            Ok(url) => Field::Present(url),
            Err(msg) => {
                t.problem(r, "url", msg);
                Field::Invalid
            }
        },
        other => other,
    };
    let password = secrets::store_password(t, r, base);
    let lease_ttl = t
        .parsed(r, "lease_ttl", parse::positive_duration)
        .or(secs(15));
    let lease_renew = t
        .parsed(r, "lease_renew", parse::positive_duration)
        .or(secs(5));
    let (url, password) = (url.optional()?, password?);
    let (lease_ttl, lease_renew) = (lease_ttl?, lease_renew?);
    // Two renewals must fit in a lease, or one slow renewal loses it.
    if url.is_some() && lease_renew * 2 > lease_ttl {
        let msg = "must be at most half of store.lease_ttl, so that one late renewal does not lose the lease";
        t.problem(r, "lease_renew", msg);
        return None;
    }
    if let Some(url) = &url {
        clear_text_warning(t, r, url);
    }
    let postgres = url.map(|url| PostgresSettings {
        url,
        password,
        lease_ttl,
        lease_renew,
    });
    Some(StoreSettings {
        path: path?,
        postgres,
    })
}

/// An unverified `sslmode` to another machine: with `disable`, `allow` or
/// `prefer` the password and the state can cross the network in clear (a
/// man in the middle only has to refuse TLS); with a plain `require` they
/// go to whoever answers. Said, not refused: a private network may be meant.
fn clear_text_warning(t: &mut Table, r: &mut Reader, url: &str) {
    let (Ok(parsed), Ok((_, tls))) = (url::Url::parse(url), super::postgres_url::split(url)) else {
        return;
    };
    if !tls.verifies_chain() && !super::postgres_url::on_loopback(&parsed) {
        let risk = match tls.mode {
            super::SslMode::Disable | super::SslMode::Prefer => "can cross the network in clear",
            _ => "goes to whoever answers (the server is not verified)",
        };
        t.warning(
            r,
            "url",
            format!("sslmode={} to another machine: the database password {risk}; use sslmode=verify-full (with sslrootcert for a private CA)", tls.mode),
        );
    }
}

fn admin(t: &mut Table, r: &mut Reader, base: &Path) -> Option<AdminSettings> {
    let listen = t
        .parsed(r, "listen", parse::socket_addr)
        .or(DEFAULT_ADMIN_LISTEN);
    let header_read_timeout = t
        .parsed(r, "header_read_timeout", parse::positive_duration)
        .or(secs(10));
    let request_timeout = t
        .parsed(r, "request_timeout", parse::positive_duration)
        .or(secs(30));
    let max_connections = t.integer(r, "max_connections", 1, 1024).or(64);
    let per_address = t
        .integer(r, "max_connections_per_address", 1, 1024)
        .optional();
    let token = secrets::admin_token(t, r, base);
    let (token_file, admin_token) = token?;
    let listen = listen?;
    // Beyond loopback anyone who can reach the port would read run
    // summaries: only with a token that guards them.
    if !listen.ip().is_loopback() && admin_token.is_none() {
        t.problem(
            r,
            "listen",
            format!(
                "{listen} is not a loopback address and no admin token is configured: set \
                 admin.token_file (or the systemd credential admin_token), or listen on \
                 127.0.0.1:{}",
                listen.port()
            ),
        );
        return None;
    }
    let max_connections = max_connections?;
    let max_connections_per_address = per_address?.unwrap_or((max_connections / 4).max(1));
    if max_connections_per_address > max_connections {
        t.problem(
            r,
            "max_connections_per_address",
            format!("{max_connections_per_address} is more than admin.max_connections ({max_connections}): no client can hold more than all of them"),
        );
        return None;
    }
    Some(AdminSettings {
        listen,
        token_file,
        admin_token,
        header_read_timeout: header_read_timeout?,
        request_timeout: request_timeout?,
        max_connections,
        max_connections_per_address,
    })
}

fn notify(
    t: &mut Table,
    r: &mut Reader,
    allow_insecure_http: Option<bool>,
) -> Option<NotifySettings> {
    let webhook_url = t
        .parsed(r, "webhook_url", |s| {
            parse::webhook_url(s, allow_insecure_http)
        })
        .optional();
    let timeout = t
        .parsed(r, "timeout", parse::positive_duration)
        .or(secs(10));
    Some(NotifySettings {
        webhook_url: webhook_url?,
        timeout: timeout?,
    })
}
