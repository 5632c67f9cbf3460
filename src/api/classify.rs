//! The one place that reads an answer of the platform and says what kind it
//! is. Everything that decides to retry, wait, defer or give up starts here.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::model::ErrorBody;
use crate::echo::echo_message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Success,
    Unauthorized,
    /// A 429, or a 403 with `X-RateLimit-Remaining: 0` (a masked 429).
    RateLimited {
        wait: Duration,
        masked: bool,
    },
    /// 409 `schedule_locked`: a publish of the schedule is running.
    Locked {
        wait: Duration,
    },
    Invalid {
        code: String,
        message: String,
        details: Vec<String>,
    },
    NotFound {
        message: String,
    },
    /// 5xx, timeouts and resets: worth another try.
    Transient {
        reason: String,
        wait: Option<Duration>,
    },
    /// A 403 whose cause the body never says; see the client's diagnosis.
    Forbidden {
        correlation_id: Option<String>,
    },
    /// Any other answer the contract does not describe.
    Unexpected {
        status: u16,
        message: String,
    },
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

/// When a rate limit gives no hint at all, wait this long.
const UNADVERTISED_WAIT: Duration = Duration::from_secs(1);

pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Classified {
    let error: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    // Only the platform's own error fields, escaped and cut: a body that is
    // not its JSON (a proxy's page, an echo of the request with its bearer
    // token) is never repeated.
    let message = || match &error.message {
        Some(m) => echo_message(m),
        None => format!(
            "an answer of {} bytes without the platform's error JSON, not shown",
            body.len()
        ),
    };
    let rate = RateHeaders::read(headers);
    match status.as_u16() {
        200..=299 => Classified::Success,
        401 => Classified::Unauthorized,
        429 => Classified::RateLimited {
            wait: retry_after(headers)
                .or(rate.reset)
                .unwrap_or(UNADVERTISED_WAIT),
            masked: false,
        },
        403 if rate.remaining == Some(0) => Classified::RateLimited {
            wait: retry_after(headers)
                .or(rate.reset)
                .unwrap_or(UNADVERTISED_WAIT),
            masked: true,
        },
        403 => Classified::Forbidden {
            correlation_id: error.correlation_id.as_deref().map(echo_message),
        },
        409 => Classified::Locked {
            wait: retry_after(headers).unwrap_or(Duration::from_secs(1)),
        },
        400 | 422 => Classified::Invalid {
            code: error
                .code
                .as_deref()
                .map_or_else(|| "invalid".into(), echo_message),
            message: message(),
            details: error.details.iter().map(|d| echo_message(d)).collect(),
        },
        404 => Classified::NotFound { message: message() },
        408 | 500..=599 => Classified::Transient {
            reason: format!("HTTP {}", status.as_u16()),
            wait: retry_after(headers),
        },
        other => Classified::Unexpected {
            status: other,
            message: message(),
        },
    }
}

/// Why a request got no answer, in words fit for a log line (reqwest's own
/// message may carry the URL, never a secret, but says less).
pub fn transport_reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "connection failed".to_owned()
    }
}

/// A request that got no answer: always worth another try.
pub fn classify_transport(error: &reqwest::Error) -> Classified {
    Classified::Transient {
        reason: transport_reason(error),
        wait: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

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
    fn every_kind_of_answer() {
        let forbidden = br#"{"status":403,"code":"forbidden","message":"Insufficient permissions to perform this action","correlationId":"c-1"}"#;
        let cases: Vec<(u16, HeaderMap, &[u8], Classified)> = vec![
            (200, headers(&[]), b"{}", Classified::Success),
            (401, headers(&[]), b"{}", Classified::Unauthorized),
            (
                429,
                headers(&[("retry-after", "7")]),
                b"{}",
                Classified::RateLimited {
                    wait: Duration::from_secs(7),
                    masked: false,
                },
            ),
            (
                429,
                headers(&[("x-ratelimit-reset", "3")]),
                b"{}",
                Classified::RateLimited {
                    wait: Duration::from_secs(3),
                    masked: false,
                },
            ),
            (
                403,
                headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "4")]),
                forbidden,
                Classified::RateLimited {
                    wait: Duration::from_secs(4),
                    masked: true,
                },
            ),
            (
                403,
                headers(&[("x-ratelimit-remaining", "5")]),
                forbidden,
                Classified::Forbidden {
                    correlation_id: Some("c-1".into()),
                },
            ),
            (
                409,
                headers(&[("retry-after", "2")]),
                br#"{"code":"schedule_locked"}"#,
                Classified::Locked {
                    wait: Duration::from_secs(2),
                },
            ),
            (
                400,
                headers(&[]),
                br#"{"code":"invalid_shift","message":"bad","details":["shifts[0]: overlap"]}"#,
                Classified::Invalid {
                    code: "invalid_shift".into(),
                    message: "bad".into(),
                    details: vec!["shifts[0]: overlap".into()],
                },
            ),
            (
                404,
                headers(&[]),
                br#"{"message":"agent x not found"}"#,
                Classified::NotFound {
                    message: "agent x not found".into(),
                },
            ),
            (
                503,
                headers(&[("retry-after", "9")]),
                b"",
                Classified::Transient {
                    reason: "HTTP 503".into(),
                    wait: Some(Duration::from_secs(9)),
                },
            ),
            (
                502,
                headers(&[]),
                b"<html>",
                Classified::Transient {
                    reason: "HTTP 502".into(),
                    wait: None,
                },
            ),
            (
                418,
                headers(&[]),
                b"Authorization: Bearer sim-0123",
                Classified::Unexpected {
                    status: 418,
                    message: "an answer of 30 bytes without the platform's error JSON, not shown"
                        .into(),
                },
            ),
        ];
        for (status, h, body, expected) in cases {
            assert_eq!(
                classify(StatusCode::from_u16(status).unwrap(), &h, body),
                expected,
                "{status}"
            );
        }
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
