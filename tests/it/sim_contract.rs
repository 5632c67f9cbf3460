//! The simulator against CONTRACT.md, clause by clause. These tests speak raw
//! HTTP so they check the wire, not the publisher's reading of it.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use wfm_publisher::clock::ScaledClock;
use wfm_publisher::sim::{ForbiddenCause, Scenario, SwapStatus};

const ALL: &str = "wfm:schedule:read wfm:schedule:write wfm:admin org:read";

// --- §1 OAuth ---------------------------------------------------------------

#[tokio::test]
async fn token_by_basic_auth_and_by_form_fields() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let a = raw
        .token_request(
            "publisher",
            "publisher-secret",
            &[("grant_type", "client_credentials"), ("scope", ALL)],
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 3600);
    assert_eq!(a.body["scope"], ALL);

    let by_form = raw
        .http
        .post(format!("{}/oauth/token", raw.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "publisher"),
            ("client_secret", "publisher-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), 200);
}

#[tokio::test]
async fn scopes_not_entitled_are_dropped_silently() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let a = raw
        .token_request(
            "no-admin",
            "no-admin-secret",
            &[("grant_type", "client_credentials"), ("scope", ALL)],
        )
        .await;
    assert_eq!(a.status, 200, "asking for more is not refused");
    assert_eq!(
        a.body["scope"],
        "wfm:schedule:read wfm:schedule:write org:read"
    );
}

