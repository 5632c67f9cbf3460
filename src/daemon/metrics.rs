//! Every metric the daemon exports, described and created at start: a
//! counter that appeared only at its first increment could carry no alert
//! on its rate or its absence before the first failure.

use metrics::{describe_counter, describe_gauge, Unit};

use crate::api::scopes::Operation;
use crate::config::Settings;
use crate::store::Outcome;

const OUTCOMES: [Outcome; 6] = [
    Outcome::Running,
    Outcome::Success,
    Outcome::Partial,
    Outcome::Refused,
    Outcome::Failed,
    Outcome::Superseded,
];

/// The statuses each endpoint's request series starts with: success, the
/// answers the client tells apart, and no answer at all. Others appear
/// when first seen.
const STATUSES: [&str; 8] = ["200", "401", "403", "409", "429", "500", "503", "no_answer"];

/// (name, help) of every counter without labels.
const PLAIN_COUNTERS: [(&str, &str); 8] = [
    (
        "wfm_agents_written_total",
        "Agents' weeks written to the platform.",
    ),
    ("wfm_agents_published_total", "Agents published."),
    (
        "wfm_agents_deferred_total",
        "Agents held back by a pending shift swap.",
    ),
    (
        "wfm_agents_failed_total",
        "Agents left unpublished, each with a reason.",
    ),
    (
        "wfm_rate_limit_waits_total",
        "Waits imposed by a rate limit (429, or a 403 masking one).",
    ),
    (
        "wfm_lock_waits_total",
        "Waits for a schedule locked by a publish (409 with Retry-After).",
    ),
    ("wfm_token_requests_total", "OAuth token requests."),
    (
        "wfm_token_failures_total",
        "OAuth token requests that failed.",
    ),
];

/// Describes every metric and creates its series at zero: the unlabelled
/// ones, runs per target and outcome, API requests per endpoint and the
/// statuses above, and each target's next-run gauge. Idempotent, so a
/// reload that adds a target calls it again.
pub fn register(settings: &Settings) {
    describe_counter!("wfm_runs_total", "Runs ended, by target and outcome.");
    describe_counter!(
        "wfm_run_retries_total",
        "Failed runs started again by the daemon (retry.run_initial_delay, run_max_delay), by target."
    );
    describe_counter!(
        "wfm_api_requests_total",
        "Platform API requests, by endpoint and HTTP status (no_answer: none came)."
    );
    describe_gauge!("wfm_pending_deferrals", "Agents waiting on a shift swap.");
    describe_gauge!(
        "wfm_seconds_until_next_run",
        Unit::Seconds,
        "Seconds until each target's next scheduled run."
    );
    describe_gauge!(
        "wfm_waiting_for_source",
        "1 while a target's run waits for its week's source file, else 0."
    );
    describe_gauge!(
        "wfm_source_deadline_timestamp_seconds",
        Unit::Seconds,
        "When a target's wait for its source file ends (Unix time), 0 when not waiting."
    );
    describe_gauge!(
        "wfm_token_consecutive_failures",
        "Token requests of an OAuth client that failed in a row since the last success."
    );
    for (name, help) in PLAIN_COUNTERS {
        describe_counter!(name, help);
        metrics::counter!(name).increment(0);
    }
    for target in settings.targets.keys() {
        metrics::counter!("wfm_run_retries_total", "target" => target.clone()).increment(0);
        for outcome in OUTCOMES {
            metrics::counter!("wfm_runs_total", "target" => target.clone(), "outcome" => outcome.to_string())
                .increment(0);
        }
    }
    for op in Operation::ALL {
        for status in STATUSES {
            metrics::counter!("wfm_api_requests_total", "endpoint" => op.label(), "status" => status)
                .increment(0);
        }
    }
    metrics::gauge!("wfm_pending_deferrals").increment(0.0);
    for target in settings.targets.keys() {
        metrics::gauge!("wfm_waiting_for_source", "target" => target.clone()).increment(0.0);
        metrics::gauge!("wfm_source_deadline_timestamp_seconds", "target" => target.clone())
            .increment(0.0);
    }
    metrics::gauge!("wfm_token_consecutive_failures", "client_id" => settings.platform.client_id.clone())
        .increment(0.0);
    crate::leader::register_metrics();
}
