//! A run's activity second by second: agents written and published, 429s
//! and lock waits, for the status page's chart. Only the last
//! [`Timeline::KEPT`] seconds are kept, so a run of hours holds a few
//! kilobytes.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

/// What happened during one second of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Second {
    /// Unix time of the second's start.
    pub at: i64,
    pub writes: u32,
    pub publishes: u32,
    /// 429s, and 403s that masked a rate limit.
    pub rate_limited: u32,
    pub lock_waits: u32,
}

/// One of the things a [`Second`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Write,
    Publish,
    RateLimited,
    LockWait,
}

#[derive(Debug, Default)]
pub struct Timeline {
    seconds: VecDeque<Second>,
}

impl Timeline {
    /// Seconds kept: the last fifteen minutes.
    pub const KEPT: usize = 900;

    /// Counts `count` events of `kind` at `at`. An event later than the
    /// last second kept opens a new second (quiet seconds between are
    /// filled with zeros, so the chart's time axis stays even); an earlier
    /// one (a clock stepped back) counts in the last second.
    pub fn add(&mut self, at: DateTime<Utc>, kind: Event, count: u32) {
        if count == 0 {
            return;
        }
        self.reach(at);
        let second = self.seconds.back_mut().expect("reach keeps a second");
        let field = match kind {
            Event::Write => &mut second.writes,
            Event::Publish => &mut second.publishes,
            Event::RateLimited => &mut second.rate_limited,
            Event::LockWait => &mut second.lock_waits,
        };
        *field = field.saturating_add(count);
    }

    /// Makes the seconds run up to `at`, the quiet ones at zero: a run
    /// starts its line at its start, and a running one's ends now.
    pub fn reach(&mut self, at: DateTime<Utc>) {
        let at = at.timestamp();
        let last = self.seconds.back().map(|s| s.at);
        if last.is_some_and(|l| at <= l) {
            return;
        }
        let from = last.map_or(at, |l| (l + 1).max(at - Self::KEPT as i64));
        for second in from..=at {
            self.seconds.push_back(Second {
                at: second,
                ..Second::default()
            });
        }
        while self.seconds.len() > Self::KEPT {
            self.seconds.pop_front();
        }
    }

    /// The seconds kept, oldest first.
    pub fn seconds(&self) -> Vec<Second> {
        self.seconds.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(secs)
    }

    #[test]
    fn events_fall_in_their_second_and_quiet_seconds_are_zeros() {
        let mut line = Timeline::default();
        line.add(t(10), Event::Write, 3);
        line.add(t(10) + TimeDelta::milliseconds(900), Event::Publish, 2);
        line.add(t(13), Event::RateLimited, 1);
        line.add(t(12), Event::LockWait, 1);
        let seconds = line.seconds();
        assert_eq!(
            seconds.iter().map(|s| s.at).collect::<Vec<_>>(),
            [10, 11, 12, 13]
        );
        assert_eq!((seconds[0].writes, seconds[0].publishes), (3, 2));
        assert_eq!(
            seconds[1],
            Second {
                at: 11,
                ..Default::default()
            }
        );
        // Earlier than the last second: counted in the last one.
        assert_eq!((seconds[3].rate_limited, seconds[3].lock_waits), (1, 1));
    }

    #[test]
    fn a_line_reaches_forward_with_zeros_never_back() {
        let mut line = Timeline::default();
        line.reach(t(5));
        line.add(t(6), Event::Write, 2);
        line.reach(t(8));
        line.reach(t(7));
        let seconds = line.seconds();
        assert_eq!(
            seconds.iter().map(|s| s.at).collect::<Vec<_>>(),
            [5, 6, 7, 8]
        );
        assert_eq!(seconds.iter().map(|s| s.writes).sum::<u32>(), 2);
    }

    #[test]
    fn only_the_last_fifteen_minutes_are_kept() {
        let mut line = Timeline::default();
        line.add(t(0), Event::Write, 1);
        line.add(t(5_000), Event::Write, 1);
        let seconds = line.seconds();
        assert_eq!(seconds.len(), Timeline::KEPT);
        assert_eq!(seconds.last().unwrap().at, 5_000);
        assert_eq!(
            seconds.first().unwrap().at,
            5_000 - Timeline::KEPT as i64 + 1
        );
    }
}
