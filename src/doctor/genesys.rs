//! `check` for Genesys Cloud: the token's organization, then for each
//! target its source file, business unit, every permission the role needs
//! measured against the unit's division, the week and its schedule, the
//! activity codes, the users (when the source names them by e-mail) and
//! the trades. Each row makes the calls and says the words of a run's
//! preparation, and only reads.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::{within, Host, Rows, Verdict};
use crate::api::{Access, PlatformClient};
use crate::config::{AgentIds, Settings, TargetSettings};
use crate::domain::plan::SwapStatus;
use crate::platform::{GenesysCloud, Unit};
use crate::preflight::Refusal;
use crate::publish::KeyedLocks;
use crate::source::WeekPlan;

/// The rows of a Genesys Cloud configuration after its token's.
pub(super) async fn check(
    rows: &mut Rows,
    settings: &Settings,
    client: &PlatformClient,
    targets: &[&TargetSettings],
    week: Option<NaiveDate>,
    now: DateTime<Utc>,
) {
    // A platform per target: each learns its own business unit's division.
    let platform = || {
        let clock = client.transport().clock.clone();
        GenesysCloud::new(
            client.clone(),
            settings,
            clock,
            Arc::new(KeyedLocks::default()),
        )
    };
    match step(settings, async { Ok(platform().identity().await?) }).await {
        Ok(who) => rows.push(
            "organization",
            Verdict::Pass,
            format!("{}, OAuth client {}", who.organization, who.client),
        ),
        Err(e) => rows.push("organization", Verdict::Fail, e),
    }
    for target in targets {
        let week = super::local::week_of(target, week, now);
        check_target(rows, settings, &platform(), target, week).await;
        super::local::cutoff(rows, target, week, now);
    }
}

/// A row's call within `platform.check_timeout`, its refusal in a run's words.
async fn step<T>(
    settings: &Settings,
    call: impl Future<Output = Result<T, Refusal>>,
) -> Result<T, String> {
    match within(settings, Host::api(settings), async { Ok(call.await) }).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(refusal)) => Err(refusal.problems().joined("; ", "problems")),
        Err(e) => Err(e.to_string()),
    }
}

async fn check_target(
    rows: &mut Rows,
    settings: &Settings,
    platform: &GenesysCloud,
    target: &TargetSettings,
    week: NaiveDate,
) {
    let name = &target.name;
    let plan = super::local::source(rows, target, week);
    let unit = match step(settings, platform.unit(target)).await {
        Ok(unit) => {
            let detail = format!(
                "{} ({}) in division {}, {}, weeks from {}",
                unit.name,
                unit.id,
                unit.division_name(),
                unit.time_zone,
                unit.start_day_of_week
            );
            rows.push(format!("{name}: business unit"), Verdict::Pass, detail);
            unit
        }
        Err(e) => return rows.push(format!("{name}: business unit"), Verdict::Fail, e),
    };
    check_permissions(rows, settings, platform, target, &unit, week).await;
    let schedule = step(settings, platform.week_schedule(target, &unit, week)).await;
    let row = format!("{name}: week and schedule");
    let on = format!(
        "week {week} ({}, {})",
        unit.start_day_of_week, unit.time_zone
    );
    match schedule {
        Ok(Some(id)) => rows.push(row, Verdict::Pass, format!("{on}: schedule {id}")),
        Ok(None) => rows.push(
            row,
            Verdict::Pass,
            format!("{on}: no schedule with the target's description yet; a run creates it"),
        ),
        Err(e) => rows.push(row, Verdict::Fail, e),
    }
    if let Some(plan) = plan {
        check_week_plan(rows, settings, platform, target, &unit, &plan).await;
    }
}

/// One row per permission a publication needs, against the unit's division.
async fn check_permissions(
    rows: &mut Rows,
    settings: &Settings,
    platform: &GenesysCloud,
    target: &TargetSettings,
    unit: &Unit,
    week: NaiveDate,
) {
    for permission in GenesysCloud::needed(target, week) {
        let row = format!("{}: permission {permission}", target.name);
        let access = step(settings, async {
            Ok(platform.access(unit, permission).await?)
        });
        match access.await {
            Ok(access) if GenesysCloud::suffices(permission, &access) => {
                let detail = match access {
                    Access::Conditional {
                        unit_division,
                        condition,
                    } => format!("held in division {unit_division} (the business unit's) under a condition ({condition}): only what it allows is read"),
                    _ => format!("held in division {} (the business unit's)", unit.division_name()),
                };
                rows.push(row, Verdict::Pass, detail);
            }
            Ok(access) => rows.push(row, Verdict::Fail, access.explain(permission)),
            Err(e) => rows.push(row, Verdict::Fail, e),
        }
    }
}

/// The rows that need the week's file: activity codes, users, trades.
async fn check_week_plan(
    rows: &mut Rows,
    settings: &Settings,
    platform: &GenesysCloud,
    target: &TargetSettings,
    unit: &Unit,
    plan: &WeekPlan,
) {
    let name = &target.name;
    let codes = step(settings, platform.activity_codes(target, unit, plan)).await;
    let row = format!("{name}: activity codes");
    match codes {
        Ok(codes) => rows.push(
            row,
            Verdict::Pass,
            format!(
                "{} activities, each an active activity code of {}",
                codes.len(),
                unit.name
            ),
        ),
        Err(e) => rows.push(row, Verdict::Fail, e),
    }
    let by_email = target
        .genesys
        .as_ref()
        .is_some_and(|g| g.agent_ids == AgentIds::Email);
    let users = match step(settings, platform.users(target, plan)).await {
        Ok(users) => users,
        Err(e) => return rows.push(format!("{name}: users"), Verdict::Fail, e),
    };
    if by_email {
        let detail = format!("{} e-mail addresses, each a user's", users.len());
        rows.push(format!("{name}: users"), Verdict::Pass, detail);
    }
    let trades = platform.trades(unit, plan.week_start, users);
    match step(settings, async { Ok(trades.await?) }).await {
        Ok(all) => {
            let matched = all
                .iter()
                .filter(|s| s.status == SwapStatus::Pending)
                .count();
            let detail = format!(
                "{} decided or matched, {matched} matched (their agents will be deferred)",
                all.len()
            );
            rows.push(format!("{name}: shift trades"), Verdict::Pass, detail);
        }
        Err(e) => rows.push(format!("{name}: shift trades"), Verdict::Fail, e),
    }
}
