//! The one call loop every platform's requests go through: the call's turn
//! in its rate-limit buckets (and, for the simple contract, clear of its
//! schedule's publish lock), the token, the send gate, the request, the
//! rate-limit headers, and what the answer means: done, wait, retry with a
//! fresh token, back off, or fail. What differs per platform is only how an
//! answer reads and how a refusal is explained: a [`Dialect`] (the shape of
//! vector's `RetryLogic`, where each sink only classifies).

use std::time::Duration;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use url::Url;

use super::body::{self, BodyError};
use super::classify::{is_refused, transport_reason, Advertised, Classified};
use super::client::{millis, Patience, PlatformClient};
use super::error::PlatformError;
use super::publish_lock::Due;
use super::retry;
use super::throttle::{Bucket, Ticket};
use super::token::AccessToken;
use super::trouble::{Held, TroubleKind};

/// One request, as a platform's endpoint describes it to the loop.
pub struct Call<S> {
    pub method: Method,
    pub url: Url,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    /// `METHOD /path`, as messages name the call.
    pub endpoint: String,
    /// The `endpoint` label of `wfm_api_requests_total`: a fixed name, so
    /// that ids never become label values.
    pub label: &'static str,
    /// The buckets the call is counted in, narrowest first: it waits its
    /// turn in each, and goes on its turn in the last.
    pub buckets: &'static [Bucket],
    pub lock: LockRole,
    /// What a refusal of the call is about, for the dialect's explanation;
    /// `None`: a 403 is reported as it stands (a diagnosis's own calls).
    pub subject: Option<S>,
}

/// Where a call stands to its schedule's publish lock (the simple
/// contract's: a publish locks the schedule against writes for a while).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockRole {
    /// A write to this schedule: waits until the lock is clear, and tells
    /// what it met.
    Write(String),
    /// A publish of this schedule: holds this client's writes back while it
    /// is in flight.
    Publish(String),
    /// Neither.
    Free,
}

impl<S> Call<S> {
    /// The bucket a 429 is charged to: the narrowest the call is counted in.
    fn refused_in(&self) -> Bucket {
        self.buckets.first().copied().unwrap_or(Bucket::Default)
    }
}

/// What a 403 turned out to be.
pub enum Diagnosis {
    /// The token was revoked or expired early: try once with a fresh one.
    StaleToken,
    Final(PlatformError),
}

/// How one platform's answers read, and how its refusals are explained.
/// Each platform's dialect (platform/simple/api.rs, platform/genesys/http.rs)
/// repeats these signatures; the bodies are what differ.
pub trait Dialect: Send + Sync {
    /// What a call carries for [`Dialect::explain`].
    type Subject: Send + Sync;

    /// What an answer means. A 403 comes back as `Forbidden` with the
    /// error as it stands, for [`Dialect::explain`] to say why.
    fn classify(
        &self,
        endpoint: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Classified;

    /// Why a call about `subject` was refused; `unexplained` is what the
    /// answer itself said.
    fn explain<'a>(
        &'a self,
        subject: &'a Self::Subject,
        token: &'a AccessToken,
        fresh_token_tried: bool,
        unexplained: PlatformError,
    ) -> BoxFuture<'a, Diagnosis>;
}

/// One call's progress through its retries.
struct Attempt {
    started: DateTime<Utc>,
    delays: retry::Delays,
    count: u32,
    fresh_token_tried: bool,
}

/// What the answer to one attempt meant, and when the attempt left.
struct Answered {
    classified: Classified,
    left_at: DateTime<Utc>,
}

enum Step {
    Done,
    Again,
    Fail(PlatformError),
}

