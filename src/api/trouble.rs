//! Repeated trouble, summarised: a burst of 429s, lock waits or retries is
//! one episode, logged once when it starts and once when it ends with its
//! count, instead of a line per request; and what the client's workers are
//! waiting for right now, for the run's status line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use super::stats::StatsSnapshot;
use super::throttle::Bucket;
use crate::clock::SharedClock;

/// A kind of trouble the client meets again and again while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TroubleKind {
    /// 429s and masked 403s: every worker of the client waits.
    RateLimited,
    /// The schedule is locked by a publish: the call waits for it.
    Locked,
    /// Transient failures (5xx, timeouts), retried.
    Retried,
}

impl TroubleKind {
    const ALL: [TroubleKind; 3] = [
        TroubleKind::RateLimited,
        TroubleKind::Locked,
        TroubleKind::Retried,
    ];

    fn index(self) -> usize {
        match self {
            TroubleKind::RateLimited => 0,
            TroubleKind::Locked => 1,
            TroubleKind::Retried => 2,
        }
    }

    /// The field value log queries match on.
    pub fn label(self) -> &'static str {
        match self {
            TroubleKind::RateLimited => "rate_limited",
            TroubleKind::Locked => "locked",
            TroubleKind::Retried => "retried",
        }
    }
}

/// One stretch of the same trouble, from its first event to the last.
#[derive(Debug, Clone, Copy)]
struct Episode {
    since: DateTime<Utc>,
    last: DateTime<Utc>,
    count: u64,
}

/// The episodes of one client, or of one run's view of it.
pub struct Trouble {
    clock: SharedClock,
    episodes: Mutex<[Option<Episode>; 3]>,
    /// Where its lines are logged: a run's episodes in the run's span
    /// (target, week), wherever they end: on a task of the run's, or when
    /// the run's last handle on the client drops.
    span: tracing::Span,
}

impl Trouble {
    /// An episode ends after this long without another event of its kind:
    /// long enough that the 429s of consecutive rate-limit windows, or the
    /// lock waits of consecutive publishes, stay one episode.
    pub const QUIET: TimeDelta = TimeDelta::seconds(5);

    /// A client's episodes, logged in whatever span is current.
    pub fn new(clock: SharedClock) -> Self {
        Self::in_span(clock, tracing::Span::none())
    }

    /// A run's episodes, logged in `span`.
    pub fn in_span(clock: SharedClock, span: tracing::Span) -> Self {
        Trouble {
            clock,
            episodes: Mutex::new([None; 3]),
            span,
        }
    }

    /// One more event of `kind` on `endpoint`; the first of an episode is
    /// logged (a lock wait is the platform working as documented, so it is
    /// logged at info, not as a warning).
    pub fn event(&self, kind: TroubleKind, endpoint: &str) {
        let now = self.clock.now();
        let mut episodes = self.episodes.lock().expect("trouble episodes");
        let slot = &mut episodes[kind.index()];
        if let Some(e) = slot.as_mut() {
            e.count += 1;
            e.last = now;
            return;
        }
        *slot = Some(Episode {
            since: now,
            last: now,
            count: 1,
        });
        drop(episodes);
        let _span = self.span.enter();
        let kind_label = kind.label();
        match kind {
            TroubleKind::RateLimited => {
                tracing::warn!(kind = kind_label, %endpoint, "rate limited: every worker of this client waits; counting until it ends")
            }
            TroubleKind::Retried => {
                tracing::warn!(kind = kind_label, %endpoint, "transient failures: retrying; counting until they end")
            }
            TroubleKind::Locked => {
                tracing::info!(kind = kind_label, %endpoint, "schedule locked by a publish: waiting; counting until it ends")
            }
        }
    }

    /// Ends the episodes that have been quiet for [`Self::QUIET`].
    pub fn calm(&self) {
        let now = self.clock.now();
        self.end_where(|e| now - e.last >= Self::QUIET);
    }

    /// Ends every open episode: whoever counted them is done.
    pub fn settle(&self) {
        self.end_where(|_| true);
    }

    fn end_where(&self, over: impl Fn(&Episode) -> bool) {
        let ended: Vec<(TroubleKind, Episode)> = {
            let mut episodes = self.episodes.lock().expect("trouble episodes");
            TroubleKind::ALL
                .into_iter()
                .filter_map(|k| {
                    let slot = &mut episodes[k.index()];
                    slot.filter(|e| over(e))
                        .and_then(|_| slot.take().map(|e| (k, e)))
                })
                .collect()
        };
        let _span = self.span.enter();
        for (kind, e) in ended {
            let count = e.count;
            let lasted_secs = (e.last - e.since).num_seconds();
            let kind_label = kind.label();
            match kind {
                TroubleKind::RateLimited => {
                    tracing::warn!(kind = kind_label, count, lasted_secs, "rate limiting ended")
                }
                TroubleKind::Retried => tracing::warn!(
                    kind = kind_label,
                    count,
                    lasted_secs,
                    "transient failures ended"
                ),
                TroubleKind::Locked => {
                    tracing::info!(kind = kind_label, count, lasted_secs, "lock waits ended")
                }
            }
        }
    }
}

/// What the client's workers are waiting for. Each says whose limit it is:
/// a hold the platform imposed reads as "the platform is throttling me",
/// which the client's own pacing is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientWait {
    /// The platform refused a call (429, or a 403 masking one) and said
    /// how long to wait: every worker holds until then.
    PlatformHold { until: DateTime<Utc> },
    /// The budget the platform advertises for `bucket` is spent: its calls
    /// wait for the window to reset, before any refusal.
    BudgetSpent {
        bucket: Bucket,
        until: DateTime<Utc>,
    },
    /// A token request is in the air and calls wait for it.
    Token,
    /// A publish holds the schedule.
    PublishLock,
    /// Calls wait their turn at the rate configured for `bucket`
    /// (`rate_limits.*`): the client's own pacing.
    Pacing { bucket: Bucket },
}

