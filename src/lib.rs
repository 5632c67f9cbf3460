//! wfm-publisher: publishes contact-centre agents' weekly schedules to a
//! workforce-management platform, unattended, and explains every failure.

pub mod api;
pub mod capped;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
mod dev;
mod doctor;
pub mod echo;
pub mod leader;
pub mod plan;
pub mod platform;
mod preflight;
pub mod publish;
pub mod sample;
mod secret;
pub mod sim;
pub mod source;
mod status;
pub mod store;
mod telemetry;
pub mod testbed;
pub mod week;