impl PlatformClient {
    /// One call to its end: waited, retried and re-authorized as the
    /// answers say; the answer's status and body, or the located error.
    pub fn call<'a, D: Dialect>(
        &'a self,
        dialect: &'a D,
        call: &'a Call<D::Subject>,
    ) -> BoxFuture<'a, Result<(StatusCode, Bytes), PlatformError>> {
        Box::pin(async move {
            let clock = self.transport().clock;
            let mut attempt = Attempt {
                started: clock.now(),
                delays: retry::delays(self.transport().retry),
                count: 0,
                fresh_token_tried: false,
            };
            loop {
                let elapsed = (clock.now() - attempt.started).to_std().unwrap_or_default();
                if attempt.count > 0 && elapsed > self.transport().retry.max_elapsed {
                    return Err(PlatformError::GaveUpWaiting {
                        endpoint: call.endpoint.clone(),
                        what: "the platform to accept the call",
                        elapsed_secs: elapsed.as_secs(),
                    });
                }
                // Both kept until the call is answered.
                let (ticket, _due) = self.cleared(call).await;
                let token = {
                    let _waiting = self.waits().token();
                    self.tokens().token().await?
                };
                if !self.may_send() {
                    return Err(PlatformError::Cancelled);
                }
                attempt.count += 1;
                let publishing = match &call.lock {
                    LockRole::Publish(schedule) => Some(self.publish_locks().publishing(schedule)),
                    _ => None,
                };
                let (classified, answer, left_at) =
                    self.exchange(dialect, call, &token, ticket).await;
                drop(publishing);
                let answered = Answered {
                    classified,
                    left_at,
                };
                let step = self
                    .next_step(dialect, call, &mut attempt, answered, &token, elapsed)
                    .await;
                match (step, answer) {
                    (Step::Done, Some(answer)) => return Ok(answer),
                    (Step::Done, None) => unreachable!("a call is done only on an answer"),
                    (Step::Again, _) => {}
                    (Step::Fail(e), _) => return Err(e),
                }
            }
        })
    }

    /// Waits until `call` may leave: its turn in each of its buckets and,
    /// for a write, its schedule clear of this client's publishes. The lock
    /// is waited for before the bucket, so that a platform paced by the
    /// configured rate gets the writes one by one when the lock clears, not
    /// all at once (waited after, 183 of 10,000 writes met a 429); and looked
    /// at again after, since a publish may have come and gone meanwhile (not
    /// looked at, a thousand writes in 10,000 met its lock), unless it probed
    /// the lock. A publish comes back with the notice that stops writes just
    /// before it is due to leave.
    async fn cleared<S>(&self, call: &Call<S>) -> (Ticket, Option<Due<'_>>) {
        let throttle = self.throttle();
        let (narrow, last) = match call.buckets {
            [] => (&[][..], Bucket::Default),
            [narrow @ .., last] => (narrow, *last),
        };
        let timing = || (throttle.round_trip(), throttle.jitter(last));
        let locks = self.publish_locks();
        for bucket in narrow {
            let turn = throttle.acquire(*bucket).await;
            throttle.leaves(turn);
        }
        loop {
            let (probed, due) = match &call.lock {
                LockRole::Write(schedule) => {
                    let _waiting = self.waits().lock();
                    let (trip, jitter) = timing();
                    (locks.wait_writable(schedule, trip, jitter).await, None)
                }
                LockRole::Publish(schedule) => {
                    let due = throttle.next_go(last);
                    (false, due.map(|at| locks.due(schedule, at)))
                }
                LockRole::Free => (false, None),
            };
            let ticket = {
                let _waiting = self.waits().pacing(last);
                throttle.acquire(last).await
            };
            let overtaken = match &call.lock {
                LockRole::Write(schedule) if !probed => {
                    let (trip, jitter) = timing();
                    !locks.clear(schedule, trip, jitter)
                }
                _ => false,
            };
            if !overtaken {
                return (ticket, due);
            }
            throttle.unused(ticket);
        }
    }

    /// One request and its answer, classified by the dialect, and when it
    /// left; the answer's rate-limit headers update the buckets on the way.
    async fn exchange<D: Dialect>(
        &self,
        dialect: &D,
        call: &Call<D::Subject>,
        token: &AccessToken,
        ticket: Ticket,
    ) -> (Classified, Option<(StatusCode, Bytes)>, DateTime<Utc>) {
        let throttle = self.throttle();
        self.count(|s| &s.requests);
        let mut request = self
            .transport()
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.bearer())
            .timeout(self.transport().timeout);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let bucket = ticket.bucket();
        let departure = throttle.leaves(ticket);
        let sent_at = departure.at;
        let sent = std::time::Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                metrics::counter!("wfm_api_requests_total", "endpoint" => call.label, "status" => "no_answer")
                    .increment(1);
                throttle.unanswered(bucket);
                return (self.unanswered(&call.url, &e), None, sent_at);
            }
        };
        let status = response.status();
        metrics::counter!("wfm_api_requests_total", "endpoint" => call.label, "status" => status.as_u16().to_string())
            .increment(1);
        // Until the answer's headers: the platform's time, not the body's transfer.
        metrics::histogram!("wfm_api_request_duration_seconds", "endpoint" => call.label)
            .record(sent.elapsed().as_secs_f64());
        let headers = response.headers().clone();
        // Every answer, refusals included, tells the buckets what is left.
        let advertised = Advertised::read(&headers);
        throttle.observe(departure, advertised);
        if let Some(adv) = advertised.filter(|a| a.remaining == 0 && status.is_success()) {
            // The budget holds the calls until the reset; the status line
            // says so, and that it is not a refusal.
            self.waits()
                .hold(sent_at, adv.reset, Held::BudgetSpent(bucket));
        }
        let bytes = match body::read_capped(response, self.transport().max_answer).await {
            Ok(bytes) => bytes,
            Err(BodyError::Transport(e)) => return (unanswered(&e), None, sent_at),
            Err(too_large) => {
                let message = too_large.describe("platform.max_answer_bytes");
                let error = PlatformError::Malformed {
                    endpoint: call.endpoint.clone(),
                    message,
                };
                return (Classified::Failed(error), None, sent_at);
            }
        };
        let classified = dialect.classify(&call.endpoint, status, &headers, &bytes);
        let locked = matches!(classified, Classified::Locked { .. });
        match &call.lock {
            LockRole::Write(schedule) => {
                let trip = throttle.round_trip();
                self.publish_locks()
                    .observe_write(schedule, sent_at, trip, locked);
            }
            LockRole::Publish(schedule) if status.is_success() => {
                self.publish_locks().published(schedule)
            }
            _ => {}
        }
        (classified, Some((status, bytes)), sent_at)
    }

    /// What an answer means for the call: done, try again (after waiting
    /// as the answer says), or a located error.
    async fn next_step<D: Dialect>(
        &self,
        dialect: &D,
        call: &Call<D::Subject>,
        attempt: &mut Attempt,
        answered: Answered,
        token: &AccessToken,
        elapsed: Duration,
    ) -> Step {
        let endpoint = &call.endpoint;
        let Answered {
            classified,
            left_at,
        } = answered;
        if matches!(classified, Classified::Success | Classified::Locked { .. }) {
            // Counted by the platform's limit all the same.
            self.throttle().accepted(call.refused_in(), left_at);
        }
        let too_long =
            |wait| retry::too_long(endpoint.clone(), self.transport().retry, elapsed, wait);
        match classified {
            Classified::Success => {
                self.answered();
                Step::Done
            }
            Classified::Unauthorized if !attempt.fresh_token_tried => {
                tracing::info!(%endpoint, "401: dropping the token and retrying once with a fresh one");
                self.fresh_token(token, attempt);
                Step::Again
            }
            Classified::Unauthorized => Step::Fail(PlatformError::Unauthorized {
                endpoint: endpoint.clone(),
            }),
            Classified::RateLimited {
                wait,
                masked,
                hinted,
            } => {
                let bucket = call.refused_in();
                // Without a hint, the pace is cut and, where the platform
                // advertises nothing, the bucket holds only until the
                // window that refused has likely turned over, not for the
                // default wait.
                let wait = if hinted {
                    wait
                } else {
                    self.throttle().slow_down(bucket, left_at).unwrap_or(wait)
                };
                self.rate_limited(bucket, endpoint, wait, masked);
                if retry::beyond_budget(self.transport().retry, elapsed, wait) {
                    return Step::Fail(too_long(wait));
                }
                Step::Again
            }
            Classified::Locked { wait } => self.locked(call, wait, elapsed).await,
            Classified::Transient { reason, wait } => {
                self.transient(call, attempt, reason, wait, elapsed).await
            }
            Classified::Forbidden(unexplained) => {
                let Some(subject) = &call.subject else {
                    return Step::Fail(unexplained);
                };
                let fresh = attempt.fresh_token_tried;
                match dialect.explain(subject, token, fresh, unexplained).await {
                    Diagnosis::StaleToken => {
                        tracing::info!(%endpoint, "403 on a stale token: retrying once with a fresh one");
                        self.fresh_token(token, attempt);
                        Step::Again
                    }
                    Diagnosis::Final(e) => Step::Fail(e),
                }
            }
            Classified::Failed(e) => Step::Fail(e),
        }
    }

    /// The schedule is locked by a publish: wait as long as the lock is
    /// likely to last, within the retry budget.
    async fn locked<S>(&self, call: &Call<S>, wait: Duration, elapsed: Duration) -> Step {
        let t = self.transport();
        let endpoint = &call.endpoint;
        let wait = match &call.lock {
            LockRole::Write(schedule) => {
                let trip = self.throttle().round_trip();
                self.publish_locks().after_refusal(schedule, wait, trip)
            }
            _ => wait,
        };
        if retry::beyond_budget(t.retry, elapsed, wait) {
            return Step::Fail(retry::too_long(endpoint.clone(), t.retry, elapsed, wait));
        }
        self.count(|s| &s.locked);
        metrics::counter!("wfm_lock_waits_total").increment(1);
        self.trouble().event(TroubleKind::Locked, endpoint);
        tracing::debug!(%endpoint, wait_ms = millis(wait), "schedule locked by a publish; waiting");
        let _waiting = self.waits().lock();
        t.clock.sleep(wait).await;
        Step::Again
    }

    /// A failure that passes: the next delay of the back-off (or the wait
    /// the answer asked for, if longer), until the attempts run out.
    async fn transient<S>(
        &self,
        call: &Call<S>,
        attempt: &mut Attempt,
        reason: String,
        wait: Option<Duration>,
        elapsed: Duration,
    ) -> Step {
        let t = self.transport();
        let endpoint = &call.endpoint;
        let Some(delay) = attempt.delays.next() else {
            return Step::Fail(PlatformError::Unavailable {
                endpoint: endpoint.clone(),
                attempts: attempt.count,
                elapsed_secs: elapsed.as_secs(),
                reason,
            });
        };
        if let Some(w) = wait.filter(|w| retry::beyond_budget(t.retry, elapsed, *w)) {
            return Step::Fail(retry::too_long(endpoint.clone(), t.retry, elapsed, w));
        }
        let delay = wait.map_or(delay, |w| w.max(delay));
        self.retrying(endpoint);
        tracing::debug!(%endpoint, %reason, attempt = attempt.count, retry_in_ms = millis(delay), "transient failure; retrying");
        t.clock.sleep(delay).await;
        Step::Again
    }

    /// No answer: worth another try, but for a preflight's refused
    /// connection, said at once (nothing listens there).
    fn unanswered(&self, url: &Url, error: &reqwest::Error) -> Classified {
        if self.transport().patience == Patience::Preflight && is_refused(error) {
            return Classified::Failed(PlatformError::ConnectionRefused {
                url: super::url::shown(url),
                key: "platform.api_base_url",
            });
        }
        unanswered(error)
    }

    /// The token was refused: the next attempt gets a new one, once.
    fn fresh_token(&self, token: &AccessToken, attempt: &mut Attempt) {
        self.count(|s| &s.stale_token_retries);
        self.tokens().invalidate(token);
        attempt.fresh_token_tried = true;
    }
}

/// No answer (a timeout, a reset): worth another try.
fn unanswered(error: &reqwest::Error) -> Classified {
    Classified::Transient {
        reason: transport_reason(error),
        wait: None,
    }
}
