//! How a run shows its progress: a bar on a terminal, log lines otherwise,
//! nothing under `--quiet`. Both say the same things: the run's phase, the
//! ledger's counts after every change, the client's trouble counters, and
//! what the run waits for when it waits.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indicatif::{ProgressBar, ProgressStyle};
use tracing::Instrument;

use crate::api::throttle::Bucket;
use crate::api::trouble::{Activity, ClientWait};
use crate::clock::SharedClock;
use crate::quiet_ctrl_c::QuietCtrlC;

/// How runs show their progress; each run gets its own [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressView {
    /// Log lines, for the journal and containers.
    Log,
    /// A bar, for people watching a terminal.
    Bar,
    /// Nothing: only the final report (`publish --quiet`).
    Quiet,
}

/// The ledger's counts, after its last change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    /// Agents whose week is on the platform: written, or published.
    pub written: u64,
    pub published: u64,
    pub deferred: u64,
    pub unpublished: u64,
}

/// What the run is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the swaps, before the first write.
    Starting,
    Writing,
    Publishing,
    /// Only deferred agents are left; the swaps are listed again then.
    Swaps {
        next_poll: DateTime<Utc>,
    },
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Writing => "writing",
            Phase::Publishing => "publishing",
            Phase::Swaps { .. } => "waiting for swaps",
        }
    }
}

/// What a run waits for: its pending swaps, or what the client waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    Swap { next_poll: DateTime<Utc> },
    Client(ClientWait),
}

impl Waiting {
    /// What the client waits for comes first: it holds the run back now,
    /// while the next poll is only the run's plan.
    fn of(phase: Phase, activity: &Activity) -> Option<Waiting> {
        match (activity.waiting, phase) {
            (Some(w), _) => Some(Waiting::Client(w)),
            (None, Phase::Swaps { next_poll }) => Some(Waiting::Swap { next_poll }),
            (None, _) => None,
        }
    }

    /// What the wait is for and whose limit it is, times in the target's
    /// zone.
    fn describe(self, now: DateTime<Utc>, tz: Tz) -> String {
        let left = |at: DateTime<Utc>| ((at - now).num_milliseconds().max(0) as u64).div_ceil(1000);
        match self {
            Waiting::Swap { next_poll } => format!(
                "pending swaps, next poll at {} (in {}s)",
                crate::local_time::clock(next_poll, tz),
                left(next_poll)
            ),
            Waiting::Client(ClientWait::PlatformHold { until }) => format!(
                "the platform's rate limit: it refused a call (429), every call holds {}s more",
                left(until)
            ),
            Waiting::Client(ClientWait::BudgetSpent { bucket, until }) => format!(
                "own pacing: the {} budget the platform advertises is spent, next window in {}s",
                calls(bucket),
                left(until)
            ),
            Waiting::Client(ClientWait::Pacing { bucket }) => format!(
                "own pacing: {} calls at the configured rate ({})",
                calls(bucket),
                bucket.config_key()
            ),
            Waiting::Client(ClientWait::Token) => "a token".to_owned(),
            Waiting::Client(ClientWait::PublishLock) => {
                "the schedule's lock, held by a publish".to_owned()
            }
        }
    }
}

/// The calls a bucket paces, as the status line names them.
fn calls(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Default => "schedule",
        Bucket::Publish => "publish",
        Bucket::TradeJobs => "shift-trade query",
    }
}

/// Where a run's progress reads what the platform client is doing.
pub type ActivitySource = Arc<dyn Fn() -> Activity + Send + Sync>;

/// One run's progress, told by its ledger.
pub trait Progress: Send + Sync {
    /// The ledger's counts after a change.
    fn update(&self, counts: Counts);
    fn phase(&self, phase: Phase);
    fn finish(&self);
}

impl ProgressView {
    /// A run's progress, reading the client's activity from `activity` and
    /// the time from `clock`; times are said in `tz`, the target's zone.
    pub fn start(self, activity: ActivitySource, clock: SharedClock, tz: Tz) -> Arc<dyn Progress> {
        let shared = Shared {
            state: Mutex::new(State {
                counts: Counts::default(),
                started: false,
                phase: Phase::Starting,
                logged: None,
            }),
            activity,
            clock,
            tz,
        };
        match self {
            ProgressView::Quiet => Arc::new(Quiet),
            ProgressView::Log => {
                let log = Arc::new(LogProgress { shared });
                tick(&log, LogProgress::EVERY);
                log
            }
            ProgressView::Bar => {
                let bar = BarProgress::new(shared);
                tick(&bar, BarProgress::EVERY);
                bar
            }
        }
    }
}

/// What the views share: the run's state and where to read the client's.
struct Shared {
    state: Mutex<State>,
    activity: ActivitySource,
    clock: SharedClock,
    tz: Tz,
}

struct State {
    counts: Counts,
    /// Whether the ledger gave its first counts.
    started: bool,
    phase: Phase,
    /// What the last progress line said (the log view).
    logged: Option<Said>,
}

/// What one look at a run shows; the log view says it again only if it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Said {
    counts: Counts,
    phase: Phase,
    activity: Activity,
}

