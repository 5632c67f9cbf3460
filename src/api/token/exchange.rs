//! One exchange with the OAuth server: the client-credentials request, the
//! answer read into a token or a refusal that names what to fix.

use super::*;
use crate::api::classify;

impl Inner {
    /// Requests a token, retrying transient failures within the retry
    /// budget; a stop ends the request or the wait at once.
    pub(super) async fn fetch(&self) -> Result<AccessToken, PlatformError> {
        let started = self.clock.now();
        let mut delays = retry::delays(&self.retry);
        let mut attempts = 0;
        loop {
            if !self.gate.get().is_none_or(|open| open()) {
                return Err(PlatformError::Cancelled);
            }
            attempts += 1;
            ClientStats::bump(&self.stats.token_requests);
            metrics::counter!("wfm_token_requests_total").increment(1);
            let answer = tokio::select! {
                _ = self.cancel.cancelled() => return Err(PlatformError::Cancelled),
                answer = self.request_once() => answer,
            };
            let (reason, hint) = match answer {
                Ok(Ok(token)) => return Ok(token),
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
                    url: crate::api::url::shown(&self.url),
                    attempts,
                    reason,
                });
            };
            let delay = hint.map_or(delay, |h| h.max(delay));
            // The flight's outcome is logged once, when it ends.
            tracing::debug!(attempt = attempts, %reason, retry_in = ?delay, "token request failed; retrying");
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(PlatformError::Cancelled),
                _ = self.clock.sleep(delay) => {}
            }
        }
    }

    /// The token of a 200 answer, or why the answer is not one (a captive
    /// portal's HTML page, another token type).
    fn issued(&self, body: &[u8], received: DateTime<Utc>) -> Result<AccessToken, PlatformError> {
        let malformed = |message: String| PlatformError::Malformed {
            endpoint: "POST /oauth/token".into(),
            message,
        };
        // Not even serde's message: it may quote the answer, and whatever
        // answers on the token endpoint may echo the client secret.
        let parsed: TokenResponse = serde_json::from_slice(body).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => "JSON, but not a token answer",
                _ => "not JSON",
            };
            malformed(format!(
                "{what} (an answer of {} bytes, not shown)",
                body.len()
            ))
        })?;
        if parsed
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(malformed("token_type is not Bearer".into()));
        }
        // Without expires_in, assume the configured lifetime; if the token
        // dies sooner, the API's 401 drops it (`invalidate`).
        let lifetime = parsed
            .expires_in
            .map_or(self.default_lifetime, Duration::from_secs)
            .max(Duration::from_secs(1));
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

    /// A 400's `error` code, told apart by what the operator must fix.
    /// `named`: the answer's own `scope` field, when it has one.
    fn refusal(
        &self,
        error: &str,
        description: String,
        named: Option<String>,
        requested: String,
    ) -> PlatformError {
        let client_id = self.client_id.clone();
        match error {
            "invalid_client" => PlatformError::InvalidClient { client_id },
            "invalid_scope" => PlatformError::InvalidScope {
                scopes: named
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| named_scopes(&self.scopes, &description)),
                requested,
                description,
                client_id,
            },
            "unauthorized_client" => PlatformError::UnauthorizedClient {
                client_id,
                description,
            },
            "unsupported_grant_type" => PlatformError::UnsupportedGrantType {
                url: crate::api::url::shown(&self.url),
                description,
            },
            _ => PlatformError::TokenRefused {
                error: error.to_owned(),
                description,
            },
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
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) if self.patience == Patience::Preflight && classify::is_refused(&e) => {
                return Ok(Err(PlatformError::ConnectionRefused {
                    url: crate::api::url::shown(&self.url),
                    key: "platform.auth_base_url",
                }))
            }
            Err(e) => return Err((classify::transport_reason(&e), None)),
        };
        let received = self.clock.now();
        let status = response.status().as_u16();
        let hint = classify::retry_after(response.headers());
        let body = crate::api::body::read_capped(response, crate::api::body::TOKEN_ANSWER_BYTES)
            .await
            .map_err(|e| (e.describe("a token answer's limit"), None))?;
        let oauth_error = || serde_json::from_slice::<OAuthError>(&body).ok();
        Ok(match status {
            200 => self.issued(&body, received),
            // RFC 6749 §5.2: a 401 is invalid_client, whatever its body says.
            401 => Err(PlatformError::InvalidClient {
                client_id: self.client_id.clone(),
            }),
            400 => {
                let e = oauth_error();
                let error = e
                    .as_ref()
                    .map(|e| echo_message(&e.error))
                    .unwrap_or_default();
                let named = e
                    .as_ref()
                    .and_then(|e| e.scope.as_deref().map(echo_message));
                let description = e
                    .and_then(|e| e.error_description.as_deref().map(echo_message))
                    .unwrap_or_else(|| "no description".into());
                Err(self.refusal(&error, description, named, scope))
            }
            408 | 429 | 500..=599 => return Err((format!("HTTP {status}"), hint)),
            // Never the body: a proxy that echoes the request would put the
            // client secret (the Basic header) into the message.
            other => Err(PlatformError::TokenRefused {
                error: format!("HTTP {other}"),
                description: format!("an answer of {} bytes, not shown", body.len()),
            }),
        })
    }
}

/// The requested scopes an `invalid_scope` description names, or all of
/// them when it names none (many servers only say "invalid scope").
pub(super) fn named_scopes(requested: &[String], description: &str) -> String {
    let named: Vec<&str> = requested
        .iter()
        .map(String::as_str)
        .filter(|s| {
            description
                .split(|c: char| {
                    c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '(' | ')' | '[' | ']')
                })
                .any(|word| word.trim_end_matches(['.', ':', ';']) == *s)
        })
        .collect();
    if named.is_empty() {
        requested.join(" ")
    } else {
        named.join(" ")
    }
}
