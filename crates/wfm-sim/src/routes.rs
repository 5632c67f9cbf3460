//! HTTP face of the simulator: thin handlers over [`Platform`], plus the
//! gateway behaviour every call shares (latency, injected failures, the
//! request record).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::platform::{ApiError, BucketKind, Caller, Platform, RateInfo};
use super::record::{ForbiddenCause, RequestEntry};
use super::scenario::Drawn;
use super::Shared;
use crate::in_flight::shown_path;

/// What a handler learned about the call, for the request record.
#[derive(Debug, Clone, Default)]
struct Observed {
    client_id: Option<String>,
    forbidden: Option<ForbiddenCause>,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/oauth/introspect", post(introspect))
        .route("/api/v2/organizations/me", get(organization))
        .route("/api/v2/wfm/schedule/templates", get(templates))
        .route("/api/v2/wfm/schedule/publish", post(publish))
        .route("/api/v2/wfm/schedule/agent/{agent_id}", put(write_agent))
        .route("/api/v2/wfm/schedule/{schedule_id}", get(schedule))
        .route("/api/v2/wfm/shiftswaps", get(list_swaps))
        .route("/api/v2/wfm/shiftswaps/{swap_id}", get(get_swap))
        .fallback(|| async { error_response(&ApiError::NotFound("no such endpoint".into()), true) })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            gateway,
        ))
        .with_state(shared)
}

async fn gateway(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = shown_path(&request);
    let _counted = shared.in_flight.enter();

    let Drawn {
        latency,
        hang,
        injected,
    } = draw_faults(&shared, &path);
    if !latency.is_zero() {
        shared.clock.sleep(latency).await;
    }
    if let Some(hang) = hang {
        shared.clock.sleep(hang).await;
    }
    let response = match injected {
        Some((status, retry_after)) => {
            let advertise = shared.advertise();
            error_response(
                &ApiError::Unavailable {
                    status,
                    retry_after,
                },
                advertise,
            )
        }
        None => next.run(request).await,
    };

    record(&shared, method, path, &response);
    response
}

fn draw_faults(shared: &Shared, path: &str) -> Drawn {
    let mut p = shared.platform.lock().expect("simulator state");
    let faults = p.scenario.faults.clone();
    faults.draw(&mut p.rng, path)
}

/// Adds the request and its answer to the record.
fn record(shared: &Shared, method: String, path: String, response: &Response) {
    let observed = response
        .extensions()
        .get::<Observed>()
        .cloned()
        .unwrap_or_default();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let retry_after = header("retry-after").or_else(|| {
        (header("x-ratelimit-remaining") == Some(0))
            .then(|| header("x-ratelimit-reset"))
            .flatten()
    });
    let mut p = shared.platform.lock().expect("simulator state");
    let at = shared.server_now(&p);
    p.record.requests.push(RequestEntry {
        at,
        method,
        path,
        status: response.status().as_u16(),
        client_id: observed.client_id,
        forbidden: observed.forbidden,
        retry_after,
    });
}

fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn error_response(error: &ApiError, advertise: bool) -> Response {
    let (status, body, retry_after) = error_parts(error, advertise);
    let mut response = (status, Json(body)).into_response();
    if let Some(seconds) = retry_after {
        set(&mut response, "retry-after", seconds.to_string());
    }
    if let ApiError::Forbidden(cause) = error {
        response.extensions_mut().insert(Observed {
            client_id: None,
            forbidden: Some(cause.clone()),
        });
    }
    response
}

