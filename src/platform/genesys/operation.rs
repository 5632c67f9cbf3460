//! One schedule update, end to end (genesys-cloud/CONTRACT.md §5 steps
//! 7–10): subscribe to the business unit's schedules topic, get an upload
//! URL for the gzip body's exact length, `PUT` it with the returned
//! headers, `POST …/update`, and follow the asynchronous operation to its
//! end on the websocket; without a socket, re-read the schedule's version.
//! One update per business unit at a time: the caller holds its lock.

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use super::http::GenesysHttp;
use super::setup::Facts;
use super::wire::{AsyncOperation, Channel, Event, ScheduleMeta, Subscription, Upload, UploadUrl};
use crate::api::PlatformError;
use crate::clock::SharedClock;

/// How often the fallback re-reads the schedule's version.
const POLL: Duration = Duration::from_secs(2);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How an update ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Complete,
    /// `Error` or `Canceled`: the platform gives no reason; a stale version
    /// or invalid data are the likely ones.
    Failed {
        operation_id: String,
        status: String,
    },
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// Sends `upload` as one update of the run's schedule and waits for its end.
pub async fn update(
    http: &GenesysHttp,
    clock: &SharedClock,
    facts: &Facts,
    upload: &Upload,
    deadline: Duration,
) -> Result<Ended, PlatformError> {
    let socket = subscribe(http, facts).await;
    let body = gzip(&serde_json::to_vec(upload).expect("uploads serialize"));
    let path = facts.schedule_path();
    let url: UploadUrl = http
        .json(
            Method::POST,
            &format!("{path}/update/uploadurl"),
            Some(&json!({"contentLengthBytes": body.len()})),
        )
        .await?;
    http.put_upload(&url.url, &url.headers, body).await?;
    let started: AsyncOperation = http
        .json(
            Method::POST,
            &format!("{path}/update"),
            Some(&json!({"uploadKey": url.upload_key})),
        )
        .await?;
    let operation_id = started.operation_id.clone().unwrap_or_default();
    tracing::info!(operation = %operation_id, status = %started.status, "schedule update sent");
    match started.status.as_str() {
        "Complete" => return Ok(Ended::Complete),
        "Error" | "Canceled" => {
            return Ok(Ended::Failed {
                operation_id,
                status: started.status,
            })
        }
        _ => {}
    }
    let waited = match socket {
        Some(socket) => on_socket(socket, &operation_id, clock, deadline).await,
        None => None,
    };
    match waited {
        Some(ended) => Ok(ended),
        None => {
            by_version(
                http,
                clock,
                facts,
                upload.metadata.version,
                &operation_id,
                deadline,
            )
            .await
        }
    }
}

/// A socket subscribed to the business unit's schedules topic, or none
/// (the caller then re-reads versions): a missing permission for the topic
/// comes back `Rejected`, and a socket is a convenience, not a requirement.
async fn subscribe(http: &GenesysHttp, facts: &Facts) -> Option<Socket> {
    let topic = format!(
        "v2.workforcemanagement.businessunits.{}.schedules",
        facts.business_unit
    );
    let channel: Channel = match http
        .json(Method::POST, "api/v2/notifications/channels", None::<&()>)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(error = %e, "no notification channel: following the update by its version");
            return None;
        }
    };
    let path = format!("api/v2/notifications/channels/{}/subscriptions", channel.id);
    let answer: Result<crate::platform::genesys::wire::Entities<Subscription>, _> = http
        .json(Method::PUT, &path, Some(&json!([{"id": topic}])))
        .await;
    match answer {
        Ok(s)
            if s.entities
                .iter()
                .any(|s| s.state.as_deref() == Some("Rejected")) =>
        {
            let missing: Vec<String> = s
                .entities
                .into_iter()
                .flat_map(|s| s.missing_permissions)
                .collect();
            tracing::warn!(topic = %topic, missing = %missing.join(", "), "the notification topic was rejected: following the update by its version");
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::info!(error = %e, "no subscription: following the update by its version");
            return None;
        }
    }
    match tokio_tungstenite::connect_async(channel.connect_uri.as_str()).await {
        Ok((socket, _)) => Some(socket),
        Err(e) => {
            tracing::info!(reason = %e, "the notification socket did not open: following the update by its version");
            None
        }
    }
}

/// The operation's end as the socket tells it; None when the socket
/// closes or stays silent past `deadline`.
async fn on_socket(
    mut socket: Socket,
    operation_id: &str,
    clock: &SharedClock,
    deadline: Duration,
) -> Option<Ended> {
    let timeout = clock.sleep(deadline);
    tokio::pin!(timeout);
    loop {
        let message = tokio::select! {
            m = socket.next() => m,
            _ = &mut timeout => return None,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        };
        let Ok(event) = serde_json::from_str::<Event>(&text) else {
            continue;
        };
        let Some(body) = event.event_body else {
            continue;
        };
        // Users report bare `{"status":"Error"}` events without an id; with
        // one update of this business unit at a time, it is this one.
        let ours = body
            .operation_id
            .as_deref()
            .is_none_or(|id| id == operation_id);
        match body.status.as_deref() {
            Some("Complete") if ours => return Some(Ended::Complete),
            Some(status @ ("Error" | "Canceled")) if ours => {
                return Some(Ended::Failed {
                    operation_id: operation_id.to_owned(),
                    status: status.to_owned(),
                })
            }
            _ => {}
        }
    }
}

/// The fallback: the update is applied once the schedule's version moves.
async fn by_version(
    http: &GenesysHttp,
    clock: &SharedClock,
    facts: &Facts,
    sent: u64,
    operation_id: &str,
    deadline: Duration,
) -> Result<Ended, PlatformError> {
    let started = clock.now();
    loop {
        let meta: ScheduleMeta = http
            .json(Method::GET, &facts.schedule_path(), None::<&()>)
            .await?;
        if meta.metadata.version > sent {
            return Ok(Ended::Complete);
        }
        if (clock.now() - started).to_std().unwrap_or_default() >= deadline {
            return Ok(Ended::Failed {
                operation_id: operation_id.to_owned(),
                status: "without a new version".into(),
            });
        }
        clock.sleep(POLL).await;
    }
}
