//! One schedule update, end to end (genesys-cloud/CONTRACT.md §5 steps
//! 7–10): subscribe to the business unit's schedules topic, get an upload
//! URL for the gzip body's exact length, `PUT` it with the returned
//! headers, `POST …/update`, and follow the asynchronous operation to its
//! end on the websocket; without a socket, read back what it carried each
//! time the schedule's version moves (anyone's edit moves it: a moved
//! version alone proves nothing).
//! Each step is journaled before the next is sent (`platform::journal`).
//! One update per business unit at a time: the caller holds its lock.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use super::http::GenesysHttp;
use super::setup::Facts;
use super::weeks;
use super::wire::{AsyncOperation, Channel, Event, ScheduleMeta, Subscription, Upload, UploadUrl};
use crate::api::PlatformError;
use crate::clock::SharedClock;
use crate::echo::echo;
use crate::platform::journal::{
    CarriedWeek, Journal, Operation, OperationEvent, OperationState, Tracked,
};

/// How often the fallback re-reads the schedule's version.
const POLL: Duration = Duration::from_secs(2);

/// How long the notifications websocket may take to open: a host that
/// accepts the connection and never answers must not hold the run.
const SOCKET_OPEN: Duration = Duration::from_secs(10);

pub type Socket =
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

/// What sending and following an update needs: the run's view of the
/// platform and its journal, where each step is recorded before the next
/// is sent.
pub struct Updater<'a> {
    pub http: &'a GenesysHttp,
    pub clock: &'a SharedClock,
    pub facts: &'a Facts,
    /// How long an update may take to end.
    pub deadline: Duration,
    pub journal: Arc<dyn Journal>,
}

impl Updater<'_> {
    /// Sends `upload`, carrying `agents`' weeks, as one update of the
    /// run's schedule and waits for its end. The upload key is journaled
    /// before the upload, the upload before `…/update`, the operation's id
    /// before it is followed, and its end.
    pub async fn send(
        &self,
        upload: &Upload,
        agents: Vec<CarriedWeek>,
    ) -> Result<Ended, PlatformError> {
        let socket = subscribe(self.http, self.facts).await;
        let body = gzip(&serde_json::to_vec(upload).expect("uploads serialize"));
        let url: UploadUrl = self
            .http
            .json(
                Method::POST,
                &format!("{}/update/uploadurl", self.facts.schedule_path()),
                Some(&json!({"contentLengthBytes": body.len()})),
            )
            .await?;
        let operation = Operation {
            schedule_id: self.facts.schedule_id.clone(),
            upload_key: url.upload_key.clone(),
            issued_at: self.clock.now(),
            schedule_version: upload.metadata.version,
            sets_published: upload.published == Some(true),
            agents,
            state: OperationState::Uploading,
        };
        let mut op = Tracked::begin(self.journal.clone(), operation)?;
        if let Err(e) = self.http.put_upload(&url.url, &url.headers, body).await {
            // Its key never reaches `…/update`.
            op.on(OperationEvent::Abandoned, self.clock.now())?;
            return Err(e);
        }
        op.on(OperationEvent::Uploaded, self.clock.now())?;
        self.submit(&mut op, socket).await
    }

    /// `POST …/update` with the operation's upload key, then follows the
    /// operation to its end.
    pub async fn submit(
        &self,
        op: &mut Tracked,
        socket: Option<Socket>,
    ) -> Result<Ended, PlatformError> {
        let started: AsyncOperation = self
            .http
            .json(
                Method::POST,
                &format!("{}/update", self.facts.schedule_path()),
                Some(&json!({"uploadKey": op.operation.upload_key})),
            )
            .await?;
        let operation_id = started.operation_id.clone().unwrap_or_default();
        let submitted = OperationEvent::Submitted {
            operation_id: operation_id.clone(),
        };
        op.on(submitted, self.clock.now())?;
        tracing::info!(operation = %echo(&operation_id), status = %echo(&started.status), "schedule update sent");
        let ended = match started.status.as_str() {
            "Complete" => Ended::Complete,
            "Error" | "Canceled" => Ended::Failed {
                operation_id,
                status: started.status,
            },
            _ => {
                self.follow(socket, &op.operation, Some(&operation_id))
                    .await?
            }
        };
        let event = match ended {
            Ended::Complete => OperationEvent::Completed,
            Ended::Failed { .. } => OperationEvent::Failed,
        };
        op.on(event, self.clock.now())?;
        Ok(ended)
    }

    /// The end of an operation in flight: on the socket, else (or when it
    /// falls silent) by reading back what it carried. Without an id, any
    /// end of an update of the business unit is this one's: one update per
    /// business unit is in flight at a time.
    pub async fn follow(
        &self,
        socket: Option<Socket>,
        operation: &Operation,
        operation_id: Option<&str>,
    ) -> Result<Ended, PlatformError> {
        let waited = match socket {
            Some(socket) => on_socket(socket, operation_id, self.clock, self.deadline).await,
            None => None,
        };
        match waited {
            Some(ended) => Ok(ended),
            None => {
                let id = operation_id.unwrap_or("(unknown)");
                self.by_content(operation, id).await
            }
        }
    }

    /// The fallback without a socket: applied once every agent the update
    /// carried holds what it carried (and the schedule is published, if it
    /// set the flag), looked at each time the schedule's version moves past
    /// the one it was built on. A moved version alone proves nothing: an
    /// administrator's save moves it too, and then this update ends in
    /// `Error`. Not applied within the deadline: failed.
    async fn by_content(
        &self,
        operation: &Operation,
        operation_id: &str,
    ) -> Result<Ended, PlatformError> {
        let started = self.clock.now();
        let mut looked_at = operation.schedule_version;
        loop {
            let meta: ScheduleMeta = self
                .http
                .json(Method::GET, &self.facts.schedule_path(), None::<&()>)
                .await?;
            if meta.metadata.version > looked_at {
                looked_at = meta.metadata.version;
                if look(self, operation).await? == Look::Applied {
                    return Ok(Ended::Complete);
                }
            }
            if (self.clock.now() - started).to_std().unwrap_or_default() >= self.deadline {
                return Ok(Ended::Failed {
                    operation_id: operation_id.to_owned(),
                    status: "not applied: its agents do not hold what it carried".into(),
                });
            }
            self.clock.sleep(POLL).await;
        }
    }
}

