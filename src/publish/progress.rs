//! How a run shows its progress: a bar on a terminal, log lines otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

/// How runs show their progress; each run gets its own [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressView {
    /// Log lines, for the journal and containers.
    Log,
    /// A bar, for people watching a terminal.
    Bar,
}

impl ProgressView {
    /// A run's progress: `total` agents, `done` of them already published
    /// (a resumed run).
    pub fn start(self, total: u64, done: u64) -> Arc<dyn Progress> {
        match self {
            ProgressView::Log => {
                tracing::info!(agents = total, already_published = done, "run started");
                Arc::new(LogProgress {
                    total: total.max(1),
                    published: AtomicU64::new(done),
                })
            }
            ProgressView::Bar => {
                let bar = ProgressBar::new(total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} published {msg}",
                    )
                    .expect("a valid template"),
                );
                bar.set_position(done);
                bar.enable_steady_tick(std::time::Duration::from_millis(200));
                Arc::new(BarProgress { bar })
            }
        }
    }
}

/// One run's progress.
pub trait Progress: Send + Sync {
    fn written(&self);
    fn published(&self, n: u64);
    fn note(&self, message: &str);
    fn finish(&self);
}

/// Log lines, one per tenth of the way.
#[derive(Debug)]
struct LogProgress {
    total: u64,
    published: AtomicU64,
}

impl Progress for LogProgress {
    fn written(&self) {}

    fn published(&self, n: u64) {
        let total = self.total;
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

struct BarProgress {
    bar: ProgressBar,
}

impl Progress for BarProgress {
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
