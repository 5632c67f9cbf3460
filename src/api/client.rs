//! Typed calls for every endpoint of CONTRACT.md §3, and the loop that
//! turns each answer into a wait, a retry, a deferral or a located error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use super::classify::{classify, classify_transport, Advertised, Classified, RateHeaders};
use super::error::{PendingAgent, PlatformError};
use super::model::{
    AgentWeek, Entities, Organization, PublishResult, ScheduleInfo, Shift, Swap, SwapPage,
    SwapStatus, Template, WriteResult,
};
use super::publish_lock::{Due, PublishLocks};
use super::retry;
use super::scopes::{self, parse_scope_list, Operation};
use super::stats::{ClientStats, StatsSnapshot};
use super::throttle::{Bucket, Throttle, Ticket};
use super::token::{AccessToken, TokenManager};
use super::trouble::{Activity, Trouble, TroubleKind, Waits};
use crate::clock::{CancellableClock, SharedClock};
use crate::config::Settings;
use tokio_util::sync::CancellationToken;

/// What a call is about, so that a 403 can be explained.
#[derive(Debug, Clone, Default)]
struct Subject {
    schedule_id: Option<String>,
    agents: Vec<String>,
}

struct Call {
    op: Operation,
    method: Method,
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    subject: Subject,
    /// False for the calls a diagnosis makes itself.
    diagnose: bool,
}

/// What a call is to its schedule's publish lock.
enum LockRole<'a> {
    /// A write: waits for the lock, and tells what it met.
    Write(&'a str),
    /// A publish: holds writes back while it is in flight.
    Publish(&'a str),
    None,
}

impl Call {
    fn new(op: Operation, method: Method, segments: &[&str]) -> Self {
        Call {
            op,
            method,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            subject: Subject::default(),
            diagnose: true,
        }
    }

    fn endpoint(&self) -> String {
        format!("{} /{}", self.method, self.segments.join("/"))
    }

    fn lock_role(&self) -> LockRole<'_> {
        match (self.op, &self.subject.schedule_id) {
            (Operation::WriteAgent, Some(s)) => LockRole::Write(s),
            (Operation::Publish, Some(s)) => LockRole::Publish(s),
            _ => LockRole::None,
        }
    }
}

/// One call's progress through its retries.
struct Attempt {
    endpoint: String,
    bucket: Bucket,
    url: Url,
    started: chrono::DateTime<chrono::Utc>,
    delays: retry::Delays,
    count: u32,
    fresh_token_tried: bool,
}

/// A classified answer, and whether it said how long to wait.
struct Answer {
    classified: Classified,
    hinted: bool,
}

impl Answer {
    fn unhinted(classified: Classified) -> Self {
        Answer {
            classified,
            hinted: false,
        }
    }
}

enum Step {
    Done,
    Again,
    Fail(PlatformError),
}

