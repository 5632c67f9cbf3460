//! wfm-publisher: publishes contact-centre agents' weekly schedules to a
//! workforce-management platform, unattended, and explains every failure.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod secret;
pub mod sim;
pub mod telemetry;
pub mod week;
