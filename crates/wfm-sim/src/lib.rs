//! Faithful simulators of the WFM platforms the publisher talks to (the
//! simple contract of `CONTRACT.md`, and Genesys Cloud in `genesys`),
//! in-process for tests and standalone through `wfm-publisher sim`; and
//! `sample`, the generated week they serve in dev mode, tests and benchmarks.
//! Their own crate: they share only the clock (`wfm_clock`) with the
//! publisher, and a change to the publisher does not rebuild them.

pub mod genesys;
mod in_flight;
mod limits;
mod platform;
mod record;
pub mod redate;
mod routes;
pub mod sample;
pub mod scenario;
mod served;
pub mod sources;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use wfm_clock::SharedClock;

use platform::Platform;
pub use platform::KNOWN_SCOPES;
pub use record::{
    headroom, Counted, ExpiredUse, ForbiddenCause, PublishEvent, Record, RequestEntry,
    SwapViolation,
};
pub use scenario::{Outage, Scenario, ScenarioError, WindowKind};
pub use served::{Served, ServedClient, ServedSchedule};
pub use wire::{Shift, SwapStatus};

/// State shared by every request handler.
pub(crate) struct Shared {
    platform: Mutex<Platform>,
    clock: SharedClock,
    in_flight: crate::in_flight::InFlight,
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
    serving: Serving,
}

/// A scenario the simulator can serve: the simple contract's, a Genesys
/// Cloud one, or either as read from a file.
pub trait Serve {
    type Handle;

    fn serve(
        self,
        clock: SharedClock,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<Self::Handle>;
}

/// Serves `scenario` on `listen` (port 0 picks a free one).
pub async fn spawn<S: Serve>(
    scenario: S,
    clock: SharedClock,
    listen: SocketAddr,
) -> std::io::Result<S::Handle> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    scenario.serve(clock, listener)
}

impl Serve for genesys::Scenario {
    type Handle = genesys::GenesysHandle;

    fn serve(
        self,
        clock: SharedClock,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<Self::Handle> {
        genesys::serve(self, clock, listener)
    }
}

/// A scenario file of either kind: `kind = "genesys-cloud"` at the top
/// picks the Genesys simulator; without `kind` it is the simple contract.
#[derive(Debug, Clone)]
pub enum AnyScenario {
    Simple(Box<Scenario>),
    Genesys(Box<genesys::Scenario>),
}

/// Which week a scenario file is served for.
#[derive(Clone, Copy)]
pub enum Dating<'a> {
    /// The dates the file holds.
    AsWritten,
    /// Its first schedule's week moved to this one (the same weekday).
    Week(NaiveDate),
    /// Its first schedule's week moved to the one this returns for the
    /// scenario's time zone and the weekday its weeks start on. Which week
    /// is "coming" is the publisher's rule (its deadlines decide it), so the
    /// caller passes it in rather than the simulator keeping a copy.
    Coming(&'a dyn Fn(Tz, Weekday) -> NaiveDate),
}

/// The week a scenario was written for and the one it is served for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redated {
    pub written: NaiveDate,
    pub served: NaiveDate,
}

impl AnyScenario {
    pub fn load(path: &std::path::Path) -> Result<Self, ScenarioError> {
        Ok(Self::load_dated(path, Dating::AsWritten)?.0)
    }

    /// Loads `path` for the week `dating` says; `None` where the scenario
    /// has no schedule to date by.
    pub fn load_dated(
        path: &std::path::Path,
        dating: Dating,
    ) -> Result<(Self, Option<Redated>), ScenarioError> {
        let (text, shown) = scenario::read(path)?;
        let written = Self::parse(&text, &shown)?;
        let Some((anchor, tz)) = written.first_week() else {
            return Ok((written, None));
        };
        let served = match dating {
            Dating::AsWritten => anchor,
            Dating::Week(week) => week,
            Dating::Coming(pick) => pick(tz, anchor.weekday()),
        };
        if served.weekday() != anchor.weekday() {
            return Err(ScenarioError::Invalid {
                path: shown,
                key: "week".into(),
                message: format!(
                    "{served} is a {}; the scenario's weeks start on a {}",
                    served.weekday(),
                    anchor.weekday()
                ),
            });
        }
        let redated = Redated {
            written: anchor,
            served,
        };
        if served == anchor {
            return Ok((written, Some(redated)));
        }
        let weeks = redate::weeks_between(anchor, served);
        let moved = Self::parse(&redate::shift_weeks(&text, weeks, tz), &shown)?;
        Ok((moved, Some(redated)))
    }

