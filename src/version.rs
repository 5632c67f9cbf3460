//! What this binary is: its version, and the commit it was built from
//! (`build.rs`: "unknown" when built outside a checkout).

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub const COMMIT: &str = env!("WFM_PUBLISHER_COMMIT");

/// `--version` after the program's name.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("WFM_PUBLISHER_COMMIT"),
    ")"
);
