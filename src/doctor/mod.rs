//! `wfm-publisher check`: everything a publication needs, tried in order,
//! one row each, with the fix for every row that fails.

use std::future::Future;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;
use url::Url;

use crate::api::scopes::{self, PUBLICATION};
use crate::api::token::AccessToken;
use crate::api::{PlatformClient, PlatformError};
use crate::config::{PlatformKind, Settings, TargetSettings};
use crate::platform::{SimpleApi, SimpleContract};
use crate::preflight::{self, Refusal};

mod genesys;
mod local;

pub use local::config_only;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
    /// Not in the way of a publication, but worth knowing before it (a
    /// week whose swap cut-off has passed).
    Warn,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub check: String,
    pub verdict: Verdict,
    /// What was found, or for a failure what is wrong and what to fix.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    /// `check --config-only`: the platform was not asked.
    pub offline: bool,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn render(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.check.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!("{:width$}  RESULT  DETAIL\n", "CHECK");
        for r in &self.rows {
            let verdict = match r.verdict {
                Verdict::Pass => "ok",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "skip",
                Verdict::Warn => "WARN",
            };
            // Details repeat the platform's words (an organization's name):
            // one line each, whatever they hold.
            let row = format!("{:width$}  {verdict:6}  {}", r.check, r.detail);
            crate::echo::push_line(&mut out, &row);
        }
        out.push_str(match (self.ok, self.offline) {
            (true, false) => "A publication would succeed.\n",
            (true, true) => "The configuration and the sources are valid; the platform was not asked (run check without --config-only for that).\n",
            (false, _) => "A publication would fail: fix the rows marked FAIL.\n",
        });
        out
    }
}

struct Rows(Vec<Row>);

impl Rows {
    fn push(&mut self, check: impl Into<String>, verdict: Verdict, detail: impl Into<String>) {
        self.0.push(Row {
            check: check.into(),
            verdict,
            detail: detail.into(),
        });
    }

    fn result<T>(
        &mut self,
        check: impl Into<String>,
        result: Result<T, PlatformError>,
        ok: impl FnOnce(T) -> String,
    ) -> bool {
        match result {
            Ok(v) => {
                let detail = ok(v);
                self.push(check, Verdict::Pass, detail);
                true
            }
            Err(e) => {
                self.push(check, Verdict::Fail, e.to_string());
                false
            }
        }
    }
}

/// The host a row talks to, and the key that names it.
#[derive(Clone, Copy)]
struct Host<'a> {
    url: &'a Url,
    key: &'static str,
}

impl<'a> Host<'a> {
    fn auth(settings: &'a Settings) -> Self {
        Host {
            url: &settings.platform.auth_base_url,
            key: "platform.auth_base_url",
        }
    }

    fn api(settings: &'a Settings) -> Self {
        Host {
            url: &settings.platform.api_base_url,
            key: "platform.api_base_url",
        }
    }
}

/// A row's call, cut short at `platform.check_timeout`: with the retry
/// budget of a run, a hanging endpoint would hold `check` for minutes
/// (every attempt waits `request_timeout`) before saying anything.
async fn within<T>(
    settings: &Settings,
    host: Host<'_>,
    call: impl Future<Output = Result<T, PlatformError>>,
) -> Result<T, PlatformError> {
    let limit: Duration = settings.platform.check_timeout;
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        let name = host.url.host_str().unwrap_or("the host");
        Err(PlatformError::NoAnswer {
            host: match host.url.port() {
                Some(port) => format!("{name}:{port}"),
                None => name.to_owned(),
            },
            key: host.key,
            waited_secs: limit.as_secs(),
        })
    })
}

/// Runs every check for `targets`, for the week starting at `week` (or each
/// target's coming week).
pub async fn check(
    settings: &Settings,
    client: &PlatformClient,
    targets: &[&TargetSettings],
    week: Option<NaiveDate>,
    now: chrono::DateTime<chrono::Utc>,
) -> Report {
    let mut rows = Rows(Vec::new());
    let token = match within(settings, Host::auth(settings), client.tokens().token()).await {
        Ok(t) => {
            rows.push(
                "token",
                Verdict::Pass,
                format!(
                    "obtained for client \"{}\", valid for {}s",
                    settings.platform.client_id,
                    (t.expires - t.received).num_seconds()
                ),
            );
            t
        }
        Err(e) => {
            rows.push("token", Verdict::Fail, e.to_string());
            // What needs no platform is still worth saying.
            local::targets(&mut rows, targets, week, now);
            return finish(rows);
        }
    };
    if let PlatformKind::GenesysCloud { .. } = settings.platform.kind {
        genesys::check(&mut rows, settings, client, targets, week, now).await;
        return finish(rows);
    }
    let client = &SimpleApi::new(client.clone());
    check_scopes(&mut rows, settings, client, &token).await;
    let token_org = check_introspection(&mut rows, settings, client, &token).await;
    let org_id = check_organization(&mut rows, settings, client, token_org).await;
    let templates = within(settings, Host::api(settings), client.templates()).await;
    rows.result("templates", templates, |t| format!("{} readable", t.len()));
    for target in targets {
        let week = local::week_of(target, week, now);
        check_target(&mut rows, settings, client, target, week, org_id.as_deref()).await;
        local::cutoff(&mut rows, target, week, now);
    }
    finish(rows)
}

