//! wfm-publisher: publishes contact-centre agents' weekly schedules to a
//! workforce-management platform, unattended, and explains every failure.

#[macro_use]
mod text_enum;

pub mod api;
pub mod capped;
pub mod changes;
pub mod cli;
/// The clock, its own crate so that the simulators share it.
pub use wfm_clock as clock;
pub mod config;
pub mod daemon;
mod dev;
mod doctor;
pub mod domain;
pub mod echo;
pub mod exit;
pub mod leader;
pub mod local_time;
pub mod platform;
mod preflight;
pub mod publish;
mod quiet_ctrl_c;
/// The sample week, generated with the simulators it is served by.
pub use wfm_sim::sample;
mod secret;
/// The platform simulators, their own crate (`crates/wfm-sim`).
pub use wfm_sim as sim;
pub mod source;
mod status;
pub mod store;
mod telemetry;
pub mod testbed;
mod version;