enum Diagnosis {
    StaleToken,
    Final(PlatformError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Written { version: u64 },
    Deferred { swap_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    Published {
        agent_ids: Vec<String>,
        version: u64,
    },
    Deferred {
        pending: Vec<PendingAgent>,
    },
}

struct Inner {
    http: reqwest::Client,
    api_base: Url,
    tokens: TokenManager,
    throttle: Throttle,
    retry: crate::config::RetrySettings,
    timeout: Duration,
    /// `platform.max_answer_bytes`.
    max_answer: u64,
    clock: SharedClock,
    stats: Arc<ClientStats>,
    /// Episodes of the calls made outside any run (`check`, the daemon's probes).
    trouble: Trouble,
    waits: Waits,
    schedule_orgs: Mutex<HashMap<String, String>>,
    gate: std::sync::OnceLock<SendGate>,
    publish_locks: PublishLocks,
}

/// What a client's calls go through, lent to another platform's call loop.
pub(crate) struct Transport<'a> {
    pub http: &'a reqwest::Client,
    pub api_base: &'a Url,
    pub throttle: &'a Throttle,
    pub retry: &'a crate::config::RetrySettings,
    pub timeout: Duration,
    pub clock: &'a SharedClock,
    /// `platform.max_answer_bytes`.
    pub max_answer: u64,
}

/// Asked right before every request: false once this process may no
/// longer send (it lost the publishing lease). Checked at the last moment,
/// so a process resumed after a long pause sends nothing before it knows.
pub type SendGate = Arc<dyn Fn() -> bool + Send + Sync>;

/// The platform, as one OAuth client sees it. Cheap to clone; every clone
/// shares the token, the limiters and the gate.
#[derive(Clone)]
pub struct PlatformClient {
    inner: Arc<Inner>,
    /// A run's own counters, beside the client's (see [`Self::for_run`]).
    run: Option<Arc<RunStats>>,
}

/// Counters of one run: its own requests, and where the shared counters
/// (tokens, gate holds) stood when it started.
struct RunStats {
    own: ClientStats,
    base: StatsSnapshot,
    /// The run's own episodes, logged in its span.
    trouble: Trouble,
}

impl Drop for RunStats {
    /// The run is over, and with it whatever trouble it was counting: an
    /// episode still open gets its end line, with its count.
    fn drop(&mut self) {
        self.trouble.settle();
    }
}

impl PlatformClient {
    pub fn new(settings: &Settings, clock: SharedClock) -> Result<Self, PlatformError> {
        Self::with_cancel(settings, clock, CancellationToken::new())
    }

    /// A client whose token requests and retry waits end at once when
    /// `cancel` is cancelled: the next attempt then fails with `Cancelled`.
    pub fn with_cancel(
        settings: &Settings,
        clock: SharedClock,
        cancel: CancellationToken,
    ) -> Result<Self, PlatformError> {
        let clock: SharedClock = Arc::new(CancellableClock::new(clock, cancel.clone()));
        let p = &settings.platform;
        // No redirects and no Referer: an answer of 3xx from the platform
        // or its OAuth server must not carry a bearer token, a client secret
        // or schedule data to a host nobody configured.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(p.connect_timeout)
            .user_agent(concat!("wfm-publisher/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlatformError::Setup(e.to_string()))?;
        let stats = Arc::new(ClientStats::default());
        let tokens = TokenManager::new(
            http.clone(),
            p,
            &settings.retry,
            clock.clone(),
            stats.clone(),
            cancel,
        )?;
        Ok(PlatformClient {
            inner: Arc::new(Inner {
                http,
                api_base: p.api_base_url.clone(),
                throttle: Throttle::new(&settings.rate_limits, clock.clone()),
                tokens,
                retry: settings.retry.clone(),
                timeout: p.request_timeout,
                max_answer: p.max_answer_bytes,
                trouble: Trouble::new(clock.clone()),
                waits: Waits::default(),
                stats,
                schedule_orgs: Mutex::new(HashMap::new()),
                gate: std::sync::OnceLock::new(),
                publish_locks: PublishLocks::new(clock.clone()),
                clock,
            }),
            run: None,
        })
    }

    /// Every request from now on first asks `gate`; set once.
    pub fn set_send_gate(&self, gate: SendGate) {
        self.inner.tokens.set_send_gate(gate.clone());
        let _ = self.inner.gate.set(gate);
    }

    pub fn tokens(&self) -> &TokenManager {
        &self.inner.tokens
    }

    /// The same client, whose calls also count in a fresh set of counters:
    /// its [`Self::stats`] are then one run's. The token is shared by every
    /// run, so token requests and gate holds are those made while it ran.
    pub fn for_run(&self) -> PlatformClient {
        PlatformClient {
            inner: self.inner.clone(),
            run: Some(Arc::new(RunStats {
                own: ClientStats::default(),
                base: self.client_stats(),
                trouble: Trouble::new(self.inner.clock.clone()),
            })),
        }
    }

    fn client_stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            gate_holds: self.inner.throttle.waits(),
            ..self.inner.stats.snapshot()
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        let all = self.client_stats();
        match &self.run {
            None => all,
            Some(run) => StatsSnapshot {
                token_requests: all.token_requests - run.base.token_requests,
                token_failures: all.token_failures - run.base.token_failures,
                gate_holds: all.gate_holds - run.base.gate_holds,
                ..run.own.snapshot()
            },
        }
    }

    /// False once this process may no longer send (it lost the lease).
    pub(crate) fn may_send(&self) -> bool {
        self.inner.gate.get().is_none_or(|open| open())
    }

    /// The shared machinery, for another platform's calls (Genesys Cloud):
    /// the same token, gate, retry policy, clock and counters.
    pub(crate) fn transport(&self) -> Transport<'_> {
        let i = &self.inner;
        Transport {
            http: &i.http,
            api_base: &i.api_base,
            throttle: &i.throttle,
            retry: &i.retry,
            timeout: i.timeout,
            clock: &i.clock,
            max_answer: i.max_answer,
        }
    }

