//! Tokens, grants per division and the per-token rate limit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::errors::{GError, LimitName, TOKEN_LIMIT};
use super::scenario::Client;
use super::state::State;
use crate::limits::secs_until;
use crate::scenario::Bucket;
use wfm_clock::delta;

#[derive(Debug, Clone)]
pub struct Token {
    pub client_id: String,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub started: DateTime<Utc>,
    pub used: u32,
}

/// Who is calling: the client behind a valid token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    pub token: String,
}

/// The `inin-ratelimit-*` values of an answer.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub allowed: u32,
    pub count: u32,
    pub reset_secs: u64,
}

/// How far a client may edit schedules in a division.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditScope {
    All,
    /// A conditional grant: only these teams, and the request must name them.
    Teams(Vec<String>),
}

/// Permissions that make a BU `authorized` and show its MUs (inferred:
/// any WFM permission in the unit's division).
const WFM_PREFIX: &str = "wfm:";

impl State {
    fn client(&self, id: &str) -> Option<&Client> {
        self.scenario.clients.iter().find(|c| c.client_id == id)
    }

    pub fn issue_token(
        &mut self,
        credentials: Option<(String, String)>,
        form: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Value, GError> {
        match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {}
            None => {
                return Err(GError::oauth(
                    400,
                    "invalid_request",
                    "grant_type is required",
                ))
            }
            Some(other) => {
                return Err(GError::oauth(
                    400,
                    "unsupported_grant_type",
                    format!("grant_type {other} is not supported"),
                ))
            }
        }
        let (id, secret) = credentials.ok_or_else(|| {
            GError::oauth(401, "invalid_client", "client authentication required")
        })?;
        let client = self
            .client(&id)
            .filter(|c| c.client_secret == secret)
            .ok_or_else(|| GError::oauth(401, "invalid_client", "client not found"))?;
        // `scope` means nothing to a client-credentials grant: ignored.
        let lifetime = client.token_lifetime;
        let token = format!("gsim-{}", uuid::Uuid::new_v4().simple());
        self.tokens.insert(
            token.clone(),
            Token {
                client_id: id,
                expires: now + delta(lifetime),
            },
        );
        self.record.tokens_issued += 1;
        Ok(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": lifetime.as_secs(),
        }))
    }

    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Caller, GError> {
        let bearer = authorization
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(GError::AuthenticationRequired)?;
        let token = self.tokens.get(bearer).ok_or(GError::BadCredentials)?;
        if token.expires <= now {
            return Err(GError::CredentialsExpired);
        }
        Ok(Caller {
            client_id: token.client_id.clone(),
            token: bearer.to_owned(),
        })
    }

    /// Takes one call from `key`'s window of `bucket`, or says how long to wait.
    pub fn take(
        &mut self,
        key: &str,
        kind: &'static str,
        bucket: Bucket,
        limit: LimitName,
        now: DateTime<Utc>,
    ) -> Result<RateInfo, (GError, RateInfo)> {
        let w = self
            .windows
            .entry((key.to_owned(), kind))
            .or_insert(Window {
                started: now,
                used: 0,
            });
        if now >= w.started + delta(bucket.window) {
            *w = Window {
                started: now,
                used: 0,
            };
        }
        let reset_secs = secs_until(now, w.started + delta(bucket.window));
        let mut info = RateInfo {
            allowed: bucket.limit,
            count: w.used,
            reset_secs,
        };
        if w.used >= bucket.limit {
            self.record.over_limit += 1;
            let e = GError::RateLimited {
                retry_after: reset_secs,
                limit,
                value: bucket.limit,
            };
            return Err((e, info));
        }
        w.used += 1;
        info.count = w.used;
        Ok(info)
    }

    /// The per-token limit every `/api/v2` call counts against.
    pub fn take_token_call(
        &mut self,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Result<RateInfo, (GError, RateInfo)> {
        let bucket = self.scenario.rate_limits.per_token;
        self.take(&caller.token, "token", bucket, TOKEN_LIMIT, now)
    }

    /// The grants of `permission` the caller holds that cover `division`.
    fn grants<'a>(
        &'a self,
        caller: &Caller,
        permission: &'a str,
        division: &'a str,
    ) -> impl Iterator<Item = &'a super::scenario::Grant> + 'a {
        self.client(&caller.client_id)
            .into_iter()
            .flat_map(|c| c.grants.iter())
            .filter(move |g| g.permission == permission)
            .filter(move |g| g.divisions.iter().any(|d| d == "*" || d == division))
    }

    pub fn holds(&self, caller: &Caller, permission: &str, division: &str) -> bool {
        self.grants(caller, permission, division).next().is_some()
    }

    /// Ok if the caller holds any of `permissions` in `division`.
    pub fn require_any(
        &self,
        caller: &Caller,
        permissions: &[&str],
        division: &str,
    ) -> Result<(), GError> {
        if permissions.iter().any(|p| self.holds(caller, p, division)) {
            Ok(())
        } else {
            Err(GError::missing(permissions))
        }
    }

    /// Whether the caller holds any WFM permission in `division`.
    pub fn authorized_in(&self, caller: &Caller, division: &str) -> bool {
        self.client(&caller.client_id).is_some_and(|c| {
            c.grants.iter().any(|g| {
                g.permission.starts_with(WFM_PREFIX)
                    && g.divisions.iter().any(|d| d == "*" || d == division)
            })
        })
    }

    /// How far the caller may edit schedules in `division`: an unconditional
    /// grant wins over team-scoped ones.
    pub fn edit_scope(&self, caller: &Caller, division: &str) -> Result<EditScope, GError> {
        const EDIT: &str = "wfm:schedule:edit";
        let mut teams = Vec::new();
        let mut any = false;
        for g in self.grants(caller, EDIT, division) {
            any = true;
            match &g.teams {
                None => return Ok(EditScope::All),
                Some(t) => teams.extend(t.iter().cloned()),
            }
        }
        if any {
            Ok(EditScope::Teams(teams))
        } else {
            Err(GError::missing(&[EDIT]))
        }
    }

    /// `TokenInfo` of the caller's token.
    pub fn token_info(&self, caller: &Caller) -> Value {
        let org = &self.scenario.organization;
        let name = self
            .client(&caller.client_id)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        json!({
            "organization": {"id": org.id, "name": org.name},
            "homeOrganization": {"id": org.id, "name": org.name},
            "authorizedScope": [],
            "OAuthClient": {"id": caller.client_id, "name": name, "organization": {"id": org.id}},
        })
    }

    /// `GET /api/v2/authorization/divisionspermitted/paged/me`.
    pub fn divisions_permitted(
        &self,
        caller: &Caller,
        query: &HashMap<String, String>,
    ) -> Result<Value, GError> {
        let permission = query
            .get("permission")
            .ok_or_else(|| GError::bad_request("permission is required"))?;
        let page_size: usize = page_param(query, "pageSize", 25)?;
        let page_number: usize = page_param(query, "pageNumber", 1)?;
        let all: Vec<Value> = self
            .scenario
            .divisions
            .iter()
            .filter(|d| self.holds(caller, permission, &d.id))
            .map(|d| json!({"id": d.id, "name": d.name, "homeDivision": d.home}))
            .collect();
        let everywhere = self.client(&caller.client_id).is_some_and(|c| {
            c.grants
                .iter()
                .any(|g| g.permission == *permission && g.divisions.iter().any(|d| d == "*"))
        });
        let mut answer = paged(all, page_size, page_number);
        answer["allDivsPermitted"] = json!(everywhere);
        Ok(answer)
    }

    /// `GET /api/v2/authorization/subjects/me`: the client's grants as an
    /// `AuthzSubject`, one grant per division (`"*"` as itself), each of
    /// one role whose policies are the permissions held there. A
    /// team-scoped grant's policy carries a `condition`; the real syntax of
    /// a condition is not documented, so this one only names the teams.
    pub fn subject(&self, caller: &Caller) -> Value {
        let Some(client) = self.client(&caller.client_id) else {
            return json!({"id": caller.client_id, "grants": []});
        };
        let mut divisions: Vec<&str> = client
            .grants
            .iter()
            .flat_map(|g| g.divisions.iter().map(String::as_str))
            .collect();
        divisions.sort_unstable();
        divisions.dedup();
        let grants: Vec<Value> = divisions
            .into_iter()
            .map(|division| {
                let policies: Vec<Value> = client
                    .grants
                    .iter()
                    .filter(|g| g.divisions.iter().any(|d| d == division))
                    .map(policy)
                    .collect();
                let name = self
                    .scenario
                    .divisions
                    .iter()
                    .find(|d| d.id == division)
                    .map_or("All Divisions", |d| d.name.as_str());
                json!({
                    "subjectId": client.client_id,
                    "division": {"id": division, "name": name},
                    "role": {"id": format!("role-{}", client.client_id), "name": format!("{} role", client.name), "policies": policies},
                })
            })
            .collect();
        json!({"id": client.client_id, "name": client.name, "grants": grants, "version": 1})
    }
}

/// One permission as an `AuthzGrantPolicy`.
fn policy(grant: &super::scenario::Grant) -> Value {
    let mut parts = grant.permission.splitn(3, ':');
    let (domain, entity, action) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut policy = json!({"domain": domain, "entityName": entity, "actions": [action]});
    if let Some(teams) = &grant.teams {
        policy["condition"] = json!(format!("team in [{}]", teams.join(", ")));
    }
    policy
}

pub fn page_param(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
) -> Result<usize, GError> {
    match query.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| GError::invalid(format!("{name} must be a positive integer"))),
    }
}

/// One page of `all`, in the platform's entity-listing shape.
pub fn paged(all: Vec<Value>, page_size: usize, page_number: usize) -> Value {
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip((page_number - 1) * page_size)
        .take(page_size)
        .collect();
    json!({
        "entities": page,
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": total.div_ceil(page_size),
    })
}
