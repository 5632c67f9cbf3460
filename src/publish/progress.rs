//! How a run shows its progress: a bar on a terminal, log lines otherwise.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

pub trait Progress: Send + Sync {
    /// `total` agents, `done` of them already published (a resumed run).
    fn start(&self, total: u64, done: u64);
    fn written(&self);
    fn published(&self, n: u64);
    fn note(&self, message: &str);
    fn finish(&self);
}

/// Log lines, one per tenth of the way, for the journal and containers.
#[derive(Debug, Default)]
pub struct LogProgress {
    total: AtomicU64,
    published: AtomicU64,
}

impl Progress for LogProgress {
    fn start(&self, total: u64, done: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.published.store(done, Ordering::Relaxed);
        tracing::info!(agents = total, already_published = done, "run started");
    }

    fn written(&self) {}

    fn published(&self, n: u64) {
        let total = self.total.load(Ordering::Relaxed).max(1);
        let before = self.published.fetch_add(n, Ordering::Relaxed);
        let after = before + n;
        if before * 10 / total != after * 10 / total {
            tracing::info!(published = after, of = total, "progress");
        }
    }

    fn note(&self, message: &str) {
        tracing::info!("{message}");
    }

    fn finish(&self) {}
}

/// An indicatif bar for people watching a terminal.
pub struct BarProgress {
    bar: ProgressBar,
}

impl BarProgress {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} published {msg}",
            )
            .expect("a valid template"),
        );
        BarProgress { bar }
    }
}

impl Default for BarProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for BarProgress {
    fn start(&self, total: u64, done: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar
            .enable_steady_tick(std::time::Duration::from_millis(200));
    }

    fn written(&self) {}

    fn published(&self, n: u64) {
        self.bar.inc(n);
    }

    fn note(&self, message: &str) {
        self.bar.set_message(message.to_owned());
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
