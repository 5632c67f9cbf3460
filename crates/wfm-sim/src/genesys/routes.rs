//! The HTTP face: thin handlers over [`State`], and the gateway every call
//! passes (faults, authentication, the per-token limit, the
//! `inin-ratelimit-*` and `ININ-Correlation-Id` headers, error bodies, the
//! request record).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Extension, Path, Query, Request, State as Axum};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::access::{Caller, RateInfo};
use super::errors::GError;
use super::state::State;
use super::Shared;
use crate::in_flight::shown_path;
use crate::limits::secs_until;

type Ctx = Axum<Arc<Shared>>;
type Q = Query<HashMap<String, String>>;
const WFM: &str = "/api/v2/workforcemanagement";

pub fn router(shared: Arc<Shared>) -> Router {
    let bu = format!("{WFM}/businessunits/{{bu}}");
    let sched = format!("{bu}/weeks/{{week}}/schedules/{{sid}}");
    Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v2/tokens/me", get(|c: Ctx, Extension(k): Extension<Caller>| async move { call(&c, |s, _| Ok(s.token_info(&k))) }))
        .route("/api/v2/organizations/me", get(organization))
        .route("/api/v2/authorization/divisionspermitted/paged/me", get(|c: Ctx, Extension(k): Extension<Caller>, Query(q): Q| async move { call(&c, |s, _| s.divisions_permitted(&k, &q)) }))
        .route("/api/v2/authorization/subjects/me", get(|c: Ctx, Extension(k): Extension<Caller>| async move { call(&c, |s, _| Ok(s.subject(&k))) }))
        .route("/api/v2/users/search", post(|c: Ctx, b: Bytes| async move { call(&c, |s, _| s.search_users(&b)) }))
        .route(&format!("{WFM}/businessunits"), get(|c: Ctx, Extension(k): Extension<Caller>, Query(q): Q| async move { call(&c, |s, _| s.business_units(&k, &q)) }))
        .route(&bu, get(|c: Ctx, Extension(k): Extension<Caller>, Path(bu): Path<String>, Query(q): Q| async move { call(&c, |s, _| s.business_unit_json(&k, &bu, &q)) }))
        .route(&format!("{bu}/managementunits"), get(|c: Ctx, Extension(k): Extension<Caller>, Path(bu): Path<String>| async move { call(&c, |s, _| s.management_units(&k, &bu)) }))
        .route(&format!("{bu}/activitycodes"), get(|c: Ctx, Extension(k): Extension<Caller>, Path(bu): Path<String>| async move { call(&c, |s, _| s.activity_codes(&k, &bu)) }))
        .route(&format!("{bu}/weeks/{{week}}/schedules"), get(list_schedules).post(create_schedule))
        .route(&sched, get(get_schedule))
        .route(&format!("{sched}/agentschedules/query"), post(query_agents))
        .route(&format!("{sched}/update/uploadurl"), post(upload_url))
        .route(&format!("{sched}/update"), post(update))
        .route(&format!("{bu}/shifttrading/trades/query/jobs"), post(query_trades))
        .route(&format!("{bu}/shifttrading/trades/query/jobs/{{job}}"), get(|c: Ctx, Extension(k): Extension<Caller>, Path((bu, job)): Path<(String, String)>| async move { call(&c, |s, now| s.trade_job(&k, &bu, &job, now)) }))
        .route(&format!("{WFM}/managementunits/{{mu}}/weeks/{{week}}/shifttrades"), get(|c: Ctx, Extension(k): Extension<Caller>, Path((mu, week)): Path<(String, String)>| async move { call(&c, |s, now| s.legacy_trades(&k, (&mu, &week), now)) }))
        .route("/api/v2/notifications/channels", post(|c: Ctx, Extension(k): Extension<Caller>| async move { call(&c, |s, now| s.create_channel(&k, now)) }))
        .route("/api/v2/notifications/channels/{id}/subscriptions", get(subscriptions).put(subscribe_replace).post(subscribe_add))
        .route("/uploads/{key}", put(put_upload))
        .route("/downloads/{key}", get(download))
        .route("/channels/{id}", get(websocket))
        .fallback(|| async { failure(GError::NotFound("no such endpoint".into())) })
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gateway))
        .with_state(shared)
}

/// A refusal, rendered by the gateway once it knows the correlation id.
fn failure(e: GError) -> Response {
    let mut r = e.status().into_response();
    r.extensions_mut().insert(e);
    r
}