/// An error's status, JSON body and `Retry-After`, as the contract says.
fn error_parts(error: &ApiError, advertise: bool) -> (StatusCode, serde_json::Value, Option<u64>) {
    let body = |status: u16, code: &str, message: &str| json!({"status": status, "code": code, "message": message, "correlationId": correlation_id()});
    match error {
        ApiError::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            body(401, "unauthorized", "Authentication required"),
            None,
        ),
        // One body for every cause: the platform never says why.
        ApiError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            body(
                403,
                "forbidden",
                "Insufficient permissions to perform this action",
            ),
            None,
        ),
        ApiError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            body(404, "not_found", &format!("{what} not found")),
            None,
        ),
        ApiError::Invalid {
            code,
            message,
            details,
        } => {
            let mut b = body(400, code, message);
            b["details"] = json!(details);
            (StatusCode::BAD_REQUEST, b, None)
        }
        ApiError::Locked { retry_after } => (
            StatusCode::CONFLICT,
            body(
                409,
                "schedule_locked",
                "A publish of this schedule is in progress",
            ),
            Some(*retry_after),
        ),
        ApiError::RateLimited { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            body(429, "too_many_requests", "Rate limit exceeded"),
            advertise.then_some(*retry_after),
        ),
        ApiError::Unavailable {
            status,
            retry_after,
        } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            body(*status, "service_unavailable", "Try again later"),
            *retry_after,
        ),
        ApiError::OAuth {
            status,
            error,
            description,
        } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            json!({"error": error, "error_description": description}),
            None,
        ),
    }
}

fn set(response: &mut Response, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, v);
    }
}

fn rate_headers(response: &mut Response, info: RateInfo) {
    set(response, "x-ratelimit-limit", info.limit.to_string());
    set(
        response,
        "x-ratelimit-remaining",
        info.remaining.to_string(),
    );
    set(response, "x-ratelimit-reset", info.reset_secs.to_string());
}

/// Authenticates a call and takes it from its rate-limit bucket.
fn gate(
    shared: &Shared,
    p: &mut Platform,
    headers: &HeaderMap,
    path: &str,
    bucket: BucketKind,
) -> Result<(Caller, RateInfo), Box<Response>> {
    let now = shared.server_now(p);
    let advertise = p.scenario.server.advertise_rate_limits;
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let caller = p
        .authenticate(bearer, path, now)
        .map_err(|e| Box::new(error_response(&e, advertise)))?;
    match p.take(&caller.client_id, bucket, now) {
        Ok(info) => Ok((caller, info)),
        Err((e, info)) => {
            let mut r = error_response(&e, advertise);
            if advertise {
                rate_headers(&mut r, info);
            }
            observe_client(&mut r, &caller.client_id);
            Err(Box::new(r))
        }
    }
}

fn observe_client(response: &mut Response, client_id: &str) {
    let mut observed = response
        .extensions()
        .get::<Observed>()
        .cloned()
        .unwrap_or_default();
    observed.client_id = Some(client_id.to_owned());
    response.extensions_mut().insert(observed);
}

fn finish(
    result: Result<Value, ApiError>,
    caller: &Caller,
    info: RateInfo,
    advertise: bool,
) -> Response {
    let mut response = match result {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => error_response(&e, advertise),
    };
    if advertise {
        rate_headers(&mut response, info);
    }
    observe_client(&mut response, &caller.client_id);
    response
}

/// Runs one ordinary (non-publish) API call end to end.
fn api_call(
    shared: &Shared,
    headers: &HeaderMap,
    path: &str,
    handler: impl FnOnce(
        &mut Platform,
        &Caller,
        chrono::DateTime<chrono::Utc>,
    ) -> Result<Value, ApiError>,
) -> Response {
    let mut p = shared.platform.lock().expect("simulator state");
    let advertise = p.scenario.server.advertise_rate_limits;
    let (caller, info) = match gate(shared, &mut p, headers, path, BucketKind::Default) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let now = shared.server_now(&p);
    let result = if p.scenario.faults.forbids(path) {
        Err(ApiError::Forbidden(ForbiddenCause::Unexplained))
    } else {
        handler(&mut p, &caller, now)
    };
    finish(result, &caller, info, advertise)
}

async fn organization(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    api_call(&shared, &headers, "/api/v2/organizations/me", |p, c, _| {
        p.organization(c)
    })
}

