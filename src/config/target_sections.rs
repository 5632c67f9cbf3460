//! The `[targets.NAME]` sections: one per contact centre, with its source,
//! its schedule, its cron, its deferral and DST rules.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Utc, Weekday};
use chrono_tz::Tz;

use super::parse;
use super::reader::{Reader, Table};
use super::sections::{secs, section, DEFAULT_MAX_SOURCE_BYTES};
use super::settings::*;
use crate::domain::TargetName;

pub(super) fn targets(
    root: &mut Table,
    r: &mut Reader,
    base: &Path,
    kind: Option<&PlatformKind>,
) -> Option<BTreeMap<TargetName, TargetSettings>> {
    let mut table = root.table(r, "targets");
    let children = table.children(r);
    if children.is_empty() {
        // Nothing to publish is never what an operator meant.
        if !table.is_broken() {
            root.problem(
                r,
                "targets",
                "at least one [targets.<name>] table is required",
            );
        }
        return None;
    }
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, mut t) in children {
        let valid_name = TargetName::new(name.as_str());
        let target = target(&mut t, r, &name, base, kind);
        t.finish(r);
        if let Err(e) = valid_name {
            table.problem(r, &name, e.to_string());
            ok = false;
        }
        match target {
            Some(target) => {
                out.insert(target.name.clone(), target);
            }
            None => ok = false,
        }
    }
    table.finish(r);
    ok.then_some(out)
}

fn target(
    t: &mut Table,
    r: &mut Reader,
    name: &str,
    base: &Path,
    kind: Option<&PlatformKind>,
) -> Option<TargetSettings> {
    let schedule_id = t.parsed(r, "schedule_id", parse::schedule_id);
    let genesys = matches!(kind, Some(PlatformKind::GenesysCloud { .. }));
    // Genesys Cloud finds or creates the week's schedule by description.
    let (schedule_id, genesys) = if genesys {
        (
            schedule_id.or(String::new()),
            genesys_target(t, r, name).map(Some),
        )
    } else {
        (t.require(r, "schedule_id", schedule_id), Some(None))
    };
    let time_zone = t.parsed(r, "time_zone", parse::time_zone);
    let time_zone = t.require(r, "time_zone", time_zone);
    // Read before the cron, whose check depends on it; when it is itself
    // invalid, the cron is not also refused for its cadence.
    let allow_frequent = t.bool(r, "allow_frequent").or(false);
    let cron = t.parsed(r, "cron", |s| {
        let parsed = parse::cron(s)?;
        let zone = time_zone.unwrap_or(Tz::UTC);
        let now = Utc::now().with_timezone(&zone).naive_local();
        parse::cron_cadence(&parsed, allow_frequent.unwrap_or(true), now)?;
        Ok((s.to_string(), parsed))
    });
    let cron = t.require(r, "cron", cron);
    let source = t.parsed(r, "source", |s| parse::source(s, base));
    let source = t.require(r, "source", source);
    let week_start_day = t
        .parsed(r, "week_start_day", parse::weekday)
        .or(Weekday::Mon);
    let catch_up = t.parsed(r, "catch_up", parse::duration).or(secs(6 * 3600));
    let deferral = section(t, r, "deferral", deferral);
    let dst = section(t, r, "dst", dst);
    let source_wait = source_wait(t, r);
    let follow_symlinks = t.bool(r, "follow_symlinks").or(false);
    let max_source_bytes = t
        .integer(r, "max_source_bytes", 1, i64::MAX)
        .or(DEFAULT_MAX_SOURCE_BYTES);
    let (cron, parsed_cron) = cron?;
    allow_frequent?;
    Some(TargetSettings {
        // An invalid name is one of the problems `targets` reports.
        name: TargetName::new(name).ok()?,
        schedule_id: schedule_id?,
        genesys: genesys?,
        time_zone: time_zone?,
        cron,
        parsed_cron,
        source: source?,
        week_start_day: week_start_day?,
        catch_up: catch_up?,
        deferral: deferral?,
        dst: dst?,
        source_wait: source_wait?,
        follow_symlinks: follow_symlinks?,
        max_source_bytes: max_source_bytes?,
    })
}

fn genesys_target(t: &mut Table, r: &mut Reader, name: &str) -> Option<GenesysTarget> {
    let unit = t.parsed(r, "business_unit", parse::non_empty);
    let unit = t.require(r, "business_unit", unit);
    let description = t
        .parsed(r, "schedule_description", |s| {
            parse::non_empty(s).and_then(|s| parse::placeholders(&s).map(|()| s))
        })
        .or(format!("wfm-publisher {name} {WEEK_START_PLACEHOLDER}"));
    let agent_ids = t.string(r, "agent_ids").or("user_id".into());
    let agent_ids = match agent_ids?.as_str() {
        "user_id" => Some(AgentIds::UserId),
        "email" => Some(AgentIds::Email),
        other => {
            t.problem(
                r,
                "agent_ids",
                format!(
                    "{}: use \"user_id\" (Genesys user ids) or \"email\"",
                    crate::echo::echo(other)
                ),
            );
            None
        }
    };
    let codes = section(t, r, "activity_codes", |t, r| t.string_map(r));
    Some(GenesysTarget {
        business_unit: unit?,
        schedule_description: description?,
        agent_ids: agent_ids?,
        activity_codes: codes?,
    })
}

fn source_wait(t: &mut Table, r: &mut Reader) -> Option<SourceWaitSettings> {
    let wait = t.parsed(r, "source_wait", parse::duration).optional();
    let grace = t.parsed(r, "source_grace", parse::duration).or(secs(3600));
    let settle = t
        .parsed(r, "source_settle", parse::positive_duration)
        .or(secs(5));
    Some(SourceWaitSettings {
        wait: wait?,
        grace: grace?,
        settle: settle?,
    })
}

fn deferral(t: &mut Table, r: &mut Reader) -> Option<DeferralSettings> {
    let poll_interval = t
        .parsed(r, "poll_interval", parse::positive_duration)
        .or(secs(60));
    let deadline = t
        .parsed(r, "deadline", parse::positive_duration)
        .or(secs(12 * 3600));
    if let (Some(poll), Some(deadline)) = (poll_interval, deadline) {
        if poll >= deadline {
            t.problem(
                r,
                "poll_interval",
                format!(
                    "must be shorter than deferral.deadline ({}), or deferred agents are never re-checked",
                    humantime::format_duration(deadline)
                ),
            );
            return None;
        }
    }
    Some(DeferralSettings {
        poll_interval: poll_interval?,
        deadline: deadline?,
    })
}

fn dst(t: &mut Table, r: &mut Reader) -> Option<DstPolicy> {
    let nonexistent = t
        .parsed(r, "nonexistent", parse::nonexistent_policy)
        .or(NonexistentTimePolicy::Error);
    let ambiguous = t
        .parsed(r, "ambiguous", parse::ambiguous_policy)
        .or(AmbiguousTimePolicy::Error);
    Some(DstPolicy {
        nonexistent: nonexistent?,
        ambiguous: ambiguous?,
    })
}
