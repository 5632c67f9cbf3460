//! Talking to the WFM platform: tokens, limits, retries, and the diagnosis
//! of every answer (CONTRACT.md).

pub(crate) mod classify;
pub mod client;
pub mod error;
pub mod model;
mod retry;
pub mod scopes;
pub mod stats;
mod throttle;
pub mod token;
pub mod url;

pub use client::{PlatformClient, PublishOutcome, SendGate, WriteOutcome};
pub use error::{PendingAgent, PlatformError};
pub use scopes::Operation;
