//! Time as the publisher and the simulators see it: its own crate, the one
//! both stand on.
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
    /// Waits until this clock reads `at` (at once if it does already).
    /// Not `sleep(at - now())`: a clock that jumps between the two reads
    /// (a test's manual clock moved by another task) would end that sleep
    /// a whole jump late.
    fn sleep_until(&self, at: DateTime<Utc>) -> futures::future::BoxFuture<'static, ()> {
        self.sleep((at - self.now()).to_std().unwrap_or_default())
    }
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

/// A clock that moves only when told to, for tests of schedules that span
/// weeks: sleeps end when [`ManualClock::advance`] passes their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<tokio::sync::watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(tokio::sync::watch::Sender::new(start)),
        }
    }

    pub fn advance(&self, d: Duration) {
        let step = chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
        self.now.send_modify(|t| *t += step);
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.now.send_modify(|t| *t = to.max(*t));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep(&self, d: Duration) -> futures::future::BoxFuture<'static, ()> {
        self.sleep_until(self.now() + delta(d))
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> futures::future::BoxFuture<'static, ()> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            while *rx.borrow_and_update() < deadline {
                if rx.changed().await.is_err() {
                    // The clock is gone: nothing will ever wake this sleep.
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

/// Another clock whose sleeps end early once `cancel` is cancelled, so that
/// a stop interrupts every wait between retries instead of outlasting it.
#[derive(Debug, Clone)]
pub struct CancellableClock {
    clock: SharedClock,
    cancel: tokio_util::sync::CancellationToken,
}

impl CancellableClock {
    pub fn new(clock: SharedClock, cancel: tokio_util::sync::CancellationToken) -> Self {
        CancellableClock { clock, cancel }
    }
}

impl Clock for CancellableClock {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn sleep(&self, d: Duration) -> futures::future::BoxFuture<'static, ()> {
        self.cancellable(self.clock.sleep(d))
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> futures::future::BoxFuture<'static, ()> {
        self.cancellable(self.clock.sleep_until(at))
    }
}

impl CancellableClock {
    fn cancellable(
        &self,
        sleep: futures::future::BoxFuture<'static, ()>,
    ) -> futures::future::BoxFuture<'static, ()> {
        let cancel = self.cancel.clone();
        Box::pin(async move {
            tokio::select! {
                _ = cancel.cancelled_owned() => {}
                _ = sleep => {}
            }
        })
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A wait as a span of the clock's time, saturating: a wait too long for a
/// date (a platform's absurd `Retry-After`) is "never", not an overflow.
pub fn delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    /// The daemon's cron loop read the time, then slept for the span left;
    /// a test moving the manual clock between the two reads pushed the
    /// sleep's end a whole step late, and the cron time was missed (a
    /// test timed out "waiting for the scheduler to take the step").
    #[test]
    fn a_sleep_until_an_instant_ends_there_whatever_moved_before_it_began() {
        let start: DateTime<Utc> = "2026-03-07T00:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        let at = start + chrono::TimeDelta::minutes(30);
        let step = Duration::from_secs(15 * 60);
        // Another task moves the clock after the sleeper read it.
        clock.advance(step);
        let mut until = clock.sleep_until(at);
        let mut span = clock.sleep((at - start).to_std().unwrap());
        assert!((&mut until).now_or_never().is_none(), "not yet");
        clock.advance(step);
        assert!(until.now_or_never().is_some(), "ends at its instant");
        assert!(
            (&mut span).now_or_never().is_none(),
            "a span from the old reading ends a step late"
        );
        let cancellable = CancellableClock::new(Arc::new(clock.clone()), Default::default());
        assert!(cancellable.sleep_until(at).now_or_never().is_some());
    }
}
