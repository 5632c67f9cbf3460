//! OAuth 2.0 client credentials (RFC 6749 §4.4), refreshed ahead of expiry.
//!
//! Expiry is counted on our clock from the moment the token arrived, never
//! from the server's `exp`: a server clock that runs ahead or behind cannot
//! make us use an expired token.
//!
//! One fetch (a "flight", with its own retry budget) is in the air at a
//! time, and every caller waiting for a token shares its result, success or
//! error. A failed flight is remembered with a backoff (exponential, longest
//! for permanent errors): until it ends, callers get its error at once and
//! the background refresher does not ask again, so a rotated secret or a
//! captive portal costs a request per backoff, not hundreds a second.

mod exchange;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::{BoxFuture, FutureExt, Shared};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::client::{Patience, SendGate};
use super::error::PlatformError;
use super::oauth_wire::{OAuthError, TokenResponse};
use super::retry;
use super::scopes::parse_scope_list;
use super::stats::ClientStats;
use super::url::endpoint;
use crate::clock::SharedClock;
use crate::config::{PlatformSettings, RetrySettings};
use crate::echo::echo_message;
use crate::secret::Secret;

#[derive(Clone)]
pub struct AccessToken {
    value: Secret,
    pub granted: Vec<String>,
    pub received: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    refresh_at: DateTime<Utc>,
    /// Tells tokens apart without comparing their secret values.
    pub serial: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("serial", &self.serial)
            .field("granted", &self.granted)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    pub fn bearer(&self) -> &str {
        self.value.expose()
    }

    fn lifetime(&self) -> TimeDelta {
        self.expires - self.received
    }
}

/// The last failed flight, remembered so that callers get its error at once
/// and nobody asks the OAuth server again before `retry_at`.
struct Failure {
    error: PlatformError,
    /// Failed flights in a row.
    count: u32,
    at: DateTime<Utc>,
    retry_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    current: Option<AccessToken>,
    failure: Option<Failure>,
}

/// A token fetch in the air; every caller waiting for a token awaits the
/// same one and gets its result, success or error.
type Flight = Shared<BoxFuture<'static, Result<AccessToken, PlatformError>>>;

struct Inner {
    http: reqwest::Client,
    url: Url,
    introspect_url: Url,
    client_id: String,
    secret: Secret,
    scopes: Vec<String>,
    refresh_before: Duration,
    margin: Duration,
    default_lifetime: Duration,
    timeout: Duration,
    retry: RetrySettings,
    patience: Patience,
    clock: SharedClock,
    stats: Arc<ClientStats>,
    /// Ends every wait and request of the manager: a shutdown was asked for.
    cancel: CancellationToken,
    state: Mutex<State>,
    /// Locked before `state` wherever both are held.
    flight: Mutex<Option<Flight>>,
    serial: std::sync::atomic::AtomicU64,
    /// Asked before every token request, as before every API call: a
    /// process that lost the lease sends nothing, its refresher included.
    gate: std::sync::OnceLock<SendGate>,
}

/// One per OAuth client, shared by every worker.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

fn form_encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What the background refresher does next.
enum Plan {
    /// Nothing to refresh: no token, or an expired one whose renewal is left
    /// to callers, who get the last error at once until its backoff ends.
    Idle(Duration),
    Refresh(Duration),
}

