//! Keeps the PostgreSQL lease for the process that publishes: a round every
//! `store.lease_renew` (renew while leading, take over an expired lease
//! while standing by), told to whoever watches, and metrics for each
//! change. The daemon starts and stops its runs on these changes;
//! `publish` stops its run when the lease goes.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::{Lease, Role, StoreError};

/// The role as the rest of the process sees it.
pub type Roles = watch::Receiver<Role>;

/// Describes the lease metrics and creates them at zero.
pub fn register_metrics() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(
        "wfm_lease_held",
        "1 while this process holds the publishing lease (PostgreSQL store), else 0."
    );
    describe_counter!(
        "wfm_lease_takeovers_total",
        "Times this process took the publishing lease (a new fencing token each time)."
    );
    describe_counter!(
        "wfm_lease_renew_failures_total",
        "Lease rounds (renewal, or election while standing by) that failed."
    );
    describe_counter!(
        "wfm_fencing_rejections_total",
        "State writes refused because this process no longer held the lease's token."
    );
    metrics::gauge!("wfm_lease_held").increment(0.0);
    for name in [
        "wfm_lease_takeovers_total",
        "wfm_lease_renew_failures_total",
        "wfm_fencing_rejections_total",
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// Starts keeping `lease` on the current runtime until `stop`, then
/// releases it so that a standby takes over without waiting out the TTL.
pub fn keep(lease: Lease, stop: CancellationToken) -> (Roles, tokio::task::JoinHandle<()>) {
    let now = match lease.leadership().fence() {
        Some(fence) => Role::Leader { fence },
        None => Role::Standby { holder: None },
    };
    let (tx, rx) = watch::channel(now);
    let task = tokio::spawn(keep_loop(lease, tx, stop));
    (rx, task)
}

async fn keep_loop(mut lease: Lease, tx: watch::Sender<Role>, stop: CancellationToken) {
    let every = lease.renew;
    loop {
        let before = tx.borrow().clone();
        let role = match lease.round().await {
            Ok(role) => role,
            Err(e) => {
                metrics::counter!("wfm_lease_renew_failures_total").increment(1);
                tracing::warn!(error = %e, "lease round failed: standing by");
                Role::Unreachable {
                    reason: e.to_string(),
                }
            }
        };
        note_change(&before, &role);
        tx.send_if_modified(|current| {
            let changed = *current != role;
            *current = role;
            changed
        });
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => break,
        }
    }
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "could not release the lease: a standby takes over when it expires");
    }
    tx.send_replace(Role::Standby { holder: None });
    metrics::gauge!("wfm_lease_held").set(0.0);
}

fn note_change(before: &Role, after: &Role) {
    match (before, after) {
        (Role::Leader { fence: old }, Role::Leader { fence }) if old == fence => {}
        (_, Role::Leader { fence }) => {
            metrics::counter!("wfm_lease_takeovers_total").increment(1);
            metrics::gauge!("wfm_lease_held").set(1.0);
            tracing::info!(fence, "took the publishing lease: this process publishes");
        }
        (Role::Leader { .. }, Role::Standby { holder }) => {
            metrics::gauge!("wfm_lease_held").set(0.0);
            let holder = holder.as_deref().unwrap_or("nobody known");
            tracing::warn!(%holder, "lost the publishing lease: standing by");
        }
        (Role::Leader { .. }, Role::Unreachable { .. }) => {
            metrics::gauge!("wfm_lease_held").set(0.0);
            tracing::warn!("gave the publishing lease up: the database did not answer");
        }
        (Role::Standby { .. } | Role::Unreachable { .. }, _) => {}
    }
}

/// Ends when the term current at the call is over: the lease lost, taken
/// again under a new token, or its keeper stopped. A run that selects on it
/// stops at once.
pub async fn term_over(mut roles: Roles) {
    let term = roles.borrow_and_update().clone();
    if !matches!(term, Role::Leader { .. }) {
        return;
    }
    while roles.changed().await.is_ok() {
        if *roles.borrow_and_update() != term {
            return;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunLockError {
    #[error("another process publishes: {holder} holds the publishing lease; this run is refused (it resumes there)")]
    Held { holder: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The lease held by one `publish` process: with PostgreSQL, the run lock.
pub struct RunLock {
    gate: crate::api::SendGate,
    stop: CancellationToken,
    keeper: tokio::task::JoinHandle<()>,
}

impl RunLock {
    /// Takes the lease at once or says who holds it; keeps it while the
    /// run lasts, and cancels `run` (nothing more is sent) if it is lost.
    pub async fn take(mut lease: Lease, run: CancellationToken) -> Result<RunLock, RunLockError> {
        if let Role::Standby { holder } = lease.round().await? {
            let holder = holder.unwrap_or_else(|| "another process".into());
            return Err(RunLockError::Held { holder });
        }
        let stop = CancellationToken::new();
        let gate = lease.leadership().send_gate();
        let (roles, keeper) = keep(lease, stop.clone());
        tokio::spawn(async move {
            term_over(roles).await;
            run.cancel();
        });
        Ok(RunLock { gate, stop, keeper })
    }

    /// Open while the lock is held: the platform client asks it before
    /// every request.
    pub fn send_gate(&self) -> crate::api::SendGate {
        self.gate.clone()
    }

    /// Gives the lease back, so that a daemon standing by need not wait
    /// out the TTL.
    pub async fn release(self) {
        self.stop.cancel();
        let _ = self.keeper.await;
    }
}