    /// This view's counters and what the client waits for now. Episodes
    /// quiet for long enough end here too, so that their end is logged
    /// while nothing else is sent.
    pub fn activity(&self) -> Activity {
        self.trouble().calm();
        Activity {
            stats: self.stats(),
            waiting: self.inner.waits.current(self.inner.clock.now()),
        }
    }

    /// An answer came: an episode of trouble may have ended. Both
    /// platforms' call loops tell the same episodes (`super::trouble`).
    pub(crate) fn answered(&self) {
        self.trouble().calm();
    }

    /// The platform said wait (a 429, or a masked one): every worker of the
    /// client holds for `wait`, the status line says so, and the episode
    /// counts it (one line per episode, not one per refusal).
    pub(crate) fn rate_limited(
        &self,
        bucket: Bucket,
        endpoint: &str,
        wait: Duration,
        masked: bool,
    ) {
        let i = &self.inner;
        self.count(|s| {
            if masked {
                &s.masked_rate_limited
            } else {
                &s.rate_limited
            }
        });
        self.trouble().event(TroubleKind::RateLimited, endpoint);
        tracing::debug!(%endpoint, masked, wait_ms = millis(wait), "rate limited: every worker of this client waits");
        i.throttle.hold(bucket, wait);
        i.waits.hold(i.clock.now(), wait);
    }

    /// A transient failure is about to be retried.
    pub(crate) fn retrying(&self, endpoint: &str) {
        self.count(|s| &s.retries);
        self.trouble().event(TroubleKind::Retried, endpoint);
    }

    /// Marks a worker as waiting for the publish lock until the guard drops.
    pub fn waiting_for_lock(&self) -> super::trouble::Waiting<'_> {
        self.inner.waits.lock()
    }

    /// The episodes this view counts: its run's, or the client's own.
    fn trouble(&self) -> &Trouble {
        self.run
            .as_ref()
            .map_or(&self.inner.trouble, |r| &r.trouble)
    }

    pub(crate) fn count(&self, counter: impl Fn(&ClientStats) -> &std::sync::atomic::AtomicU64) {
        ClientStats::bump(counter(&self.inner.stats));
        if let Some(run) = &self.run {
            ClientStats::bump(counter(&run.own));
        }
    }

    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// A token that holds every scope `needed`, or the one-line reason why
    /// not. A run calls this before its first write.
    pub async fn require_scopes(&self, needed: &[Operation]) -> Result<AccessToken, PlatformError> {
        let token = self.inner.tokens.token().await?;
        match scopes::missing(&token.granted, needed).first() {
            None => Ok(token),
            Some(op) => Err(self.missing_scope(*op, &token.granted)),
        }
    }

    fn missing_scope(&self, op: Operation, granted: &[String]) -> PlatformError {
        PlatformError::MissingScope {
            scope: op.scope(),
            operation: op,
            granted: granted.join(" "),
            client_id: self.inner.tokens.client_id().to_owned(),
        }
    }

