//! A dry run's plan: what publishing would change on the platform, each
//! agent the run would write (or a swap defers) against what the platform
//! holds now, or, where its contract has no read, what this publisher last
//! published there.

use super::*;
use crate::changes::grouped::{Basis, PlanChanges};
use crate::platform::HeldWeeks;

impl Engine {
    /// The plan of a dry run that got to its end, in `report`; a platform
    /// that could not be read fails the dry run, with why.
    pub(super) async fn plan_changes(
        &self,
        ctx: &RunContext<'_>,
        ledger: &Ledger,
        report: &mut Report,
    ) -> Result<Outcome, EngineError> {
        // Agents already published with this content are not written again.
        let asked: Vec<&AgentRow> = ledger
            .rows()
            .filter(|r| {
                let state = r.state.kind();
                matches!(
                    state,
                    StateKind::Planned | StateKind::Written | StateKind::Deferred
                )
            })
            .collect();
        let ids = asked.iter().map(|r| r.agent_id.clone()).collect();
        let (basis, held) = match ctx.platform.held_weeks(ids).await {
            Ok(HeldWeeks::Read(weeks)) => (Basis::Platform, weeks),
            Ok(HeldWeeks::Unreadable) => {
                let weeks = self.parts.store.published_weeks(&ctx.schedule.id)?;
                (Basis::LastPublished, weeks)
            }
            Err(PlatformError::Cancelled) => return Ok(Outcome::Running),
            Err(e) => {
                report
                    .problems
                    .push(format!("cannot read what the platform holds: {e}"));
                return Ok(Outcome::Failed);
            }
        };
        let mut plan = PlanChanges::new(basis, ctx.target.time_zone);
        plan.unchanged = ledger.unchanged();
        for row in asked {
            let planned = row.week.shifts();
            let held = held.get(&row.agent_id).map_or(&[][..], |w| w.shifts());
            match &row.state {
                AgentState::Deferred { swap_id } => {
                    plan.deferred(&row.agent_id, swap_id, planned, held)
                }
                _ => plan.agent(&row.agent_id, planned, held),
            }
        }
        report.changes = Some(plan);
        Ok(Outcome::Running)
    }
}
