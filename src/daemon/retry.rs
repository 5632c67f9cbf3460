//! A failed run tried again: a run that ends `failed` (the platform down or
//! failing, the machine short of a resource) is run again after a capped
//! exponential backoff with jitter (`retry.run_initial_delay` up to
//! `retry.run_max_delay`), until one ends otherwise, the week's deferral
//! deadline passes, or the target's next scheduled run is due (which runs
//! it anyway). Each target's retry is one small state machine: its states,
//! its events, and [`transition`], the one place a state is decided.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use crate::config::RetrySettings;
use crate::store::Outcome;

/// Where a target's retry stands; none at all while its runs succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Retry {
    /// Attempt `attempt` starts at `next_attempt`.
    Waiting {
        week: NaiveDate,
        attempt: u32,
        next_attempt: DateTime<Utc>,
        /// No attempt starts at or after this: the deferral deadline or the
        /// next scheduled run, whichever comes first.
        until: DateTime<Utc>,
    },
    /// Attempt `attempt` runs now.
    Running {
        week: NaiveDate,
        attempt: u32,
        until: DateTime<Utc>,
    },
}

impl Retry {
    /// When the next attempt is due, while one waits.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Retry::Waiting { next_attempt, .. } => Some(*next_attempt),
            Retry::Running { .. } => None,
        }
    }

    fn week(&self) -> NaiveDate {
        match self {
            Retry::Waiting { week, .. } | Retry::Running { week, .. } => *week,
        }
    }

    /// Attempts started so far.
    fn started(&self) -> u32 {
        match self {
            Retry::Waiting { attempt, .. } => attempt - 1,
            Retry::Running { attempt, .. } => *attempt,
        }
    }
}

/// What happens to a target's retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A run of the target ended, whoever started it.
    Ended {
        week: NaiveDate,
        outcome: Option<Outcome>,
    },
    /// The attempt due was started.
    Started,
    /// The attempt due could not start (a run of the target is in
    /// progress, or another process holds the lease): whoever runs the
    /// target next resumes the failed run.
    NotStarted,
}

/// What a decision depends on, read when the event happens.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub now: DateTime<Utc>,
    /// The deferral deadline of the run's week.
    pub deadline: DateTime<Utc>,
    /// The target's next scheduled run.
    pub next_run: Option<DateTime<Utc>>,
}

/// The one transition: the retry after `event`, given the retry before.
pub fn transition(
    before: Option<Retry>,
    event: Event,
    limits: &Limits,
    policy: &RetrySettings,
) -> Option<Retry> {
    match (before, event) {
        (_, Event::Ended { outcome, .. }) if outcome != Some(Outcome::Failed) => None,
        (before, Event::Ended { week, .. }) => {
            let started = before
                .filter(|b| b.week() == week)
                .map_or(0, |b| b.started());
            let attempt = started + 1;
            let delay = crate::api::retry::before_run_retry(policy, attempt);
            let next_attempt = limits.now + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
            let until = limits
                .next_run
                .map_or(limits.deadline, |n| n.min(limits.deadline));
            (next_attempt < until).then_some(Retry::Waiting {
                week,
                attempt,
                next_attempt,
                until,
            })
        }
        (
            Some(Retry::Waiting {
                week,
                attempt,
                until,
                ..
            }),
            Event::Started,
        ) => Some(Retry::Running {
            week,
            attempt,
            until,
        }),
        (Some(Retry::Waiting { .. }), Event::NotStarted) => None,
        (state, Event::Started | Event::NotStarted) => state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy() -> RetrySettings {
        RetrySettings {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_attempts: 3,
            max_elapsed: Duration::from_secs(10),
            run_initial_delay: Duration::from_secs(60),
            run_max_delay: Duration::from_secs(600),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn week() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    fn limits(now: &str) -> Limits {
        Limits {
            now: at(now),
            deadline: at("2026-11-29T06:00:00Z"),
            next_run: Some(at("2026-11-26T14:00:00Z")),
        }
    }

    fn failed() -> Event {
        Event::Ended {
            week: week(),
            outcome: Some(Outcome::Failed),
        }
    }

    #[test]
    fn failures_back_off_count_attempts_and_stop_before_the_next_run() {
        let p = policy();
        let first = transition(None, failed(), &limits("2026-11-26T12:00:00Z"), &p).unwrap();
        let Retry::Waiting {
            attempt,
            next_attempt,
            until,
            ..
        } = first.clone()
        else {
            panic!("{first:?}")
        };
        assert_eq!(attempt, 1);
        assert!(next_attempt >= at("2026-11-26T12:01:00Z"), "{next_attempt}");
        assert!(next_attempt <= at("2026-11-26T12:02:00Z"), "{next_attempt}");
        assert_eq!(
            until,
            at("2026-11-26T14:00:00Z"),
            "the next run comes first"
        );
        let l = limits("2026-11-26T12:02:00Z");
        let running = transition(Some(first), Event::Started, &l, &p).unwrap();
        assert!(matches!(running, Retry::Running { attempt: 1, .. }));
        let second = transition(Some(running), failed(), &l, &p).unwrap();
        assert!(matches!(second, Retry::Waiting { attempt: 2, .. }));
        // Past the cap, the next attempt would fall after the next run.
        let late = limits("2026-11-26T13:59:00Z");
        assert_eq!(transition(Some(second), failed(), &late, &p), None);
    }

    #[test]
    fn any_other_end_or_an_attempt_that_cannot_start_ends_the_retry() {
        let p = policy();
        let l = limits("2026-11-26T12:00:00Z");
        let waiting = transition(None, failed(), &l, &p);
        for outcome in [Outcome::Success, Outcome::Partial, Outcome::Refused] {
            let ended = Event::Ended {
                week: week(),
                outcome: Some(outcome),
            };
            assert_eq!(transition(waiting.clone(), ended, &l, &p), None);
        }
        assert_eq!(transition(waiting, Event::NotStarted, &l, &p), None);
    }
}