    // --- Typed endpoints -----------------------------------------------------

    pub async fn organization(&self) -> Result<Organization, PlatformError> {
        let call = Call::new(
            Operation::ReadOrganization,
            Method::GET,
            &["api", "v2", "organizations", "me"],
        );
        self.json(call).await
    }

    pub async fn templates(&self) -> Result<Vec<Template>, PlatformError> {
        let call = Call::new(
            Operation::ReadTemplates,
            Method::GET,
            &["api", "v2", "wfm", "schedule", "templates"],
        );
        Ok(self.json::<Entities<Template>>(call).await?.entities)
    }

    pub async fn schedule(&self, schedule_id: &str) -> Result<ScheduleInfo, PlatformError> {
        let mut call = Call::new(
            Operation::ReadSchedule,
            Method::GET,
            &["api", "v2", "wfm", "schedule", schedule_id],
        );
        call.subject.schedule_id = Some(schedule_id.to_owned());
        let info: ScheduleInfo = self.json(call).await?;
        self.remember_org(&info);
        Ok(info)
    }

    fn remember_org(&self, info: &ScheduleInfo) {
        self.inner
            .schedule_orgs
            .lock()
            .expect("schedule orgs")
            .insert(info.id.clone(), info.org_id.clone());
    }

    /// Every swap of a schedule, following `nextCursor` to the last page.
    pub async fn swaps(
        &self,
        schedule_id: &str,
        status: Option<SwapStatus>,
    ) -> Result<Vec<Swap>, PlatformError> {
        self.swaps_with(schedule_id, status, true).await
    }

