//! `wfm-publisher check`: everything a publication needs, tried in order,
//! one row each, with the fix for every row that fails.

use std::future::Future;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;
use url::Url;

use crate::api::scopes::{self, PUBLICATION};
use crate::api::{PlatformClient, PlatformError};
use crate::config::{Settings, TargetSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
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
            };
            out.push_str(&format!("{:width$}  {verdict:6}  {}\n", r.check, r.detail));
        }
        out.push_str(if self.ok {
            "A publication would succeed.\n"
        } else {
            "A publication would fail: fix the rows marked FAIL.\n"
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
            return finish(rows);
        }
    };

    let missing = scopes::missing(&token.granted, &PUBLICATION);
    match missing.first() {
        None => rows.push(
            "scopes",
            Verdict::Pass,
            format!("granted \"{}\"", token.granted.join(" ")),
        ),
        Some(_) => {
            let err = within(
                settings,
                Host::auth(settings),
                client.require_scopes(&PUBLICATION),
            )
            .await
            .err();
            rows.push(
                "scopes",
                Verdict::Fail,
                err.map(|e| e.to_string()).unwrap_or_default(),
            );
        }
    }

    let introspection = client.tokens().introspect(&token);
    let token_org = match within(settings, Host::auth(settings), introspection).await {
        Ok(i) if i.active => {
            rows.push(
                "introspection",
                Verdict::Pass,
                format!(
                    "active, organization {}",
                    i.org_id.as_deref().unwrap_or("(not said)")
                ),
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
    };

    let me = within(settings, Host::api(settings), client.organization()).await;
    let org_id = match me {
        Ok(org) => {
            let detail = format!("{} ({})", org.id, org.name);
            if token_org.as_ref().is_some_and(|t| *t != org.id) {
                rows.push(
                    "organization",
                    Verdict::Fail,
                    format!("{detail}, but introspection says the token is of {}: the platform is inconsistent; ask its support", token_org.clone().unwrap_or_default()),
                );
            } else {
                rows.push("organization", Verdict::Pass, detail);
            }
            Some(org.id)
        }
        Err(PlatformError::MissingScope { .. }) => {
            rows.push(
                "organization",
                Verdict::Skip,
                "org:read not granted; the organization is taken from introspection",
            );
            token_org.clone()
        }
        Err(e) => {
            rows.push("organization", Verdict::Fail, e.to_string());
            token_org.clone()
        }
    };

    let templates = within(settings, Host::api(settings), client.templates()).await;
    rows.result("templates", templates, |t| format!("{} readable", t.len()));

    for target in targets {
        check_target(
            &mut rows,
            settings,
            client,
            target,
            week,
            now,
            org_id.as_deref(),
        )
        .await;
    }
    finish(rows)
}

async fn check_target(
    rows: &mut Rows,
    settings: &Settings,
    client: &PlatformClient,
    target: &TargetSettings,
    week: Option<NaiveDate>,
    now: chrono::DateTime<chrono::Utc>,
    org_id: Option<&str>,
) {
    let week = week.unwrap_or_else(|| {
        crate::week::upcoming_week_start(now, target.time_zone, target.week_start_day)
    });
    let name = &target.name;
    let schedule_id = target.schedule_id_for(week);
    let api = Host::api(settings);
    match within(settings, api, client.schedule(&schedule_id)).await {
        Ok(info) => {
            let mut problems = Vec::new();
            if org_id.is_some_and(|o| o != info.org_id) {
                problems.push(format!(
                    "it belongs to organization {} but the token is of {}: use an OAuth client of {}",
                    info.org_id,
                    org_id.unwrap_or_default(),
                    info.org_id
                ));
            }
            if info.week_start != week {
                problems.push(format!(
                    "its week starts {} but the run is for {week}: fix targets.{name}.schedule_id or targets.{name}.week_start_day",
                    info.week_start
                ));
            }
            if info.time_zone != target.time_zone.name() {
                problems.push(format!(
                    "the platform keeps it in {} but targets.{name}.time_zone is {}: make them agree",
                    info.time_zone,
                    target.time_zone.name()
                ));
            }
            if problems.is_empty() {
                rows.push(
                    format!("{name}: schedule"),
                    Verdict::Pass,
                    format!(
                        "{schedule_id}, week {week}, {}, {}",
                        info.time_zone, info.state
                    ),
                );
            } else {
                rows.push(
                    format!("{name}: schedule"),
                    Verdict::Fail,
                    format!("{schedule_id}: {}", problems.join("; ")),
                );
            }
        }
        Err(e) => rows.push(format!("{name}: schedule"), Verdict::Fail, e.to_string()),
    }
    let swaps = within(settings, api, client.swaps(&schedule_id, None)).await;
    rows.result(format!("{name}: shift swaps"), swaps, |all| {
        let pending = all
            .iter()
            .filter(|s| s.status == crate::api::model::SwapStatus::Pending)
            .count();
        format!(
            "{} listed, {pending} pending (their agents will be deferred)",
            all.len()
        )
    });
    let path = target.source.path_for(week);
    if path.is_file() {
        rows.push(
            format!("{name}: source"),
            Verdict::Pass,
            path.display().to_string(),
        );
    } else {
        rows.push(
            format!("{name}: source"),
            Verdict::Fail,
            format!(
                "{} does not exist: put the week's file there, or fix targets.{name}.source",
                path.display()
            ),
        );
    }
}

fn finish(rows: Rows) -> Report {
    let ok = rows.0.iter().all(|r| r.verdict != Verdict::Fail);
    Report { ok, rows: rows.0 }
}
