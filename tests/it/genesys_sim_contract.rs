//! The Genesys Cloud simulator against genesys-cloud/CONTRACT.md, clause by
//! clause, over raw HTTP and a raw websocket: these tests check the wire,
//! not an adapter's reading of it. The clock is manual; nothing is timed.

use crate::common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{Answer, Raw};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use wfm_publisher::clock::ManualClock;
use wfm_publisher::sim::genesys::{GenesysHandle, Outcome, Scenario, TradeState};
use wfm_publisher::sim::{self, AnyScenario};

const BU: &str = "bu-chicago";
const WEEK: &str = "2026-11-30";
const SCHED: &str = "sched-w48";

fn scenario() -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sim-genesys.toml");
    Scenario::load(&path).expect("the Genesys scenario loads")
}

struct G {
    sim: GenesysHandle,
    clock: ManualClock,
    http: reqwest::Client,
}

async fn start(s: Scenario) -> G {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap());
    let sim = sim::spawn(s, Arc::new(clock.clone()), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator binds a loopback port");
    G {
        sim,
        clock,
        http: reqwest::Client::new(),
    }
}

async fn answer(r: reqwest::Response) -> Answer {
    Raw::answer(r).await
}

fn sched_path(rest: &str) -> String {
    format!("/api/v2/workforcemanagement/businessunits/{BU}/weeks/{WEEK}/schedules/{SCHED}{rest}")
}

