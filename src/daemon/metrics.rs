//! Every metric the daemon exports, described and created at start: a
//! counter that appeared only at its first increment could carry no alert
//! on its rate or its absence before the first failure.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

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

/// Buckets of a run's duration: seconds for a run with nothing to wait
/// for, up to days for one that waits for swaps to its deadline.
const RUN_BUCKETS: [f64; 13] = [
    1.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 43200.0, 86400.0, 259200.0,
    604800.0,
];

/// Buckets of a request's latency, from a local simulator's milliseconds
/// to a request timeout's tens of seconds.
const REQUEST_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The histograms' buckets: without them the exporter would write
/// summaries, whose quantiles cannot be added up across processes.
pub fn with_buckets(builder: PrometheusBuilder) -> PrometheusBuilder {
    let histograms: [(&str, &[f64]); 2] = [
        ("wfm_run_duration_seconds", &RUN_BUCKETS),
        ("wfm_api_request_duration_seconds", &REQUEST_BUCKETS),
    ];
    histograms.into_iter().fold(builder, |b, (name, buckets)| {
        // Only an empty list of buckets is refused.
        b.set_buckets_for_metric(Matcher::Full(name.into()), buckets)
            .expect("buckets")
    })
}

/// Describes every metric and creates its series at zero: the unlabelled
/// ones, runs per target and outcome, API requests per endpoint and the
/// statuses above. Idempotent, so a reload that adds a target calls it
/// again. The gauges of the daemon's state are set at each scrape
/// (gauges.rs).
pub fn register(settings: &Settings) {
    describe_gauge!(
        "wfm_publisher_build_info",
        "1, labelled with the version and the commit this process was built from."
    );
    metrics::gauge!("wfm_publisher_build_info", "version" => crate::version::VERSION, "commit" => crate::version::COMMIT)
        .set(1.0);
    describe_histogram!(
        "wfm_run_duration_seconds",
        Unit::Seconds,
        "How long runs took, from the target's lock to the report, by target and outcome."
    );
    describe_histogram!(
        "wfm_api_request_duration_seconds",
        Unit::Seconds,
        "Platform API requests' latency until the answer's headers, by endpoint."
    );
    describe_counter!("wfm_runs_total", "Runs ended, by target and outcome.");
    describe_counter!(
        "wfm_run_retries_total",
        "Failed runs started again by the daemon (retry.run_initial_delay, run_max_delay), by target."
    );
    describe_counter!(
        "wfm_api_requests_total",
        "Platform API requests, by endpoint and HTTP status (no_answer: none came)."
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
    metrics::gauge!("wfm_token_consecutive_failures", "client_id" => settings.platform.client_id.clone())
        .increment(0.0);
    crate::leader::register_metrics();
}