fn reply(result: Result<Value, GError>) -> Response {
    match result {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => failure(e),
    }
}

/// Runs a handler on the locked state at the clock's now.
fn call(
    shared: &Shared,
    f: impl FnOnce(&mut State, DateTime<Utc>) -> Result<Value, GError>,
) -> Response {
    let now = shared.now();
    let mut st = shared.lock();
    reply(f(&mut st, now))
}

type Sched = Path<(String, String, String)>;

async fn organization(c: Ctx) -> Response {
    call(&c, |s, _| {
        let o = &s.scenario.organization;
        Ok(serde_json::json!({"id": o.id, "name": o.name, "state": "active", "domain": o.id}))
    })
}

async fn list_schedules(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path((bu, week)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    call(&c, |s, _| s.list_schedules(&k, &bu, &week, &q))
}

async fn create_schedule(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path((bu, week)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    call(&c, |s, now| s.create_blank(&k, &bu, &week, &b, now))
}

async fn get_schedule(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path((bu, week, sid)): Sched,
    Query(q): Q,
) -> Response {
    call(&c, |s, _| s.get_schedule(&k, (&bu, &week, &sid), &q))
}

async fn query_agents(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path((bu, week, sid)): Sched,
    b: Bytes,
) -> Response {
    call(&c, |s, now| s.query_agents(&k, (&bu, &week, &sid), &b, now))
}

async fn upload_url(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path((bu, week, sid)): Sched,
    b: Bytes,
) -> Response {
    call(&c, |s, now| s.upload_url(&k, (&bu, &week, &sid), &b, now))
}

/// `…/update`: answers at once; an operation left `Processing` ends
/// `operation_delay` later on the clock, and its event goes out then.
async fn update(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path((bu, week, sid)): Sched,
    b: Bytes,
) -> Response {
    let now = c.now();
    let mut st = c.lock();
    let (answer, pending) = match st.process_update(&k, (&bu, &week, &sid), &b, now) {
        Ok(done) => done,
        Err(e) => return failure(e),
    };
    if let Some(operation_id) = pending {
        let delay = st.scenario.server.operation_delay;
        let shared = c.0.clone();
        tokio::spawn(async move {
            shared.clock.sleep(delay).await;
            let now = shared.now();
            let mut st = shared.lock();
            let (bu, event) = st.complete_operation(&operation_id, now);
            st.notify(&super::update::topic(&bu), event);
        });
    }
    reply(Ok(answer))
}

async fn query_trades(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path(bu): Path<String>,
    b: Bytes,
) -> Response {
    let now = c.now();
    let mut st = c.lock();
    match st.query_trades(&k, &bu, &b, now) {
        Ok((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            Json(body),
        )
            .into_response(),
        Err(e) => failure(e),
    }
}

async fn subscriptions(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    call(&c, |s, now| s.subscriptions(&k, &id, now))
}

async fn subscribe_replace(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path(id): Path<String>,
    b: Bytes,
) -> Response {
    call(&c, |s, now| s.subscribe(&k, &id, &b, true, now))
}

async fn subscribe_add(
    c: Ctx,
    Extension(k): Extension<Caller>,
    Path(id): Path<String>,
    b: Bytes,
) -> Response {
    call(&c, |s, now| s.subscribe(&k, &id, &b, false, now))
}

async fn put_upload(
    c: Ctx,
    Path(key): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
    b: Bytes,
) -> Response {
    let now = c.now();
    let mut st = c.lock();
    match st.put_upload(&key, &q, &headers, &b, now) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(refusal) => {
            let mut r = (refusal.status, refusal.xml()).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/xml"));
            r
        }
    }
}

async fn download(c: Ctx, Path(key): Path<String>) -> Response {
    match c.lock().downloads.get(&key) {
        Some(body) => (StatusCode::OK, Json(body.clone())).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn websocket(c: Ctx, Path(id): Path<String>, upgrade: WebSocketUpgrade) -> Response {
    let now = c.now();
    let Some(rx) = c.lock().connect(&id, now) else {
        return failure(GError::NotFound(format!("channel {id}")));
    };
    upgrade.on_upgrade(move |socket| super::notifications::pump(socket, rx))
}

async fn token(c: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let form = crate::routes::form(&body);
    let credentials = crate::routes::client_credentials(&headers, &form);
    let now = c.now();
    let mut st = c.lock();
    st.record.token_requests += 1;
    let elapsed = (now - st.started).to_std().unwrap_or_default();
    let faults = st.scenario.faults.clone();
    if faults.token_down(elapsed, &mut st.rng) {
        return failure(GError::Unavailable {
            status: 503,
            retry_after: None,
        });
    }
    let form_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return failure(GError::oauth(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    reply(st.issue_token(credentials, &form, now))
}

/// What the gateway learned before the handler ran.
struct Admitted {
    caller: Option<Caller>,
    rate: Option<RateInfo>,
}

/// Authenticates an `/api/v2` call, takes it from its token's window and
/// moves the trades to now.
fn admit(
    shared: &Shared,
    request: &mut Request,
    path: &str,
) -> Result<Admitted, (GError, Admitted)> {
    let mut admitted = Admitted {
        caller: None,
        rate: None,
    };
    if !path.starts_with("/api/v2/") {
        return Ok(admitted);
    }
    let now = shared.now();
    let mut st = shared.lock();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let caller = st.authenticate(authorization, now).map_err(|e| {
        (
            e,
            Admitted {
                caller: None,
                rate: None,
            },
        )
    })?;
    admitted.caller = Some(caller.clone());
    match st.take_token_call(&caller, now) {
        Ok(info) => admitted.rate = Some(info),
        Err((e, info)) => {
            admitted.rate = Some(info);
            return Err((e, admitted));
        }
    }
    if st.scenario.faults.forbids(path) {
        return Err((GError::missing(&["(unexplained)"]), admitted));
    }
    st.advance_trades(now);
    request.extensions_mut().insert(caller);
    Ok(admitted)
}

async fn gateway(Axum(shared): Ctx, mut request: Request, next: Next) -> Response {
    let correlation = uuid::Uuid::new_v4().to_string();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let shown = shown_path(&request);
    let _counted = shared.in_flight.enter();
    let drawn = {
        let mut st = shared.lock();
        let faults = st.scenario.faults.clone();
        faults.draw(&mut st.rng, &path)
    };
    if !drawn.latency.is_zero() {
        shared.clock.sleep(drawn.latency).await;
    }
    if let Some(hang) = drawn.hang {
        shared.clock.sleep(hang).await;
    }
    let (mut response, admitted) = match drawn.injected {
        Some((status, retry_after)) => (
            failure(GError::Unavailable {
                status,
                retry_after,
            }),
            None,
        ),
        None => match admit(&shared, &mut request, &path) {
            Ok(a) => (next.run(request).await, Some(a)),
            Err((e, a)) => (failure(e), Some(a)),
        },
    };
    let style = shared.lock().scenario.server.permission_errors;
    let code = render(&mut response, &correlation, style);
    decorate(
        &shared,
        &mut response,
        admitted.as_ref().and_then(|a| a.rate),
        &correlation,
    );
    let client_id = admitted.and_then(|a| a.caller).map(|c| c.client_id);
    let mut st = shared.lock();
    let at = shared.now();
    st.record.requests.push(super::record::RequestEntry {
        at,
        method,
        path: shown,
        status: response.status().as_u16(),
        client_id,
        code,
        correlation_id: correlation,
    });
    drop(st);
    response
}

/// Puts a refusal's body on the wire; its code, for the record.
fn render(
    response: &mut Response,
    correlation: &str,
    style: super::scenario::PermissionErrors,
) -> Option<String> {
    let e = response.extensions_mut().remove::<GError>()?;
    let mut rendered = (e.status(), Json(e.body(correlation, style))).into_response();
    if let Some(secs) = e.retry_after() {
        set(&mut rendered, "retry-after", secs.to_string());
    }
    *response = rendered;
    Some(e.code().to_owned())
}

/// The headers every answer carries.
fn decorate(shared: &Shared, response: &mut Response, rate: Option<RateInfo>, correlation: &str) {
    let info = rate.unwrap_or_else(|| {
        let bucket = shared.lock().scenario.rate_limits.per_token;
        let now = shared.now();
        RateInfo {
            allowed: bucket.limit,
            count: 0,
            reset_secs: secs_until(now, now + wfm_clock::delta(bucket.window)),
        }
    });
    set(response, "inin-ratelimit-allowed", info.allowed.to_string());
    set(response, "inin-ratelimit-count", info.count.to_string());
    set(
        response,
        "inin-ratelimit-reset",
        info.reset_secs.to_string(),
    );
    set(response, "inin-correlation-id", correlation.to_owned());
}

fn set(response: &mut Response, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, v);
    }
}
