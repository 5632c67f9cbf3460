//! A faithful simulator of the WFM platform of `CONTRACT.md`, in-process for
//! tests and standalone through `wfm-publisher sim`.

mod limits;
mod platform;
mod record;
mod routes;
pub mod scenario;
mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::SharedClock;

use platform::Platform;
pub use platform::KNOWN_SCOPES;
pub use record::{ExpiredUse, ForbiddenCause, PublishEvent, Record, RequestEntry, SwapViolation};
pub use scenario::{Outage, Scenario, ScenarioError, WindowKind};
pub use wire::{Shift, SwapStatus};

/// State shared by every request handler.
pub(crate) struct Shared {
    platform: Mutex<Platform>,
    clock: SharedClock,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Shared {
    /// The server's clock: ours plus the scenario's offset.
    fn server_now(&self, p: &Platform) -> DateTime<Utc> {
        self.clock.now() + p.scenario.server.clock_offset
    }

    fn advertise(&self) -> bool {
        self.platform
            .lock()
            .expect("simulator state")
            .scenario
            .server
            .advertise_rate_limits
    }
}

/// A running simulator: its address, and a window on what it saw.
/// The parts of a running simulator's scenario a test may change.
pub struct Live<'a> {
    pub faults: &'a mut scenario::Faults,
    pub server: &'a mut scenario::Server,
    pub rate_limits: &'a mut scenario::RateLimits,
}

pub struct SimHandle {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Serves `scenario` on `listen` (port 0 picks a free one).
pub async fn spawn(
    scenario: Scenario,
    clock: SharedClock,
    listen: SocketAddr,
) -> std::io::Result<SimHandle> {
    let started = clock.now() + scenario.server.clock_offset;
    let shared = Arc::new(Shared {
        platform: Mutex::new(Platform::new(scenario, started)),
        clock,
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = routes::router(shared.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(SimHandle {
        addr,
        shared,
        shutdown: Some(tx),
        task,
    })
}

impl SimHandle {
    /// The base URL of both the auth and the API endpoints.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of everything the platform recorded so far.
    pub fn record(&self) -> Record {
        let mut record = self.with_platform(|p| p.record.clone());
        record.peak_concurrency = self.shared.peak.load(Ordering::SeqCst);
        record
    }

    fn with_platform<R>(&self, f: impl FnOnce(&mut Platform) -> R) -> R {
        let mut p = self.shared.platform.lock().expect("simulator state");
        f(&mut p)
    }

    /// Changes what the running platform reads on every request: its
    /// faults, server switches and rate limits. Its organizations,
    /// schedules and swaps are fixed when it starts: build the scenario
    /// with the ones a test needs.
    pub fn reconfigure<R>(&self, f: impl FnOnce(Live<'_>) -> R) -> R {
        self.with_platform(|p| {
            f(Live {
                faults: &mut p.scenario.faults,
                server: &mut p.scenario.server,
                rate_limits: &mut p.scenario.rate_limits,
            })
        })
    }

    /// Revokes every token issued so far, as a rotated signing key would.
    pub fn revoke_tokens(&self) {
        self.with_platform(|p| p.revoke_tokens())
    }

    pub fn server_now(&self) -> DateTime<Utc> {
        self.with_platform(|p| self.shared.server_now(p))
    }

    /// Resolves a swap now, ahead of its timeline. False if there is none.
    pub fn resolve_swap(&self, id: &str, into: SwapStatus) -> bool {
        let now = self.server_now();
        self.with_platform(|p| p.resolve_swap(id, into, now))
    }

    pub fn swap_statuses(&self) -> std::collections::BTreeMap<String, SwapStatus> {
        let now = self.server_now();
        self.with_platform(|p| p.swap_statuses(now))
    }

    /// Stops serving and waits for the server to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.map_err(std::io::Error::other)?
    }
}