/// An operation as the platform shows it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Applied,
    /// The schedule moved on without it.
    NotApplied,
    /// The schedule is still at the version it was built on.
    Pending,
}

/// Whether `op` is applied: every agent it carried holds what it carried,
/// and the schedule is published if it set the flag.
pub async fn look(u: &Updater<'_>, op: &Operation) -> Result<Look, PlatformError> {
    let meta: ScheduleMeta = u
        .http
        .json(Method::GET, &u.facts.schedule_path(), None::<&()>)
        .await?;
    let users: Vec<String> = op
        .agents
        .iter()
        .map(|a| u.facts.user_of(&a.agent_id))
        .collect();
    let held = if users.is_empty() {
        Default::default()
    } else {
        weeks::read(u.http, u.clock, u.facts, &users).await?
    };
    let carried = op.agents.iter().all(|a| {
        held.get(&u.facts.user_of(&a.agent_id))
            .is_some_and(|c| weeks::week_of(c, u.facts).hash() == &a.hash)
    });
    Ok(if carried && (!op.sets_published || meta.published) {
        Look::Applied
    } else if meta.metadata.version > op.schedule_version {
        Look::NotApplied
    } else {
        Look::Pending
    })
}

/// A socket subscribed to the business unit's schedules topic, or none
/// (the caller then re-reads versions): a missing permission for the topic
/// comes back `Rejected`, and a socket is a convenience, not a requirement.
pub async fn subscribe(http: &GenesysHttp, facts: &Facts) -> Option<Socket> {
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
            tracing::info!(error = %e, "no notification channel: following the update by what it carried");
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
            tracing::warn!(topic = %topic, missing = %echo(&missing.join(", ")), "the notification topic was rejected: following the update by what it carried");
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::info!(error = %e, "no subscription: following the update by what it carried");
            return None;
        }
    }
    let api = http.client().transport().api_base;
    if let Err(e) = super::http::handed_out(api, &channel.connect_uri, "the notifications socket") {
        tracing::warn!(error = %e, "not opening the notification socket: following the update by what it carried");
        return None;
    }
    let opening = tokio_tungstenite::connect_async(channel.connect_uri.as_str());
    match tokio::time::timeout(SOCKET_OPEN, opening).await {
        Ok(Ok((socket, _))) => Some(socket),
        Ok(Err(e)) => {
            tracing::info!(reason = %e, "the notification socket did not open: following the update by what it carried");
            None
        }
        Err(_) => {
            tracing::info!(within = ?SOCKET_OPEN, "the notification socket did not open in time: following the update by what it carried");
            None
        }
    }
}

/// The operation's end as the socket tells it; None when the socket
/// closes or stays silent past `deadline`.
async fn on_socket(
    mut socket: Socket,
    operation_id: Option<&str>,
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
        let ours = match (body.operation_id.as_deref(), operation_id) {
            (Some(theirs), Some(mine)) => theirs == mine,
            _ => true,
        };
        match body.status.as_deref() {
            Some("Complete") if ours => return Some(Ended::Complete),
            Some(status @ ("Error" | "Canceled")) if ours => {
                return Some(Ended::Failed {
                    operation_id: operation_id.unwrap_or("(unknown)").to_owned(),
                    status: status.to_owned(),
                })
            }
            _ => {}
        }
    }
}