#[tokio::test]
async fn token_endpoint_errors() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16, &'a str);
    let cases: [Case; 4] = [
        (
            "publisher",
            "publisher-secret",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "wfm:everything"),
            ],
            400,
            "invalid_scope",
        ),
        (
            "publisher",
            "publisher-secret",
            &[("grant_type", "password")],
            400,
            "unsupported_grant_type",
        ),
        ("publisher", "publisher-secret", &[], 400, "invalid_request"),
        (
            "publisher",
            "wrong",
            &[("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
    ];
    for (id, secret, form, status, error) in cases {
        let a = raw.token_request(id, secret, form).await;
        assert_eq!(
            (a.status, a.body["error"].as_str()),
            (status, Some(error)),
            "{form:?}"
        );
    }
}

#[tokio::test]
async fn token_endpoint_outage_and_transient_errors() {
    let mut scenario = small_scenario();
    scenario.faults.token_outages = vec![serde_json::from_value::<wfm_publisher::sim::Outage>(
        json!({"from": "0s", "until": "1h"}),
    )
    .unwrap()];
    let sim = spawn_sim(scenario).await;
    let raw = Raw::new(&sim);
    let a = raw
        .token_request(
            "publisher",
            "publisher-secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(a.status, 503);
    sim.reconfigure(|p| p.faults.token_outages.clear());
    raw.publisher_token().await;
}

#[tokio::test]
async fn introspection_reports_active_scope_org_and_server_clock() {
    let mut scenario = small_scenario();
    scenario.server.clock_offset = chrono::TimeDelta::minutes(10);
    let sim = spawn_sim(scenario).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    let introspect = |token: String| {
        raw.http
            .post(format!("{}/oauth/introspect", raw.base))
            .basic_auth("publisher", Some("publisher-secret"))
            .form(&[("token", token)])
            .send()
    };
    let body: Value = introspect(token).await.unwrap().json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["org_id"], "org-acme");
    assert_eq!(body["client_id"], "publisher");
    assert_eq!(body["scope"], ALL);
    let iat = body["iat"].as_i64().unwrap();
    assert!(
        iat - Utc::now().timestamp() >= 590,
        "iat is on the server's clock, ten minutes ahead"
    );
    assert_eq!(body["exp"].as_i64().unwrap() - iat, 3600);

    let unknown: Value = introspect("nope".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unknown, json!({"active": false}));
}

#[tokio::test]
async fn tokens_expire_on_the_server_clock_and_are_recorded_when_used_late() {
    let mut scenario = small_scenario();
    scenario.server.token_lifetime = Duration::from_secs(60);
    // One real second is a simulated minute.
    let clock = Arc::new(ScaledClock::new(Utc::now(), 60.0));
    let sim = spawn_sim_with_clock(scenario, clock).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    assert_eq!(
        raw.get("/api/v2/organizations/me", &token).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let late = raw.get("/api/v2/organizations/me", &token).await;
    assert_eq!(late.status, 401);
    assert_eq!(late.body["code"], "unauthorized");
    assert_eq!(sim.record().expired_token_uses.len(), 1);

    sim.reconfigure(|p| p.server.forbidden_for_stale_token = true);
    let masked = raw.get("/api/v2/organizations/me", &token).await;
    assert_eq!(
        masked.status, 403,
        "some gateways answer 403 for a stale token"
    );
    assert_eq!(
        sim.record().forbidden_causes(),
        vec![ForbiddenCause::StaleToken]
    );
}

// --- §2 Common behaviour -----------------------------------------------------

fn without_correlation(mut body: Value) -> Value {
    assert!(body["correlationId"].is_string(), "{body}");
    body.as_object_mut().unwrap().remove("correlationId");
    body
}

#[tokio::test]
async fn every_403_cause_has_the_same_body() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let no_admin = raw.token("no-admin", "no-admin-secret", ALL).await;
    let other = raw.token("other-org", "other-org-secret", ALL).await;
    let publisher = raw.publisher_token().await;

    let missing_scope = raw.publish(&no_admin, &["a-5"]).await;
    let wrong_org = raw
        .get(&format!("/api/v2/wfm/schedule/{}", schedule_id()), &other)
        .await;
    let pending = raw.put_week(&publisher, "a-1", json!([])).await;
    sim.reconfigure(|p| {
        p.server.forbidden_for_rate_limit = true;
        p.rate_limits.default.limit = 1;
        p.rate_limits.default.window = Duration::from_secs(60);
    });
    // Three calls already spent this window's single call.
    let masked = raw.get("/api/v2/wfm/schedule/templates", &publisher).await;

    let answers = [&missing_scope, &wrong_org, &pending, &masked];
    for a in answers {
        assert_eq!(a.status, 403);
        assert_eq!(
            without_correlation(a.body.clone()),
            json!({"status": 403, "code": "forbidden", "message": "Insufficient permissions to perform this action"})
        );
    }
    assert_eq!(masked.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(
        sim.record().forbidden_causes(),
        vec![
            ForbiddenCause::MissingScope("wfm:admin".into()),
            ForbiddenCause::WrongOrganization,
            ForbiddenCause::PendingSwap("sw-1".into()),
            ForbiddenCause::MaskedRateLimit,
        ]
    );
}

#[tokio::test]
async fn rate_limit_headers_429_and_separate_publish_bucket() {
    let mut scenario = small_scenario();
    scenario.rate_limits.default.limit = 3;
    scenario.rate_limits.default.window = Duration::from_secs(30);
    let sim = spawn_sim(scenario).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let a = raw.get("/api/v2/wfm/schedule/templates", &token).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("x-ratelimit-limit").as_deref(), Some("3"));
        let reset: u64 = a.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!((1..=30).contains(&reset));
        remaining.push(a.header("x-ratelimit-remaining").unwrap());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let over = raw.get("/api/v2/wfm/schedule/templates", &token).await;
    assert_eq!(over.status, 429);
    let retry: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry));

    // The publish bucket is its own: still open while the default one is spent.
    let publish = raw.publish(&token, &["a-5"]).await;
    assert_eq!(publish.status, 200, "{}", publish.body);
    assert_eq!(publish.header("x-ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(
        publish.header("x-ratelimit-remaining").as_deref(),
        Some("2")
    );
    assert_eq!(sim.record().over_limit, 1);
}

#[tokio::test]
async fn unadvertised_limits_send_no_headers() {
    let mut scenario = small_scenario();
    scenario.server.advertise_rate_limits = false;
    scenario.rate_limits.default.limit = 1;
    scenario.rate_limits.default.window = Duration::from_secs(30);
    let sim = spawn_sim(scenario).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    let ok = raw.get("/api/v2/wfm/schedule/templates", &token).await;
    assert!(ok.header("x-ratelimit-remaining").is_none());
    let over = raw.get("/api/v2/wfm/schedule/templates", &token).await;
    assert_eq!(over.status, 429);
    assert!(over.header("retry-after").is_none());
}

#[tokio::test]
async fn injected_failures_and_latency() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    sim.reconfigure(|p| {
        p.faults.error_rate = 1.0;
        p.faults.error_statuses = vec![503];
        p.faults.error_retry_after = Some(4);
    });
    let a = raw.get("/api/v2/wfm/schedule/templates", &token).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.header("retry-after").as_deref(), Some("4"));

    sim.reconfigure(|p| {
        p.faults.error_rate = 0.0;
        p.faults.hang_rate = 1.0;
        p.faults.hang = Duration::from_secs(30);
    });
    let hung = raw
        .http
        .get(format!("{}/api/v2/wfm/schedule/templates", raw.base))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(
        hung.unwrap_err().is_timeout(),
        "a hanging call never answers"
    );
}