async fn check_scopes(
    rows: &mut Rows,
    settings: &Settings,
    client: &SimpleApi,
    token: &AccessToken,
) {
    if scopes::missing(&token.granted, &PUBLICATION).is_empty() {
        let granted = format!("granted \"{}\"", token.granted.join(" "));
        rows.push("scopes", Verdict::Pass, granted);
        return;
    }
    let required = client.require_scopes(&PUBLICATION);
    let err = within(settings, Host::auth(settings), required).await.err();
    let detail = err.map(|e| e.to_string()).unwrap_or_default();
    rows.push("scopes", Verdict::Fail, detail);
}

/// The token's organization, as introspection says.
async fn check_introspection(
    rows: &mut Rows,
    settings: &Settings,
    client: &SimpleApi,
    token: &AccessToken,
) -> Option<String> {
    let introspection = client.client().tokens().introspect(token);
    match within(settings, Host::auth(settings), introspection).await {
        Ok(i) if i.active => {
            let org = i.org_id.as_deref().unwrap_or("(not said)");
            rows.push(
                "introspection",
                Verdict::Pass,
                format!("active, organization {org}"),
            );
            i.org_id
        }
        Ok(_) => {
            rows.push(
                "introspection",
                Verdict::Fail,
                "the platform says the token just issued is not active: the OAuth server and the API disagree; check platform.auth_base_url",
            );
            None
        }
        Err(e) => {
            rows.push("introspection", Verdict::Fail, e.to_string());
            None
        }
    }
}

/// The organization the schedules must belong to.
async fn check_organization(
    rows: &mut Rows,
    settings: &Settings,
    client: &SimpleApi,
    token_org: Option<String>,
) -> Option<String> {
    match within(settings, Host::api(settings), client.organization()).await {
        Ok(org) => {
            let detail = format!("{} ({})", org.id, org.name);
            match token_org.filter(|t| *t != org.id) {
                Some(other) => rows.push(
                    "organization",
                    Verdict::Fail,
                    format!("{detail}, but introspection says the token is of {other}: the platform is inconsistent; ask its support"),
                ),
                None => rows.push("organization", Verdict::Pass, detail),
            }
            Some(org.id)
        }
        Err(PlatformError::MissingScope { .. }) => {
            rows.push(
                "organization",
                Verdict::Skip,
                "org:read not granted; the organization is taken from introspection",
            );
            token_org
        }
        Err(e) => {
            rows.push("organization", Verdict::Fail, e.to_string());
            token_org
        }
    }
}

/// The target's rows: its schedule checked as a run checks it, its swaps,
/// and its source file validated exactly as a run reads it.
async fn check_target(
    rows: &mut Rows,
    settings: &Settings,
    client: &SimpleApi,
    target: &TargetSettings,
    week: NaiveDate,
    org_id: Option<&str>,
) {
    let name = &target.name;
    let schedule_id = target.schedule_id_for(week);
    let api = Host::api(settings);
    let schedule = within(settings, api, client.schedule(&schedule_id)).await;
    match schedule.map(SimpleContract::facts) {
        Ok(facts) => {
            let found = preflight::mismatches(&facts, target, week, org_id);
            if found.is_empty() {
                let detail = format!(
                    "{schedule_id}, week {week}, {}, {}",
                    facts.time_zone, facts.state
                );
                rows.push(format!("{name}: schedule"), Verdict::Pass, detail);
            } else {
                let refusal = Refusal::Schedule {
                    schedule_id: schedule_id.clone(),
                    mismatches: found,
                };
                rows.push(
                    format!("{name}: schedule"),
                    Verdict::Fail,
                    refusal.to_string(),
                );
            }
        }
        Err(e) => rows.push(format!("{name}: schedule"), Verdict::Fail, e.to_string()),
    }
    let swaps = within(settings, api, client.swaps(&schedule_id, None)).await;
    rows.result(format!("{name}: shift swaps"), swaps, |all| {
        let pending = all
            .iter()
            .filter(|s| s.status == crate::platform::simple::model::SwapStatus::Pending)
            .count();
        format!(
            "{} listed, {pending} pending (their agents will be deferred)",
            all.len()
        )
    });
    local::source(rows, target, week);
}

fn finish(rows: Rows) -> Report {
    let ok = rows.0.iter().all(|r| r.verdict != Verdict::Fail);
    Report {
        ok,
        offline: false,
        rows: rows.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_from_the_platform_stays_on_its_row() {
        let report = Report {
            ok: true,
            offline: false,
            rows: vec![Row {
                check: "organization".into(),
                verdict: Verdict::Pass,
                detail: "org-1 (Acme\nA publication would succeed.\u{1b}[2J)".into(),
            }],
        };
        let text = report.render();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(!text.contains('\u{1b}'), "{text:?}");
    }
}
