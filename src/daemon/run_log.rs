//! The daemon's record of a run's end in its log: one event whose fields
//! are the report's numbers, which a log query can filter and sum. The
//! report as people read it goes to the webhook, `status` and the store.

use crate::publish::Report;
use crate::store::Outcome;

/// Logs `report` as one `run ended` event: info when the run succeeded,
/// warning otherwise; then one warning per cause of unpublished agents,
/// with its count and fix (the agents are in the report). A field without a
/// value (no problem, no week) is left out rather than logged empty.
pub(super) fn log_report(report: &Report) {
    let outcome = report.outcome.map(|o| o.to_string());
    let problems = (!report.problems.is_empty()).then(|| report.problems.joined("; ", "problems"));
    let c = &report.client;
    macro_rules! run_ended {
        ($level:expr) => {
            tracing::event!(
                $level,
                target = %report.target,
                week = report.week_start.map(tracing::field::display),
                schedule = %report.schedule_id,
                outcome = outcome.as_deref(),
                end = %report.end(),
                elapsed_secs = report.elapsed().map(|d| d.as_secs_f64()),
                agents = report.agents,
                published = report.published,
                unchanged = report.unchanged,
                deferred_then_published = report.deferred_then_published.len(),
                still_deferred = report.still_deferred.len(),
                unpublished = report.unpublished.len(),
                problem_count = report.problems.len(),
                problems = problems.as_deref(),
                requests = c.requests,
                retries = c.retries,
                rate_limited = c.rate_limited + c.masked_rate_limited,
                lock_waits = c.locked,
                "run ended"
            )
        };
    }
    match report.outcome {
        Some(Outcome::Success) => run_ended!(tracing::Level::INFO),
        _ => run_ended!(tracing::Level::WARN),
    }
    for c in &report.causes {
        tracing::warn!(target = %report.target, kind = %c.kind, agents = c.count, fix = c.fix, "unpublished: {}", c.cause);
    }
}
