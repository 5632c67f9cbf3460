//! A publisher wired to the built-in simulator in one directory: the
//! configuration file, the weeks' source files, and from them an engine or
//! the binary's working directory. Dev mode, the integration tests and the
//! benchmarks all build their setups here, so that a change to how the
//! publisher is configured is made once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;

use crate::clock::SharedClock;
use crate::config::{ConfigError, Settings};
use crate::platform::Platform;
use crate::publish::{Engine, EngineParts, KeyedLocks, ProgressView};
use crate::sim::{self, Scenario, SimHandle};

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("testbed {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("testbed configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("testbed: {0}")]
    Setup(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TestbedError + '_ {
    move |source| TestbedError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// An engine for `settings`, with its own store and locks, logging its
/// progress.
pub fn engine(settings: &Settings, clock: SharedClock) -> Result<Engine, TestbedError> {
    let platform = crate::platform::connect(
        settings,
        clock.clone(),
        Arc::new(KeyedLocks::default()),
        Default::default(),
        None,
    )
    .map_err(|e| TestbedError::Setup(e.to_string()))?;
    engine_on(settings, clock, platform)
}

/// An engine of `settings`' store on `platform` (the in-memory one, say).
pub fn engine_on(
    settings: &Settings,
    clock: SharedClock,
    platform: Arc<dyn Platform>,
) -> Result<Engine, TestbedError> {
    let store = crate::store::open(&settings.store)
        .map_err(|e| TestbedError::Setup(e.to_string()))?
        .store;
    Ok(Engine::new(EngineParts {
        platform,
        store,
        clock,
        locks: Arc::new(KeyedLocks::default()),
        progress: ProgressView::Log,
        cancel: Default::default(),
    }))
}

/// The simulator on a free loopback port.
pub async fn spawn_sim(scenario: Scenario, clock: SharedClock) -> Result<SimHandle, TestbedError> {
    let loopback = "127.0.0.1:0".parse().expect("a socket address");
    sim::spawn(scenario, clock, loopback)
        .await
        .map_err(|e| TestbedError::Setup(format!("the simulator cannot listen: {e}")))
}

/// The configuration the tests and benchmarks start from: one target,
/// `chicago`, whose weeks are `inbox/chicago/{week_start}.csv`; the client
/// secret in the file `client_secret`; limits high enough that a test is
/// not a wait. Callers change it with [`Testbed::edit`] and
/// [`Testbed::append`].
pub fn standard_config(base_url: &str, client_id: &str) -> String {
    format!(
        r#"
[platform]
auth_base_url = "{base_url}"
api_base_url = "{base_url}"
allow_insecure_http = true
client_id = "{client_id}"
client_secret_file = "client_secret"
request_timeout = "5s"

[rate_limits.default]
requests = 1000
per = "1s"

[rate_limits.publish]
requests = 100
per = "1s"

[retry]
initial_delay = "20ms"
max_delay = "500ms"
max_attempts = 6
max_elapsed = "60s"

[store]
path = "state.db"

[admin]
listen = "127.0.0.1:0"

[targets.chicago]
schedule_id = "chicago-{{week_start}}"
time_zone = "America/Chicago"
cron = "0 6 * * 4"
source = "inbox/chicago/{{week_start}}.csv"
"#
    )
}

/// A directory holding a configuration file and the weeks' source files.
pub struct Testbed {
    dir: PathBuf,
    /// The configuration file.
    pub path: PathBuf,
    /// Removes a temporary directory when the testbed goes.
    _temporary: Option<tempfile::TempDir>,
}

impl Testbed {
    /// A testbed in a fresh temporary directory, or in `dir`, with the
    /// configuration file `name` holding `config`.
    pub fn new(dir: Option<&Path>, name: &str, config: &str) -> Result<Self, TestbedError> {
        let (dir, temporary) = match dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(io(d))?;
                (d.to_path_buf(), None)
            }
            None => {
                let t = tempfile::tempdir().map_err(|e| TestbedError::Setup(e.to_string()))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, config).map_err(io(&path))?;
        Ok(Testbed {
            dir,
            path,
            _temporary: temporary,
        })
    }

    /// The standard configuration against `base_url` as `client_id`, whose
    /// secret is `secret`, in a temporary directory.
    pub fn standard(base_url: &str, client_id: &str, secret: &str) -> Result<Self, TestbedError> {
        let bed = Testbed::new(None, "config.toml", &standard_config(base_url, client_id))?;
        bed.write_secret("client_secret", secret)?;
        Ok(bed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `text` to `rel` under the testbed's directory.
    pub fn write(&self, rel: &str, text: &str) -> Result<PathBuf, TestbedError> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, text).map_err(io(&path))?;
        Ok(path)
    }

    /// Writes a secret to `rel`, mode 0600 as a secret file must be.
    pub fn write_secret(&self, rel: &str, secret: &str) -> Result<PathBuf, TestbedError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(rel, secret)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&path))?;
        Ok(path)
    }

    /// Writes a target's week where the standard configuration looks for
    /// it: `inbox/{target}/{week}.csv`.
    pub fn write_week(
        &self,
        target: &str,
        week: NaiveDate,
        csv: &str,
    ) -> Result<PathBuf, TestbedError> {
        self.write(&format!("inbox/{target}/{week}.csv"), csv)
    }

    /// Rewrites the configuration, replacing `from` (which must be there)
    /// by `to`.
    pub fn edit(&self, from: &str, to: &str) -> Result<(), TestbedError> {
        let text = std::fs::read_to_string(&self.path).map_err(io(&self.path))?;
        if !text.contains(from) {
            return Err(TestbedError::Setup(format!(
                "{from:?} is not in {}",
                self.path.display()
            )));
        }
        std::fs::write(&self.path, text.replacen(from, to, 1)).map_err(io(&self.path))
    }

    /// Appends TOML (new tables) to the configuration.
    pub fn append(&self, toml: &str) -> Result<(), TestbedError> {
        let mut text = std::fs::read_to_string(&self.path).map_err(io(&self.path))?;
        text.push_str(toml);
        std::fs::write(&self.path, text).map_err(io(&self.path))
    }

    /// The configuration, with `overrides` as `WFM_PUBLISHER__…` variables.
    pub fn settings_with(&self, overrides: &[(&str, &str)]) -> Result<Settings, TestbedError> {
        let env = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(Settings::load_with_env(&self.path, env)?)
    }
}