    fn parse(text: &str, shown: &str) -> Result<Self, ScenarioError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: shown.to_owned(),
            source: Box::new(e),
        })?;
        match table.get("kind") {
            None => Ok(AnyScenario::Simple(Box::new(Scenario::parse(text, shown)?))),
            Some(_) => Ok(AnyScenario::Genesys(Box::new(genesys::Scenario::parse(
                text, shown,
            )?))),
        }
    }

    /// The first schedule's week and the time zone its times are in.
    fn first_week(&self) -> Option<(NaiveDate, Tz)> {
        match self {
            AnyScenario::Simple(s) => s.schedules.first().map(|s| (s.week_start, s.time_zone)),
            AnyScenario::Genesys(g) => {
                let schedule = g.schedules.first()?;
                let unit = g
                    .business_units
                    .iter()
                    .find(|b| b.id == schedule.business_unit)?;
                Some((schedule.week_date, unit.time_zone))
            }
        }
    }
}

/// A running simulator of either kind.
pub enum AnyHandle {
    Simple(SimHandle),
    Genesys(genesys::GenesysHandle),
}

impl AnyHandle {
    pub fn addr(&self) -> SocketAddr {
        match self {
            AnyHandle::Simple(h) => h.addr,
            AnyHandle::Genesys(h) => h.addr,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub async fn shutdown(self) -> std::io::Result<()> {
        match self {
            AnyHandle::Simple(h) => h.shutdown().await,
            AnyHandle::Genesys(h) => h.shutdown().await,
        }
    }
}

impl Serve for AnyScenario {
    type Handle = AnyHandle;

    fn serve(
        self,
        clock: SharedClock,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<AnyHandle> {
        Ok(match self {
            AnyScenario::Simple(s) => AnyHandle::Simple(s.serve(clock, listener)?),
            AnyScenario::Genesys(s) => AnyHandle::Genesys(s.serve(clock, listener)?),
        })
    }
}

impl Serve for Scenario {
    type Handle = SimHandle;

    fn serve(
        self,
        clock: SharedClock,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<SimHandle> {
        serve_simple(self, clock, listener)
    }
}

fn serve_simple(
    scenario: Scenario,
    clock: SharedClock,
    listener: tokio::net::TcpListener,
) -> std::io::Result<SimHandle> {
    let started = clock.now() + scenario.server.clock_offset;
    let shared = Arc::new(Shared {
        platform: Mutex::new(Platform::new(scenario, started)),
        clock,
        in_flight: Default::default(),
    });
    let serving = Serving::start(listener, routes::router(shared.clone()))?;
    Ok(SimHandle {
        addr: serving.addr,
        shared,
        serving,
    })
}

/// An HTTP server running on its own task until told to stop.
pub(crate) struct Serving {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Serving {
    pub(crate) fn start(
        listener: tokio::net::TcpListener,
        app: axum::Router,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Serving {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// Stops serving and waits for the server to finish.
    pub(crate) async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.map_err(std::io::Error::other)?
    }
}

impl SimHandle {
    /// The base URL of both the auth and the API endpoints.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of everything the platform recorded so far.
    pub fn record(&self) -> Record {
        let mut record = self.with_platform(|p| p.record.clone());
        record.peak_concurrency = self.shared.in_flight.peak();
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
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.serving.stop().await
    }
}