impl TokenManager {
    pub fn new(
        http: reqwest::Client,
        platform: &PlatformSettings,
        retry: &RetrySettings,
        clock: SharedClock,
        stats: Arc<ClientStats>,
        cancel: CancellationToken,
        patience: Patience,
    ) -> Result<Self, PlatformError> {
        let base = &platform.auth_base_url;
        Ok(TokenManager {
            inner: Arc::new(Inner {
                http,
                url: endpoint(base, &["oauth", "token"]),
                introspect_url: endpoint(base, &["oauth", "introspect"]),
                client_id: platform.client_id.clone(),
                secret: platform.client_secret.clone(),
                scopes: platform.scopes.clone(),
                refresh_before: platform.refresh_before,
                margin: platform.min_token_margin,
                default_lifetime: platform.default_token_lifetime,
                timeout: platform.request_timeout,
                retry: retry.clone(),
                patience,
                clock,
                stats,
                cancel,
                state: Mutex::new(State::default()),
                flight: Mutex::new(None),
                serial: Default::default(),
                gate: std::sync::OnceLock::new(),
            }),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// Where tokens are requested.
    pub fn token_url(&self) -> &Url {
        &self.inner.url
    }

    /// A token with more than the safety margin left, fetching one if needed.
    /// While the last fetch's backoff runs, its error comes back at once.
    pub async fn token(&self) -> Result<AccessToken, PlatformError> {
        match self.join(Inner::settled) {
            Ok(flight) => flight.await,
            Err(settled) => settled,
        }
    }

    /// For readiness probes: a usable token, or a failure less than
    /// `retry.max_delay` old (or still in its backoff), is the answer
    /// without asking the OAuth server, however often the probe comes.
    pub async fn probe(&self) -> Result<(), PlatformError> {
        if let Some(answer) = self.inner.recent_answer() {
            return answer;
        }
        self.token().await.map(|_| ())
    }

    /// The flight in the air, or a new one unless `settled` (checked under
    /// the flight lock, so that a flight that just landed is seen) answers.
    fn join(
        &self,
        settled: impl FnOnce(&Inner) -> Option<Result<AccessToken, PlatformError>>,
    ) -> Result<Flight, Result<AccessToken, PlatformError>> {
        let mut slot = self.inner.flight.lock().expect("token flight");
        if let Some(flight) = slot.as_ref() {
            return Ok(flight.clone());
        }
        if let Some(answer) = settled(&self.inner) {
            return Err(answer);
        }
        let inner = self.inner.clone();
        let task = tokio::spawn(async move { inner.fly().await });
        let flight = async move { task.await.unwrap_or(Err(PlatformError::Cancelled)) }
            .boxed()
            .shared();
        *slot = Some(flight.clone());
        Ok(flight)
    }

    /// Every token request from now on first asks `gate`; set once.
    pub fn set_send_gate(&self, gate: SendGate) {
        let _ = self.inner.gate.set(gate);
    }

    /// Drops `token` if it is still the current one: the platform said it
    /// is no good, whatever our clock thinks.
    pub fn invalidate(&self, token: &AccessToken) {
        let mut state = self.inner.state.lock().expect("token state");
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.serial == token.serial)
        {
            state.current = None;
        }
    }

    /// Refreshes in the background ahead of expiry, until the manager is
    /// dropped or cancelled. A failed refresh is retried after its backoff,
    /// never in a loop.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let cancel = self.inner.cancel.clone();
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let plan = inner.plan();
                let clock = inner.clock.clone();
                drop(inner);
                let (wait, refresh) = match plan {
                    Plan::Idle(wait) => (wait, false),
                    Plan::Refresh(wait) => (wait, true),
                };
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = clock.sleep(wait) => {}
                }
                if !refresh {
                    continue;
                }
                let Some(inner) = weak.upgrade() else { return };
                let manager = TokenManager { inner };
                let due = |i: &Inner| (!i.refresh_due()).then_some(Err(PlatformError::Cancelled));
                if let Ok(flight) = manager.join(due) {
                    // The flight records and logs its own outcome.
                    let _ = flight.await;
                }
            }
        })
    }

    /// RFC 7662 introspection of `token`.
    pub async fn introspect(
        &self,
        token: &AccessToken,
    ) -> Result<super::oauth_wire::Introspection, PlatformError> {
        let i = &self.inner;
        let endpoint = "POST /oauth/introspect".to_owned();
        let response = i
            .http
            .post(i.introspect_url.clone())
            .basic_auth(
                form_encoded(&i.client_id),
                Some(form_encoded(i.secret.expose())),
            )
            .form(&[("token", token.bearer())])
            .timeout(i.timeout)
            .send()
            .await
            .map_err(|e| PlatformError::unanswered(endpoint.clone(), &e))?;
        let status = response.status();
        let body = super::body::read_capped(response, super::body::TOKEN_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        if status.as_u16() == 401 {
            return Err(PlatformError::InvalidClient {
                client_id: i.client_id.clone(),
            });
        }
        if !status.is_success() {
            // Never the body: it may echo the request and its credentials.
            return Err(PlatformError::Unexpected {
                endpoint,
                status: status.as_u16(),
                message: format!("an answer of {} bytes, not shown", body.len()),
            });
        }
        serde_json::from_slice(&body).map_err(|e| PlatformError::malformed(endpoint, &e))
    }
}

impl Inner {
    fn usable(&self) -> Option<AccessToken> {
        let now = self.clock.now();
        let state = self.state.lock().expect("token state");
        let t = state.current.as_ref()?;
        // A margin larger than a short sandbox lifetime would make every
        // token unusable; never ask for more than a quarter of it.
        let margin = TimeDelta::from_std(self.margin)
            .unwrap_or(TimeDelta::MAX)
            .min(t.lifetime() / 4);
        (now < t.expires - margin).then(|| t.clone())
    }

    /// The answer a caller gets without a new flight: a usable token, the
    /// last failure while its backoff runs, or a stop.
    fn settled(&self) -> Option<Result<AccessToken, PlatformError>> {
        if self.cancel.is_cancelled() {
            return Some(Err(PlatformError::Cancelled));
        }
        if let Some(t) = self.usable() {
            return Some(Ok(t));
        }
        let now = self.clock.now();
        let state = self.state.lock().expect("token state");
        let failure = state.failure.as_ref()?;
        (now < failure.retry_at).then(|| Err(failure.error.clone()))
    }