#[tokio::test]
async fn a_schedule_belongs_to_one_organization() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let other = raw.token("other-org", "other-org-secret", ALL).await;
    for path in [
        format!("/api/v2/wfm/schedule/{}", schedule_id()),
        format!("/api/v2/wfm/shiftswaps?scheduleId={}", schedule_id()),
        "/api/v2/wfm/shiftswaps/sw-1".to_owned(),
    ] {
        assert_eq!(raw.get(&path, &other).await.status, 403, "{path}");
    }
    assert_eq!(
        raw.put_week(&other, "a-5", monday_shift()).await.status,
        403
    );
    assert_eq!(raw.publish(&other, &["a-5"]).await.status, 403);
}

// --- §3 Endpoints ------------------------------------------------------------

#[tokio::test]
async fn reads_need_their_scopes() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    let only_write = raw
        .token("publisher", "publisher-secret", "wfm:schedule:write")
        .await;
    let cases = [
        (
            "/api/v2/organizations/me",
            json!({"id": "org-acme", "name": "Acme Support"}),
        ),
        (
            "/api/v2/wfm/schedule/templates",
            json!({"entities": [{"id": "tpl-day", "name": "Day shift 08-16"}]}),
        ),
    ];
    for (path, expected) in cases {
        let a = raw.get(path, &token).await;
        assert_eq!((a.status, a.body), (200, expected), "{path}");
        assert_eq!(raw.get(path, &only_write).await.status, 403, "{path}");
    }
    let s = raw
        .get(&format!("/api/v2/wfm/schedule/{}", schedule_id()), &token)
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["orgId"], "org-acme");
    assert_eq!(s.body["weekStart"], week().to_string());
    assert_eq!(s.body["timeZone"], "America/Chicago");
    assert_eq!(s.body["state"], "draft");
    assert!(s.body["version"].is_u64());
    assert_eq!(
        raw.get("/api/v2/wfm/schedule/nope", &token).await.status,
        404
    );
}

#[tokio::test]
async fn swaps_paginate_filter_and_resolve_on_their_timeline() {
    let mut scenario = small_scenario();
    // Seven more swaps so that pages matter.
    for n in 0..7 {
        let mut extra = scenario.swaps[1].clone();
        extra.id = format!("sw-x{n}");
        extra.resolve_after = None;
        extra.resolution = None;
        extra.status = SwapStatus::Canceled;
        scenario.swaps.push(extra);
    }
    let clock = Arc::new(ScaledClock::new(Utc::now(), 20.0));
    let sim = spawn_sim_with_clock(scenario, clock).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/api/v2/wfm/shiftswaps?scheduleId={}&pageSize=3",
            schedule_id()
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let a = raw.get(&path, &token).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let page = a.body["entities"].as_array().unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match a.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9);

    let pending = raw
        .get(
            &format!(
                "/api/v2/wfm/shiftswaps?scheduleId={}&status=pending",
                schedule_id()
            ),
            &token,
        )
        .await;
    let ids: Vec<&str> = pending.body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sw-1", "sw-2"]);
    let give_away = raw.get("/api/v2/wfm/shiftswaps/sw-2", &token).await;
    assert_eq!(give_away.body["recipient"]["shift"], Value::Null);
    assert_eq!(give_away.body["requester"]["agentId"], "a-3");

    // 20 and 30 simulated seconds: 1.5 real seconds at 20x.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let one = raw.get("/api/v2/wfm/shiftswaps/sw-1", &token).await;
    assert_eq!(one.body["status"], "approved");
    let two = raw.get("/api/v2/wfm/shiftswaps/sw-2", &token).await;
    assert_eq!(two.body["status"], "denied");
    assert_eq!(
        raw.get("/api/v2/wfm/shiftswaps/nope", &token).await.status,
        404
    );
    let bad = raw
        .get(
            &format!(
                "/api/v2/wfm/shiftswaps?scheduleId={}&pageSize=101",
                schedule_id()
            ),
            &token,
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn agent_week_writes_and_their_refusals() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    let ok = raw.put_week(&token, "a-5", monday_shift()).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["agentId"], "a-5");
    assert_eq!(ok.body["scheduleId"], schedule_id());
    let again = raw.put_week(&token, "a-5", monday_shift()).await;
    assert_eq!(again.status, 200, "the same body twice is harmless");

    let invalid = [
        (
            json!([{"startTime": &utc_at(0, 16, 0).to_string(), "endTime": &utc_at(0, 8, 0).to_string(), "activity": "phone"}]),
            "endTime is not after startTime",
        ),
        (
            json!([{"startTime": &utc_at(9, 8, 0).to_string(), "endTime": &utc_at(9, 16, 0).to_string(), "activity": "phone"}]),
            "outside the schedule's week",
        ),
        (
            json!([
                {"startTime": &utc_at(0, 8, 0).to_string(), "endTime": &utc_at(0, 16, 0).to_string(), "activity": "phone"},
                {"startTime": &utc_at(0, 14, 0).to_string(), "endTime": &utc_at(0, 20, 0).to_string(), "activity": "email"}
            ]),
            "overlaps",
        ),
    ];
    for (shifts, detail) in invalid {
        let a = raw.put_week(&token, "a-6", shifts).await;
        assert_eq!(a.status, 400);
        assert_eq!(a.body["code"], "invalid_shift");
        let details = a.body["details"].to_string();
        assert!(details.contains(detail), "{details}");
    }
    assert_eq!(
        raw.put_week(&token, "nobody", monday_shift()).await.status,
        404
    );
    assert_eq!(
        raw.put_week(&token, "a-2", monday_shift()).await.status,
        403
    );

    let only_read = raw
        .token("publisher", "publisher-secret", "wfm:schedule:read")
        .await;
    assert_eq!(
        raw.put_week(&only_read, "a-6", monday_shift()).await.status,
        403
    );

    let record = sim.record();
    assert_eq!(record.writes[&(schedule_id(), "a-5".to_owned())], 2);
    assert!(!record
        .holdings
        .contains_key(&(schedule_id(), "a-6".to_owned())));
    assert_eq!(record.swap_violations.len(), 1);
    assert_eq!(record.swap_violations[0].agent_id, "a-2");
}

