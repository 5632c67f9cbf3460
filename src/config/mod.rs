//! Typed configuration: one TOML file layered with `WFM_PUBLISHER__SECTION__KEY`
//! environment overrides, parsed once at start-up into [`Settings`].
//!
//! Loading never stops at the first mistake: every problem is collected into
//! a [`ConfigError`], one located line each, e.g.
//! `/etc/wfm-publisher/config.toml: targets.chicago.time_zone: unknown time zone "America/Chicgo"`
//! or, for an override, `WFM_PUBLISHER__PLATFORM__CLIENT_ID: platform.client_id: must not be empty`.
//!
//! Modules: `loader` layers the sources, `reader` walks the merged tree and
//! collects problems, `sections` maps each section to its struct, `parse`
//! checks single values, `secrets` resolves the client secret and admin token.

mod cron_fields;
mod error;
mod loader;
mod parse;
mod postgres_url;
mod reader;
pub mod reference;
mod secrets;
mod sections;
mod settings;
mod target_sections;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use error::{ConfigError, Problem};
pub use postgres_url::{
    shown as shown_postgres_url, split as split_postgres_url, PostgresTls, SslMode,
};
pub use settings::*;

use reader::{Reader, Table};

/// Whether `level` is a `log.level` the configuration would accept (the
/// command line's `--log-level` is checked alike).
pub fn check_log_level(level: &str) -> Result<String, String> {
    parse::log_level(level)
}

impl Settings {
    /// Loads `path` with the process environment layered on top.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        // Non-UTF-8 variables cannot be configuration; skip them rather than fail.
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::load_with_env(path, env)
    }

    /// Logs [`Settings::warnings`], once logging is set up.
    pub fn log_warnings(&self) {
        for warning in &self.warnings {
            tracing::warn!(config = %self.source.display(), "{warning}");
        }
    }

    /// Same, with an explicit environment (tests).
    pub fn load_with_env(
        path: &Path,
        env: HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let tree =
            loader::layered_tree(path, &env).map_err(|p| ConfigError { problems: vec![p] })?;
        let base = base_dir(path);
        let mut reader = Reader::new(path, env);
        let mut root = Table::root(tree);
        let settings = sections::settings(&mut root, &mut reader, &base);
        root.finish(&mut reader);
        let problems = reader.into_problems();
        match settings {
            Some(settings) if problems.is_empty() => Ok(settings),
            _ if problems.is_empty() => Err(ConfigError {
                // Every `None` is meant to follow a recorded problem; say so
                // rather than start with a half-read configuration.
                problems: vec![Problem::new(
                    path.display().to_string(),
                    "",
                    "configuration incomplete",
                )],
            }),
            _ => Err(ConfigError { problems }),
        }
    }
}

/// The directory relative paths in the file are resolved against; made
/// absolute so a later `chdir` cannot change what they mean.
fn base_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}