    async fn swaps_with(
        &self,
        schedule_id: &str,
        status: Option<SwapStatus>,
        diagnose: bool,
    ) -> Result<Vec<Swap>, PlatformError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut call = Call::new(
                Operation::ReadSwaps,
                Method::GET,
                &["api", "v2", "wfm", "shiftswaps"],
            );
            call.diagnose = diagnose;
            call.subject.schedule_id = Some(schedule_id.to_owned());
            call.query.push(("scheduleId", schedule_id.to_owned()));
            if let Some(s) = status {
                call.query.push(("status", s.as_str().to_owned()));
            }
            call.query.push(("pageSize", "100".to_owned()));
            if let Some(c) = cursor.take() {
                call.query.push(("cursor", c));
            }
            let endpoint = call.endpoint();
            let page: SwapPage = self.json(call).await?;
            all.extend(page.entities);
            match page.next_cursor {
                Some(next) if !next.is_empty() => {
                    if all.len() > 1_000_000 {
                        return Err(PlatformError::Malformed {
                            endpoint,
                            message: "pagination does not end".into(),
                        });
                    }
                    cursor = Some(next);
                }
                _ => return Ok(all),
            }
        }
    }

    pub async fn swap(&self, swap_id: &str) -> Result<Swap, PlatformError> {
        let call = Call::new(
            Operation::ReadSwaps,
            Method::GET,
            &["api", "v2", "wfm", "shiftswaps", swap_id],
        );
        self.json(call).await
    }

    /// Replaces an agent's week in a schedule, or says which swap holds it.
    pub async fn write_agent(
        &self,
        schedule_id: &str,
        agent_id: &str,
        shifts: &[Shift],
    ) -> Result<WriteOutcome, PlatformError> {
        let mut call = Call::new(
            Operation::WriteAgent,
            Method::PUT,
            &["api", "v2", "wfm", "schedule", "agent", agent_id],
        );
        call.body = Some(to_body(&AgentWeek {
            schedule_id,
            shifts,
        }));
        call.subject = Subject {
            schedule_id: Some(schedule_id.to_owned()),
            agents: vec![agent_id.to_owned()],
        };
        match self.json::<WriteResult>(call).await {
            Ok(r) => Ok(WriteOutcome::Written { version: r.version }),
            Err(PlatformError::PendingSwap { pending }) => Ok(WriteOutcome::Deferred {
                swap_id: pending
                    .into_iter()
                    .next()
                    .map(|p| p.swap_id)
                    .unwrap_or_default(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Publishes up to 500 agents, or says which of them wait for a swap.
    pub async fn publish(
        &self,
        schedule_id: &str,
        agent_ids: &[String],
    ) -> Result<PublishOutcome, PlatformError> {
        let mut call = Call::new(
            Operation::Publish,
            Method::POST,
            &["api", "v2", "wfm", "schedule", "publish"],
        );
        call.body = Some(to_body(&serde_json::json!({
            "scheduleId": schedule_id,
            "agentIds": agent_ids,
        })));
        call.subject = Subject {
            schedule_id: Some(schedule_id.to_owned()),
            agents: agent_ids.to_vec(),
        };
        match self.json::<PublishResult>(call).await {
            Ok(r) => Ok(PublishOutcome::Published {
                agent_ids: r.published_agent_ids,
                version: r.version,
            }),
            Err(PlatformError::PendingSwap { pending }) => Ok(PublishOutcome::Deferred { pending }),
            Err(e) => Err(e),
        }
    }

    // --- The call loop ---------------------------------------------------------

    async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, PlatformError> {
        let endpoint = call.endpoint();
        let body = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|e| PlatformError::malformed(endpoint, &e))
    }

    fn url(&self, segments: &[String]) -> Url {
        super::url::endpoint(&self.inner.api_base, segments)
    }

    fn send(&self, call: Call) -> BoxFuture<'_, Result<axum::body::Bytes, PlatformError>> {
        Box::pin(async move {
            let i = &self.inner;
            let mut attempt = Attempt {
                endpoint: call.endpoint(),
                bucket: if call.op == Operation::Publish {
                    Bucket::Publish
                } else {
                    Bucket::Default
                },
                url: self.url(&call.segments),
                started: i.clock.now(),
                delays: retry::delays(&i.retry),
                count: 0,
                fresh_token_tried: false,
            };
            loop {
                let elapsed = (i.clock.now() - attempt.started)
                    .to_std()
                    .unwrap_or_default();
                if attempt.count > 0 && elapsed > i.retry.max_elapsed {
                    return Err(PlatformError::GaveUpWaiting {
                        endpoint: attempt.endpoint,
                        what: "the platform to accept the call",
                        elapsed_secs: elapsed.as_secs(),
                    });
                }
                // Both kept until the call is answered.
                let (ticket, _due) = self.cleared(&call, attempt.bucket).await;
                let token = {
                    let _waiting = i.waits.token();
                    i.tokens.token().await?
                };
                if !self.may_send() {
                    return Err(PlatformError::Cancelled);
                }
                attempt.count += 1;
                let publishing = match call.lock_role() {
                    LockRole::Publish(schedule) => Some(i.publish_locks.publishing(schedule)),
                    _ => None,
                };
                let (answer, body) = self.exchange(&call, &attempt, &token, ticket).await;
                drop(publishing);
                match self
                    .next_step(&call, &mut attempt, answer, &token, elapsed)
                    .await
                {
                    Step::Done => return Ok(body),
                    Step::Again => {}
                    Step::Fail(e) => return Err(e),
                }
            }
        })
    }

    /// Waits until `call` may leave: its bucket's turn and, for a write, its
    /// schedule clear of this client's publishes. The lock is waited for
    /// before the bucket, so that a platform paced by the configured rate
    /// gets the writes one by one when the lock clears, not all at once
    /// (waited after, 183 of 10,000 writes met a 429); and looked at again
    /// after, since a publish may have come and gone meanwhile (not looked
    /// at, a thousand writes in 10,000 met its lock), unless it probes the
    /// lock. A publish comes back with the notice that stops writes just
    /// before it is due to leave.
    async fn cleared(&self, call: &Call, bucket: Bucket) -> (Ticket, Option<Due<'_>>) {
        let i = &self.inner;
        let timing = || (i.throttle.round_trip(), i.throttle.jitter(bucket));
        loop {
            let (probe, due) = match call.lock_role() {
                LockRole::Write(schedule) => {
                    let _waiting = i.waits.lock();
                    let (trip, jitter) = timing();
                    (
                        i.publish_locks.wait_writable(schedule, trip, jitter).await,
                        None,
                    )
                }
                LockRole::Publish(schedule) => {
                    let due = i.throttle.next_go(bucket);
                    (false, due.map(|at| i.publish_locks.due(schedule, at)))
                }
                LockRole::None => (false, None),
            };
            let ticket = i.throttle.acquire(bucket).await;
            let overtaken = match call.lock_role() {
                LockRole::Write(schedule) if !probe => {
                    let (trip, jitter) = timing();
                    !i.publish_locks.clear(schedule, trip, jitter)
                }
                _ => false,
            };
            if !overtaken {
                return (ticket, due);
            }
            i.throttle.unused(ticket);
        }
    }

    /// One request and its answer, classified; rate-limit headers update
    /// the gate on the way.
    async fn exchange(
        &self,
        call: &Call,
        attempt: &Attempt,
        token: &AccessToken,
        ticket: Ticket,
    ) -> (Answer, axum::body::Bytes) {
        let i = &self.inner;
        self.count(|s| &s.requests);
        let mut request = i
            .http
            .request(call.method.clone(), attempt.url.clone())
            .bearer_auth(token.bearer())
            .timeout(i.timeout);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let departure = i.throttle.leaves(ticket);
        let sent_at = departure.at;
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                metrics::counter!("wfm_api_requests_total", "endpoint" => call.op.label(), "status" => "no_answer")
                    .increment(1);
                i.throttle.unanswered(attempt.bucket);
                return (Answer::unhinted(classify_transport(&e)), Default::default());
            }
        };
        let status = response.status();
        metrics::counter!("wfm_api_requests_total", "endpoint" => call.op.label(), "status" => status.as_u16().to_string())
            .increment(1);
        let headers = response.headers().clone();
        // Every answer, refusals included, tells the gate what is left.
        i.throttle.observe(departure, Advertised::read(&headers));
        let body = match super::body::read_capped(response, i.max_answer).await {
            Ok(body) => body,
            Err(super::body::BodyError::Transport(e)) => {
                return (Answer::unhinted(classify_transport(&e)), Default::default())
            }
            Err(too_large) => {
                let message = too_large.describe("platform.max_answer_bytes");
                let status = status.as_u16();
                return (
                    Answer::unhinted(Classified::Unexpected { status, message }),
                    Default::default(),
                );
            }
        };
        let rate = RateHeaders::read(&headers);
        let hinted = rate.reset.is_some() || super::classify::retry_after(&headers).is_some();
        if let Some(adv) = Advertised::read(&headers).filter(|a| a.remaining == 0) {
            // The budget holds the calls until the reset; the status line
            // says so.
            if status.is_success() {
                i.waits.hold(sent_at, adv.reset);
            }
        }
        let classified = classify(status, &headers, &body);
        let locked = matches!(classified, Classified::Locked { .. });
        match call.lock_role() {
            LockRole::Write(schedule) => {
                let trip = i.throttle.round_trip();
                i.publish_locks
                    .observe_write(schedule, sent_at, trip, locked);
            }
            LockRole::Publish(schedule) if status.is_success() => {
                i.publish_locks.published(schedule)
            }
            _ => {}
        }
        (Answer { classified, hinted }, body)
    }

    /// What an answer means for the call: done, try again (after waiting
    /// as the answer says), or a located error.
    async fn next_step(
        &self,
        call: &Call,
        attempt: &mut Attempt,
        answer: Answer,
        token: &AccessToken,
        elapsed: Duration,
    ) -> Step {
        let i = &self.inner;
        let endpoint = attempt.endpoint.clone();
        match answer.classified {
            Classified::Success => {
                self.answered();
                Step::Done
            }
            Classified::Unauthorized if !attempt.fresh_token_tried => {
                tracing::info!(%endpoint, "401: dropping the token and retrying once with a fresh one");
                self.count(|s| &s.stale_token_retries);
                i.tokens.invalidate(token);
                attempt.fresh_token_tried = true;
                Step::Again
            }
            Classified::Unauthorized => Step::Fail(PlatformError::Unauthorized { endpoint }),
            Classified::RateLimited { wait, masked } => {
                self.rate_limited(attempt.bucket, &endpoint, wait, masked);
                if retry::beyond_budget(&i.retry, elapsed, wait) {
                    return Step::Fail(retry::too_long(endpoint, &i.retry, elapsed, wait));
                }
                if !answer.hinted {
                    i.throttle.slow_down(attempt.bucket);
                }
                Step::Again
            }
            Classified::Locked { wait } => {
                let wait = match call.lock_role() {
                    LockRole::Write(schedule) => {
                        let trip = i.throttle.round_trip();
                        i.publish_locks.after_refusal(schedule, wait, trip)
                    }
                    _ => wait,
                };
                if retry::beyond_budget(&i.retry, elapsed, wait) {
                    return Step::Fail(retry::too_long(endpoint, &i.retry, elapsed, wait));
                }
                self.count(|s| &s.locked);
                metrics::counter!("wfm_lock_waits_total").increment(1);
                self.trouble().event(TroubleKind::Locked, &endpoint);
                tracing::debug!(%endpoint, wait_ms = millis(wait), "schedule locked by a publish; waiting");
                let _waiting = i.waits.lock();
                i.clock.sleep(wait).await;
                Step::Again
            }
            Classified::Transient { reason, wait } => {
                let Some(delay) = attempt.delays.next() else {
                    return Step::Fail(PlatformError::Unavailable {
                        endpoint,
                        attempts: attempt.count,
                        elapsed_secs: elapsed.as_secs(),
                        reason,
                    });
                };
                if let Some(w) = wait.filter(|w| retry::beyond_budget(&i.retry, elapsed, *w)) {
                    return Step::Fail(retry::too_long(endpoint, &i.retry, elapsed, w));
                }
                let delay = wait.map_or(delay, |w| w.max(delay));
                self.retrying(&endpoint);
                tracing::debug!(%endpoint, %reason, attempt = attempt.count, retry_in_ms = millis(delay), "transient failure; retrying");
                i.clock.sleep(delay).await;
                Step::Again
            }
            Classified::Forbidden { correlation_id } => {
                self.forbidden(call, attempt, token, correlation_id).await
            }
            other => Step::Fail(final_error(endpoint, other)),
        }
    }

    async fn forbidden(
        &self,
        call: &Call,
        attempt: &mut Attempt,
        token: &AccessToken,
        correlation_id: Option<String>,
    ) -> Step {
        let endpoint = attempt.endpoint.clone();
        let correlation_id = correlation_id.unwrap_or_else(|| "(none)".into());
        if !call.diagnose {
            return Step::Fail(PlatformError::Forbidden {
                endpoint,
                correlation_id,
            });
        }
        match self
            .diagnose(
                call,
                token,
                attempt.fresh_token_tried,
                &endpoint,
                correlation_id,
            )
            .await
        {
            Diagnosis::StaleToken => {
                tracing::info!(%endpoint, "403 on a stale token: retrying once with a fresh one");
                self.count(|s| &s.stale_token_retries);
                self.inner.tokens.invalidate(token);
                attempt.fresh_token_tried = true;
                Step::Again
            }
            Diagnosis::Final(e) => Step::Fail(e),
        }
    }

    /// Explains a 403, in the order the causes can be told apart: a stale
    /// token, a missing scope, another organization, a pending swap.
    async fn diagnose(
        &self,
        call: &Call,
        token: &AccessToken,
        fresh_token_tried: bool,
        endpoint: &str,
        correlation_id: String,
    ) -> Diagnosis {
        let introspection = self.inner.tokens.introspect(token).await;
        match &introspection {
            Ok(i) if !i.active && !fresh_token_tried => return Diagnosis::StaleToken,
            Err(_) if !fresh_token_tried => return Diagnosis::StaleToken,
            _ => {}
        }
        let introspection = introspection.ok();
        let granted = introspection
            .as_ref()
            .and_then(|i| i.scope.as_deref())
            .map(parse_scope_list)
            .unwrap_or_else(|| token.granted.clone());
        if !granted.iter().any(|g| g == call.op.scope()) {
            return Diagnosis::Final(self.missing_scope(call.op, &granted));
        }
        if let Some(schedule_id) = &call.subject.schedule_id {
            if let Some(e) = self
                .organization_mismatch(schedule_id, introspection.and_then(|i| i.org_id), &granted)
                .await
            {
                return Diagnosis::Final(e);
            }
            if call.op.touches_agents() && !call.subject.agents.is_empty() {
                if let Ok(pending) = self
                    .swaps_with(schedule_id, Some(SwapStatus::Pending), false)
                    .await
                {
                    let held: Vec<PendingAgent> = call
                        .subject
                        .agents
                        .iter()
                        .filter_map(|a| {
                            pending
                                .iter()
                                .find(|s| s.involves(a))
                                .map(|s| PendingAgent {
                                    agent_id: a.clone(),
                                    swap_id: s.id.clone(),
                                })
                        })
                        .collect();
                    if !held.is_empty() {
                        return Diagnosis::Final(PlatformError::PendingSwap { pending: held });
                    }
                }
            }
        }
        Diagnosis::Final(PlatformError::Forbidden {
            endpoint: endpoint.to_owned(),
            correlation_id,
        })
    }

    async fn organization_mismatch(
        &self,
        schedule_id: &str,
        token_org: Option<String>,
        granted: &[String],
    ) -> Option<PlatformError> {
        let token_org = match token_org {
            Some(org) => org,
            None => self.organization().await.ok()?.id,
        };
        let known = self
            .inner
            .schedule_orgs
            .lock()
            .expect("schedule orgs")
            .get(schedule_id)
            .cloned();
        let schedule_org = match known {
            Some(org) => org,
            None => {
                let mut call = Call::new(
                    Operation::ReadSchedule,
                    Method::GET,
                    &["api", "v2", "wfm", "schedule", schedule_id],
                );
                call.diagnose = false;
                match self.json::<ScheduleInfo>(call).await {
                    Ok(info) => {
                        self.remember_org(&info);
                        info.org_id
                    }
                    // With the read scope held, only another organization
                    // explains a 403 on the schedule itself.
                    Err(PlatformError::Forbidden { .. })
                        if granted.iter().any(|g| g == Operation::ReadSchedule.scope()) =>
                    {
                        "another organization".to_owned()
                    }
                    Err(_) => return None,
                }
            }
        };
        (schedule_org != token_org).then(|| PlatformError::WrongOrganization {
            schedule_id: schedule_id.to_owned(),
            schedule_org,
            token_org,
            client_id: self.inner.tokens.client_id().to_owned(),
        })
    }
}

/// The errors an answer settles at once.
fn final_error(endpoint: String, classified: Classified) -> PlatformError {
    match classified {
        Classified::Invalid {
            code,
            message,
            details,
        } => PlatformError::Invalid {
            endpoint,
            code,
            message,
            details,
        },
        Classified::NotFound { message } => PlatformError::NotFound { endpoint, message },
        Classified::Unexpected { status, message } => PlatformError::Unexpected {
            endpoint,
            status,
            message,
        },
        other => PlatformError::Unexpected {
            endpoint,
            status: 0,
            message: format!("{other:?}"),
        },
    }
}

fn to_body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("request bodies serialize")
}

/// A duration as a log field: whole milliseconds, a number a log query can
/// compare, not Rust's debug text.
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
