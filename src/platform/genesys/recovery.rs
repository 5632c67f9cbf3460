//! What a stopped process left in flight, settled before a run's first
//! write. The platform has no route to read an update's operation back
//! (genesys-cloud/CONTRACT.md §5; the SDKs' `WorkforceManagementApi` lists
//! none), so an operation is re-checked by what it carried: the schedule's
//! version it was built on, each agent's content hash, the published flag.
//!
//! - `Uploading`: `…/update` was never called; the key is dropped.
//! - `Uploaded`, its key issued less than [`KEY_REUSE`] ago: `…/update` is
//!   called with it; a refusal means the key was taken before the stop,
//!   and that operation is followed.
//! - `Uploaded`, an older key: never sent again; the operation it may have
//!   started has long ended, and is re-checked.
//! - `Submitted`: followed (socket, else the schedule's version) while the
//!   schedule is still at the version it was built on, then re-checked.
//!
//! Re-checked means: applied when every agent it carried holds what it
//! carried (and the schedule is published, if it set the flag); otherwise
//! failed, and the run's write re-reads and sends what still differs.

use std::time::Duration;

use super::operation::{look, subscribe, Look, Updater};
use crate::api::PlatformError;
use crate::echo::echo;
use crate::platform::journal::{Operation, OperationEvent, OperationState, Tracked};

/// How long after its issue an upload key is used again: well inside the
/// life of a presigned upload URL, which the platform does not state.
pub const KEY_REUSE: Duration = Duration::from_secs(5 * 60);

/// Settles every unfinished operation of the run's schedule, oldest first.
pub async fn settle(u: &Updater<'_>) -> Result<(), PlatformError> {
    for (id, operation) in u.journal.unfinished(&u.facts.schedule_id)? {
        tracing::info!(entry = id, upload_key = %echo(&operation.upload_key), state = ?operation.state, "an update left in flight by a stopped run: settling it");
        let mut op = Tracked::resumed(u.journal.clone(), id, operation);
        settle_one(u, &mut op).await?;
        tracing::info!(entry = id, state = ?op.operation.state, "settled");
    }
    Ok(())
}

async fn settle_one(u: &Updater<'_>, op: &mut Tracked) -> Result<(), PlatformError> {
    let now = u.clock.now();
    match op.operation.state.clone() {
        OperationState::Uploading => Ok(op.on(OperationEvent::Abandoned, now)?),
        OperationState::Uploaded if fresh(u, &op.operation) => {
            let socket = subscribe(u.http, u.facts).await;
            match u.submit(op, socket).await {
                Ok(_) => Ok(()),
                // The key was taken by an update sent just before the stop.
                Err(PlatformError::Refused { status, .. }) if (400..500).contains(&status) => {
                    recheck(u, op, None).await
                }
                Err(e) => Err(e),
            }
        }
        OperationState::Uploaded => {
            let event = match look(u, &op.operation).await? {
                Look::Applied => OperationEvent::Completed,
                Look::NotApplied | Look::Pending => OperationEvent::Abandoned,
            };
            Ok(op.on(event, now)?)
        }
        OperationState::Submitted { operation_id } => recheck(u, op, Some(&operation_id)).await,
        OperationState::Ended(_) => Ok(()),
    }
}

fn fresh(u: &Updater<'_>, op: &Operation) -> bool {
    let age = (u.clock.now() - op.issued_at).to_std().unwrap_or_default();
    age < KEY_REUSE
}

/// Follows an operation that may still be running, then records what the
/// schedule shows.
async fn recheck(
    u: &Updater<'_>,
    op: &mut Tracked,
    operation_id: Option<&str>,
) -> Result<(), PlatformError> {
    // Subscribed before looking, so that an end after the look is heard.
    let socket = subscribe(u.http, u.facts).await;
    let mut seen = look(u, &op.operation).await?;
    if seen == Look::Pending {
        // An end that came while no process listened is not told again: an
        // operation not applied within the deadline of its start has failed.
        let age = (u.clock.now() - op.operation.issued_at)
            .to_std()
            .unwrap_or_default();
        let rest = Updater {
            deadline: u.deadline.saturating_sub(age),
            journal: u.journal.clone(),
            ..*u
        };
        rest.follow(socket, &op.operation, operation_id).await?;
        seen = look(u, &op.operation).await?;
    }
    let event = match seen {
        Look::Applied => OperationEvent::Completed,
        Look::NotApplied | Look::Pending => OperationEvent::Failed,
    };
    Ok(op.on(event, u.clock.now())?)
}
