//! The admin HTTP endpoint: health, readiness, status, Prometheus metrics,
//! and an authenticated trigger. Bound to loopback unless configured.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Daemon, NotStarted};
use crate::secret::Secret;

/// The process-wide metrics recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        match builder.install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (an embedding program): keep
            // serving the endpoint, empty.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

pub async fn serve(
    daemon: Arc<Daemon>,
    listen: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    prometheus();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    *daemon.admin_addr.lock().expect("admin addr") = Some(listener.local_addr()?);
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/targets/{name}/runs", post(trigger))
        .with_state(daemon);
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "admin endpoint stopped");
        }
    }))
}

/// Ready when the store answers and a token can be had.
async fn readyz(State(daemon): State<Arc<Daemon>>) -> Response {
    if let Err(e) = daemon.store.recent_runs(1) {
        return not_ready(e.to_string());
    }
    let engine = daemon.engine();
    match tokio::time::timeout(Duration::from_secs(10), engine.platform().ready()).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(json!({"ready": true}))).into_response(),
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
    let stored = match crate::status::read(daemon.store.as_ref()) {
        Ok(s) => s,
        Err(e) => return not_ready(e.to_string()),
    };
    let next = daemon.next_runs();
    let settings = daemon.settings();
    let targets: Vec<_> = settings
        .targets
        .values()
        .map(|t| {
            let last = stored.targets.iter().find(|s| s.target == t.name);
            json!({
                "name": t.name,
                "time_zone": t.time_zone.name(),
                "cron": t.cron,
                "next_run": next.get(&t.name),
                "running": daemon.is_running(&t.name),
                "last_run": last.map(|l| &l.last_run),
                "agents": last.map(|l| &l.agents),
            })
        })
        .collect();
    Json(json!({
        "targets": targets,
        "pending_deferrals": stored.pending_deferrals,
    }))
    .into_response()
}

async fn metrics(State(daemon): State<Arc<Daemon>>) -> Response {
    if let Ok(pending) = daemon.store.pending_deferrals() {
        metrics::gauge!("wfm_pending_deferrals").set(pending.len() as f64);
    }
    let now = daemon.clock.now();
    for (target, at) in daemon.next_runs() {
        let secs = (at - now).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::gauge!("wfm_seconds_until_next_run", "target" => target).set(secs);
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        prometheus().render(),
    )
        .into_response()
}

/// Compares without stopping at the first difference, so timing tells an
/// attacker nothing about the token.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
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
fn authorized(headers: &HeaderMap, expected: &Secret) -> bool {
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
        Err(NotStarted::NoSuchTarget) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no target {name}")})),
        )
            .into_response(),
    }
}
