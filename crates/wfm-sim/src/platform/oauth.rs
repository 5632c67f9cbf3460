//! The simulated platform's OAuth server: client credentials, tokens and
//! their lifetimes, introspection, and each request's bearer checked.

use super::*;

impl Platform {
    pub fn token_endpoint_down(&mut self, now: DateTime<Utc>) -> bool {
        let elapsed = (now - self.started).to_std().unwrap_or_default();
        self.scenario.faults.token_down(elapsed, &mut self.rng)
    }

    fn client(&self, id: &str, secret: &str) -> Result<&scenario::Client, ApiError> {
        self.scenario
            .clients
            .iter()
            .find(|c| c.client_id == id && c.client_secret == secret)
            .ok_or_else(|| ApiError::oauth(401, "invalid_client", "client authentication failed"))
    }

    pub fn issue_token(
        &mut self,
        credentials: Option<(String, String)>,
        form: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        match form.get("grant_type").map(String::as_str) {
            None => {
                return Err(ApiError::oauth(
                    400,
                    "invalid_request",
                    "grant_type is required",
                ))
            }
            Some("client_credentials") => {}
            Some(other) => {
                return Err(ApiError::oauth(
                    400,
                    "unsupported_grant_type",
                    format!("grant_type {other} is not supported"),
                ))
            }
        }
        let Some((id, secret)) = credentials else {
            return Err(ApiError::oauth(
                401,
                "invalid_client",
                "no client credentials",
            ));
        };
        let client = self.client(&id, &secret)?.clone();
        let requested: Vec<&str> = form
            .get("scope")
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default();
        if let Some(unknown) = requested.iter().find(|s| !KNOWN_SCOPES.contains(s)) {
            return Err(ApiError::oauth(
                400,
                "invalid_scope",
                format!("unknown scope {unknown}"),
            ));
        }
        // Not entitled means dropped, silently: the thread's whole trouble.
        let granted: Vec<String> = if requested.is_empty() {
            client.scopes.clone()
        } else {
            requested
                .iter()
                .filter(|s| client.scopes.iter().any(|c| c == *s))
                .map(|s| s.to_string())
                .collect()
        };
        let token = format!("sim-{}", uuid::Uuid::new_v4().simple());
        let lifetime = self.scenario.server.token_lifetime;
        self.tokens.insert(
            token.clone(),
            Token {
                client_id: client.client_id.clone(),
                scopes: granted.clone(),
                issued: now,
                expires: now + delta(lifetime),
            },
        );
        self.record.tokens_issued += 1;
        Ok(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "scope": granted.join(" "),
        }))
    }

    pub fn introspect(
        &mut self,
        credentials: Option<(String, String)>,
        form: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let Some((id, secret)) = credentials else {
            return Err(ApiError::oauth(
                401,
                "invalid_client",
                "no client credentials",
            ));
        };
        self.client(&id, &secret)?;
        let Some(token) = form.get("token") else {
            return Err(ApiError::oauth(400, "invalid_request", "token is required"));
        };
        Ok(match self.tokens.get(token) {
            Some(t) if t.expires > now => {
                let org = self
                    .scenario
                    .clients
                    .iter()
                    .find(|c| c.client_id == t.client_id)
                    .map(|c| c.org_id.clone())
                    .unwrap_or_default();
                json!({
                    "active": true,
                    "scope": t.scopes.join(" "),
                    "client_id": t.client_id,
                    "org_id": org,
                    "exp": t.expires.timestamp(),
                    "iat": t.issued.timestamp(),
                })
            }
            _ => json!({"active": false}),
        })
    }

    // --- The gate every /api/v2 call passes -----------------------------

    pub fn authenticate(
        &mut self,
        bearer: Option<&str>,
        path: &str,
        now: DateTime<Utc>,
    ) -> Result<Caller, ApiError> {
        let stale = || {
            if self.scenario.server.forbidden_for_stale_token {
                ApiError::Forbidden(ForbiddenCause::StaleToken)
            } else {
                ApiError::Unauthorized
            }
        };
        let Some(token) = bearer.and_then(|b| self.tokens.get(b)) else {
            return Err(stale());
        };
        if token.expires <= now {
            let expired_at = token.expires;
            let err = stale();
            self.record.expired_token_uses.push(ExpiredUse {
                path: path.to_owned(),
                expired_at,
                used_at: now,
            });
            return Err(err);
        }
        let client = self
            .scenario
            .clients
            .iter()
            .find(|c| c.client_id == token.client_id)
            .ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            client_id: client.client_id.clone(),
            org_id: client.org_id.clone(),
            scopes: token.scopes.clone(),
        })
    }
}