async fn templates(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    api_call(
        &shared,
        &headers,
        "/api/v2/wfm/schedule/templates",
        |p, c, _| p.templates(c),
    )
}

async fn schedule(
    State(shared): State<Arc<Shared>>,
    Path(schedule_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/api/v2/wfm/schedule/{schedule_id}");
    api_call(&shared, &headers, &path, |p, c, _| {
        p.get_schedule(c, &schedule_id)
    })
}

async fn list_swaps(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    api_call(&shared, &headers, "/api/v2/wfm/shiftswaps", |p, c, now| {
        p.list_swaps(c, &query, now)
    })
}

async fn get_swap(
    State(shared): State<Arc<Shared>>,
    Path(swap_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/api/v2/wfm/shiftswaps/{swap_id}");
    api_call(&shared, &headers, &path, |p, c, now| {
        p.get_swap(c, &swap_id, now)
    })
}

async fn write_agent(
    State(shared): State<Arc<Shared>>,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/api/v2/wfm/schedule/agent/{agent_id}");
    api_call(&shared, &headers, &path, |p, c, now| {
        p.write_agent(c, &agent_id, &body, now)
    })
}

async fn publish(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let path = "/api/v2/wfm/schedule/publish";
    let (caller, info, advertise, request, duration) = {
        let mut p = shared.platform.lock().expect("simulator state");
        let advertise = p.scenario.server.advertise_rate_limits;
        let (caller, info) = match gate(&shared, &mut p, &headers, path, BucketKind::Publish) {
            Ok(g) => g,
            Err(r) => return *r,
        };
        let now = shared.server_now(&p);
        match p.begin_publish(&caller, &body, now) {
            Ok(request) => {
                let duration = p.scenario.server.publish_duration;
                (caller, info, advertise, request, duration)
            }
            Err(e) => return finish(Err(e), &caller, info, advertise),
        }
    };
    // The lock is held while the platform "works", so concurrent writes and
    // publishes of this schedule meet a 409. The work is the platform's, not
    // the connection's: a caller that hangs up (a publisher killed mid-call)
    // does not stop it, or the schedule would stay locked for good.
    let work = tokio::spawn({
        let shared = shared.clone();
        async move {
            shared.clock.sleep(duration).await;
            let mut p = shared.platform.lock().expect("simulator state");
            let now = shared.server_now(&p);
            p.finish_publish(&request, now)
        }
    });
    let result = work.await.expect("a publish's work does not panic");
    finish(Ok(result), &caller, info, advertise)
}

pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1) or, failing that,
/// the form.
pub(super) fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    use base64::Engine;
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(pair) = basic {
        let (id, secret) = pair.split_once(':')?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Some((decode(id), decode(secret)));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

fn oauth_call(shared: &Shared, headers: &HeaderMap, body: &[u8], is_token: bool) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut p = shared.platform.lock().expect("simulator state");
    let now = shared.server_now(&p);
    if is_token {
        p.record.token_requests += 1;
    }
    if is_token && p.token_endpoint_down(now) {
        return error_response(
            &ApiError::Unavailable {
                status: 503,
                retry_after: None,
            },
            false,
        );
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return error_response(
            &ApiError::OAuth {
                status: 400,
                error: "invalid_request",
                description: "Content-Type must be application/x-www-form-urlencoded".into(),
            },
            false,
        );
    }
    let form = form(body);
    let credentials = client_credentials(headers, &form);
    let result = if is_token {
        p.issue_token(credentials, &form, now)
    } else {
        p.introspect(credentials, &form, now)
    };
    match result {
        Ok(v) => {
            let mut r = (StatusCode::OK, Json(v)).into_response();
            set(&mut r, "cache-control", "no-store".into());
            r
        }
        Err(e) => error_response(&e, false),
    }
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    oauth_call(&shared, &headers, &body, true)
}

async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    oauth_call(&shared, &headers, &body, false)
}
