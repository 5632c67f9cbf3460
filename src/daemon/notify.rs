//! The optional webhook: a JSON POST when a run ends failed or partial, or
//! leaves agents unpublished at the deferral deadline. Its own failure is
//! logged and never touches publication.

use serde_json::json;

use crate::config::NotifySettings;
use crate::publish::Report;
use crate::store::Outcome;

pub async fn run_ended(settings: &NotifySettings, report: &Report) {
    let Some(url) = &settings.webhook_url else {
        return;
    };
    if matches!(
        report.outcome,
        Some(Outcome::Success) | Some(Outcome::Running) | None
    ) {
        return;
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
    let body = json!({
        "text": text,
        "target": report.target,
        "week_start": week,
        "schedule_id": report.schedule_id,
        "outcome": outcome,
        "deferral_deadline_passed": deadline_passed,
        "problems": report.problems,
        "unpublished": report.unpublished,
    });
    let client = reqwest::Client::new();
    match client
        .post(url.clone())
        .timeout(settings.timeout)
        .json(&body)
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
