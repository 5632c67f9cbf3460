//! How the simple contract's answers read (CONTRACT.md §2, §3): its error
//! JSON, `X-RateLimit-*`, a 403 with `Remaining: 0` that is a masked 429,
//! and 409 `schedule_locked` while a publish runs.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::model::ErrorBody;
use crate::api::classify::{retry_after, Classified, RateHeaders};
use crate::api::PlatformError;
use crate::echo::echo_message;

/// When a rate limit gives no hint at all, wait this long.
const UNADVERTISED_WAIT: Duration = Duration::from_secs(1);

pub fn classify(
    endpoint: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Classified {
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
    let endpoint = endpoint.to_owned();
    let rate = RateHeaders::read(headers);
    let limited = |masked| Classified::RateLimited {
        wait: retry_after(headers)
            .or(rate.reset)
            .unwrap_or(UNADVERTISED_WAIT),
        masked,
        hinted: rate.reset.is_some() || retry_after(headers).is_some(),
    };
    match status.as_u16() {
        200..=299 => Classified::Success,
        401 => Classified::Unauthorized,
        429 => limited(false),
        403 if rate.remaining == Some(0) => limited(true),
        403 => Classified::Forbidden(PlatformError::Forbidden {
            endpoint,
            correlation_id: error
                .correlation_id
                .as_deref()
                .map_or_else(|| "(none)".into(), echo_message),
        }),
        409 => Classified::Locked {
            wait: retry_after(headers).unwrap_or(Duration::from_secs(1)),
        },
        400 | 422 => Classified::Failed(PlatformError::Invalid {
            endpoint,
            code: error
                .code
                .as_deref()
                .map_or_else(|| "invalid".into(), echo_message),
            message: message(),
            details: error.details.iter().map(|d| echo_message(d)).collect(),
        }),
        404 => Classified::Failed(PlatformError::NotFound {
            endpoint,
            message: message(),
        }),
        408 | 500..=599 => Classified::Transient {
            reason: format!("HTTP {}", status.as_u16()),
            wait: retry_after(headers),
        },
        other => Classified::Failed(PlatformError::Unexpected {
            endpoint,
            status: other,
            message: message(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::classify::test_headers as headers;

    #[test]
    fn every_kind_of_answer() {
        let forbidden = br#"{"status":403,"code":"forbidden","message":"Insufficient permissions to perform this action","correlationId":"c-1"}"#;
        let e = "PUT /x";
        let cases: Vec<(u16, HeaderMap, &[u8], &str)> = vec![
            (200, headers(&[]), b"{}", "Success"),
            (401, headers(&[]), b"{}", "Unauthorized"),
            (
                429,
                headers(&[("retry-after", "7")]),
                b"{}",
                "RateLimited { wait: 7s, masked: false, hinted: true }",
            ),
            (
                429,
                headers(&[("x-ratelimit-reset", "3")]),
                b"{}",
                "RateLimited { wait: 3s, masked: false, hinted: true }",
            ),
            (
                429,
                headers(&[]),
                b"{}",
                "RateLimited { wait: 1s, masked: false, hinted: false }",
            ),
            (
                403,
                headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "4")]),
                forbidden,
                "RateLimited { wait: 4s, masked: true, hinted: true }",
            ),
            (
                403,
                headers(&[("x-ratelimit-remaining", "5")]),
                forbidden,
                r#"Forbidden(Forbidden { endpoint: "PUT /x", correlation_id: "c-1" })"#,
            ),
            (
                409,
                headers(&[("retry-after", "2")]),
                br#"{"code":"schedule_locked"}"#,
                "Locked { wait: 2s }",
            ),
            (
                400,
                headers(&[]),
                br#"{"code":"invalid_shift","message":"bad","details":["shifts[0]: overlap"]}"#,
                r#"Failed(Invalid { endpoint: "PUT /x", code: "invalid_shift", message: "bad", details: ["shifts[0]: overlap"] })"#,
            ),
            (
                404,
                headers(&[]),
                br#"{"message":"agent x not found"}"#,
                r#"Failed(NotFound { endpoint: "PUT /x", message: "agent x not found" })"#,
            ),
            (
                503,
                headers(&[("retry-after", "9")]),
                b"",
                r#"Transient { reason: "HTTP 503", wait: Some(9s) }"#,
            ),
            (
                502,
                headers(&[]),
                b"<html>",
                r#"Transient { reason: "HTTP 502", wait: None }"#,
            ),
            (
                418,
                headers(&[]),
                b"Authorization: Bearer sim-0123",
                r#"Failed(Unexpected { endpoint: "PUT /x", status: 418, message: "an answer of 30 bytes without the platform's error JSON, not shown" })"#,
            ),
        ];
        for (status, h, body, expected) in cases {
            let got = classify(e, StatusCode::from_u16(status).unwrap(), &h, body);
            assert_eq!(format!("{got:?}"), expected, "{status}");
        }
    }
}
