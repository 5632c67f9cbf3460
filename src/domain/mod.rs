//! The publisher's own vocabulary, at the bottom of the crate: what the
//! configuration, the source file and each platform's answers are turned
//! into at the boundary, and what every layer above carries. Nothing here
//! knows a wire format, a store or a platform.

mod ids;
pub mod lifecycle;
pub mod plan;
pub mod week;

pub use ids::{AgentId, BusinessUnitId, InvalidTargetName, ScheduleId, SwapId, TargetName};
