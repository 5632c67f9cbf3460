//! Logging: one subscriber for the whole process, set up once at start-up;
//! its filter can be replaced later (SIGHUP applies a new `log.level`).

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use tracing_subscriber::fmt::MakeWriter;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    /// Machines read the journal and container logs; people read terminals.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        }
    }
}

/// The filter of the subscriber [`init`] installed, to replace it later.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// The level `-v` or `--log-level` asked for, which wins over `log.level`
/// (a reload's too): what was typed for this process is what was meant.
static OVERRIDE: OnceLock<String> = OnceLock::new();

/// Sets the command line's level, once, before logging starts.
pub fn set_override(level: Option<String>) {
    if let Some(level) = level {
        let _ = OVERRIDE.set(level);
    }
}

/// `RUST_LOG`, when set, wins over `level` so an operator can turn up one
/// module without editing the configuration; then the command line's.
fn filter(level: &str) -> EnvFilter {
    let level = OVERRIDE.get().map_or(level, String::as_str);
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, level: &str) {
    let (filter, handle) = reload::Layer::new(filter(level));
    let output = tracing_subscriber::fmt::layer().with_writer(AboveTheBar);
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests, dev mode) keeps the first subscriber.
    let installed = match format {
        LogFormat::Pretty => registry.with(output).try_init(),
        LogFormat::Json => registry.with(output.json().flatten_event(true)).try_init(),
    };
    if installed.is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// Applies a new `log.level` to the installed subscriber (none installed:
/// nothing to do). `RUST_LOG`, when set, still wins.
pub fn set_level(level: &str) {
    if let Some(handle) = FILTER.get() {
        if let Err(e) = handle.reload(filter(level)) {
            tracing::warn!(error = %e, "cannot apply the new log.level");
        }
    }
}

/// The progress bar on the terminal, while a run shows one.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Log lines go above `bar` from now on (None: straight to stderr again).
pub fn show_bar(bar: Option<ProgressBar>) {
    *BAR.lock().expect("the bar slot") = bar;
}

/// Stderr, with the bar (if one is shown) cleared while a line is written
/// and drawn again below it: a line written through the bar's redraws would
/// be torn by them.
struct AboveTheBar;

impl<'a> MakeWriter<'a> for AboveTheBar {
    type Writer = AboveTheBar;

    fn make_writer(&'a self) -> Self::Writer {
        AboveTheBar
    }
}

impl Write for AboveTheBar {
    /// The formatter hands over a whole event at once, so one event is one
    /// suspension of the bar.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Cloned out of the slot, so the slot is not held while drawing.
        let bar = BAR.lock().expect("the bar slot").clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
