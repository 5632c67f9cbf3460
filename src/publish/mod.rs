//! The publication engine: a target's week from its source file to the
//! platform, with shift-swap deferral and durable state.

pub mod causes;
mod engine;
mod journal;
mod ledger;
mod locks;
mod progress;
mod report;
pub mod trade;
mod unknown;

pub use engine::{deferral_deadline, Engine, EngineError, EngineParts, RunOptions};
pub use locks::{KeyedLocks, LockKey};
pub use progress::{Counts, Phase, Progress, ProgressView};
pub use report::{AgentNote, Report, UnpublishedAgent};
