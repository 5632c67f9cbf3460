//! The integration tests, one module per subject, in one binary: each
//! binary links the whole crate, and on two cores two dozen links were
//! most of a rebuild. A test that must own its process (it lowers the
//! file limit, say) has a binary of its own beside this one
//! (`tests/resources.rs`).
//!
//! `cargo test --test it -- daemon::` runs one module's tests.

mod common;

mod check_command;
mod cli;
mod client;
mod commands;
mod config_errors;
mod daemon;
mod docs;
mod gauges;
mod genesys;
mod genesys_sim_contract;
mod ha;
mod inputs;
mod logs;
mod oauth_interop;
mod pacing;
mod plan;
mod publish;
mod reliability;
mod signals;
mod sim_contract;
mod sim_sources;
mod status_page;
mod store;
mod terminal;
mod token;
