//! Calls the platform counted that this client's log does not (another
//! consumer of the same client, a window misaligned by travel): held back
//! until the window that counted them turns over.
//!
//! The platform states that turn-over only as `X-RateLimit-Reset`, in whole
//! seconds rounded up: for a one-second window, "1" from anywhere in it. A
//! reserve kept until the reset would wait out up to a second the window no
//! longer needs. So a later answer whose count agrees with the log again
//! (its `Remaining` jumped back: a new window started) ends the reserve at
//! once; the reset is only the longest it can last.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reserve {
    /// How many calls the platform counted beyond the log.
    calls: u64,
    /// The latest it can still count them: the advertised reset.
    until: DateTime<Utc>,
    /// When the call whose answer showed them reached the platform.
    seen: DateTime<Utc>,
}

impl Reserve {
    /// The calls reserved at `now`.
    pub(super) fn calls_at(reserve: Option<Reserve>, now: DateTime<Utc>) -> u64 {
        reserve.filter(|r| r.until > now).map_or(0, |r| r.calls)
    }

    /// When the reserve ends at the latest, if it holds at `now`.
    pub(super) fn ends(reserve: Option<Reserve>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        reserve.map(|r| r.until).filter(|u| *u > now)
    }

    /// What the answer to a call that reached the platform at `arrived`
    /// makes of `reserve`: `excess` calls counted beyond the log, until
    /// `until` at the latest.
    pub(super) fn after_answer(
        reserve: Option<Reserve>,
        excess: u64,
        arrived: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<Reserve> {
        match reserve {
            // The platform's count agrees with the log again, on a call that
            // reached it after the one that showed the excess: the window
            // that counted the excess has turned over.
            Some(r) if excess == 0 && arrived > r.seen => None,
            Some(r) if excess == 0 => Some(r),
            Some(r) if r.until > arrived => Some(Reserve {
                calls: r.calls.max(excess),
                until: r.until.max(until),
                seen: r.seen.max(arrived),
            }),
            _ if excess == 0 => None,
            _ => Some(Reserve {
                calls: excess,
                until,
                seen: arrived,
            }),
        }
    }
}
