//! Talking to the WFM platform: tokens, limits, retries, and the diagnosis
//! of every answer (CONTRACT.md).

pub mod body;
mod budget;
pub(crate) mod classify;
pub mod client;
pub mod error;
pub mod model;
pub(crate) mod publish_lock;
pub(crate) mod retry;
pub mod scopes;
pub mod stats;
pub(crate) mod throttle;
pub mod token;
pub mod trouble;
pub mod url;

pub use classify::Advertised;
pub use client::{PlatformClient, PublishOutcome, SendGate, WriteOutcome};
pub use error::{Access, PendingAgent, PermissionGap, PlatformError};
pub use scopes::Operation;