impl G {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn token_answer(&self, client: &str) -> Answer {
        let r = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(client, Some(format!("{client}-secret")))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "anything at all"),
            ])
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    async fn token(&self, client: &str) -> String {
        let a = self.token_answer(client).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Answer {
        let mut r = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        answer(r.send().await.unwrap()).await
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Upload URL, then a correct PUT: the upload key.
    async fn upload(&self, token: &str, body: &Value) -> String {
        let gz = gzip(body);
        let a = self
            .post(
                &sched_path("/update/uploadurl"),
                token,
                json!({"contentLengthBytes": gz.len()}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let put = self.put_upload(&a.body, gz, None).await;
        assert_eq!(put.status, 200, "{}", put.body);
        a.body["uploadKey"].as_str().unwrap().to_owned()
    }

    /// PUTs `gz` to an upload URL answer, with its headers but `drop`.
    async fn put_upload(&self, url_answer: &Value, gz: Vec<u8>, drop: Option<&str>) -> Answer {
        let mut r = self.http.put(url_answer["url"].as_str().unwrap());
        for (k, v) in url_answer["headers"].as_object().unwrap() {
            if Some(k.as_str()) != drop {
                r = r.header(k, v.as_str().unwrap());
            }
        }
        answer(r.body(gz).send().await.unwrap()).await
    }

    async fn update(&self, token: &str, body: &Value) -> Answer {
        let key = self.upload(token, body).await;
        self.post(&sched_path("/update"), token, json!({"uploadKey": key}))
            .await
    }

    async fn version(&self, token: &str) -> u64 {
        self.get(&sched_path(""), token).await.body["metadata"]["version"]
            .as_u64()
            .unwrap()
    }

    /// Advances the clock past the operation delay and waits (on the
    /// record, not on time) until operation `op` has ended.
    async fn settle(&self, op: &str) -> Outcome {
        self.clock.advance(Duration::from_secs(2));
        let ended = async {
            loop {
                let o = self.sim.record().operation(op).unwrap().outcome.clone();
                if o != Outcome::Processing {
                    return o;
                }
                tokio::task::yield_now().await;
            }
        };
        // A guard against a hang, not a timing: the wait is for an event.
        tokio::time::timeout(Duration::from_secs(30), ended)
            .await
            .expect("the operation ends")
    }
}

fn gzip(v: &Value) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(v.to_string().as_bytes()).unwrap();
    e.finish().unwrap()
}

fn shift(id: Option<&str>, start: &str, minutes: i64, code: &str) -> Value {
    let mut s = json!({"startDate": start, "lengthMinutes": minutes,
        "activities": [{"activityCodeId": code, "startDate": start, "lengthMinutes": minutes}]});
    if let Some(id) = id {
        s["id"] = json!(id);
    }
    s
}

// --- §2 Authentication ------------------------------------------------------

#[tokio::test]
async fn token_lifetime_is_the_clients_and_scope_is_ignored() {
    let g = start(scenario()).await;
    let a = g.token_answer("publisher").await;
    assert_eq!(
        (a.status, a.body["expires_in"].as_u64()),
        (200, Some(86_400))
    );
    assert!(a.body.get("scope").is_none());
    assert_eq!(g.token_answer("no-edit").await.body["expires_in"], 3600);
    let bad = g
        .http
        .post(g.url("/oauth/token"))
        .basic_auth("publisher", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let bad = answer(bad).await;
    assert_eq!(
        (bad.status, bad.body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(bad.body["description"].is_string());
}

#[tokio::test]
async fn token_info_and_organization_need_no_permission() {
    let g = start(scenario()).await;
    let t = g.token("wrong-div").await;
    let me = g.get("/api/v2/tokens/me", &t).await;
    assert_eq!(me.body["organization"]["id"], "org-acme");
    assert_eq!(me.body["OAuthClient"]["id"], "wrong-div");
    assert_eq!(
        g.get("/api/v2/organizations/me", &t).await.body["name"],
        "Acme Support"
    );
}

#[tokio::test]
async fn expired_tokens_and_missing_tokens_are_401_with_codes() {
    let g = start(scenario()).await;
    let t = g.token("no-edit").await;
    let none = answer(g.http.get(g.url("/api/v2/tokens/me")).send().await.unwrap()).await;
    assert_eq!(
        (none.status, none.body["code"].as_str()),
        (401, Some("authentication.required"))
    );
    assert_eq!(
        g.get("/api/v2/tokens/me", "junk").await.body["code"],
        "bad.credentials"
    );
    g.clock.advance(Duration::from_secs(3600));
    let old = g.get("/api/v2/tokens/me", &t).await;
    assert_eq!(
        (old.status, old.body["code"].as_str()),
        (401, Some("credentials.expired"))
    );
}

// --- §3 Permissions and divisions ------------------------------------------

#[tokio::test]
async fn divisions_permitted_lists_where_a_permission_is_held() {
    let g = start(scenario()).await;
    let path = "/api/v2/authorization/divisionspermitted/paged/me?permission=wfm:schedule:edit";
    let ids = |a: Answer| -> Vec<String> {
        a.body["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(g.get(path, &g.token("publisher").await).await),
        ["div-na", "div-emea"]
    );
    assert_eq!(
        ids(g.get(path, &g.token("wrong-div").await).await),
        ["div-emea"]
    );
    assert!(ids(g.get(path, &g.token("no-edit").await).await).is_empty());
    // A team-scoped grant is still held in its division.
    assert_eq!(
        ids(g.get(path, &g.token("team-editor").await).await),
        ["div-na"]
    );
    let all = |a: Answer| a.body["allDivsPermitted"].as_bool();
    assert_eq!(
        all(g.get(path, &g.token("publisher").await).await),
        Some(true),
        "a grant in every division says so"
    );
    assert_eq!(
        all(g.get(path, &g.token("wrong-div").await).await),
        Some(false)
    );
    let t = g.token("publisher").await;
    assert_eq!(
        g.get("/api/v2/authorization/divisionspermitted/paged/me", &t)
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn the_subject_lists_grants_per_division_with_their_conditions() {
    let g = start(scenario()).await;
    let subject = |a: Answer| a.body;
    // Needs no permission: a client holding nothing useful may ask.
    let wrong = subject(
        g.get(
            "/api/v2/authorization/subjects/me",
            &g.token("wrong-div").await,
        )
        .await,
    );
    let divisions: Vec<&str> = wrong["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|grant| grant["division"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(divisions, ["div-emea"]);
    assert_eq!(wrong["grants"][0]["division"]["name"], "EMEA");

    let scoped = subject(
        g.get(
            "/api/v2/authorization/subjects/me",
            &g.token("team-editor").await,
        )
        .await,
    );
    assert_eq!(scoped["id"], "team-editor");
    let policies = scoped["grants"][0]["role"]["policies"].as_array().unwrap();
    let of = |entity: &str, action: &str| {
        policies
            .iter()
            .find(|p| {
                p["domain"] == "wfm"
                    && p["entityName"] == entity
                    && p["actions"].as_array().unwrap().iter().any(|a| a == action)
            })
            .unwrap_or_else(|| panic!("no policy for wfm:{entity}:{action}: {policies:?}"))
    };
    assert!(
        of("schedule", "edit")["condition"]
            .as_str()
            .is_some_and(|c| c.contains("team-phones")),
        "a team-scoped grant carries its condition: {policies:?}"
    );
    assert!(of("schedule", "view").get("condition").is_none());
}

#[tokio::test]
async fn business_units_carry_authorized_and_other_divisions_are_403() {
    let g = start(scenario()).await;
    let t = g.token("no-edit").await;
    let list = g.get("/api/v2/workforcemanagement/businessunits", &t).await;
    let flags: Vec<(String, bool)> = list.body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap().to_owned(),
                b["authorized"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [("bu-chicago".into(), true), ("bu-dublin".into(), false)]
    );
    let bu = g
        .get(
            "/api/v2/workforcemanagement/businessunits/bu-chicago?expand=settings",
            &t,
        )
        .await;
    assert_eq!(bu.body["settings"]["startDayOfWeek"], "Monday");
    assert_eq!(bu.body["settings"]["timeZone"], "America/Chicago");
    assert_eq!(bu.body["division"]["id"], "div-na");
    let other = g
        .get("/api/v2/workforcemanagement/businessunits/bu-dublin", &t)
        .await;
    assert_eq!(
        (other.status, other.body["code"].as_str()),
        (403, Some("missing.any.permissions"))
    );
}

#[tokio::test]
async fn management_units_and_activity_codes() {
    let g = start(scenario()).await;
    let t = g.token("wrong-div").await;
    let mus = g
        .get(
            "/api/v2/workforcemanagement/businessunits/bu-chicago/managementunits",
            &t,
        )
        .await;
    assert_eq!(
        mus.body["entities"],
        json!([]),
        "only authorized MUs are listed"
    );
    let t = g.token("publisher").await;
    let mus = g
        .get(
            "/api/v2/workforcemanagement/businessunits/bu-chicago/managementunits",
            &t,
        )
        .await;
    assert_eq!(mus.body["entities"].as_array().unwrap().len(), 2);
    let codes = g
        .get(
            "/api/v2/workforcemanagement/businessunits/bu-chicago/activitycodes",
            &t,
        )
        .await;
    let cats: Vec<&str> = codes.body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap())
        .collect();
    assert_eq!(cats, ["OnQueueWork", "OnQueueWork", "Break", "Meal"]);
}

#[tokio::test]
async fn users_are_found_by_exact_email() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    let q = json!({"query": [{"fields": ["email"], "value": "Ben.Brooks@acme.example", "type": "EXACT"}]});
    let a = g.post("/api/v2/users/search", &t, q).await;
    assert_eq!(
        (
            a.body["total"].as_u64(),
            a.body["results"][0]["id"].as_str()
        ),
        (Some(1), Some("u-ben"))
    );
    let fuzzy = json!({"query": [{"fields": ["email"], "value": "ben", "type": "CONTAINS"}]});
    assert_eq!(g.post("/api/v2/users/search", &t, fuzzy).await.status, 400);
}

// --- §4/5 Schedules --------------------------------------------------------

#[tokio::test]
async fn schedules_of_a_week_list_create_and_expand() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    let list = format!("/api/v2/workforcemanagement/businessunits/{BU}/weeks/{WEEK}/schedules");
    assert_eq!(
        g.get(&list, &t).await.body["entities"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let published = g
        .get(&format!("{list}?includeOnlyPublished=true"), &t)
        .await;
    assert_eq!(published.body["entities"][0]["id"], SCHED);
    let tuesday = "/api/v2/workforcemanagement/businessunits/bu-chicago/weeks/2026-12-01/schedules";
    assert_eq!(g.get(tuesday, &t).await.body["code"], "invalid.value");
    let made = g
        .post(&list, &t, json!({"description": "new", "weekCount": 1}))
        .await;
    assert_eq!(
        (made.status, made.body["metadata"]["version"].as_u64()),
        (200, Some(1))
    );
    let refused = g
        .post(
            &list,
            &g.token("no-edit").await,
            json!({"description": "x", "weekCount": 1}),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["code"], "missing.permissions");
    assert_eq!(
        refused.body["messageParams"]["permissions"],
        "wfm:schedule:add"
    );
    let s = g
        .get(&sched_path("?expand=managementUnits.agents"), &t)
        .await;
    assert_eq!(s.body["metadata"]["version"], 3);
    assert_eq!(
        s.body["managementUnits"][0]["agents"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn agent_query_needs_a_management_unit_and_gives_versions() {
    let mut s = scenario();
    s.server.agent_query_processing_rate = 1.0;
    let g = start(s).await;
    let t = g.token("publisher").await;
    let path = sched_path("/agentschedules/query");
    assert_eq!(
        g.post(&path, &t, json!({"userIds": ["u-ana"]}))
            .await
            .status,
        400
    );
    let q = json!({"managementUnitId": "mu-phones", "userIds": ["u-ana"]});
    let first = g.post(&path, &t, q.clone()).await;
    assert_eq!(first.body["status"], "Processing");
    g.clock.advance(Duration::from_secs(2));
    let done = g.post(&path, &t, q).await;
    assert_eq!(done.body["status"], "Complete");
    let ana = &done.body["result"]["agentSchedules"][0];
    assert_eq!(
        (
            ana["user"]["id"].as_str(),
            ana["metadata"]["version"].as_u64()
        ),
        (Some("u-ana"), Some(2))
    );
    assert_eq!(ana["shifts"][0]["id"], "s-ana-mon");
}

#[tokio::test]
async fn large_agent_query_results_come_as_a_download() {
    let mut s = scenario();
    s.server.inline_agent_limit = 1;
    let g = start(s).await;
    let t = g.token("publisher").await;
    let a = g
        .post(
            &sched_path("/agentschedules/query"),
            &t,
            json!({"managementUnitId": "mu-phones"}),
        )
        .await;
    assert!(a.body.get("result").is_none());
    let url = a.body["downloadUrl"].as_str().unwrap();
    let body: Value = g.http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["agentSchedules"].as_array().unwrap().len(), 4);
}

// --- §5 steps 7–8: uploads --------------------------------------------------

#[tokio::test]
async fn upload_urls_check_headers_length_gzip_expiry_and_single_use() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    let body = json!({"metadata": {"version": 3}, "agentSchedules": []});
    let gz = gzip(&body);
    let path = sched_path("/update/uploadurl");
    let url = |len: usize| g.post(&path, &t, json!({"contentLengthBytes": len}));
    let a = url(gz.len()).await;
    assert_eq!(a.body["headers"]["Content-Encoding"], "gzip");
    assert_eq!(
        g.put_upload(&a.body, gz.clone(), Some("Content-Encoding"))
            .await
            .status,
        403
    );
    let short = url(gz.len() + 1).await;
    assert_eq!(
        g.put_upload(&short.body, gz.clone(), None).await.status,
        403
    );
    let plain = body.to_string().into_bytes();
    let not_gzip = url(plain.len()).await;
    assert_eq!(g.put_upload(&not_gzip.body, plain, None).await.status, 400);
    assert_eq!(g.put_upload(&a.body, gz.clone(), None).await.status, 200);
    assert_eq!(
        g.put_upload(&a.body, gz.clone(), None).await.status,
        403,
        "single use"
    );
    let late = url(gz.len()).await;
    g.clock.advance(Duration::from_secs(600));
    let expired = g.put_upload(&late.body, gz, None).await;
    assert_eq!(expired.status, 403);
    assert!(expired.body.as_str().unwrap().contains("expired"));
    let refusals = g
        .sim
        .record()
        .uploads
        .iter()
        .filter(|u| u.refused.is_some())
        .count();
    assert_eq!(refusals, 5);
}

// --- §5 steps 9–10: operations and notifications ---------------------------

async fn subscribe(
    g: &G,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let ch = g
        .post("/api/v2/notifications/channels", token, json!({}))
        .await;
    let id = ch.body["id"].as_str().unwrap();
    let topic = format!("v2.workforcemanagement.businessunits.{BU}.schedules");
    let sub = g
        .call(
            Method::PUT,
            &format!("/api/v2/notifications/channels/{id}/subscriptions"),
            token,
            Some(json!([{"id": topic}])),
        )
        .await;
    assert_eq!(sub.body["entities"][0]["state"], "Permitted");
    let (ws, _) = tokio_tungstenite::connect_async(ch.body["connectUri"].as_str().unwrap())
        .await
        .unwrap();
    ws
}

async fn next_event(
    ws: &mut (impl futures::Stream<
        Item = Result<
            tokio_tungstenite::tungstenite::Message,
            tokio_tungstenite::tungstenite::Error,
        >,
    > + Unpin),
) -> Value {
    let msg = ws.next().await.unwrap().unwrap();
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

#[tokio::test]
async fn an_update_completes_later_on_the_schedules_topic() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    let mut ws = subscribe(&g, &t).await;
    let body = json!({"metadata": {"version": 3}, "agentSchedules": [
        {"userId": "u-ana", "metadata": {"version": 2},
         "shifts": [shift(Some("s-ana-tue"), "2026-12-01T15:00:00Z", 420, "ac-email")]}]});
    let a = g.update(&t, &body).await;
    assert_eq!(a.body["status"], "Processing");
    let op = a.body["operationId"].as_str().unwrap().to_owned();
    assert_eq!(
        g.version(&t).await,
        3,
        "nothing changes before the operation ends"
    );
    g.settle(&op).await;
    let event = next_event(&mut ws).await;
    assert_eq!(
        event["topicName"],
        format!("v2.workforcemanagement.businessunits.{BU}.schedules")
    );
    assert_eq!(event["eventBody"]["operationId"], op);
    assert_eq!(event["eventBody"]["status"], "Complete");
    assert_eq!(event["eventBody"]["result"]["metadata"]["version"], 4);
    let r = g.sim.record();
    assert_eq!(
        r.operation(&op).unwrap().outcome,
        Outcome::Complete { version: 4 }
    );
    let ana = &r.holdings[&(SCHED.to_owned(), "u-ana".to_owned())];
    assert_eq!(ana.len(), 2, "the left-out Monday is kept");
    assert_eq!(ana[1].length_minutes, 420);
}

#[tokio::test]
async fn a_stale_version_ends_in_a_bare_error_event() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    let mut ws = subscribe(&g, &t).await;
    let a = g
        .update(
            &t,
            &json!({"metadata": {"version": 2}, "agentSchedules": []}),
        )
        .await;
    let op = a.body["operationId"].as_str().unwrap().to_owned();
    g.settle(&op).await;
    assert_eq!(
        next_event(&mut ws).await["eventBody"],
        json!({"status": "Error"})
    );
    assert!(matches!(
        g.sim.record().operation(&op).unwrap().outcome,
        Outcome::Error(_)
    ));
}

/// Runs one update to its end; its recorded outcome.
async fn outcome(g: &G, t: &str, body: Value) -> Outcome {
    let a = g.update(t, &body).await;
    g.settle(a.body["operationId"].as_str().unwrap()).await
}

#[tokio::test]
async fn update_rules_versions_codes_overlaps_and_deletes() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    let agent = |version: Option<u64>, shifts: Value| {
        let mut a = json!({"userId": "u-ana", "shifts": shifts});
        if let Some(v) = version {
            a["metadata"] = json!({"version": v});
        }
        json!({"metadata": {"version": 3}, "agentSchedules": [a]})
    };
    let errors = [
        agent(None, json!([])),
        agent(Some(1), json!([])),
        agent(
            Some(2),
            json!([shift(None, "2026-12-02T14:00:00Z", 480, "ac-nope")]),
        ),
        agent(
            Some(2),
            json!([shift(None, "2026-11-30T16:00:00Z", 480, "ac-phone")]),
        ),
        agent(Some(2), json!([{"id": "s-nope", "delete": true}])),
        agent(
            Some(2),
            json!([shift(None, "2026-12-20T14:00:00Z", 480, "ac-phone")]),
        ),
    ];
    for body in errors {
        assert!(
            matches!(outcome(&g, &t, body.clone()).await, Outcome::Error(_)),
            "{body}"
        );
    }
    let ok = agent(
        Some(2),
        json!([{"id": "s-ana-mon", "delete": true},
                                    shift(None, "2026-12-03T14:00:00Z", 480, "ac-phone")]),
    );
    assert_eq!(outcome(&g, &t, ok).await, Outcome::Complete { version: 4 });
    let new_agent = json!({"metadata": {"version": 4}, "agentSchedules": [
        {"userId": "u-dev", "metadata": {"version": 1}, "delete": true}]});
    assert_eq!(
        outcome(&g, &t, new_agent).await,
        Outcome::Complete { version: 5 }
    );
    let r = g.sim.record();
    let ana: Vec<&str> = r.holdings[&(SCHED.to_owned(), "u-ana".to_owned())]
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ana.len(), 2);
    assert!(!ana.contains(&"s-ana-mon"));
    assert!(!r
        .holdings
        .contains_key(&(SCHED.to_owned(), "u-dev".to_owned())));
    let q = g
        .post(
            &sched_path("/agentschedules/query"),
            &t,
            json!({"managementUnitId": "mu-phones", "userIds": ["u-ana"]}),
        )
        .await;
    assert_eq!(
        q.body["result"]["agentSchedules"][0]["metadata"]["version"],
        3
    );
}

#[tokio::test]
async fn published_is_one_way_and_moves_between_schedules() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    assert_eq!(
        outcome(
            &g,
            &t,
            json!({"metadata": {"version": 3}, "published": false})
        )
        .await,
        Outcome::Complete { version: 4 }
    );
    assert!(
        g.sim.record().published[SCHED],
        "published cannot be undone"
    );
    let draft = "/api/v2/workforcemanagement/businessunits/bu-chicago/weeks/2026-11-30/schedules/sched-w48-draft";
    let gz = gzip(&json!({"metadata": {"version": 1}, "published": true}));
    let u = g
        .post(
            &format!("{draft}/update/uploadurl"),
            &t,
            json!({"contentLengthBytes": gz.len()}),
        )
        .await;
    assert_eq!(g.put_upload(&u.body, gz, None).await.status, 200);
    let a = g
        .post(
            &format!("{draft}/update"),
            &t,
            json!({"uploadKey": u.body["uploadKey"]}),
        )
        .await;
    g.settle(a.body["operationId"].as_str().unwrap()).await;
    let r = g.sim.record();
    assert_eq!(
        (r.published[SCHED], r.published["sched-w48-draft"]),
        (false, true)
    );
}

#[tokio::test]
async fn edit_needs_the_permission_in_the_units_division_and_teams_when_scoped() {
    let g = start(scenario()).await;
    let url = sched_path("/update/uploadurl");
    for client in ["no-edit", "wrong-div"] {
        let a = g
            .post(
                &url,
                &g.token(client).await,
                json!({"contentLengthBytes": 10}),
            )
            .await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (403, Some("missing.permissions")),
            "{client}"
        );
        assert_eq!(a.body["messageParams"]["permissions"], "wfm:schedule:edit");
        assert_eq!(
            a.body["contextId"].as_str(),
            a.header("inin-correlation-id").as_deref()
        );
    }
    let t = g.token("team-editor").await;
    let body = json!({"metadata": {"version": 3}, "agentSchedules": [{"userId": "u-eve", "metadata": {"version": 1}, "shifts": []}]});
    let key = g.upload(&t, &body).await;
    let bare = g
        .post(&sched_path("/update"), &t, json!({"uploadKey": key}))
        .await;
    assert_eq!(bare.status, 403, "a team-scoped editor must name teams");
    let named = g
        .post(
            &sched_path("/update"),
            &t,
            json!({"uploadKey": key, "teamIds": ["team-phones"]}),
        )
        .await;
    assert_eq!(named.body["status"], "Processing");
    let op = named.body["operationId"].as_str().unwrap();
    g.settle(op).await;
    assert!(
        matches!(
            g.sim.record().operation(op).unwrap().outcome,
            Outcome::Error(_)
        ),
        "u-eve is outside team-phones"
    );
}

#[tokio::test]
async fn a_topic_the_client_may_not_view_is_rejected() {
    let g = start(scenario()).await;
    let t = g.token("wrong-div").await;
    let ch = g
        .post("/api/v2/notifications/channels", &t, json!({}))
        .await;
    assert!(ch.body["connectUri"]
        .as_str()
        .unwrap()
        .starts_with("ws://127.0.0.1:"));
    let id = ch.body["id"].as_str().unwrap();
    let topic = json!([{"id": format!("v2.workforcemanagement.businessunits.{BU}.schedules")}]);
    let sub = g
        .post(
            &format!("/api/v2/notifications/channels/{id}/subscriptions"),
            &t,
            topic,
        )
        .await;
    assert_eq!(sub.status, 200);
    assert_eq!(sub.body["entities"][0]["state"], "Rejected");
    assert_eq!(
        sub.body["entities"][0]["missingPermissions"][0],
        "wfm:schedule:view"
    );
}

// --- §6 Shift trades -------------------------------------------------------

fn trade_query() -> Value {
    json!({"managementUnitIds": ["mu-phones", "mu-email"], "weekDates": [WEEK],
           "userIds": ["u-ana", "u-ben", "u-cho", "u-dev", "u-eve", "u-fin"]})
}

const JOBS: &str =
    "/api/v2/workforcemanagement/businessunits/bu-chicago/shifttrading/trades/query/jobs";

#[tokio::test]
async fn trades_change_state_and_approval_rewrites_both_schedules() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    let states = |a: &Answer| -> Vec<(String, String)> {
        a.body["queryTradesResult"]["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap().to_owned(),
                    e["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let first = g.post(JOBS, &t, trade_query()).await;
    assert_eq!(first.status, 200);
    assert!(states(&first).contains(&("t-swap".into(), "Unmatched".into())));
    g.clock.advance(Duration::from_secs(20));
    let later = g.post(JOBS, &t, trade_query()).await;
    let s = states(&later);
    for want in [
        ("t-swap", "Approved"),
        ("t-matched", "Matched"),
        ("t-denied", "Denied"),
        ("t-expired", "Expired"),
        ("t-open", "Unmatched"),
    ] {
        assert!(
            s.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {s:?}"
        );
    }
    let r = g.sim.record();
    let ana = &r.holdings[&(SCHED.to_owned(), "u-ana".to_owned())];
    let ben = &r.holdings[&(SCHED.to_owned(), "u-ben".to_owned())];
    assert!(ana.iter().all(|s| s.id != "s-ana-mon"));
    assert!(ana
        .iter()
        .any(|s| s.start_date.to_rfc3339() == "2026-12-05T18:00:00+00:00" && s.id != "s-ben-sat"));
    assert!(ben
        .iter()
        .any(|s| s.start_date.to_rfc3339() == "2026-11-30T14:00:00+00:00"));
    assert_eq!(r.versions[SCHED], 4);
    g.clock.advance(Duration::from_secs(10));
    assert_eq!(g.sim.record().trade_states["t-open"], TradeState::Canceled);
}

#[tokio::test]
async fn a_failed_approval_keeps_the_trade_matched_and_names_the_reason() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    let body = json!({"metadata": {"version": 3}, "agentSchedules": [
        {"userId": "u-cho", "metadata": {"version": 1}, "shifts": [{"id": "s-cho-mon", "delete": true}]}]});
    assert_eq!(
        outcome(&g, &t, body).await,
        Outcome::Complete { version: 4 }
    );
    assert!(g.sim.move_trade("t-matched", TradeState::Approved));
    let r = g.sim.record();
    assert_eq!(r.trade_states["t-matched"], TradeState::Matched);
    assert_eq!(
        r.trade_failures[0].failure_reason,
        "InitiatingAgentShiftNotFound"
    );
    assert_eq!(
        r.trade_violations[0].user_id, "u-cho",
        "the write was taken, and recorded"
    );
}

#[tokio::test]
async fn trade_jobs_answer_202_only_to_their_caller_and_five_a_minute() {
    let mut s = scenario();
    s.server.trade_job_async_rate = 1.0;
    let g = start(s).await;
    let t = g.token("publisher").await;
    let a = g.post(JOBS, &t, trade_query()).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (202, Some("Processing"))
    );
    let job = format!("{JOBS}/{}", a.body["id"].as_str().unwrap());
    assert_eq!(g.get(&job, &t).await.body["status"], "Processing");
    assert_eq!(g.get(&job, &g.token("no-edit").await).await.status, 404);
    g.clock.advance(Duration::from_secs(2));
    let done = g.get(&job, &t).await;
    assert_eq!(done.body["status"], "Complete");
    assert_eq!(
        done.body["queryTradesResult"]["entities"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        g.post(
            JOBS,
            &t,
            json!({"managementUnitIds": ["mu-phones"], "weekDates": [WEEK]})
        )
        .await
        .status,
        400
    );
    for _ in 0..3 {
        g.post(JOBS, &t, trade_query()).await;
    }
    let over = g.post(JOBS, &t, trade_query()).await;
    assert_eq!(
        (over.status, over.body["code"].as_str()),
        (429, Some("too.many.requests"))
    );
    assert_eq!(
        over.body["limit"]["key"],
        "shift.trading.rate.per.user.per.minute"
    );
    assert!(over.header("retry-after").is_some());
}

#[tokio::test]
async fn the_legacy_trade_route_works_until_its_date() {
    let mut s = scenario();
    s.server.legacy_trades_until = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let g = start(s).await;
    let t = g.token("publisher").await;
    let path = "/api/v2/workforcemanagement/managementunits/mu-phones/weeks/2026-11-30/shifttrades";
    let a = g.get(path, &t).await;
    assert_eq!(
        a.body["entities"][0]["trade"]["initiatingShiftId"],
        "s-ana-mon"
    );
    g.clock.advance(Duration::from_secs(12 * 3600));
    assert_eq!(g.get(path, &t).await.status, 404);
}

// --- §7 Limits and errors --------------------------------------------------

#[tokio::test]
async fn every_answer_has_ratelimit_and_correlation_headers_and_429_after_the_limit() {
    let mut s = scenario();
    s.rate_limits.per_token.limit = 3;
    let g = start(s).await;
    let t = g.token("publisher").await;
    let first = g.get("/api/v2/tokens/me", &t).await;
    assert_eq!(first.header("inin-ratelimit-allowed").as_deref(), Some("3"));
    assert_eq!(first.header("inin-ratelimit-count").as_deref(), Some("1"));
    assert_eq!(first.header("inin-ratelimit-reset").as_deref(), Some("60"));
    assert!(first.header("inin-correlation-id").is_some());
    g.get("/api/v2/tokens/me", &t).await;
    g.get("/api/v2/tokens/me", &t).await;
    let over = g.get("/api/v2/tokens/me", &t).await;
    assert_eq!(
        (over.status, over.body["code"].as_str()),
        (429, Some("too.many.requests"))
    );
    assert_eq!(over.header("retry-after").as_deref(), Some("60"));
    g.clock.advance(Duration::from_secs(60));
    assert_eq!(g.get("/api/v2/tokens/me", &t).await.status, 200);
}

#[tokio::test]
async fn injected_gateway_errors_carry_an_error_body() {
    let g = start(scenario()).await;
    let t = g.token("publisher").await;
    g.sim.reconfigure(|l| {
        l.faults.error_rate = 1.0;
        l.faults.error_statuses = vec![502];
    });
    let a = g.get("/api/v2/tokens/me", &t).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.body["status"], 502);
    assert!(a.header("inin-correlation-id").is_some());
}

// --- Scenario files ---------------------------------------------------------

#[test]
fn scenario_files_pick_their_simulator_by_kind() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(matches!(
        AnyScenario::load(&root.join("config/sim-genesys.toml")).unwrap(),
        AnyScenario::Genesys(_)
    ));
    assert!(matches!(
        AnyScenario::load(&root.join("config/sim-small.toml")).unwrap(),
        AnyScenario::Simple(_)
    ));
    let text = std::fs::read_to_string(root.join("config/sim-genesys.toml")).unwrap();
    let wrong = text.replace(
        "initiating_shift = \"s-ana-mon\"",
        "initiating_shift = \"s-nope\"",
    );
    let e = Scenario::parse(&wrong, "x.toml").unwrap_err().to_string();
    assert!(e.contains("trades[0].initiating_shift"), "{e}");
}

#[tokio::test]
async fn a_generated_2000_agent_week_reaches_every_trade_state() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let g = start(Scenario::load(&root.join("config/sim-genesys-2000.toml")).unwrap()).await;
    let t = g.token("publisher").await;
    let path = "/api/v2/workforcemanagement/businessunits/bu-chicago/weeks/2026-11-30/schedules/sched-2000?expand=managementUnits.agents";
    assert_eq!(
        g.get(path, &t).await.body["managementUnits"][0]["agentCount"],
        2000
    );
    g.clock.advance(Duration::from_secs(30));
    let r = g.sim.record();
    let mut seen: Vec<TradeState> = r.trade_states.values().copied().collect();
    seen.sort_by_key(|s| s.name());
    seen.dedup();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(r.trade_failures.is_empty(), "{:?}", r.trade_failures);
}
