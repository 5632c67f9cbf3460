//! Time as the publisher and the simulator see it.
//!
//! Everything that waits or reads the time goes through a [`Clock`], so that
//! tests can run minutes of token lifetimes and swap timelines in seconds
//! without a single timed assertion.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall-clock time.
    fn now(&self) -> DateTime<Utc>;
    /// Waits for `d` of this clock's time.
    fn sleep(&self, d: Duration) -> futures::future::BoxFuture<'static, ()>;
}

pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, d: Duration) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that runs `factor` times faster than real time from the moment it
/// is made, starting at `origin`. Both the simulator and the client under test
/// share one, so their idea of "now" stays consistent.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    origin: DateTime<Utc>,
    started: std::time::Instant,
    factor: f64,
}

impl ScaledClock {
    pub fn new(origin: DateTime<Utc>, factor: f64) -> Self {
        assert!(factor > 0.0, "a clock factor must be positive");
        Self {
            origin,
            started: std::time::Instant::now(),
            factor,
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed().mul_f64(self.factor);
        self.origin + chrono::Duration::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }

    fn sleep(&self, d: Duration) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d.div_f64(self.factor)))
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}