impl Shared {
    /// Keeps the ledger's new counts; returns the previous ones, None
    /// before the first.
    fn record(&self, counts: Counts) -> Option<Counts> {
        let mut state = self.state.lock().expect("progress state");
        let started = std::mem::replace(&mut state.started, true);
        let before = std::mem::replace(&mut state.counts, counts);
        started.then_some(before)
    }

    fn started(&self) -> bool {
        self.state.lock().expect("progress state").started
    }

    fn look(&self) -> Said {
        let activity = (self.activity)();
        let state = self.state.lock().expect("progress state");
        Said {
            counts: state.counts,
            phase: state.phase,
            activity,
        }
    }
}

/// Refreshes `view` every `period` until it is finished or gone: the
/// countdown of a hold and the client's counters move between ledger
/// changes too.
fn tick<V: Refresh + 'static>(view: &Arc<V>, period: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<V> = Arc::downgrade(view);
    // In the run's span: its lines carry the target and the week.
    let ticks = async move {
        let mut interval = tokio::time::interval(period);
        interval.tick().await;
        loop {
            interval.tick().await;
            match weak.upgrade() {
                Some(view) if !view.finished() => view.refresh(),
                _ => return,
            }
        }
    };
    runtime.spawn(ticks.in_current_span());
}

trait Refresh: Send + Sync {
    fn refresh(&self);
    fn finished(&self) -> bool;
}

struct Quiet;

impl Progress for Quiet {
    fn update(&self, _: Counts) {}
    fn phase(&self, _: Phase) {}
    fn finish(&self) {}
}

/// Log lines: when the phase changes, at every tenth of the way, and every
/// [`LogProgress::EVERY`] while something moved or the run waits.
struct LogProgress {
    shared: Shared,
}

impl LogProgress {
    const EVERY: Duration = Duration::from_secs(10);

    /// How far the run is, in twentieths: writing is half the way.
    fn tenth(c: &Counts) -> u64 {
        (c.written + c.published) * 10 / (2 * c.total.max(1))
    }

    fn say(&self, said: Said) {
        let Said {
            counts: c,
            phase,
            activity: a,
        } = said;
        let now = self.shared.clock.now();
        let waiting = Waiting::of(phase, &a).map(|w| w.describe(now, self.shared.tz));
        tracing::info!(
            phase = phase.label(),
            written = c.written,
            published = c.published,
            deferred = c.deferred,
            unpublished = c.unpublished,
            of = c.total,
            rate_limited = a.stats.rate_limited + a.stats.masked_rate_limited,
            lock_waits = a.stats.locked,
            retries = a.stats.retries,
            waiting = waiting.as_deref().unwrap_or("nothing"),
            "progress"
        );
        self.shared.state.lock().expect("progress state").logged = Some(said);
    }
}

impl Progress for LogProgress {
    fn update(&self, counts: Counts) {
        match self.shared.record(counts) {
            None => tracing::info!(
                agents = counts.total,
                already_published = counts.published,
                "run started"
            ),
            Some(before) if Self::tenth(&before) != Self::tenth(&counts) => {
                self.say(self.shared.look())
            }
            Some(_) => {}
        }
    }

    fn phase(&self, phase: Phase) {
        let changed = {
            let mut state = self.shared.state.lock().expect("progress state");
            std::mem::replace(&mut state.phase, phase) != phase
        };
        if changed {
            self.say(self.shared.look());
        }
    }

    fn finish(&self) {}
}

impl Refresh for LogProgress {
    fn refresh(&self) {
        let said = self.shared.look();
        let logged = self.shared.state.lock().expect("progress state").logged;
        let waits = Waiting::of(said.phase, &said.activity).is_some();
        if waits || logged != Some(said) {
            self.say(said);
        }
    }

    fn finished(&self) -> bool {
        false
    }
}

/// A bar, with the counts and the status line under it.
struct BarProgress {
    shared: Shared,
    bar: ProgressBar,
    /// The furthest the bar went: it never goes back.
    furthest: Mutex<u64>,
    /// While the bar is drawn, Ctrl-C echoes nothing that would move it.
    quiet: Mutex<Option<QuietCtrlC>>,
}

impl BarProgress {
    const EVERY: Duration = Duration::from_millis(200);

    fn new(shared: Shared) -> Arc<Self> {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix:17} [{elapsed_precise}] {bar:30} {percent:>3}% · about {eta} left\n  {msg}",
            )
            .expect("a valid template"),
        );
        // Log lines go above the bar instead of through it.
        crate::telemetry::show_bar(Some(bar.clone()));
        Arc::new(BarProgress {
            shared,
            bar,
            furthest: Mutex::new(0),
            quiet: Mutex::new(Some(QuietCtrlC::new())),
        })
    }

    /// Where the bar stands: the high-water mark of [`steps`].
    fn advance(&self, c: &Counts) -> u64 {
        let mut furthest = self.furthest.lock().expect("bar position");
        *furthest = (*furthest).max(steps(c));
        *furthest
    }
}

