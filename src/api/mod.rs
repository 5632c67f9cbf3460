//! Talking to a WFM platform, whichever it is: tokens, rate limits, the
//! send gate, retries, and the one call loop every request goes through.
//! Each platform's endpoints, wire types and reading of its answers live
//! with it (`platform::simple`, `platform::genesys`).

pub mod body;
mod budget;
pub mod call;
pub(crate) mod classify;
pub mod client;
pub mod error;
pub mod oauth_wire;
mod pace;
pub(crate) mod publish_lock;
pub(crate) mod retry;
pub mod scopes;
pub mod stats;
pub(crate) mod throttle;
pub mod token;
pub mod trouble;
pub mod url;

pub use classify::Advertised;
pub use client::{Patience, PlatformClient, SendGate};
pub use error::{Access, PendingAgent, PermissionGap, PlatformError};
pub use scopes::Operation;
