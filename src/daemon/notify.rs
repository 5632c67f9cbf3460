//! The optional webhook: a JSON POST when a run ends failed or partial, or
//! leaves agents unpublished at the deferral deadline. Its own failure is
//! logged and never touches publication.
//!
//! Delivery runs on its own task behind a bounded queue, so a hanging hook
//! never holds the daemon's main loop (triggers, cron fires, watchdog
//! pings), and at the stop it is waited for only within a bound.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use url::Url;

use crate::config::NotifySettings;
use crate::publish::Report;
use crate::store::Outcome;

/// Notifications waiting beyond this many are dropped, with a warning: a
/// hook that is down must not grow the daemon's memory without bound.
const QUEUE: usize = 32;

/// One POST to make.
struct Notification {
    url: Url,
    timeout: Duration,
    body: Value,
}

/// The sending side of the delivery task.
pub struct Notifier {
    queue: mpsc::Sender<Notification>,
    task: tokio::task::JoinHandle<()>,
}

impl Notifier {
    /// Starts the delivery task.
    pub fn start() -> Self {
        let (queue, mut rx) = mpsc::channel::<Notification>(QUEUE);
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Some(n) = rx.recv().await {
                deliver(&client, n).await;
            }
        });
        Notifier { queue, task }
    }

    /// Queues the notification `report` calls for, if any; never waits.
    pub fn run_ended(&self, settings: &NotifySettings, report: &Report) {
        let Some(url) = &settings.webhook_url else {
            return;
        };
        let Some(body) = body(report) else {
            return;
        };
        let notification = Notification {
            url: url.clone(),
            timeout: settings.timeout,
            body,
        };
        if self.queue.try_send(notification).is_err() {
            tracing::warn!(
                target = %report.target,
                queued = QUEUE,
                "webhook notifications are backed up: this one is dropped"
            );
        }
    }

    /// Lets queued notifications go out for at most `bound`, then gives up
    /// on the rest.
    pub async fn close(self, bound: Duration) {
        let Notifier { queue, mut task } = self;
        drop(queue);
        if tokio::time::timeout(bound, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(
                waited = %humantime::format_duration(bound),
                "webhook notifications still pending at the stop are dropped"
            );
        }
    }
}

/// The JSON to POST about `report`, or `None` when it calls for none.
fn body(report: &Report) -> Option<Value> {
    if matches!(
        report.outcome,
        Some(Outcome::Success) | Some(Outcome::Running) | None
    ) {
        return None;
    }
    let deadline_passed = report.deadline_passed();
    let outcome = report.outcome.map(|o| o.to_string()).unwrap_or_default();
    let week = report.week_start.map(|w| w.to_string()).unwrap_or_default();
    let text = format!(
        "wfm-publisher: {} week {week}: {outcome}, {} unpublished{}",
        report.target,
        report.unpublished.len(),
        if deadline_passed {
            " (deferral deadline passed)"
        } else {
            ""
        }
    );
    Some(json!({
        "text": text,
        "target": report.target,
        "week_start": week,
        "schedule_id": report.schedule_id,
        "outcome": outcome,
        "deferral_deadline_passed": deadline_passed,
        "problems": report.problems,
        "unpublished": report.unpublished,
    }))
}

async fn deliver(client: &reqwest::Client, n: Notification) {
    let sent = client
        .post(n.url)
        .timeout(n.timeout)
        .json(&n.body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => tracing::info!("webhook notified"),
        Ok(r) => tracing::warn!(
            status = r.status().as_u16(),
            "webhook refused the notification"
        ),
        Err(e) => {
            tracing::warn!(reason = %crate::api::classify::transport_reason(&e), "webhook unreachable")
        }
    }
}