/// The client's counters and what it waits for, as one look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    pub stats: StatsSnapshot,
    pub waiting: Option<ClientWait>,
}

/// What the workers of one client wait for right now.
#[derive(Debug, Default)]
pub struct Waits {
    hold: Mutex<Option<(DateTime<Utc>, Held)>>,
    token: AtomicUsize,
    lock: AtomicUsize,
    /// Workers waiting their turn, per bucket ([`bucket_index`]).
    pacing: [AtomicUsize; 3],
}

/// Why every worker of a bucket holds: the platform's refusal, or its
/// advertised budget spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Refused,
    BudgetSpent(Bucket),
}

fn bucket_index(bucket: Bucket) -> usize {
    match bucket {
        Bucket::Default => 0,
        Bucket::Publish => 1,
        Bucket::TradeJobs => 2,
    }
}

/// A worker waiting, until dropped.
pub struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Waits {
    /// Every worker holds for `wait` from `now`, for `why` (the latest
    /// hold wins).
    pub fn hold(&self, now: DateTime<Utc>, wait: std::time::Duration, why: Held) {
        let until = TimeDelta::from_std(wait)
            .ok()
            .and_then(|w| now.checked_add_signed(w))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut hold = self.hold.lock().expect("wait hold");
        if hold.is_none_or(|(h, _)| h < until) {
            *hold = Some((until, why));
        }
    }

    /// A worker waits its turn in `bucket` until the guard drops.
    pub fn pacing(&self, bucket: Bucket) -> Waiting<'_> {
        Self::enter(&self.pacing[bucket_index(bucket)])
    }

    /// A worker waits for a token until the guard drops.
    pub fn token(&self) -> Waiting<'_> {
        Self::enter(&self.token)
    }

    /// A worker waits for the publish lock until the guard drops.
    pub fn lock(&self) -> Waiting<'_> {
        Self::enter(&self.lock)
    }

    fn enter(counter: &AtomicUsize) -> Waiting<'_> {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter)
    }

    /// The wait that holds the most workers back at `now`: a hold stops
    /// everyone (or a bucket), a token every call, a lock only publishes,
    /// pacing each call a moment.
    pub fn current(&self, now: DateTime<Utc>) -> Option<ClientWait> {
        let hold = *self.hold.lock().expect("wait hold");
        if let Some((until, why)) = hold.filter(|(u, _)| *u > now) {
            return Some(match why {
                Held::Refused => ClientWait::PlatformHold { until },
                Held::BudgetSpent(bucket) => ClientWait::BudgetSpent { bucket, until },
            });
        }
        if self.token.load(Ordering::Relaxed) > 0 {
            return Some(ClientWait::Token);
        }
        if self.lock.load(Ordering::Relaxed) > 0 {
            return Some(ClientWait::PublishLock);
        }
        [Bucket::Publish, Bucket::TradeJobs, Bucket::Default]
            .into_iter()
            .find(|b| self.pacing[bucket_index(*b)].load(Ordering::Relaxed) > 0)
            .map(|bucket| ClientWait::Pacing { bucket })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(secs)
    }

    fn open(trouble: &Trouble) -> Vec<(TroubleKind, u64)> {
        let episodes = trouble.episodes.lock().unwrap();
        TroubleKind::ALL
            .into_iter()
            .filter_map(|k| episodes[k.index()].map(|e| (k, e.count)))
            .collect()
    }

    #[test]
    fn a_burst_is_one_episode_that_ends_after_a_quiet_spell() {
        let clock = Arc::new(ManualClock::new(at(0)));
        let trouble = Trouble::new(clock.clone());
        for _ in 0..40 {
            trouble.event(TroubleKind::RateLimited, "PUT /a");
            clock.advance(std::time::Duration::from_millis(100));
            trouble.calm();
        }
        assert_eq!(open(&trouble), vec![(TroubleKind::RateLimited, 40)]);
        trouble.event(TroubleKind::Locked, "POST /publish");
        clock.advance(std::time::Duration::from_secs(5));
        trouble.calm();
        assert!(open(&trouble).is_empty());
    }

    #[test]
    fn a_hold_outranks_a_token_wait_until_it_passes() {
        let waits = Waits::default();
        let token = waits.token();
        waits.hold(at(0), std::time::Duration::from_secs(10), Held::Refused);
        assert_eq!(
            waits.current(at(5)),
            Some(ClientWait::PlatformHold { until: at(10) })
        );
        assert_eq!(waits.current(at(10)), Some(ClientWait::Token));
        drop(token);
        let lock = waits.lock();
        assert_eq!(waits.current(at(10)), Some(ClientWait::PublishLock));
        drop(lock);
        let _turn = waits.pacing(Bucket::Default);
        assert_eq!(
            waits.current(at(10)),
            Some(ClientWait::Pacing {
                bucket: Bucket::Default
            })
        );
    }

    /// Issue 29 item 5: the publish bucket's spent budget is not the
    /// platform's 429 hold.
    #[test]
    fn a_spent_budget_says_which_bucket() {
        let waits = Waits::default();
        let why = Held::BudgetSpent(Bucket::Publish);
        waits.hold(at(0), std::time::Duration::from_secs(4), why);
        assert_eq!(
            waits.current(at(1)),
            Some(ClientWait::BudgetSpent {
                bucket: Bucket::Publish,
                until: at(4)
            })
        );
    }
}
