//! The status page, `GET /` on the admin endpoint: per target the week,
//! what its run does and its counts, the agents waiting for a trade and the
//! deadline, the unpublished agents by cause with the fix, the latest runs,
//! and the current run's timeline. Server-rendered HTML with its style,
//! chart and one small script inline: no build step, nothing fetched from
//! elsewhere. Behind the admin token like `/status`.

mod chart;
mod render;
mod sections;
mod text;
mod view;

use crate::publish::causes as fixes;

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::Daemon;
use crate::secret::Secret;

pub use view::count_states;

const STYLE: &str = include_str!("assets/page.css");
const SCRIPT: &str = include_str!("assets/page.js");

/// The page. Off loopback (or wherever a token is set) it needs the admin
/// token: as a bearer token, or as the password of HTTP Basic, which is
/// what a browser can send. Basic is taken here only: this page reads, and
/// a browser sends remembered Basic credentials with any request, so an
/// endpoint that changes something (the trigger) must not take them.
pub async fn serve(State(daemon): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &daemon.settings().admin.admin_token {
        if !super::admin::authorized(&headers, expected) && !basic_password_is(&headers, expected) {
            return refused();
        }
    }
    let page = match view::gather(&daemon) {
        Ok(page) => page,
        Err(e) => {
            let body = format!(
                "<!doctype html><title>wfm-publisher status</title><p>The state store cannot be read: {}</p>",
                text::esc(&e.to_string())
            );
            return html(StatusCode::SERVICE_UNAVAILABLE, body);
        }
    };
    html(StatusCode::OK, render::document(&page))
}

/// Whether an `Authorization: Basic` header's password is `expected`
/// (any user name).
fn basic_password_is(headers: &HeaderMap, expected: &Secret) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let password = match decoded.iter().position(|b| *b == b':') {
        Some(colon) => &decoded[colon + 1..],
        None => return false,
    };
    super::admin::same_secret(password, expected.expose().as_bytes())
}

/// 401 with both challenges: Basic makes a browser ask for the token.
fn refused() -> Response {
    let body = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>wfm-publisher status: token required</title>\
                <h1>A valid admin token is required</h1>\
                <p>Sign in with any user name and the admin token as the password, or send it as a bearer token.</p></html>\n";
    let mut response = html(StatusCode::UNAUTHORIZED, body.to_owned());
    let challenges = response.headers_mut();
    challenges.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"wfm-publisher admin\", charset=\"UTF-8\""),
    );
    challenges.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// An HTML answer that nothing caches, no other site frames, and whose
/// only script and style are the page's own (by hash): escaping is the
/// defence, the policy a second one.
fn html(status: StatusCode, body: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, policy()),
    ];
    (status, headers, body).into_response()
}

fn policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = |text: &str| {
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
        };
        format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; \
             img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash(SCRIPT),
            hash(STYLE)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(credentials: &str) -> HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        headers
    }

    #[test]
    fn basic_takes_the_token_as_the_password_of_any_user() {
        let token = Secret::new("s3cret:with-colon".to_owned());
        assert!(basic_password_is(&basic("admin:s3cret:with-colon"), &token));
        assert!(basic_password_is(&basic(":s3cret:with-colon"), &token));
        assert!(!basic_password_is(&basic("admin:s3cret"), &token));
        assert!(!basic_password_is(&basic("s3cret:with-colon"), &token));
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret:with-colon"),
        );
        assert!(!basic_password_is(&bearer, &token));
        let mut garbage = HeaderMap::new();
        garbage.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic %%%"));
        assert!(!basic_password_is(&garbage, &token));
    }
}
