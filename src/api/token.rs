//! OAuth 2.0 client credentials (RFC 6749 §4.4), refreshed ahead of expiry.
//!
//! Expiry is counted on our clock from the moment the token arrived, never
//! from the server's `exp`: a server clock that runs ahead or behind cannot
//! make us use an expired token.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use url::Url;

use super::error::PlatformError;
use super::model::{OAuthError, TokenResponse};
use super::retry;
use super::scopes::parse_scope_list;
use super::stats::ClientStats;
use crate::clock::SharedClock;
use crate::config::{PlatformSettings, RetrySettings};
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

struct Inner {
    http: reqwest::Client,
    url: Url,
    introspect_url: Url,
    client_id: String,
    secret: Secret,
    scopes: Vec<String>,
    refresh_before: Duration,
    margin: Duration,
    timeout: Duration,
    retry: RetrySettings,
    clock: SharedClock,
    stats: Arc<ClientStats>,
    current: Mutex<Option<AccessToken>>,
    /// Held by whoever is fetching a token: the single flight.
    fetching: tokio::sync::Mutex<()>,
    serial: std::sync::atomic::AtomicU64,
}

/// One per OAuth client, shared by every worker.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

fn form_encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl TokenManager {
    pub fn new(
        http: reqwest::Client,
        platform: &PlatformSettings,
        retry: &RetrySettings,
        clock: SharedClock,
        stats: Arc<ClientStats>,
    ) -> Result<Self, PlatformError> {
        let join = |path: &str| {
            platform
                .auth_base_url
                .join(path)
                .map_err(|e| PlatformError::Setup(format!("platform.auth_base_url: {e}")))
        };
        Ok(TokenManager {
            inner: Arc::new(Inner {
                http,
                url: join("oauth/token")?,
                introspect_url: join("oauth/introspect")?,
                client_id: platform.client_id.clone(),
                secret: platform.client_secret.clone(),
                scopes: platform.scopes.clone(),
                refresh_before: platform.refresh_before,
                margin: platform.min_token_margin,
                timeout: platform.request_timeout,
                retry: retry.clone(),
                clock,
                stats,
                current: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
                serial: Default::default(),
            }),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    pub fn requested_scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// A token with more than the safety margin left, fetching one if needed.
    pub async fn token(&self) -> Result<AccessToken, PlatformError> {
        if let Some(t) = self.inner.usable() {
            return Ok(t);
        }
        let _flight = self.inner.fetching.lock().await;
        // Whoever held the flight before us may have fetched one already.
        if let Some(t) = self.inner.usable() {
            return Ok(t);
        }
        self.inner.fetch().await
    }

    /// Drops `token` if it is still the current one: the platform said it
    /// is no good, whatever our clock thinks.
    pub fn invalidate(&self, token: &AccessToken) {
        let mut current = self.inner.current.lock().expect("token state");
        if current.as_ref().is_some_and(|c| c.serial == token.serial) {
            *current = None;
        }
    }

    /// Refreshes in the background ahead of expiry, until the manager is dropped.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let (wait, clock) = {
                    let now = inner.clock.now();
                    let due = inner
                        .current
                        .lock()
                        .expect("token state")
                        .as_ref()
                        .map(|t| t.refresh_at);
                    let wait = match due {
                        Some(at) if at > now => (at - now).to_std().unwrap_or_default(),
                        Some(_) => Duration::ZERO,
                        // Nothing to refresh until someone asks for a token.
                        None => {
                            Duration::from_secs(1).min(inner.margin.max(Duration::from_millis(100)))
                        }
                    };
                    (wait, inner.clock.clone())
                };
                let has_token = inner.current.lock().expect("token state").is_some();
                drop(inner);
                clock.sleep(wait).await;
                if !has_token {
                    continue;
                }
                let Some(inner) = weak.upgrade() else { return };
                let _flight = inner.fetching.lock().await;
                let due = inner
                    .current
                    .lock()
                    .expect("token state")
                    .as_ref()
                    .is_some_and(|t| t.refresh_at <= inner.clock.now());
                if due {
                    if let Err(e) = inner.fetch().await {
                        tracing::warn!(error = %e, "background token refresh failed; callers will retry");
                    }
                }
            }
        })
    }

    /// RFC 7662 introspection of `token`.
    pub async fn introspect(
        &self,
        token: &AccessToken,
    ) -> Result<super::model::Introspection, PlatformError> {
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
            .map_err(|e| PlatformError::Unavailable {
                endpoint: endpoint.clone(),
                attempts: 1,
                elapsed_secs: 0,
                reason: super::classify::transport_reason(&e),
            })?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if status.as_u16() == 401 {
            return Err(PlatformError::InvalidClient {
                client_id: i.client_id.clone(),
            });
        }
        if !status.is_success() {
            return Err(PlatformError::Unexpected {
                endpoint,
                status: status.as_u16(),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| PlatformError::Malformed {
            endpoint,
            message: e.to_string(),
        })
    }
}

impl Inner {
    fn usable(&self) -> Option<AccessToken> {
        let now = self.clock.now();
        let current = self.current.lock().expect("token state");
        let t = current.as_ref()?;
        // A margin larger than a short sandbox lifetime would make every
        // token unusable; never ask for more than a quarter of it.
        let margin = TimeDelta::from_std(self.margin)
            .unwrap_or(TimeDelta::MAX)
            .min(t.lifetime() / 4);
        (now < t.expires - margin).then(|| t.clone())
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

    async fn fetch(&self) -> Result<AccessToken, PlatformError> {
        let started = self.clock.now();
        let mut delays = retry::delays(&self.retry);
        let mut attempts = 0;
        loop {
            attempts += 1;
            ClientStats::bump(&self.stats.token_requests);
            metrics::counter!("wfm_token_requests_total").increment(1);
            let (reason, hint) = match self.request_once().await {
                Ok(Ok(token)) => {
                    *self.current.lock().expect("token state") = Some(token.clone());
                    tracing::debug!(serial = token.serial, expires = %token.expires, "token obtained");
                    return Ok(token);
                }
                Ok(Err(permanent)) => {
                    ClientStats::bump(&self.stats.token_failures);
                    metrics::counter!("wfm_token_failures_total").increment(1);
                    return Err(permanent);
                }
                Err(transient) => transient,
            };
            ClientStats::bump(&self.stats.token_failures);
            metrics::counter!("wfm_token_failures_total").increment(1);
            let elapsed = (self.clock.now() - started).to_std().unwrap_or_default();
            // Without a token nothing else can happen, so an outage of the
            // OAuth server is waited out for the whole time budget, at the
            // capped delay once the attempts' backoff is spent.
            let next = (elapsed < self.retry.max_elapsed)
                .then(|| delays.next().unwrap_or(self.retry.max_delay));
            let Some(delay) = next else {
                return Err(PlatformError::TokenUnavailable {
                    url: self.url.to_string(),
                    attempts,
                    reason,
                });
            };
            let delay = hint.map_or(delay, |h| h.max(delay));
            tracing::warn!(attempt = attempts, %reason, retry_in = ?delay, "token request failed; retrying");
            self.clock.sleep(delay).await;
        }
    }

    /// One token request. Outer error: transient (reason, Retry-After);
    /// inner error: permanent.
    async fn request_once(
        &self,
    ) -> Result<Result<AccessToken, PlatformError>, (String, Option<Duration>)> {
        let scope = self.scopes.join(" ");
        let response = self
            .http
            .post(self.url.clone())
            .basic_auth(
                form_encoded(&self.client_id),
                Some(form_encoded(self.secret.expose())),
            )
            .form(&[("grant_type", "client_credentials"), ("scope", &scope)])
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| (super::classify::transport_reason(&e), None))?;
        let received = self.clock.now();
        let status = response.status().as_u16();
        let hint = super::classify::retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| (super::classify::transport_reason(&e), None))?;
        let oauth_error = || serde_json::from_slice::<OAuthError>(&body).ok();
        Ok(match status {
            200 => {
                let parsed: TokenResponse = match serde_json::from_slice(&body) {
                    Ok(p) => p,
                    Err(e) => {
                        return Ok(Err(PlatformError::Malformed {
                            endpoint: "POST /oauth/token".into(),
                            message: e.to_string(),
                        }))
                    }
                };
                if parsed
                    .token_type
                    .as_deref()
                    .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
                {
                    return Ok(Err(PlatformError::Malformed {
                        endpoint: "POST /oauth/token".into(),
                        message: "token_type is not Bearer".into(),
                    }));
                }
                let lifetime = Duration::from_secs(parsed.expires_in.max(1));
                let granted = parsed
                    .scope
                    .as_deref()
                    .map(parse_scope_list)
                    .unwrap_or_else(|| self.scopes.clone());
                Ok(AccessToken {
                    value: Secret::new(parsed.access_token),
                    granted,
                    received,
                    expires: received + TimeDelta::from_std(lifetime).unwrap_or_default(),
                    refresh_at: self.refresh_at(received, lifetime),
                    serial: self
                        .serial
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                })
            }
            401 => Err(PlatformError::InvalidClient {
                client_id: self.client_id.clone(),
            }),
            400 => {
                let e = oauth_error();
                let error = e.as_ref().map(|e| e.error.clone()).unwrap_or_default();
                let description = e
                    .and_then(|e| e.error_description)
                    .unwrap_or_else(|| "no description".into());
                match error.as_str() {
                    "invalid_client" => Err(PlatformError::InvalidClient {
                        client_id: self.client_id.clone(),
                    }),
                    "invalid_scope" => Err(PlatformError::InvalidScope {
                        requested: scope,
                        description,
                    }),
                    _ => Err(PlatformError::TokenRefused { error, description }),
                }
            }
            408 | 429 | 500..=599 => return Err((format!("HTTP {status}"), hint)),
            other => Err(PlatformError::TokenRefused {
                error: format!("HTTP {other}"),
                description: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }),
        })
    }
}
