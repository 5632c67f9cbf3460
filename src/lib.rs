//! wfm-publisher: publishes contact-centre agents' weekly schedules to a
//! workforce-management platform, unattended, and explains every failure.

pub mod cli;
pub mod clock;
pub mod config;
pub mod secret;
pub mod sim;
pub mod telemetry;
