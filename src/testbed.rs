//! A publisher wired to the built-in simulator in one directory: the
//! configuration file, the weeks' source files, and from them an engine or
//! the binary's working directory. Dev mode, the integration tests and the
//! benchmarks all build their setups here, so that a change to how the
//! publisher is configured is made once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

use crate::clock::SharedClock;
use crate::config::{ConfigError, Settings};
use crate::platform::Platform;
use crate::publish::{Engine, EngineParts, KeyedLocks, ProgressView};
use crate::sim::{self, Scenario, SimHandle};

mod config_file;
pub use config_file::{
    AdminSection, AgentIdsWord, AmbiguousWord, ConfigFile, DeferralSection, DstSection, LogSection,
    NonexistentWord, NotifySection, PlatformSection, RateLimitSection, RateLimitsSection,
    RetrySection, Span, StoreSection, TargetSection, WorkersSection,
};

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

/// A directory holding a configuration file and the weeks' source files.
pub struct Testbed {
    dir: PathBuf,
    /// The configuration file.
    pub path: PathBuf,
    /// What the file holds, in types; `None` when it was written as text.
    config: Mutex<Option<ConfigFile>>,
    /// Removes a temporary directory when the testbed goes.
    _temporary: Option<tempfile::TempDir>,
}

impl Testbed {
    /// A testbed in a fresh temporary directory, or in `dir`, with the
    /// configuration file `name` holding `text`.
    pub fn new(dir: Option<&Path>, name: &str, text: &str) -> Result<Self, TestbedError> {
        let bed = Self::empty(dir, name)?;
        std::fs::write(&bed.path, text).map_err(io(&bed.path))?;
        Ok(bed)
    }

    /// A testbed, as [`Testbed::new`], whose file holds `config`; changed
    /// afterwards with [`Testbed::change`].
    pub fn with_config(
        dir: Option<&Path>,
        name: &str,
        config: ConfigFile,
    ) -> Result<Self, TestbedError> {
        let bed = Self::empty(dir, name)?;
        write_whole(&bed.path, &config.to_toml())?;
        *bed.typed() = Some(config);
        Ok(bed)
    }

    /// [`ConfigFile::standard`] against `base_url` as `client_id`, whose
    /// secret is `secret`, in a temporary directory.
    pub fn standard(base_url: &str, client_id: &str, secret: &str) -> Result<Self, TestbedError> {
        let config = ConfigFile::standard(base_url, client_id);
        let bed = Testbed::with_config(None, "config.toml", config)?;
        bed.write_secret("client_secret", secret)?;
        Ok(bed)
    }

    fn empty(dir: Option<&Path>, name: &str) -> Result<Self, TestbedError> {
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
        Ok(Testbed {
            dir,
            path,
            config: Mutex::new(None),
            _temporary: temporary,
        })
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

    /// Changes the configuration by `change` and rewrites the file.
    pub fn change(&self, change: impl FnOnce(&mut ConfigFile)) -> Result<(), TestbedError> {
        let mut typed = self.typed();
        let config = typed.as_mut().ok_or_else(|| self.written_as_text())?;
        change(config);
        write_whole(&self.path, &config.to_toml())
    }

    /// Writes the configuration changed by `change` to `name` beside the
    /// file (relative paths in it mean the same), leaving the file as it
    /// is: a second process's configuration, or a run's.
    pub fn variant(
        &self,
        name: &str,
        change: impl FnOnce(&mut ConfigFile),
    ) -> Result<PathBuf, TestbedError> {
        let mut config = self.typed().clone().ok_or_else(|| self.written_as_text())?;
        change(&mut config);
        let dir = self.path.parent().unwrap_or(&self.dir);
        let path = dir.join(name);
        write_whole(&path, &config.to_toml())?;
        Ok(path)
    }

    /// The configuration, loaded as the daemon loads it (no environment
    /// variables).
    pub fn settings(&self) -> Result<Settings, TestbedError> {
        Ok(Settings::load_with_env(&self.path, Default::default())?)
    }

    /// The configuration changed by `change`, loaded from a
    /// [variant](Testbed::variant); the file stays as it is.
    pub fn settings_with(
        &self,
        change: impl FnOnce(&mut ConfigFile),
    ) -> Result<Settings, TestbedError> {
        let path = self.variant(VARIANT, change)?;
        Ok(Settings::load_with_env(&path, Default::default())?)
    }

    /// Rewrites the file's text, replacing `from` (which must be there) by
    /// `to`: for tests of a broken file. A later [`Testbed::change`]
    /// writes the file from its types again.
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

    fn typed(&self) -> std::sync::MutexGuard<'_, Option<ConfigFile>> {
        // A test that panicked mid-change leaves nothing half-done here:
        // the value is only replaced whole.
        self.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn written_as_text(&self) -> TestbedError {
        TestbedError::Setup(format!(
            "{} was written as text: change it with `edit`",
            self.path.display()
        ))
    }
}

/// Writes `text` to `path` whole: to a file beside it, then renamed over
/// it, so that a process reading it meanwhile (a daemon reloading, a
/// replica starting) never reads half a file.
fn write_whole(path: &Path, text: &str) -> Result<(), TestbedError> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).map_err(io(&partial))?;
    std::fs::rename(&partial, path).map_err(io(path))
}

/// The file [`Testbed::settings_with`] loads its variants from.
const VARIANT: &str = "variant.toml";
