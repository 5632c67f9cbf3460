//! The optional webhook: a JSON POST when a run ends failed or partial, or
//! leaves agents unpublished at the deferral deadline, and about a week's
//! source file that is late or never arrives. Its own failure is logged and
//! never touches publication.
//!
//! Delivery runs on its own task behind a bounded queue, so a hanging hook
//! never holds the daemon's main loop (triggers, cron fires, watchdog
//! pings) nor a run's wait for its file, and at the stop it is waited for
//! only within a bound.

use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::capped::Capped;
use crate::config::NotifySettings;
use crate::publish::Report;
use crate::source::wait::Waited;
use crate::store::Outcome;

/// Notifications waiting beyond this many are dropped, with a warning: a
/// hook that is down must not grow the daemon's memory without bound.
const QUEUE: usize = 32;

/// What a notice about a week's source file says; its `event` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceEvent {
    /// The run has waited past `targets.NAME.source_grace`; it goes on.
    SourceLate,
    /// The deadline passed without the file: the run ended refused.
    SourceNeverArrived,
}

/// One POST to make.
struct Notification {
    url: Url,
    timeout: Duration,
    body: Value,
}

/// The daemon's webhook: a queue and the task that empties it.
pub struct Notifier {
    queue: mpsc::Sender<Notification>,
    closing: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Notifier {
    /// Starts the delivery task.
    pub fn start() -> Self {
        let (queue, mut rx) = mpsc::channel::<Notification>(QUEUE);
        let closing = CancellationToken::new();
        let stop = closing.clone();
        let task = tokio::spawn(async move {
            // A webhook that redirects is not followed: its report (and the
            // URL's key, as a Referer) would go to another host.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .referer(false)
                .build()
                .unwrap_or_default();
            loop {
                let next = tokio::select! {
                    n = rx.recv() => n,
                    _ = stop.cancelled() => rx.try_recv().ok(),
                };
                match next {
                    Some(n) => deliver(&client, n).await,
                    None => return,
                }
            }
        });
        Notifier {
            queue,
            closing,
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues the notification `report` calls for, if any; never waits.
    pub fn run_ended(&self, settings: &NotifySettings, report: &Report) {
        if matches!(
            report.outcome,
            Some(Outcome::Success) | Some(Outcome::Running) | None
        ) {
            return;
        }
        let week = report.week_start.map(|w| w.to_string()).unwrap_or_default();
        let body = match &report.source_wait {
            Some(waited) if waited.arrived.is_none() => {
                let event = SourceEvent::SourceNeverArrived;
                source_body(event, &report.target, &week, waited, &report.problems)
            }
            _ => run_body(report, &week),
        };
        self.send(settings, body, &report.target);
    }

    /// Told once per run, when its wait for the source file passes the grace.
    pub fn source_late(
        &self,
        settings: &NotifySettings,
        target: &str,
        week: NaiveDate,
        waited: &Waited,
    ) {
        let event = SourceEvent::SourceLate;
        let none = Capped::default();
        let body = source_body(event, target, &week.to_string(), waited, &none);
        self.send(settings, body, target);
    }

    fn send(&self, settings: &NotifySettings, body: Value, target: &str) {
        let Some(url) = &settings.webhook_url else {
            return;
        };
        let notification = Notification {
            url: url.clone(),
            timeout: settings.timeout,
            body,
        };
        if self.queue.try_send(notification).is_err() {
            tracing::warn!(
                %target,
                queued = QUEUE,
                "webhook notifications are backed up: this one is dropped"
            );
        }
    }

    /// Lets queued notifications go out for at most `bound`, then gives up
    /// on the rest.
    pub async fn close(&self, bound: Duration) {
        self.closing.cancel();
        let task = self.task.lock().expect("notifier task").take();
        let Some(mut task) = task else { return };
        if tokio::time::timeout(bound, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(
                waited = %humantime::format_duration(bound),
                "webhook notifications still pending at the stop are dropped"
            );
        }
    }
}

fn run_body(report: &Report, week: &str) -> Value {
    let deadline_passed = report.deadline_passed();
    let outcome = report.outcome.map(|o| o.to_string()).unwrap_or_default();
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
    json!({
        "event": "run_ended",
        "text": text,
        "target": report.target,
        "week_start": week,
        "schedule_id": report.schedule_id,
        "outcome": outcome,
        "deferral_deadline_passed": deadline_passed,
        // The first fifty of each, and how many in all.
        "problems": report.problems,
        "problems_total": report.problems.len(),
        "unpublished": report.unpublished,
        "unpublished_total": report.unpublished.len(),
    })
}

fn source_body(
    event: SourceEvent,
    target: &str,
    week: &str,
    waited: &Waited,
    problems: &Capped<String>,
) -> Value {
    let path = waited.path.display();
    let deadline = waited.deadline;
    let text = match event {
        SourceEvent::SourceLate => format!(
            "wfm-publisher: {target} week {week}: still waiting for {path} (since {}); the run is refused if it is not there by {deadline}",
            waited.since
        ),
        SourceEvent::SourceNeverArrived => format!(
            "wfm-publisher: {target} week {week}: refused: {path} did not arrive by {deadline}"
        ),
    };
    let outcome = (event == SourceEvent::SourceNeverArrived).then_some("refused");
    json!({
        "event": event,
        "text": text,
        "target": target,
        "week_start": week,
        "source": waited.path,
        "waiting_since": waited.since,
        "deadline": deadline,
        "outcome": outcome,
        "problems": problems,
        "problems_total": problems.len(),
    })
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

#[cfg(test)]
mod tests;