/// How far a run is, in steps of [`Counts::total`] × 2: writing an agent
/// is one step, publishing it another, and an agent that will not be sent
/// (unpublished) counts both. One measure for the whole run, so that the
/// bar does not jump back when publishing starts behind the writes
/// (`writing 1912/2000` then `publishing 1500/2000`).
fn steps(c: &Counts) -> u64 {
    (c.written + c.published + 2 * c.unpublished).min(2 * c.total)
}

impl Progress for BarProgress {
    fn update(&self, counts: Counts) {
        self.shared.record(counts);
        self.refresh();
    }

    fn phase(&self, phase: Phase) {
        self.shared.state.lock().expect("progress state").phase = phase;
        self.refresh();
    }

    fn finish(&self) {
        crate::telemetry::show_bar(None);
        self.bar.finish_and_clear();
        self.quiet.lock().expect("echo setting").take();
    }
}

/// A run that ends without finishing its progress (an error on the way
/// out) must not leave its bar on the screen under the report.
impl Drop for BarProgress {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            crate::telemetry::show_bar(None);
            self.bar.finish_and_clear();
        }
    }
}

impl Refresh for BarProgress {
    fn refresh(&self) {
        // Before the ledger's first counts, a bar of 0/0 would read "done".
        if !self.shared.started() {
            return;
        }
        let said = self.shared.look();
        let c = said.counts;
        self.bar.set_length(2 * c.total);
        self.bar.set_position(self.advance(&c));
        self.bar.set_prefix(said.phase.label());
        let now = self.shared.clock.now();
        self.bar.set_message(status(&said, now, self.shared.tz));
    }

    fn finished(&self) -> bool {
        self.bar.is_finished()
    }
}

/// The lines under the bar: the ledger's counts, then the client's trouble
/// counters and what the run waits for.
fn status(said: &Said, now: DateTime<Utc>, tz: Tz) -> String {
    let c = &said.counts;
    let s = &said.activity.stats;
    let mut out = format!(
        "written {}/{} · published {} · deferred {} · unpublished {}\n  429s {} · lock waits {} · retries {}",
        c.written,
        c.total,
        c.published,
        c.deferred,
        c.unpublished,
        s.rate_limited + s.masked_rate_limited,
        s.locked,
        s.retries
    );
    if let Some(w) = Waiting::of(said.phase, &said.activity) {
        out.push_str(" · waiting for ");
        out.push_str(&w.describe(now, tz));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn chicago() -> Tz {
        "America/Chicago".parse().unwrap()
    }

    #[test]
    fn the_status_says_the_counts_the_trouble_and_the_wait() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let mut said = Said {
            counts: Counts {
                total: 1200,
                written: 412,
                published: 0,
                deferred: 3,
                unpublished: 1,
            },
            phase: Phase::Writing,
            activity: Activity::default(),
        };
        said.activity.stats.rate_limited = 12;
        said.activity.stats.masked_rate_limited = 2;
        said.activity.waiting = Some(ClientWait::PlatformHold {
            until: now + TimeDelta::milliseconds(2_100),
        });
        assert_eq!(
            status(&said, now, chicago()),
            "written 412/1200 · published 0 · deferred 3 · unpublished 1\n  \
             429s 14 · lock waits 0 · retries 0 · waiting for the platform's rate limit: \
             it refused a call (429), every call holds 3s more"
        );
        said.activity.waiting = None;
        said.phase = Phase::Swaps {
            next_poll: now + TimeDelta::seconds(30),
        };
        // Issue 29 item 6: the target's time, with its zone.
        assert!(
            status(&said, now, chicago())
                .ends_with("waiting for pending swaps, next poll at 18:00:30 CST (in 30s)"),
            "{}",
            status(&said, now, chicago())
        );
    }

    /// Issue 29 item 5: each wait says whose limit it is.
    #[test]
    fn every_wait_says_what_it_waits_for() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let until = now + TimeDelta::seconds(1);
        let said = |w| Waiting::Client(w).describe(now, chicago());
        let pacing = said(ClientWait::Pacing {
            bucket: Bucket::Default,
        });
        assert!(pacing.starts_with("own pacing"), "{pacing}");
        assert!(pacing.contains("rate_limits.default"), "{pacing}");
        let budget = said(ClientWait::BudgetSpent {
            bucket: Bucket::Publish,
            until,
        });
        assert!(
            budget.starts_with("own pacing: the publish budget"),
            "{budget}"
        );
        let hold = said(ClientWait::PlatformHold { until });
        assert!(hold.contains("429"), "{hold}");
        for w in [pacing, budget] {
            assert!(!w.contains("429") && !w.contains("rate-limit hold"), "{w}");
        }
    }

    /// Issue 29 item 3: from writing to publishing the bar moves on.
    #[test]
    fn the_bar_never_goes_back_at_a_phase_change() {
        let writing = Counts {
            total: 2000,
            written: 1912,
            published: 1500,
            ..Counts::default()
        };
        let publishing = Counts {
            written: 2000,
            ..writing
        };
        assert!(steps(&publishing) > steps(&writing));
        let done = Counts {
            published: 1940,
            written: 1940,
            unpublished: 60,
            ..writing
        };
        assert_eq!(steps(&done), 4000);
    }
}
