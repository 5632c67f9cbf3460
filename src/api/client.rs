//! The platform as one OAuth client sees it: the token, the rate-limit
//! buckets, the send gate, the retry policy, the counters and the episodes
//! of trouble that every call shares, whichever platform it is for. The
//! call loop itself is `super::call`.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::error::PlatformError;
use super::publish_lock::PublishLocks;
use super::stats::{ClientStats, StatsSnapshot};
use super::throttle::{Bucket, Throttle};
use super::token::TokenManager;
use super::trouble::{Activity, Held, Trouble, TroubleKind, Waits};
use crate::clock::{CancellableClock, SharedClock};
use crate::config::Settings;
use tokio_util::sync::CancellationToken;

/// How hard a client tries before it says a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// A run's and the daemon's: transient failures are retried within the
    /// retry budget, and a failed token is remembered with a backoff that
    /// the log announces.
    Run,
    /// `check`'s: a refused connection is an answer at once (nothing
    /// listens there; waiting would change nothing before the row's
    /// deadline), and a failed token is the caller's to say, in its row,
    /// with no log line promising a retry that will not come.
    Preflight,
}

struct Inner {
    http: reqwest::Client,
    api_base: Url,
    patience: Patience,
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
    gate: std::sync::OnceLock<SendGate>,
    publish_locks: PublishLocks,
}

/// What a client's calls go through, lent to another platform's call loop.
pub(crate) struct Transport<'a> {
    pub http: &'a reqwest::Client,
    pub api_base: &'a Url,
    pub retry: &'a crate::config::RetrySettings,
    pub timeout: Duration,
    pub clock: &'a SharedClock,
    /// `platform.max_answer_bytes`.
    pub max_answer: u64,
    pub patience: Patience,
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
        Self::with_patience(settings, clock, cancel, Patience::Run)
    }

    /// As [`Self::with_cancel`], trying as hard as `patience` says
    /// (`check`'s client: [`Patience::Preflight`]).
    pub fn with_patience(
        settings: &Settings,
        clock: SharedClock,
        cancel: CancellationToken,
        patience: Patience,
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
            patience,
        )?;
        Ok(PlatformClient {
            inner: Arc::new(Inner {
                http,
                api_base: p.api_base_url.clone(),
                patience,
                throttle: Throttle::new(&settings.rate_limits, clock.clone()),
                tokens,
                retry: settings.retry.clone(),
                timeout: p.request_timeout,
                max_answer: p.max_answer_bytes,
                trouble: Trouble::new(clock.clone()),
                waits: Waits::default(),
                stats,
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
                // Called as the run begins, in its span.
                trouble: Trouble::in_span(self.inner.clock.clone(), tracing::Span::current()),
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
            retry: &i.retry,
            timeout: i.timeout,
            clock: &i.clock,
            max_answer: i.max_answer,
            patience: i.patience,
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
    pub(super) fn answered(&self) {
        self.trouble().calm();
    }

    /// The platform said wait (a 429, or a masked one): every worker of the
    /// client holds for `wait`, the status line says so, and the episode
    /// counts it (one line per episode, not one per refusal).
    pub(super) fn rate_limited(
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
        i.waits.hold(i.clock.now(), wait, Held::Refused);
    }

    /// A transient failure is about to be retried.
    pub(super) fn retrying(&self, endpoint: &str) {
        self.count(|s| &s.retries);
        self.trouble().event(TroubleKind::Retried, endpoint);
    }

    /// Marks a worker as waiting for the publish lock until the guard drops.
    pub fn waiting_for_lock(&self) -> super::trouble::Waiting<'_> {
        self.inner.waits.lock()
    }

    /// The episodes this view counts: its run's, or the client's own.
    pub(super) fn trouble(&self) -> &Trouble {
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

    /// What the status line says the client's workers wait for.
    pub(super) fn waits(&self) -> &Waits {
        &self.inner.waits
    }

    /// This client's knowledge of its schedules' publish locks.
    pub(super) fn publish_locks(&self) -> &PublishLocks {
        &self.inner.publish_locks
    }
}

/// A duration as a log field: whole milliseconds, a number a log query can
/// compare, not Rust's debug text.
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
