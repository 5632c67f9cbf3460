//! The token manager against scripted OAuth servers on 127.0.0.1: backoff
//! after failures, one shared flight, RFC 6749 edge cases, hints, stops.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::oauth::{FakeOAuth, Reply};
use common::*;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use wfm_publisher::api::{PlatformClient, PlatformError};
use wfm_publisher::clock::{self, ManualClock, SharedClock};

const TOKEN_PATH: &str = "/oauth/token";

/// A client of the standard configuration against `server`, changed by
/// `change`.
fn client_for(
    server: &str,
    clock: SharedClock,
    cancel: CancellationToken,
    change: impl FnOnce(&mut ConfigFile),
) -> PlatformClient {
    let cfg = TestConfig::new(server, "publisher");
    PlatformClient::with_cancel(&cfg.settings_with(change), clock, cancel).unwrap()
}

fn client(server: &FakeOAuth, clock: SharedClock) -> PlatformClient {
    client_with(server, clock, |_| {})
}

fn client_with(
    server: &FakeOAuth,
    clock: SharedClock,
    change: impl FnOnce(&mut ConfigFile),
) -> PlatformClient {
    client_for(&server.base_url(), clock, CancellationToken::new(), change)
}

/// Moves `clock` through `window` in steps, giving the refresher real time
/// to act after each one; the count of requests, not the time, is checked.
async fn walk(clock: &ManualClock, window: Duration) {
    let step = Duration::from_millis(100);
    let mut walked = Duration::ZERO;
    while walked < window {
        clock.advance(step);
        walked += step;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

struct Refreshing {
    server: FakeOAuth,
    manual: ManualClock,
    client: PlatformClient,
    _refresher: tokio::task::JoinHandle<()>,
}

/// A client of `client_id` holding a 10 s token, whose background refreshes
/// get `failure` from now on.
async fn refreshing_into(failure: Reply, client_id: &str) -> Refreshing {
    let server = FakeOAuth::spawn(TOKEN_PATH, Reply::Token(json!({"expires_in": 10}))).await;
    let manual = ManualClock::new(Utc::now());
    let cfg = TestConfig::new(&server.base_url(), client_id);
    let settings = cfg.settings_with(|c| {
        c.retry.max_delay(secs(2));
    });
    let client = PlatformClient::new(&settings, Arc::new(manual.clone())).unwrap();
    client.tokens().token().await.expect("the first token");
    server.answer(failure);
    let _refresher = client.tokens().spawn_refresher();
    Refreshing {
        server,
        manual,
        client,
        _refresher,
    }
}

/// Item 1: a refresh that fails for good is retried after a backoff, not in
/// a loop, and not at all once the token has expired.
async fn a_failing_refresh_does_not_flood(failure: Reply) {
    let Refreshing {
        server,
        manual,
        client: c,
        ..
    } = refreshing_into(failure, "publisher").await;

    // 20 s of the manual clock: a refresh due at ~5 s, the token expired at 10 s.
    walk(&manual, Duration::from_secs(20)).await;
    let during = server.requests() - 1;
    eprintln!("token requests in the 20 s window: {during}");
    // At most one attempt per 1.8 s (90% of max_delay) before expiry, none after.
    assert!(
        (1..=4).contains(&during),
        "{during} token requests in the 20 s window"
    );

    // Callers get the last error at once: two asks cost at most one request.
    let before = server.requests();
    let first = c.tokens().token().await.unwrap_err();
    let second = c.tokens().token().await.unwrap_err();
    assert!(server.requests() - before <= 1);
    assert_eq!(first.to_string(), second.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_does_not_flood_the_oauth_server() {
    a_failing_refresh_does_not_flood(Reply::Json(401, json!({"error": "invalid_client"}))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_scope_does_not_flood_the_oauth_server() {
    a_failing_refresh_does_not_flood(Reply::Json(
        400,
        json!({"error": "invalid_scope", "error_description": "wfm:admin is not allowed"}),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captive_portal_does_not_flood_the_oauth_server() {
    a_failing_refresh_does_not_flood(Reply::Html(200)).await;
}

/// Lines of the shared log that contain every one of `needles`.
fn log_lines(needles: &[&str]) -> usize {
    static LOG: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    let log = LOG.get_or_init(|| {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        let writer = move || Sink(sink.clone());
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .init();
        log
    });
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Item 1: a failing refresh is logged once per change of state, with the
/// count of failures, not once per attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_refresh_is_logged_once_per_change_of_state() {
    log_lines(&[]);
    let r = refreshing_into(
        Reply::Json(401, json!({"error": "invalid_client"})),
        "logged-client",
    )
    .await;
    walk(&r.manual, Duration::from_secs(9)).await;
    assert!(r.server.requests() > 2, "the refresh was retried");
    let failing = ["token requests failing", "logged-client"];
    assert_eq!(log_lines(&failing), 1);
    assert!(log_lines(&["failures=1", "logged-client"]) == 1);

    // Back to normal: one line says so, with how many failures it took.
    r.server.answer(Reply::Token(json!({"expires_in": 10})));
    walk(&r.manual, Duration::from_secs(3)).await;
    r.client.tokens().token().await.expect("a token again");
    let again = ["token obtained again", "logged-client"];
    assert_eq!(log_lines(&again), 1);
    assert_eq!(log_lines(&failing), 1);
}

/// Item 2: the workers waiting on a failing fetch share its error instead of
/// each starting a retry budget of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_workers_share_one_failed_flight() {
    let server = FakeOAuth::spawn(TOKEN_PATH, Reply::Json(503, json!({}))).await;
    let c = client_with(&server, clock::system(), |c| {
        c.retry.max_delay(ms(100)).max_elapsed(secs(1));
    });
    let workers: Vec<_> = (0..10)
        .map(|_| {
            let tokens = c.tokens().clone();
            tokio::spawn(async move { tokens.token().await })
        })
        .collect();
    let mut attempts = Vec::new();
    for w in workers {
        match w.await.unwrap() {
            Err(PlatformError::TokenUnavailable { attempts: n, .. }) => attempts.push(n as usize),
            other => panic!("expected the flight's error, got {other:?}"),
        }
    }
    assert!(attempts.iter().all(|&n| n == attempts[0]), "{attempts:?}");
    assert_eq!(server.requests(), attempts[0], "one flight, shared by all");

    // And the next caller gets that error at once, within its backoff.
    let err = c.tokens().token().await.unwrap_err();
    assert!(
        matches!(err, PlatformError::TokenUnavailable { .. }),
        "{err}"
    );
    assert_eq!(server.requests(), attempts[0]);
}

/// Item 3: `expires_in` is optional, and may be a numeric string.
#[tokio::test]
async fn expires_in_may_be_missing_or_a_string() {
    let server = FakeOAuth::spawn(TOKEN_PATH, Reply::Token(json!({}))).await;
    let c = client_with(&server, clock::system(), |c| {
        c.platform.default_token_lifetime(secs(90));
    });
    let t = c
        .tokens()
        .token()
        .await
        .expect("a token without expires_in");
    assert_eq!((t.expires - t.received).num_seconds(), 90);

    // A token the API refuses is dropped, whatever lifetime was assumed.
    c.tokens().invalidate(&t);
    server.answer(Reply::Token(json!({"expires_in": "3599"})));
    let t = c
        .tokens()
        .token()
        .await
        .expect("a token with a string expires_in");
    assert_eq!((t.expires - t.received).num_seconds(), 3599);
    assert_eq!(server.requests(), 2);
}

/// Item 4: a path prefix of the auth base is kept, with or without a slash.
#[tokio::test]
async fn the_auth_base_keeps_its_path_prefix() {
    let server = FakeOAuth::spawn(
        "/tenant/oauth/token",
        Reply::Token(json!({"expires_in": 60})),
    )
    .await;
    for base in ["/tenant", "/tenant/"] {
        let url = format!("{}{base}", server.base_url());
        let c = client_with(&server, clock::system(), |c| {
            c.platform.auth_base_url(&url);
        });
        assert_eq!(
            c.tokens().token_url().as_str(),
            format!("{}/tenant/oauth/token", server.base_url())
        );
        c.tokens()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{base}: {e}"));
    }
    assert_eq!(server.requests(), 2);
}

async fn refusal(body: serde_json::Value) -> String {
    let server = FakeOAuth::spawn(TOKEN_PATH, Reply::Json(400, body)).await;
    let c = client(&server, clock::system());
    c.tokens().token().await.unwrap_err().to_string()
}

/// Item 5: each refusal of the token endpoint gets the hint that fits it.
#[tokio::test]
async fn each_token_refusal_gets_its_own_hint() {
    let text = refusal(json!({
        "error": "invalid_scope",
        "error_description": "the client is not allowed to request scope wfm:admin"
    }))
    .await;
    assert!(text.contains("scope wfm:admin"), "{text}");
    assert!(text.contains("not entitled"), "{text}");
    assert!(text.contains("\"publisher\""), "{text}");
    assert!(!text.contains("does not know"), "{text}");

    let text = refusal(json!({"error": "unauthorized_client"})).await;
    assert!(text.contains("client credentials grant"), "{text}");
    assert!(text.contains("\"publisher\""), "{text}");
    assert!(!text.contains("auth_base_url"), "{text}");

    let text = refusal(json!({"error": "unsupported_grant_type"})).await;
    assert!(
        text.contains("does not support the client credentials grant"),
        "{text}"
    );
    assert!(text.contains("/oauth/token"), "{text}");
}

/// Item 6: readiness probes reuse a recent failure instead of asking the
/// OAuth server each time (where a wrong secret could lock the account).
#[tokio::test]
async fn probes_reuse_a_recent_token_or_failure() {
    let server = FakeOAuth::spawn(
        TOKEN_PATH,
        Reply::Json(401, json!({"error": "invalid_client"})),
    )
    .await;
    let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
    let c = client(&server, clock);
    for _ in 0..100 {
        let err = c.tokens().probe().await.unwrap_err();
        assert!(matches!(err, PlatformError::InvalidClient { .. }), "{err}");
    }
    assert_eq!(server.requests(), 1);

    let good = FakeOAuth::spawn(TOKEN_PATH, Reply::Token(json!({"expires_in": 3600}))).await;
    let c = client(&good, Arc::new(ManualClock::new(Utc::now())));
    for _ in 0..100 {
        c.tokens().probe().await.unwrap();
    }
    assert_eq!(good.requests(), 1);
}

/// Once `tried` holds, the stop: `call`, waiting between retries, ends at
/// once, cancelled.
async fn stopped_after_a_try<T: std::fmt::Debug>(
    call: tokio::task::JoinHandle<Result<T, PlatformError>>,
    tried: impl Fn() -> bool,
    cancel: &CancellationToken,
) {
    while !tried() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    let answer = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the stop ends the wait between retries")
        .unwrap();
    assert!(
        matches!(answer, Err(PlatformError::Cancelled)),
        "{answer:?}"
    );
}

/// Item 8: a stop ends a token fetch that waits between retries at once,
/// and no attempt starts after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_token_retries_at_once() {
    let server = FakeOAuth::spawn(TOKEN_PATH, Reply::Json(503, json!({}))).await;
    // The manual clock never moves: without the stop, the wait never ends.
    let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
    let cancel = CancellationToken::new();
    let c = client_for(&server.base_url(), clock.clone(), cancel.clone(), |_| {});
    let waiting = tokio::spawn({
        let tokens = c.tokens().clone();
        async move { tokens.token().await }
    });
    stopped_after_a_try(waiting, || server.requests() > 0, &cancel).await;
    // Nothing starts after the stop, not even when the clock moves on.
    let err = c.tokens().token().await.unwrap_err();
    assert!(matches!(err, PlatformError::Cancelled), "{err}");
    assert_eq!(server.requests(), 1);
}

/// Item 8: a stop also ends an API call waiting between retries (the reads
/// of a preflight), and no attempt starts after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_api_retries_at_once() {
    let sim = spawn_sim(small_scenario()).await;
    // The manual clock never moves: without the stop, the wait never ends.
    let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
    let cancel = CancellationToken::new();
    let c = client_for(&sim.base_url(), clock, cancel.clone(), |_| {});
    c.tokens().token().await.expect("a token");
    sim.reconfigure(|p| {
        p.faults.error_rate = 1.0;
        p.faults.error_statuses = vec![503];
    });
    let call = tokio::spawn({
        let c = c.clone();
        async move { wfm_publisher::platform::SimpleApi::new(c).templates().await }
    });
    stopped_after_a_try(call, || sim.record().count_status(503) > 0, &cancel).await;
    assert_eq!(sim.record().count_status(503), 1);
}

/// Hardening item 3: a token-endpoint answer the contract does not describe
/// is never echoed (a proxy echoing the request put the Basic header, the
/// client secret, into the message), and a base URL's credentials never
/// reach a message.
#[tokio::test]
async fn no_secret_reaches_a_token_error() {
    let echo = json!({"echo": "Authorization: Basic cHVibGlzaGVyOnB1Ymxpc2hlci1zZWNyZXQ=", "secret": "publisher-secret"});
    let server = FakeOAuth::spawn(TOKEN_PATH, Reply::Json(418, echo)).await;
    let c = client(&server, clock::system());
    let text = c.tokens().token().await.unwrap_err().to_string();
    assert!(text.contains("418"), "{text}");
    assert!(
        !text.contains("cHVibGlzaGVy") && !text.contains("publisher-secret"),
        "{text}"
    );

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    // Credentials in a base URL are refused at load, without repeating them.
    let cfg = TestConfig::new(&format!("http://user:pw-4242@{closed}/"), "publisher");
    let refused = wfm_publisher::testbed::Testbed::settings(&cfg)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("must not carry a user name or password"),
        "{refused}"
    );
    assert!(
        !refused.contains("pw-4242") && !refused.contains("user:"),
        "{refused}"
    );
    let base = format!("http://{closed}/");
    let c = client_for(&base, clock::system(), CancellationToken::new(), |c| {
        c.retry.max_attempts(2).max_elapsed(secs(1));
    });
    let text = c.tokens().token().await.unwrap_err().to_string();
    assert!(text.contains(&closed.to_string()), "{text}");
}

/// Issue 32 item 2: a token request is behind the send gate like every
/// API call: a process that lost the lease (stopped past it, or cut off
/// from its database) asks the OAuth server for nothing, its background
/// refresher included, until the gate opens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_request_leaves_while_the_send_gate_is_closed() {
    let server = FakeOAuth::spawn(TOKEN_PATH, Reply::Token(json!({"expires_in": 10}))).await;
    let manual = ManualClock::new(Utc::now());
    let c = client(&server, Arc::new(manual.clone()));
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate = open.clone();
    c.set_send_gate(Arc::new(move || {
        gate.load(std::sync::atomic::Ordering::SeqCst)
    }));
    let _refresher = c.tokens().spawn_refresher();
    let err = c.tokens().token().await.unwrap_err();
    assert!(matches!(err, PlatformError::Cancelled), "{err}");
    walk(&manual, Duration::from_secs(30)).await;
    assert_eq!(
        server.requests(),
        0,
        "a token request left through a closed gate"
    );
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    c.tokens()
        .token()
        .await
        .expect("a token once the gate opens");
    assert_eq!(server.requests(), 1);
}