    fn recent_answer(&self) -> Option<Result<(), PlatformError>> {
        if let Some(settled) = self.settled() {
            return Some(settled.map(|_| ()));
        }
        let now = self.clock.now();
        let state = self.state.lock().expect("token state");
        let failure = state.failure.as_ref()?;
        let memory = TimeDelta::from_std(self.retry.max_delay).unwrap_or(TimeDelta::MAX);
        (now < failure.at + memory).then(|| Err(failure.error.clone()))
    }

    fn plan(&self) -> Plan {
        let now = self.clock.now();
        let state = self.state.lock().expect("token state");
        let until = |at: DateTime<Utc>| (at - now).to_std().unwrap_or_default();
        match (&state.current, &state.failure) {
            (Some(t), failure) if t.expires > now => {
                let at = failure
                    .as_ref()
                    .map_or(t.refresh_at, |f| f.retry_at.max(t.refresh_at));
                Plan::Refresh(until(at))
            }
            // Check again soon: someone may ask for a token, or get one.
            _ => {
                Plan::Idle(Duration::from_secs(1).min(self.margin.max(Duration::from_millis(100))))
            }
        }
    }

    /// The current token is due for renewal, still valid, and no backoff runs.
    fn refresh_due(&self) -> bool {
        let now = self.clock.now();
        let state = self.state.lock().expect("token state");
        let backing_off = state.failure.as_ref().is_some_and(|f| now < f.retry_at);
        state
            .current
            .as_ref()
            .is_some_and(|t| t.refresh_at <= now && now < t.expires)
            && !backing_off
            && !self.cancel.is_cancelled()
    }

    /// When to refresh: 75% into the lifetime or `refresh_before` ahead of
    /// expiry, whichever is first, less up to 5% jitter so that many
    /// publishers sharing a client do not refresh in step.
    fn refresh_at(&self, received: DateTime<Utc>, lifetime: Duration) -> DateTime<Utc> {
        let ahead = self.refresh_before.min(lifetime / 2).max(lifetime / 4);
        let jitter = lifetime.mul_f64(fastrand::f64() * 0.05);
        let at = lifetime.saturating_sub(ahead).saturating_sub(jitter);
        received + TimeDelta::from_std(at).unwrap_or_default()
    }

    /// One flight: a fetch, its outcome recorded, then the flight cleared
    /// under its lock so that nobody joins a landed flight.
    async fn fly(&self) -> Result<AccessToken, PlatformError> {
        let result = self.fetch().await;
        let mut slot = self.flight.lock().expect("token flight");
        self.record(&result);
        *slot = None;
        result
    }

    /// Keeps the token, or remembers the failure with its backoff; logs
    /// only when the state changes, so a failing server costs one line.
    fn record(&self, result: &Result<AccessToken, PlatformError>) {
        let now = self.clock.now();
        let mut state = self.state.lock().expect("token state");
        match result {
            Ok(token) => {
                state.current = Some(token.clone());
                if let Some(f) = state.failure.take() {
                    tracing::info!(client_id = %self.client_id, failures = f.count, "token obtained again after failures");
                }
                tracing::debug!(serial = token.serial, expires = %token.expires, "token obtained");
                metrics::gauge!("wfm_token_consecutive_failures", "client_id" => self.client_id.clone()).set(0.0);
            }
            // A stop is not the OAuth server's doing.
            Err(PlatformError::Cancelled) => {}
            Err(error) => {
                let previous = state.failure.take();
                let count = previous.as_ref().map_or(1, |f| f.count.saturating_add(1));
                let wait = retry::after_failures(&self.retry, count, !error.is_transient());
                let changed = previous.as_ref().is_none_or(|f| {
                    std::mem::discriminant(&f.error) != std::mem::discriminant(error)
                });
                // A preflight's caller says the error in its row, and asks no
                // more: a line announcing a backoff would promise a retry.
                if changed && self.patience == Patience::Run {
                    tracing::warn!(client_id = %self.client_id, failures = count, %error, retry_in = ?wait, "token requests failing; backing off");
                } else {
                    tracing::debug!(failures = count, %error, retry_in = ?wait, "token request failed again");
                }
                metrics::gauge!("wfm_token_consecutive_failures", "client_id" => self.client_id.clone())
                    .set(f64::from(count));
                state.failure = Some(Failure {
                    error: error.clone(),
                    count,
                    at: now,
                    retry_at: now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exchange::named_scopes;

    #[test]
    fn an_invalid_scope_hint_names_the_scope_the_server_named() {
        let requested: Vec<String> = ["wfm:schedule:read", "wfm:admin", "org:read"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            named_scopes(&requested, "scope wfm:admin is not allowed"),
            "wfm:admin"
        );
        assert_eq!(
            named_scopes(&requested, "requested scope(s) [wfm:admin, org:read]."),
            "wfm:admin org:read"
        );
        assert_eq!(
            named_scopes(&requested, "invalid scope"),
            "wfm:schedule:read wfm:admin org:read"
        );
    }
}
