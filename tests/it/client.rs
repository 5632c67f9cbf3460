//! The platform client against the simulator: tokens, limits and the
//! diagnosis of every 403.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use wfm_publisher::api::{
    scopes::PUBLICATION, Operation, PendingAgent, PlatformClient, PlatformError,
};
use wfm_publisher::clock::{self, ScaledClock, SharedClock};
use wfm_publisher::platform::simple::api::{PublishOutcome, WriteOutcome};
use wfm_publisher::platform::simple::model::Shift;
use wfm_publisher::platform::SimpleApi;
use wfm_publisher::sim::{ForbiddenCause, Record};

fn client(cfg: &TestConfig, clock: SharedClock) -> SimpleApi {
    client_with(cfg, clock, |_| {})
}

/// A client of `cfg` changed by `change`.
fn client_with(
    cfg: &TestConfig,
    clock: SharedClock,
    change: impl FnOnce(&mut ConfigFile),
) -> SimpleApi {
    SimpleApi::new(PlatformClient::new(&cfg.settings_with(change), clock).unwrap())
}

fn monday() -> Vec<Shift> {
    serde_json::from_value(monday_shift()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_of_traffic_with_short_tokens_and_a_fast_server_clock_never_use_an_expired_token() {
    let mut scenario = small_scenario();
    scenario.server.token_lifetime = Duration::from_secs(5);
    scenario.server.clock_offset = chrono::TimeDelta::minutes(10);
    scenario.rate_limits.default.limit = 100_000;
    // Ten simulated seconds per real second: three minutes in eighteen.
    let clock: SharedClock = Arc::new(ScaledClock::new(Utc::now(), 10.0));
    let sim = spawn_sim_with_clock(scenario, clock.clone()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let client = client_with(&cfg, clock.clone(), |c| {
        c.platform.refresh_before(secs(2)).min_token_margin(secs(1));
    });
    let _refresher = client.client().tokens().spawn_refresher();
    let until = clock.now() + chrono::TimeDelta::minutes(3);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let clock = clock.clone();
            tokio::spawn(async move {
                let mut calls = 0;
                while clock.now() < until {
                    client.templates().await.expect("templates");
                    calls += 1;
                    clock.sleep(Duration::from_millis(200)).await;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for w in workers {
        calls += w.await.unwrap();
    }
    let record = sim.record();
    assert!(calls > 400, "{calls} calls");
    assert!(
        record.expired_token_uses.is_empty(),
        "expired tokens used: {:?}",
        record.expired_token_uses
    );
    assert_eq!(record.count_status(401), 0);
    // 180 s of 5 s tokens refreshed at most 2.5 s in: well over 36 tokens.
    assert!(
        record.tokens_issued >= 36,
        "{} tokens",
        record.tokens_issued
    );
}

#[tokio::test]
async fn a_hundred_callers_during_a_refresh_cause_one_token_request() {
    let mut scenario = small_scenario();
    scenario.faults.latency = Duration::from_millis(300);
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let client = client(&cfg, clock::system());
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let tokens = client.client().tokens().clone();
            tokio::spawn(async move { tokens.token().await.map(|t| t.serial) })
        })
        .collect();
    for c in callers {
        assert_eq!(c.await.unwrap().unwrap(), 0, "everyone gets the one token");
    }
    assert_eq!(sim.record().token_requests, 1);
}

#[tokio::test]
async fn token_endpoint_failures_are_retried_and_bad_credentials_are_not() {
    let mut scenario = small_scenario();
    scenario.faults.token_outages =
        vec![serde_json::from_value(serde_json::json!({"from": "0s", "until": "1s"})).unwrap()];
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let c = client_with(&cfg, clock::system(), |c| {
        c.retry.max_delay(ms(400)).max_attempts(12);
    });
    c.client()
        .tokens()
        .token()
        .await
        .expect("a token once the outage ends");
    assert!(sim.record().token_requests > 1);

    let wrong = TestConfig::with_secret(&sim.base_url(), "publisher", "not-the-secret");
    let err = client(&wrong, clock::system())
        .client()
        .tokens()
        .token()
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::InvalidClient { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("platform.client_id"), "{text}");
    assert!(!text.contains("not-the-secret"), "{text}");
}

#[tokio::test]
async fn a_token_without_admin_stops_the_run_before_its_first_write() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "no-admin");
    let c = client(&cfg, clock::system());
    let err = c.require_scopes(&PUBLICATION).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            PlatformError::MissingScope {
                scope: "wfm:admin",
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("silently drops"), "{text}");
    assert!(text.contains("no-admin"), "{text}");
    assert!(
        sim.record()
            .requests
            .iter()
            .all(|r| r.path == "/oauth/token"),
        "nothing but the token request"
    );
}

/// Each cause of a 403, and what the client makes of it.
#[tokio::test]
async fn each_403_cause_gets_its_own_diagnosis() {
    let sim = spawn_sim(small_scenario()).await;
    let base = sim.base_url();

    // Missing scope: the platform dropped wfm:admin.
    let no_admin = client(&TestConfig::new(&base, "no-admin"), clock::system());
    let err = no_admin
        .publish(&schedule_id(), &["a-5".into()])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PlatformError::MissingScope {
                scope: "wfm:admin",
                operation: Operation::Publish,
                ..
            }
        ),
        "{err}"
    );

    // Another organization's client.
    let other = client(&TestConfig::new(&base, "other-org"), clock::system());
    let err = other
        .write_agent(&schedule_id(), &"a-5".into(), &monday())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, PlatformError::WrongOrganization { .. }),
        "{text}"
    );
    assert!(
        text.contains("org-globex") && text.contains(&schedule_id()),
        "{text}"
    );

    // A pending swap: deferred, not failed.
    let publisher = client(&TestConfig::new(&base, "publisher"), clock::system());
    assert_eq!(
        publisher
            .write_agent(&schedule_id(), &"a-1".into(), &monday())
            .await
            .unwrap(),
        WriteOutcome::Deferred {
            swap_id: "sw-1".into()
        }
    );
    assert_eq!(
        publisher
            .publish(&schedule_id(), &["a-5".into(), "a-4".into()])
            .await
            .unwrap(),
        PublishOutcome::Deferred {
            pending: vec![PendingAgent {
                agent_id: "a-4".into(),
                swap_id: "sw-2".into()
            }]
        }
    );

    // Everything in order and still refused: permanent, with the correlationId.
    sim.reconfigure(|p| p.faults.forbid_paths = vec!["/agent/a-9".into()]);
    let err = publisher
        .write_agent(&schedule_id(), &"a-9".into(), &monday())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PlatformError::Forbidden { .. }), "{text}");
    assert!(text.contains("correlationId"), "{text}");
    let correlation = match &err {
        PlatformError::Forbidden { correlation_id, .. } => correlation_id.clone(),
        _ => unreachable!(),
    };
    assert!(uuid::Uuid::parse_str(&correlation).is_ok(), "{correlation}");

    let causes = sim.record().forbidden_causes();
    assert!(causes.contains(&ForbiddenCause::MissingScope("wfm:admin".into())));
    assert!(causes.contains(&ForbiddenCause::WrongOrganization));
    assert!(causes.contains(&ForbiddenCause::PendingSwap("sw-1".into())));
    assert!(causes.contains(&ForbiddenCause::Unexplained));
}

