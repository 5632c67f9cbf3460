//! The optional webhook: a JSON POST when a run ends failed or partial, or
//! leaves agents unpublished at the deferral deadline, and about a week's
//! source file that is late or never arrives. Its own failure is logged and
//! never touches publication.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use crate::config::NotifySettings;
use crate::publish::Report;
use crate::source::wait::Waited;
use crate::store::Outcome;

/// What a notice about a week's source file says; its `event` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceEvent {
    /// The run has waited past `targets.NAME.source_grace`; it goes on.
    SourceLate,
    /// The deadline passed without the file: the run ended refused.
    SourceNeverArrived,
}

pub async fn run_ended(settings: &NotifySettings, report: &Report) {
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
    deliver(settings, &body).await;
}

/// Told once per run, when its wait for the source file passes the grace.
pub async fn source_late(
    settings: &NotifySettings,
    target: &str,
    week: NaiveDate,
    waited: &Waited,
) {
    let event = SourceEvent::SourceLate;
    let body = source_body(event, target, &week.to_string(), waited, &[]);
    deliver(settings, &body).await;
}

fn run_body(report: &Report, week: &str) -> serde_json::Value {
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
        "problems": report.problems,
        "unpublished": report.unpublished,
    })
}

fn source_body(
    event: SourceEvent,
    target: &str,
    week: &str,
    waited: &Waited,
    problems: &[String],
) -> serde_json::Value {
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
    })
}

async fn deliver(settings: &NotifySettings, body: &serde_json::Value) {
    let Some(url) = &settings.webhook_url else {
        return;
    };
    let client = reqwest::Client::new();
    match client
        .post(url.clone())
        .timeout(settings.timeout)
        .json(body)
        .send()
        .await
    {
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