#[tokio::test]
async fn publish_commits_holdings_and_locks_the_schedule() {
    let mut scenario = small_scenario();
    scenario.server.publish_duration = Duration::from_millis(600);
    let sim = spawn_sim(scenario).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    raw.put_week(&token, "a-5", monday_shift()).await;

    let publishing = raw.publish(&token, &["a-5", "a-6"]);
    let during = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let write = raw.put_week(&token, "a-7", monday_shift()).await;
        let publish = raw.publish(&token, &["a-7"]).await;
        (write, publish)
    };
    let (done, (write, second)) = tokio::join!(publishing, during);
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["publishedAgentIds"], json!(["a-5", "a-6"]));
    assert!(done.body["version"].is_u64());
    for a in [&write, &second] {
        assert_eq!(a.status, 409);
        assert_eq!(a.body["code"], "schedule_locked");
        assert!(a.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    }
    // Still locked a while after the publish.
    assert_eq!(
        raw.put_week(&token, "a-7", monday_shift()).await.status,
        409
    );

    let record = sim.record();
    let key = |a: &str| (schedule_id(), a.to_owned());
    assert_eq!(record.published[&key("a-5")].len(), 1);
    assert_eq!(record.published[&key("a-6")], vec![]);
    assert!(record.peak_concurrency >= 2);
    let schedule = raw
        .get(&format!("/api/v2/wfm/schedule/{}", schedule_id()), &token)
        .await;
    assert_eq!(schedule.body["state"], "published");
}

/// A platform finishes a publish it accepted whether or not the caller is
/// still there: a publisher killed mid-call must not leave the schedule
/// locked for good (the kill -9 test met exactly that).
#[tokio::test]
async fn a_publish_whose_caller_hangs_up_still_ends_and_frees_the_schedule() {
    let mut scenario = small_scenario();
    scenario.server.publish_duration = Duration::from_millis(300);
    scenario.server.publish_lock = Duration::from_millis(100);
    let sim = spawn_sim(scenario).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    raw.put_week(&token, "a-5", monday_shift()).await;
    let hung_up = raw
        .http
        .post(format!("{}/api/v2/wfm/schedule/publish", raw.base))
        .bearer_auth(&token)
        .json(&json!({"scheduleId": schedule_id(), "agentIds": ["a-5"]}))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(hung_up.unwrap_err().is_timeout());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = raw.publish(&token, &["a-5"]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let events = sim.record().publish_events.len();
    assert_eq!(events, 2, "the first publish was done too");
}

#[tokio::test]
async fn publish_refusals() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    let too_many: Vec<String> = (0..501).map(|n| format!("a-{n}")).collect();
    let refs: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert_eq!(raw.publish(&token, &refs).await.status, 400);
    let pending = raw.publish(&token, &["a-5", "a-1"]).await;
    assert_eq!(pending.status, 403, "any listed agent with a pending swap");
    let no_admin = raw.token("no-admin", "no-admin-secret", ALL).await;
    assert_eq!(raw.publish(&no_admin, &["a-5"]).await.status, 403);
    assert!(sim.record().published.is_empty());
}