#[tokio::test]
async fn a_stale_token_is_refreshed_once_whether_it_gets_401_or_403() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let c = client(&cfg, clock::system());
    c.templates().await.unwrap();

    sim.revoke_tokens();
    c.templates().await.expect("401, then a fresh token");
    assert_eq!(sim.record().count_status(401), 1);

    sim.revoke_tokens();
    sim.reconfigure(|p| p.server.forbidden_for_stale_token = true);
    c.templates()
        .await
        .expect("403 on a stale token, then a fresh token");
    let record = sim.record();
    assert_eq!(record.forbidden_causes(), vec![ForbiddenCause::StaleToken]);
    assert_eq!(record.tokens_issued, 3);
    assert_eq!(c.client().stats().stale_token_retries, 2);
}

/// After the first "wait" of the platform, no call of the client goes out
/// until the wait is over.
fn assert_everyone_waited(record: &Record) {
    let refusals: Vec<_> = record
        .requests
        .iter()
        .filter(|r| r.retry_after.is_some() && matches!(r.status, 429 | 403))
        .collect();
    assert!(!refusals.is_empty(), "the test must hit the limit");
    for refusal in &refusals {
        let wait = chrono::TimeDelta::seconds(refusal.retry_after.unwrap() as i64);
        // Calls already in flight when the refusal came back may land just after it.
        let quiet_from = refusal.at + chrono::TimeDelta::milliseconds(150);
        let quiet_until = refusal.at + wait - chrono::TimeDelta::milliseconds(150);
        let hammering: Vec<_> = record
            .requests
            .iter()
            .filter(|r| r.at > quiet_from && r.at < quiet_until)
            .collect();
        assert!(
            hammering.is_empty(),
            "{} calls during a wait of {wait} after {}",
            hammering.len(),
            refusal.at
        );
    }
}

