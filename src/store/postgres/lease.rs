//! The leader lease, in the shape of river's leader table: one row holding
//! the holder and an expiry on the database's clock, renewed every
//! `lease_renew`, lasting `lease_ttl`, taken with one
//! `INSERT … ON CONFLICT … DO UPDATE … WHERE expired OR holder = me`.
//! Every change of term increases the fencing token, and every state write
//! checks it in its own transaction (see `PostgresStore`).
//!
//! Not a session advisory lock: that dies silently with its connection and
//! means nothing behind a transaction-pooling proxy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::connection::Connector;
use crate::store::StoreError;

/// The one lease every replica competes for.
pub(super) const LEASE: &str = "publisher";

/// This process's claim to the lease, shared by the lease, the store's
/// fenced writes and whatever must stop sending when it goes.
#[derive(Debug)]
pub struct Leadership {
    holder: String,
    held: Mutex<Option<Term>>,
}

#[derive(Debug, Clone, Copy)]
struct Term {
    fence: i64,
    /// When the lease ends at the latest, on this machine's monotonic
    /// clock: the start of the last successful renewal plus the TTL. A
    /// process stopped (SIGSTOP) past it knows at once that it lost the
    /// lease, before anything else runs.
    until: Instant,
}

impl Leadership {
    pub fn new() -> Self {
        let host = crate::store::host_name();
        let holder = format!(
            "{host}:{}:{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Leadership {
            holder,
            held: Mutex::new(None),
        }
    }

    /// host:pid:random, unique to this process.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The fencing token while the lease is held, by this machine's clock.
    pub fn fence(&self) -> Option<i64> {
        let held = *self.held.lock().expect("leadership");
        held.filter(|t| Instant::now() < t.until).map(|t| t.fence)
    }

    pub fn is_leader(&self) -> bool {
        self.fence().is_some()
    }

    /// A gate for the platform client: open while the lease is held.
    pub fn send_gate(self: &Arc<Self>) -> crate::api::SendGate {
        let me = self.clone();
        Arc::new(move || me.is_leader())
    }

    fn grant(&self, fence: i64, until: Instant) {
        *self.held.lock().expect("leadership") = Some(Term { fence, until });
    }

    fn revoke(&self) {
        *self.held.lock().expect("leadership") = None;
    }
}

impl Default for Leadership {
    fn default() -> Self {
        Self::new()
    }
}

/// What one round of the lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Leader {
        fence: i64,
    },
    /// Someone else holds the lease (`None`: nobody, or the database could
    /// not say).
    Standby {
        holder: Option<String>,
    },
    /// The last round could not reach the database: standing by, and not
    /// ready to take over until it can.
    Unreachable {
        reason: String,
    },
}

/// The holder of the unexpired lease, if any.
pub(super) const CURRENT_HOLDER: &str =
    "SELECT holder FROM leader WHERE name = $1 AND expires_at > now()";

/// Elects or renews, on the database clock. The fence stays while the same
/// holder renews an unexpired lease, and grows at every other change.
const ELECT: &str = "
INSERT INTO leader AS l (name, holder, fence, elected_at, expires_at)
VALUES ($1, $2, 1, now(), now() + make_interval(secs => $3::float8))
ON CONFLICT (name) DO UPDATE SET
  fence = CASE WHEN l.holder = excluded.holder AND l.expires_at > now()
               THEN l.fence ELSE l.fence + 1 END,
  elected_at = CASE WHEN l.holder = excluded.holder AND l.expires_at > now()
                    THEN l.elected_at ELSE now() END,
  holder = excluded.holder,
  expires_at = excluded.expires_at
WHERE l.expires_at <= now() OR l.holder = excluded.holder
RETURNING fence";

pub struct Lease {
    connector: Arc<Connector>,
    leadership: Arc<Leadership>,
    client: Option<Client>,
    pub ttl: Duration,
    pub renew: Duration,
}

impl Lease {
    pub(super) fn new(
        connector: Arc<Connector>,
        leadership: Arc<Leadership>,
        ttl: Duration,
        renew: Duration,
    ) -> Self {
        Lease {
            connector,
            leadership,
            client: None,
            ttl,
            renew,
        }
    }

    pub fn leadership(&self) -> &Arc<Leadership> {
        &self.leadership
    }

    /// One round: renews the lease if this process holds it, takes it if
    /// it expired, else says who holds it. A round that fails or does not
    /// finish within one renew interval gives the lease up locally at
    /// once, so that nothing is sent on a lease that may be gone.
    pub async fn round(&mut self) -> Result<Role, StoreError> {
        let started = Instant::now();
        let attempt = tokio::time::timeout(self.renew, self.elect()).await;
        let fence = match attempt {
            Ok(Ok(fence)) => fence,
            Ok(Err(e)) => {
                self.leadership.revoke();
                return Err(e);
            }
            Err(_) => {
                self.leadership.revoke();
                self.client = None;
                return Err(StoreError::Postgres {
                    store: self.connector.shown().to_owned(),
                    message: format!(
                        "the lease was not renewed within {}",
                        humantime::format_duration(self.renew)
                    ),
                });
            }
        };
        match fence {
            Some(fence) => {
                self.leadership.grant(fence, started + self.ttl);
                Ok(Role::Leader { fence })
            }
            None => {
                self.leadership.revoke();
                let holder = self.current_holder().await.ok().flatten();
                Ok(Role::Standby { holder })
            }
        }
    }

    async fn client(&mut self) -> Result<&Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.connector.connect().await?);
        }
        Ok(self.client.as_ref().expect("connected just now"))
    }

    async fn elect(&mut self) -> Result<Option<i64>, StoreError> {
        let ttl_secs = self.ttl.as_secs_f64();
        let holder = self.leadership.holder().to_owned();
        let client = self.client().await?;
        let row = client
            .query_opt(ELECT, &[&LEASE, &holder, &ttl_secs])
            .await
            .map_err(|e| self.connector.error(&e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Who holds an unexpired lease.
    pub async fn current_holder(&mut self) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(CURRENT_HOLDER, &[&LEASE])
            .await
            .map_err(|e| self.connector.error(&e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Ends this process's term at once (a clean stop), so that a standby
    /// need not wait out the TTL.
    pub async fn release(&mut self) -> Result<(), StoreError> {
        let Some(fence) = self.leadership.fence() else {
            return Ok(());
        };
        self.leadership.revoke();
        let holder = self.leadership.holder().to_owned();
        let client = self.client().await?;
        client
            .execute(
                "UPDATE leader SET expires_at = now() WHERE name = $1 AND holder = $2 AND fence = $3",
                &[&LEASE, &holder, &fence],
            )
            .await
            .map_err(|e| self.connector.error(&e))?;
        Ok(())
    }
}