// --- §4 Swaps and publication ---------------------------------------------

#[tokio::test]
async fn a_resolved_swap_frees_its_agents_and_shifts_are_not_rewritten() {
    let sim = spawn_sim(small_scenario()).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    assert_eq!(raw.put_week(&token, "a-1", json!([])).await.status, 403);
    assert!(sim.resolve_swap("sw-1", SwapStatus::Approved));
    let record = sim.record();
    assert!(
        !record
            .holdings
            .contains_key(&(schedule_id(), "a-2".to_owned())),
        "approval does not write the traded shifts"
    );
    assert_eq!(raw.put_week(&token, "a-1", json!([])).await.status, 200);
    assert_eq!(raw.publish(&token, &["a-1", "a-2"]).await.status, 200);
}

#[tokio::test]
async fn record_flags_an_agent_republished_with_other_content() {
    let mut scenario = small_scenario();
    scenario.server.publish_lock = Duration::ZERO;
    scenario.server.publish_duration = Duration::ZERO;
    let sim = spawn_sim(scenario).await;
    let raw = Raw::new(&sim);
    let token = raw.publisher_token().await;
    raw.put_week(&token, "a-5", monday_shift()).await;
    raw.publish(&token, &["a-5"]).await;
    raw.publish(&token, &["a-5"]).await;
    assert!(sim.record().republished_with_changes().is_empty());
    raw.put_week(&token, "a-5", json!([])).await;
    raw.publish(&token, &["a-5"]).await;
    assert_eq!(
        sim.record().republished_with_changes(),
        vec![(schedule_id(), "a-5".to_owned())]
    );
}

// --- Scenario files ------------------------------------------------------------

#[test]
fn shipped_scenarios_load() {
    let big = Scenario::load(&repo_file("config/sim-2000.toml")).unwrap();
    assert_eq!(big.schedules[0].roster().len(), 2000);
    assert_eq!(big.swaps.len(), 30);
    small_scenario();
}

#[test]
fn scenario_mistakes_are_located() {
    let base = std::fs::read_to_string(repo_file("config/sim-small.toml")).unwrap();
    let cases = [
        (
            base.replace("seed = 7", "seed = 7\nspeed = 9"),
            "unknown field `speed`",
        ),
        (
            base.replace("agent_id = \"a-4\"", "agent_id = \"a-400\""),
            "swaps[1].recipient.agent_id",
        ),
        (
            base.replace("org_id = \"org-globex\"", "org_id = \"org-nowhere\""),
            "clients[2].org_id",
        ),
        (
            base.replace(
                "time_zone = \"America/Chicago\"",
                "time_zone = \"Mars/Olympus\"",
            ),
            "time_zone",
        ),
    ];
    for (text, expected) in cases {
        let err = Scenario::parse(&text, "scenario.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("scenario.toml"), "{err}");
        assert!(err.contains(expected), "{err}");
    }
}

// --- The standalone command -------------------------------------------------

#[tokio::test]
async fn sim_command_prints_its_address_and_serves() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wfm-publisher"))
        .args(["sim", "--scenario"])
        .arg(repo_file("config/sim-small.toml"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let base = line.strip_prefix("listening on ").unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));
    // Served for the coming week, not the past one the file was written for.
    let dated = lines.next_line().await.unwrap().unwrap();
    assert_eq!(
        dated,
        format!(
            "serving the week of {} (the scenario was written for 2026-11-30; --as-written keeps its dates)",
            week()
        )
    );
    let raw = Raw {
        base,
        http: reqwest::Client::new(),
        schedule: schedule_id(),
    };
    let token = raw.publisher_token().await;
    assert_eq!(
        raw.put_week(&token, "a-5", monday_shift()).await.status,
        200
    );
    let get = raw
        .call(Method::GET, "/api/v2/organizations/me", &token, None)
        .await;
    assert_eq!(get.status, 200);
    child.kill().await.unwrap();
}
