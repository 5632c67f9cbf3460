//! Notification channels: subscriptions checked against the caller's
//! grants (a topic it may not read comes back `Rejected`, not as an error),
//! and the websocket that carries events to whoever is connected.

use axum::extract::ws::{Message, WebSocket};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::access::Caller;
use super::errors::GError;
use super::scenario::NotificationSocket;
use super::schedules::SCHEDULE_VIEW;
use super::silent::Silent;
use super::state::State;
use wfm_clock::delta;

/// Events a slow socket may fall behind by before it loses some.
const BACKLOG: usize = 1024;

#[derive(Debug)]
pub struct Channel {
    pub owner: String,
    pub expires: DateTime<Utc>,
    /// Topic, and the permissions it lacks (empty: permitted).
    pub topics: Vec<(String, Vec<String>)>,
    pub tx: broadcast::Sender<String>,
}

#[derive(Debug, Deserialize)]
struct TopicRequest {
    id: String,
}

fn topic_json((id, missing): &(String, Vec<String>)) -> Value {
    if missing.is_empty() {
        json!({"id": id, "state": "Permitted"})
    } else {
        json!({"id": id, "state": "Rejected", "rejectionReason": "Missing permissions",
               "missingPermissions": missing})
    }
}

impl State {
    pub fn create_channel(&mut self, caller: &Caller, now: DateTime<Utc>) -> Result<Value, GError> {
        let id = self.new_id("channel");
        let expires = now + delta(self.scenario.server.channel_lifetime);
        let ws = match self.scenario.server.notification_socket {
            NotificationSocket::Answers => self.base_url.replacen("http://", "ws://", 1),
            NotificationSocket::Silent => format!("ws://{}", self.silent_host()?),
        };
        let connect_uri = format!("{ws}/channels/{id}");
        let (tx, _) = broadcast::channel(BACKLOG);
        self.channels.insert(
            id.clone(),
            Channel {
                owner: caller.client_id.clone(),
                expires,
                topics: Vec::new(),
                tx,
            },
        );
        Ok(json!({"id": id, "connectUri": connect_uri, "expires": expires}))
    }

    /// The silent host's address, listening from the first channel that
    /// needs it.
    fn silent_host(&mut self) -> Result<std::net::SocketAddr, GError> {
        if self.silent.is_none() {
            let bound = Silent::bind().map_err(|_| GError::Unavailable {
                status: 503,
                retry_after: None,
            })?;
            self.silent = Some(bound);
        }
        Ok(self.silent.as_ref().expect("bound above").addr)
    }

    fn own_channel(
        &mut self,
        caller: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<&mut Channel, GError> {
        self.channels
            .get_mut(id)
            .filter(|c| c.owner == caller.client_id && c.expires > now)
            .ok_or_else(|| GError::NotFound(format!("channel {id}")))
    }

    /// What a topic needs that the caller lacks; an unknown topic is refused.
    fn topic_missing(&self, caller: &Caller, topic: &str) -> Result<Vec<String>, GError> {
        let bu = topic
            .strip_prefix("v2.workforcemanagement.businessunits.")
            .and_then(|rest| rest.strip_suffix(".schedules"))
            .ok_or_else(|| GError::invalid(format!("topic {topic:?} is not simulated")))?;
        let unit = self
            .business_unit(bu)
            .map_err(|_| GError::invalid(format!("no business unit in {topic:?}")))?;
        Ok(
            match self.require_any(caller, &SCHEDULE_VIEW, &unit.division) {
                Ok(()) => Vec::new(),
                Err(_) => SCHEDULE_VIEW.iter().map(|p| p.to_string()).collect(),
            },
        )
    }

    /// `PUT` (replace) or `POST` (add) `…/channels/{id}/subscriptions`.
    pub fn subscribe(
        &mut self,
        caller: &Caller,
        id: &str,
        body: &[u8],
        replace: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, GError> {
        let requested: Vec<TopicRequest> = serde_json::from_slice(body)
            .map_err(|e| GError::bad_request(format!("expected [{{\"id\": topic}}]: {e}")))?;
        let mut checked = Vec::new();
        for t in requested {
            let missing = self.topic_missing(caller, &t.id)?;
            checked.push((t.id, missing));
        }
        let channel = self.own_channel(caller, id, now)?;
        if replace {
            channel.topics.clear();
        }
        for t in &checked {
            channel.topics.retain(|(id, _)| *id != t.0);
            channel.topics.push(t.clone());
        }
        Ok(json!({"entities": checked.iter().map(topic_json).collect::<Vec<_>>()}))
    }

    pub fn subscriptions(
        &mut self,
        caller: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, GError> {
        let channel = self.own_channel(caller, id, now)?;
        Ok(json!({"entities": channel.topics.iter().map(topic_json).collect::<Vec<_>>()}))
    }

    /// A receiver for a live channel's socket.
    pub fn connect(&self, id: &str, now: DateTime<Utc>) -> Option<broadcast::Receiver<String>> {
        self.channels
            .get(id)
            .filter(|c| c.expires > now)
            .map(|c| c.tx.subscribe())
    }

    /// Sends an event to every channel permitted on `topic`. Sockets not
    /// connected at that moment never see it, as on the real service.
    pub fn notify(&self, topic: &str, event_body: Value) {
        let text = json!({"topicName": topic, "version": "2", "eventBody": event_body}).to_string();
        for c in self.channels.values() {
            if c.topics
                .iter()
                .any(|(t, missing)| t == topic && missing.is_empty())
            {
                let _ = c.tx.send(text.clone());
            }
        }
    }
}

/// Forwards a channel's events to one socket until either side ends.
pub async fn pump(mut socket: WebSocket, mut rx: broadcast::Receiver<String>) {
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
