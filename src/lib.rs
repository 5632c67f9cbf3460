//! wfm-publisher: publishes contact-centre agents' weekly schedules to a
//! workforce-management platform, unattended, and explains every failure.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dev;
pub mod doctor;
pub mod plan;
pub mod platform;
pub mod preflight;
pub mod publish;
pub mod sample;
pub mod secret;
pub mod sim;
pub mod source;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod testbed;
pub mod week;
