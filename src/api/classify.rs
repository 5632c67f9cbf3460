//! What an answer means (`Classified`), and the rate-limit headers every
//! platform's answers are read for. Each platform's dialect says which
//! kind an answer is (`platform::simple::answers` for the simple contract).

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::error::PlatformError;

/// What an answer means for its call, whichever platform gave it: each
/// platform's dialect (`super::call::Dialect`) reads its own answers into
/// this, and the call loop acts on it.
#[derive(Debug, Clone)]
pub enum Classified {
    Success,
    Unauthorized,
    /// A 429, or an answer the platform uses instead of one (the simple
    /// contract's 403 with `X-RateLimit-Remaining: 0`, a masked 429).
    RateLimited {
        wait: Duration,
        masked: bool,
        /// Whether the answer said how long to wait; without a hint the
        /// client slows its own pace down.
        hinted: bool,
    },
    /// A publish of the schedule holds its lock (the simple contract's 409
    /// `schedule_locked`).
    Locked {
        wait: Duration,
    },
    /// 5xx, timeouts and resets: worth another try.
    Transient {
        reason: String,
        wait: Option<Duration>,
    },
    /// A 403, with the error as the answer alone tells it; the dialect
    /// explains it (`Dialect::explain`) when the call says what it is about.
    Forbidden(PlatformError),
    /// An answer that settles the call: this error.
    Failed(PlatformError),
}

/// What the `X-RateLimit-*` headers said, when they were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<Duration>,
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// A bucket's budget as the platform advertised it on one answer, whichever
/// header family it uses: the simple contract's `X-RateLimit-Limit`,
/// `-Remaining` and `-Reset`, or Genesys Cloud's `inin-ratelimit-allowed`,
/// `-count` (calls used so far) and `-reset`. The gate consumes only this.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Advertised {
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again.
    pub reset: Duration,
}

/// The longest wait a platform's answer may ask for: a header saying more
/// (`Retry-After: 10000000000000`, a reset of `1e15`) is clamped here, where
/// it is read, so that no date arithmetic downstream overflows and no call
/// waits for ever.
pub const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// Seconds, whole or fractional (`"1"`, `"0.25"`), at most [`LONGEST_WAIT`].
fn header_secs(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let secs: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
    // Negative or NaN: not a wait.
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        secs.min(LONGEST_WAIT.as_secs_f64()),
    ))
}

impl Advertised {
    pub fn read(headers: &HeaderMap) -> Option<Self> {
        let simple = || {
            Some(Advertised {
                limit: header_u64(headers, "x-ratelimit-limit").filter(|l| *l > 0)?,
                remaining: header_u64(headers, "x-ratelimit-remaining")?,
                reset: header_secs(headers, "x-ratelimit-reset")?,
            })
        };
        let genesys = || {
            // An allowance of 0 says nothing usable: nothing advertised.
            let limit = header_u64(headers, "inin-ratelimit-allowed").filter(|l| *l > 0)?;
            let used = header_u64(headers, "inin-ratelimit-count")?;
            Some(Advertised {
                limit,
                remaining: limit.saturating_sub(used),
                reset: header_secs(headers, "inin-ratelimit-reset")?,
            })
        };
        simple().or_else(genesys)
    }
}

impl RateHeaders {
    pub fn read(headers: &HeaderMap) -> Self {
        RateHeaders {
            limit: header_u64(headers, "x-ratelimit-limit"),
            remaining: header_u64(headers, "x-ratelimit-remaining"),
            reset: header_secs(headers, "x-ratelimit-reset"),
        }
    }
}

/// `Retry-After` in seconds (the platform never sends an HTTP date), at
/// most [`LONGEST_WAIT`].
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_u64(headers, "retry-after").map(|s| Duration::from_secs(s).min(LONGEST_WAIT))
}

/// Why a request got no answer, in words fit for a log line (reqwest's own
/// message may carry the URL, never a secret, but says less).
pub fn transport_reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if is_refused(error) {
        "connection refused".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "connection failed".to_owned()
    }
}

/// Whether the host refused the connection: nothing listens on that port.
/// The cause is an `io::Error` somewhere down reqwest's chain of sources.
pub fn is_refused(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Headers from name and value pairs, for the tests of what is read from
/// an answer's headers.
#[cfg(test)]
pub(crate) fn test_headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, reqwest::header::HeaderValue::from_str(v).unwrap());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::classify::test_headers as headers;

    /// Issue 27 item 2: absurd waits are clamped where they are read; an
    /// allowance of 0 advertises nothing.
    #[test]
    fn absurd_waits_are_clamped_and_a_zero_allowance_is_no_budget() {
        let long = headers(&[("retry-after", "10000000000000")]);
        assert_eq!(retry_after(&long), Some(LONGEST_WAIT));
        let reset = headers(&[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1e15"),
        ]);
        assert_eq!(Advertised::read(&reset).unwrap().reset, LONGEST_WAIT);
        let genesys = headers(&[
            ("inin-ratelimit-allowed", "300"),
            ("inin-ratelimit-count", "300"),
            ("inin-ratelimit-reset", "1e15"),
        ]);
        assert_eq!(Advertised::read(&genesys).unwrap().reset, LONGEST_WAIT);
        let nothing = headers(&[
            ("inin-ratelimit-allowed", "0"),
            ("inin-ratelimit-count", "0"),
            ("inin-ratelimit-reset", "1"),
        ]);
        assert_eq!(Advertised::read(&nothing), None);
        let negative = headers(&[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "-5"),
        ]);
        assert_eq!(Advertised::read(&negative), None);
    }

    #[test]
    fn both_header_families_advertise_one_budget() {
        let simple = headers(&[
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1"),
        ]);
        let genesys = headers(&[
            ("inin-ratelimit-allowed", "300"),
            ("inin-ratelimit-count", "288"),
            ("inin-ratelimit-reset", "0.5"),
        ]);
        assert_eq!(
            Advertised::read(&simple),
            Some(Advertised {
                limit: 60,
                remaining: 12,
                reset: Duration::from_secs(1)
            })
        );
        assert_eq!(
            Advertised::read(&genesys),
            Some(Advertised {
                limit: 300,
                remaining: 12,
                reset: Duration::from_millis(500)
            })
        );
        // A partial set advertises nothing the gate could rely on.
        let partial = headers(&[("x-ratelimit-remaining", "0")]);
        assert_eq!(Advertised::read(&partial), None);
    }
}
