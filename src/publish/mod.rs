//! The publication engine: a target's week from its source file to the
//! platform, with shift-swap deferral and durable state.

mod engine;
mod locks;
mod progress;
mod report;
pub mod trade;

pub use engine::{deferral_deadline, Engine, EngineError, RunOptions};
pub use locks::KeyedLocks;
pub use progress::{BarProgress, LogProgress, Progress};
pub use report::Report;
