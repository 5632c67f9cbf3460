//! What `check` asks of Genesys Cloud, one step per row, with the calls and
//! the wording of a run's preparation (`setup`): only reads, so a week
//! without its schedule is reported, not created.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use reqwest::Method;

use super::setup::{self, Facts, Unit};
use super::wire::TokenInfo;
use super::{access, trades, GenesysCloud};
use crate::api::{Access, PlatformError};
use crate::config::TargetSettings;
use crate::domain::plan::Swap;
use crate::domain::AgentId;
use crate::preflight::Refusal;
use crate::source::WeekPlan;

/// The token's organization and OAuth client, as `tokens/me` names them.
#[derive(Debug, Clone)]
pub struct Identity {
    pub organization: String,
    pub client: String,
}

impl GenesysCloud {
    /// Whose token this is (`GET /api/v2/tokens/me`, no permission needed).
    pub async fn identity(&self) -> Result<Identity, PlatformError> {
        let info: TokenInfo = self
            .http
            .json(Method::GET, "api/v2/tokens/me", None::<&()>)
            .await?;
        let named = |id: String, name: Option<String>| match name {
            Some(name) => format!("{name} ({id})"),
            None => id,
        };
        let client = info
            .o_auth_client
            .map(|c| named(c.id, c.name))
            .unwrap_or_else(|| "(not named)".into());
        Ok(Identity {
            organization: named(info.organization.id, info.organization.name),
            client,
        })
    }

    /// The target's business unit; from here on a 403 is explained
    /// against its division.
    pub async fn unit(&self, target: &TargetSettings) -> Result<Unit, Refusal> {
        setup::business_unit(&self.http, target).await
    }

    /// Where the role holds `permission`, against `unit`'s division.
    pub async fn access(&self, unit: &Unit, permission: &str) -> Result<Access, PlatformError> {
        match &unit.division {
            Some(d) => access::of(&self.http, permission, d).await,
            None => Ok(Access::Unknown),
        }
    }

    /// The permissions a publication of `target` needs of the role.
    pub fn needed(target: &TargetSettings, week: NaiveDate) -> Vec<&'static str> {
        access::needed(target, week)
    }

    /// Whether `access` lets a publication use `permission`.
    pub fn suffices(permission: &str, access: &Access) -> bool {
        access::suffices(permission, access)
    }

    /// The week is the unit's; the week's schedule, if it has one yet.
    pub async fn week_schedule(
        &self,
        target: &TargetSettings,
        unit: &Unit,
        week: NaiveDate,
    ) -> Result<Option<String>, Refusal> {
        setup::check_week(target, unit, week)?;
        let found = setup::find_schedule(&self.http, target, unit, week).await?;
        Ok(found.map(|s| s.id))
    }

    /// Every source activity mapped to an active code of `unit`.
    pub async fn activity_codes(
        &self,
        target: &TargetSettings,
        unit: &Unit,
        plan: &WeekPlan,
    ) -> Result<BTreeMap<String, String>, Refusal> {
        let g = setup::genesys(target)?;
        setup::activity_codes(&self.http, g, unit, plan).await
    }

    /// Every source agent resolved to a user (ids as they are, or e-mail
    /// addresses through the Users search).
    pub async fn users(
        &self,
        target: &TargetSettings,
        plan: &WeekPlan,
    ) -> Result<BTreeMap<AgentId, String>, Refusal> {
        let g = setup::genesys(target)?;
        setup::users(&self.http, g, plan).await
    }

    /// The week's trades that concern `users`.
    pub async fn trades(
        &self,
        unit: &Unit,
        week: NaiveDate,
        users: BTreeMap<AgentId, String>,
    ) -> Result<Vec<Swap>, PlatformError> {
        let mus = setup::management_units(&self.http, unit).await?;
        let facts = Facts::new(
            unit,
            week,
            (String::new(), false),
            mus,
            users,
            BTreeMap::new(),
        );
        trades::query(&self.http, &self.clock, &facts).await
    }
}
