//! The admin HTTP endpoint: the status page, health, readiness, status,
//! Prometheus metrics, and an authenticated trigger. Bound to loopback unless configured.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::admin_connections::{accept_loop, Limits};
use super::{Daemon, NotStarted};
use crate::secret::Secret;

/// The process-wide metrics recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = super::metrics::with_buckets(PrometheusBuilder::new());
        match builder.install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (an embedding program): keep
            // serving the endpoint, empty.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// Binds `listen` and serves the endpoint on its own task until `stop`.
pub async fn serve(
    daemon: Arc<Daemon>,
    listen: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    prometheus();
    super::metrics::register(&daemon.settings());
    super::gauges::register(daemon.clock.now());
    super::admin_connections::register_metrics();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    *daemon.admin_addr.lock().expect("admin addr") = Some(listener.local_addr()?);
    let settings = daemon.settings();
    let limits = Limits {
        header_read_timeout: settings.admin.header_read_timeout,
        max_connections: settings.admin.max_connections,
        max_per_address: settings.admin.max_connections_per_address,
        grace: settings.workers.shutdown_grace,
    };
    let app = Router::new()
        .route("/", get(super::page::serve))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/targets/{name}/runs", post(trigger))
        .layer(middleware::from_fn_with_state(
            settings.admin.request_timeout,
            bounded,
        ))
        .layer(middleware::from_fn_with_state(
            listen.ip().is_loopback(),
            loopback_host,
        ))
        .with_state(daemon);
    Ok(tokio::spawn(accept_loop(listener, app, limits, stop)))
}

/// On a loopback address (where no token is required), a request must name
/// a loopback host: a page elsewhere that rebinds its own name to 127.0.0.1
/// (DNS rebinding) sends its name in `Host`, and is refused with 421.
async fn loopback_host(State(loopback): State<bool>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"));
    if loopback && !host.is_none_or(names_loopback) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            Json(json!({"error": "this endpoint answers only requests for localhost, 127.0.0.1 or [::1]"})),
        )
            .into_response();
    }
    next.run(request).await
}

/// Whether a `Host` header names this machine's loopback: `localhost`,
/// an address of 127.0.0.0/8 or `[::1]`, with or without a port.
fn names_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    crate::api::url::is_loopback_name(name)
}

/// Answers 503 to a request not answered within `limit`.
async fn bounded(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "the request was not answered in time"})),
        )
            .into_response(),
    }
}

/// Ready when the store answers and a token can be had. A recent token or
/// a recent failure is the answer without asking the OAuth server: frequent
/// probes with a wrong secret could get the OAuth client locked out there.
async fn readyz(State(daemon): State<Arc<Daemon>>) -> Response {
    // Said at once, from the lease's last round: a store call now would
    // only wait for the database to time out.
    if let Some(reason) = daemon.lease_unreachable() {
        return not_ready(format!("standby: database unreachable ({reason})"));
    }
    if let Err(e) = daemon.store.recent_runs(1) {
        return not_ready(e.to_string());
    }
    let engine = daemon.engine();
    // A standby is ready too: it is what takes over.
    let (role, _) = daemon.role();
    match tokio::time::timeout(Duration::from_secs(10), engine.platform().ready()).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(json!({"ready": true, "role": role}))).into_response(),
        Ok(Err(e)) => not_ready(e.to_string()),
        Err(_) => not_ready("the token endpoint did not answer within 10s".into()),
    }
}

fn not_ready(reason: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"ready": false, "reason": reason})),
    )
        .into_response()
}

async fn status(State(daemon): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    // Run summaries name targets, agents and problems: behind the token
    // when there is one.
    if let Some(expected) = &daemon.settings().admin.admin_token {
        if !authorized(&headers, expected) {
            return unauthorized();
        }
    }
    // The daemon says which targets run ("running" below).
    let unknown = crate::status::Publisher::Unknown;
    let stored = match crate::status::read(daemon.store.as_ref(), &unknown) {
        Ok(s) => s,
        Err(e) => return not_ready(e.to_string()),
    };
    let next = daemon.next_runs();
    let settings = daemon.settings();
    let targets: Vec<_> = settings
        .targets
        .values()
        .map(|t| {
            let last = stored.targets.iter().find(|s| t.name == s.target.as_str());
            json!({
                "name": t.name,
                "time_zone": t.time_zone.name(),
                "cron": t.cron,
                "next_run": next.get(&t.name),
                "running": daemon.is_running(&t.name),
                "phase": daemon.phase(&t.name),
                "retry": daemon.retry(&t.name),
                "adopt": daemon.adoption(&t.name),
                "last_run": last.map(|l| &l.last_run),
                "agents": last.map(|l| &l.agents),
            })
        })
        .collect();
    let (role, lease_holder) = daemon.role();
    Json(json!({
        "role": role,
        "lease_holder": lease_holder,
        "targets": targets,
        "pending_deferrals": stored.pending_deferrals,
    }))
    .into_response()
}

async fn metrics(State(daemon): State<Arc<Daemon>>) -> Response {
    let mut text = prometheus().render();
    text.push_str(&super::gauges::render(&daemon));
    text.push_str(&super::process_metrics::render());
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

/// Compares without stopping at the first difference, so timing tells an
/// attacker nothing about the token.
pub(super) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer` header; the scheme is matched
/// case-insensitively (RFC 6750 / RFC 9110 §11.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start())
}

/// Whether the request carries `expected` as its bearer token.
pub(super) fn authorized(headers: &HeaderMap, expected: &Secret) -> bool {
    bearer(headers).is_some_and(|given| same_secret(given.as_bytes(), expected.expose().as_bytes()))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [("www-authenticate", "Bearer")],
        Json(json!({"error": "a valid admin token is required"})),
    )
        .into_response()
}

async fn trigger(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let settings = daemon.settings();
    let Some(expected) = &settings.admin.admin_token else {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "triggering runs is off: set admin.token_file to turn it on"})),
        )
            .into_response();
    };
    if !authorized(&headers, expected) {
        return unauthorized();
    }
    match daemon.start_if_idle(&name, "admin trigger") {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({"target": name, "started": true})),
        )
            .into_response(),
        Err(NotStarted::Running) => (
            StatusCode::CONFLICT,
            Json(json!({"error": format!("a run of {name} is already running")})),
        )
            .into_response(),
        Err(NotStarted::Standby) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "this process is the standby: the one holding the lease runs targets"})),
        )
            .into_response(),
        Err(NotStarted::NoSuchTarget) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no target {name}")})),
        )
            .into_response(),
    }
}
