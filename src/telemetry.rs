//! Logging: one subscriber for the whole process, set up once at start-up;
//! its filter can be replaced later (SIGHUP applies a new `log.level`).

mod journal;
mod json;

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use tracing::Metadata;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::fmt::MakeWriter;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people at a terminal: time, level, the run, the message.
    Pretty,
    /// One JSON object a line, for log collectors.
    Json,
    /// Text lines for the systemd journal, which adds the time: each line
    /// starts with its priority, which `journalctl -p` filters on.
    Journal,
}

impl LogFormat {
    /// People read terminals; the journal stores text with a priority;
    /// machines read container logs and files.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            LogFormat::Pretty
        } else if journal::stderr_is_journal() {
            LogFormat::Journal
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

/// Installs the global subscriber. On the journal's stream every line
/// carries its priority, whatever the format.
pub fn init(format: LogFormat, level: &str) {
    let (filter, handle) = reload::Layer::new(filter(level));
    let writer = AboveTheBar {
        priority: journal::stderr_is_journal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests, dev mode) keeps the first subscriber.
    let installed = match format {
        LogFormat::Pretty => registry.with(pretty(writer)).try_init(),
        LogFormat::Json => registry.with(flat_json(writer)).try_init(),
        LogFormat::Journal => registry.with(pretty(writer).without_time()).try_init(),
    };
    if installed.is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// Text lines without the code's module path, which says nothing to an
/// operator and made lines wrap. The run's span (target, week) stays.
fn pretty<S>(
    writer: AboveTheBar,
) -> tracing_subscriber::fmt::Layer<
    S,
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format,
    AboveTheBar,
> {
    // Colours for a terminal only, and not when NO_COLOR asks for none.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::stderr().is_terminal() && !writer.priority && !no_color;
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false)
        .with_ansi(ansi)
}

/// One flat JSON object a line ([`json::FlatJson`]).
fn flat_json<S>(
    writer: AboveTheBar,
) -> tracing_subscriber::fmt::Layer<S, JsonFields, json::FlatJson, AboveTheBar>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .fmt_fields(JsonFields::new())
        .event_format(json::FlatJson)
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
/// be torn by them. On the journal's stream, each line starts with its
/// event's priority.
#[derive(Clone, Copy)]
struct AboveTheBar {
    priority: bool,
}

/// [`AboveTheBar`]'s writer for one event.
struct EventWriter {
    /// The `<N>` prefix of every line, on the journal's stream.
    prefix: Option<&'static str>,
}

impl<'a> MakeWriter<'a> for AboveTheBar {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { prefix: None }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        let prefix = self.priority.then(|| journal::priority(meta.level()));
        EventWriter { prefix }
    }
}

impl EventWriter {
    /// `buf` with the prefix at the start of each of its lines: the
    /// journal reads a priority per line.
    fn prefixed<'b>(&self, buf: &'b [u8]) -> std::borrow::Cow<'b, [u8]> {
        let Some(prefix) = self.prefix else {
            return buf.into();
        };
        let mut out = Vec::with_capacity(buf.len() + prefix.len());
        for line in buf.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(line);
        }
        out.into()
    }
}

impl Write for EventWriter {
    /// The formatter hands over a whole event at once, so one event is one
    /// suspension of the bar.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let out = self.prefixed(buf);
        // Cloned out of the slot, so the slot is not held while drawing.
        let bar = BAR.lock().expect("the bar slot").clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(&out))?,
            None => std::io::stderr().write_all(&out)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