async fn rate_limited_workers(masked: bool) {
    let mut scenario = small_scenario();
    scenario.rate_limits.default.limit = 6;
    scenario.rate_limits.default.window = Duration::from_secs(2);
    scenario.server.forbidden_for_rate_limit = masked;
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let c = client(&cfg, clock::system());
    // Take the token first so only API calls race.
    c.client().tokens().token().await.unwrap();
    // Another consumer of the same OAuth client has just spent the bucket:
    // the platform counts calls this client never sent, so its budget
    // cannot foresee the refusal and the platform's "wait" must hold it.
    let other = Raw::new(&sim);
    let token = other.publisher_token().await;
    for _ in 0..6 {
        let a = other.get("/api/v2/wfm/schedule/templates", &token).await;
        assert_eq!(a.status, 200);
    }
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                for _ in 0..2 {
                    c.templates().await.expect("every call lands in the end");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let record = sim.record();
    let landed = record
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/") && r.status == 200)
        .count();
    assert_eq!(landed, 16 + 6);
    assert_everyone_waited(&record);
    let stats = c.client().stats();
    if masked {
        assert!(stats.masked_rate_limited > 0 && stats.rate_limited == 0);
    } else {
        assert!(stats.rate_limited > 0 && stats.masked_rate_limited == 0);
    }
}

#[tokio::test]
async fn a_429_holds_every_worker() {
    rate_limited_workers(false).await;
}

#[tokio::test]
async fn a_masked_403_rate_limit_holds_every_worker() {
    rate_limited_workers(true).await;
}

/// A 429 that says nothing (no `Retry-After`, no rate-limit headers) from
/// a platform that advertises nothing, near the end of its window: the
/// client holds only until the window has turned over, a second after the
/// oldest call it counted, not for the second such a 429 is otherwise
/// given (every call of the client stopped a second at each refusal).
#[tokio::test]
async fn a_429_without_a_hint_holds_until_the_window_turns_over() {
    let mut scenario = small_scenario();
    scenario.server.advertise_rate_limits = false;
    scenario.rate_limits.default.limit = 10;
    scenario.rate_limits.default.window = Duration::from_secs(1);
    scenario.rate_limits.default.kind = wfm_publisher::sim::WindowKind::Fixed;
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    // 12 a second, one after another: the 11th call, at about 830 ms, is
    // refused.
    let c = client_with(&cfg, clock::system(), |c| {
        c.rate_limits.default.requests(12);
    });
    c.client().tokens().token().await.unwrap();
    for _ in 0..12 {
        c.templates().await.expect("every call lands in the end");
    }
    let record = sim.record();
    let calls: Vec<_> = record
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .collect();
    let refused = calls
        .iter()
        .position(|r| r.status == 429)
        .expect("the test must hit the limit");
    assert!(calls[refused].retry_after.is_none());
    let (first, refusal, next) = (calls[0].at, calls[refused].at, calls[refused + 1].at);
    // The window ends a second after its first call.
    assert!(
        next >= first + chrono::TimeDelta::seconds(1),
        "{first} {next}"
    );
    assert!(
        next - refusal < chrono::TimeDelta::milliseconds(500),
        "the next call went {} after the refusal",
        next - refusal
    );
}

#[tokio::test]
async fn transient_failures_are_retried_within_a_budget() {
    let sim = spawn_sim(small_scenario()).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let c = client(&cfg, clock::system());
    sim.reconfigure(|p| {
        p.faults.error_rate = 0.3;
        p.faults.error_statuses = vec![502, 503, 504];
    });
    for _ in 0..10 {
        c.templates()
            .await
            .expect("retried through a third of the calls failing");
    }
    assert!(c.client().stats().retries > 0);

    sim.reconfigure(|p| p.faults.error_rate = 1.0);
    let err = c.templates().await.unwrap_err();
    assert!(
        matches!(err, PlatformError::Unavailable { attempts: 6, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn locked_schedules_are_waited_out() {
    let mut scenario = small_scenario();
    scenario.server.publish_lock = Duration::from_secs(1);
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let c = client(&cfg, clock::system());
    c.write_agent(&schedule_id(), &"a-5".into(), &monday())
        .await
        .unwrap();
    c.publish(&schedule_id(), &["a-5".into()]).await.unwrap();
    // Locked for a second after the publish: the write waits, then lands.
    c.write_agent(&schedule_id(), &"a-6".into(), &monday())
        .await
        .unwrap();
    assert!(sim.record().count_status(409) >= 1);
    assert!(c.client().stats().locked >= 1);
}

#[tokio::test]
async fn reads_follow_every_page_and_bad_answers_are_located() {
    let mut scenario = small_scenario();
    for n in 0..250 {
        let mut extra = scenario.swaps[1].clone();
        extra.id = format!("sw-many-{n}");
        extra.resolve_after = None;
        extra.resolution = None;
        scenario.swaps.push(extra);
    }
    let sim = spawn_sim(scenario).await;
    let cfg = TestConfig::new(&sim.base_url(), "publisher");
    let c = client(&cfg, clock::system());
    assert_eq!(c.swaps(&schedule_id(), None).await.unwrap().len(), 252);
    assert_eq!(c.organization().await.unwrap().id, "org-acme");
    assert_eq!(c.templates().await.unwrap()[0].id, "tpl-day");
    let info = c.schedule(&schedule_id()).await.unwrap();
    assert_eq!(info.time_zone, "America/Chicago");
    assert_eq!(c.swap("sw-1").await.unwrap().requester.agent_id, "a-1");
    let err = c.schedule("nope").await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound { .. }), "{err}");
    let err = c
        .write_agent(
            &schedule_id(),
            &"a-6".into(),
            &[Shift {
                start_time: "2026-11-30T22:00:00Z".parse().unwrap(),
                end_time: "2026-11-30T14:00:00Z".parse().unwrap(),
                activity: Some("phone".into()),
            }],
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("invalid_shift") && text.contains("shifts[0]"),
        "{text}"
    );
}

/// Issue 27 item 5: an answer larger than `platform.max_answer_bytes`
/// is refused, whether its length is declared or it just keeps coming (a
/// chunked stream), with the key that raises the limit; never read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_limit_is_refused_not_read() {
    use axum::routing::{get, post};
    let token = || async {
        axum::Json(serde_json::json!({
            "access_token": "t", "token_type": "Bearer", "expires_in": 3600,
            "scope": "wfm:schedule:read wfm:schedule:write wfm:admin org:read"
        }))
    };
    // "big": 3 MiB with its length declared; anything else: 4 MiB chunked.
    let answer = |axum::extract::Path(id): axum::extract::Path<String>| async move {
        if id == "big" {
            return axum::body::Body::from(vec![b' '; 3 * 1024 * 1024]);
        }
        let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
        let chunks = (0..64).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
        axum::body::Body::from_stream(futures::stream::iter(chunks))
    };
    let app = axum::Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v2/wfm/schedule/{id}", get(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let cfg = TestConfig::new(&base, "publisher");
    let c = client_with(&cfg, clock::system(), |c| {
        c.platform.max_answer_bytes(1_048_576);
    });
    for id in ["sched", "big"] {
        let err = patiently("the large answer to be refused", c.schedule(id))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("an answer over 1048576 bytes (platform.max_answer_bytes)"),
            "{id}: {err}"
        );
    }
}
