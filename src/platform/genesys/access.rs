//! The 403 doctor for Genesys Cloud (genesys-cloud/CONTRACT.md §3): where
//! the OAuth client's role holds a permission, measured against the
//! business unit's division. `divisionspermitted/paged/me` says in which
//! divisions the token holds it (no permission needed); the token's
//! subject (`authorization/subjects/me`, no permission needed) says whether
//! the grant there carries a condition (a team-scoped `wfm:schedule:edit`),
//! which the publisher's updates, naming no `teamIds`, cannot use.

use reqwest::Method;

use super::http::GenesysHttp;
use super::wire::{AuthzSubject, DivisionsPermitted};
use chrono::NaiveDate;

use crate::api::{Access, PermissionGap, PlatformError};
use crate::config::TargetSettings;

/// Every permission a publication needs of the role, in the business
/// unit's division; `wfm:schedule:add` only when the week's schedule is
/// created (no `schedule_id`).
pub const NEEDED: [&str; 5] = [
    "wfm:businessUnit:view",
    "wfm:schedule:view",
    "wfm:schedule:edit",
    "wfm:schedule:add",
    "wfm:shiftTradeRequest:view",
];

/// The permissions a publication of `target`'s `week` needs of the role:
/// `wfm:schedule:add` only where the run creates the week's schedule.
pub fn needed(target: &TargetSettings, week: NaiveDate) -> Vec<&'static str> {
    let creates = target.schedule_id_for(week).is_empty();
    NEEDED
        .into_iter()
        .filter(|p| creates || *p != "wfm:schedule:add")
        .collect()
}

/// Each of `permissions` the role does not hold, usably, in `unit`'s
/// division, with where it holds it instead (`Unknown` where the look-up
/// failed).
pub async fn gaps(
    http: &GenesysHttp,
    permissions: &[&str],
    unit: &UnitDivision,
) -> Vec<PermissionGap> {
    let mut gaps = Vec::new();
    for permission in permissions {
        let access = of(http, permission, unit).await.unwrap_or(Access::Unknown);
        if !suffices(permission, &access) {
            gaps.push(PermissionGap {
                permission: (*permission).to_owned(),
                access,
            });
        }
    }
    gaps
}

/// The permission a call of the publisher's needs (`endpoint` as
/// "METHOD /path"), for a 403 whose body names none.
pub fn needed_by(endpoint: &str) -> Option<&'static str> {
    let (method, path) = endpoint.split_once(' ')?;
    let path = path.split('?').next().unwrap_or(path);
    Some(if path.contains("/shifttrading/") {
        "wfm:shiftTradeRequest:view"
    } else if path.contains("/schedules/") && path.contains("/update") {
        "wfm:schedule:edit"
    } else if method == "POST" && path.ends_with("/schedules") {
        "wfm:schedule:add"
    } else if path.contains("/schedules") {
        "wfm:schedule:view"
    } else if path.contains("/businessunits") {
        "wfm:businessUnit:view"
    } else {
        return None;
    })
}

/// The permission whose condition the publisher cannot meet: updates
/// would need `teamIds`.
const EDIT: &str = "wfm:schedule:edit";

/// The division of the business unit a run writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitDivision {
    pub id: String,
    pub name: String,
}

/// Where the role holds `permission`, against `unit`'s division.
pub async fn of(
    http: &GenesysHttp,
    permission: &str,
    unit: &UnitDivision,
) -> Result<Access, PlatformError> {
    let path = format!(
        "api/v2/authorization/divisionspermitted/paged/me?permission={permission}&pageSize=100"
    );
    let permitted: DivisionsPermitted = http.json_plain(Method::GET, &path).await?;
    let unit_division = unit.name.clone();
    let here = permitted.all_divs_permitted
        || permitted
            .entities
            .iter()
            .any(|d| d.id.as_deref() == Some(unit.id.as_str()));
    if !here {
        let held_in: Vec<String> = permitted
            .entities
            .iter()
            .map(|d| d.name.clone().or(d.id.clone()).unwrap_or_default())
            .collect();
        return Ok(match held_in.is_empty() {
            true => Access::Nowhere { unit_division },
            false => Access::Elsewhere {
                held_in,
                unit_division,
            },
        });
    }
    // Whether a client-credentials token's subject lists the OAuth
    // client's grants is not confirmed: without it, `Held` still says that
    // a condition is the likely cause.
    let Ok(subject) = http
        .json_plain::<AuthzSubject>(Method::GET, "api/v2/authorization/subjects/me")
        .await
    else {
        return Ok(Access::Held { unit_division });
    };
    Ok(match condition(&subject, permission, &unit.id) {
        Some(condition) => Access::Conditional {
            unit_division,
            condition,
        },
        None => Access::Held { unit_division },
    })
}

/// The condition every grant of `permission` in `division` carries, or
/// None when one grant there has none (an unconditional grant wins).
fn condition(subject: &AuthzSubject, permission: &str, division: &str) -> Option<String> {
    let mut found = None;
    for grant in &subject.grants {
        let id = grant.division.as_ref().and_then(|d| d.id.as_deref());
        if !id.is_some_and(|id| id == division || id == "*") {
            continue;
        }
        let policies = grant.role.iter().flat_map(|r| r.policies.iter());
        for policy in policies.filter(|p| p.covers(permission)) {
            match policy.condition() {
                None => return None,
                Some(c) => found = Some(c.to_owned()),
            }
        }
    }
    found
}

/// Whether a publication can use `access` to `permission`: held in the
/// unit's division, and for `wfm:schedule:edit` without a condition.
pub fn suffices(permission: &str, access: &Access) -> bool {
    match access {
        Access::Held { .. } => true,
        Access::Conditional { .. } => permission != EDIT,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(json: serde_json::Value) -> AuthzSubject {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_unconditional_grant_in_the_division_wins_over_a_conditional_one() {
        let policy = |condition: Option<&str>| serde_json::json!({"domain": "wfm", "entityName": "schedule", "actions": ["view", "edit"], "condition": condition});
        let grant = |division: &str, condition: Option<&str>| serde_json::json!({"division": {"id": division}, "role": {"policies": [policy(condition)]}});
        let scoped = subject(serde_json::json!({"grants": [grant("d1", Some("team-phones"))]}));
        assert_eq!(
            condition(&scoped, EDIT, "d1").as_deref(),
            Some("team-phones")
        );
        assert_eq!(condition(&scoped, EDIT, "d2"), None);
        let both = subject(
            serde_json::json!({"grants": [grant("d1", Some("team-phones")), grant("*", None)]}),
        );
        assert_eq!(condition(&both, EDIT, "d1"), None);
    }

    #[test]
    fn a_conditional_edit_does_not_suffice_but_a_conditional_view_does() {
        let conditional = Access::Conditional {
            unit_division: "North America".into(),
            condition: "team-phones".into(),
        };
        assert!(!suffices(EDIT, &conditional));
        assert!(suffices("wfm:schedule:view", &conditional));
        assert!(!suffices(
            EDIT,
            &Access::Nowhere {
                unit_division: "North America".into()
            }
        ));
    }
}
