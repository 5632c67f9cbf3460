//! Calls to Genesys Cloud's Platform API through the client's shared
//! machinery (token, gate, retry policy, clock, counters), read the way
//! Genesys answers: `ErrorBody` with `messageWithParams`, the
//! `ININ-Correlation-Id` header, `inin-ratelimit-*` headers, 429 with
//! `Retry-After` (genesys-cloud/CONTRACT.md §7).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use std::sync::{Arc, Mutex};

use super::access::{self, UnitDivision};
use super::wire::{is_permission, ErrorBody};
use futures::future::BoxFuture;

use crate::api::call::{Call, Diagnosis, Dialect, LockRole};
use crate::api::classify::{transport_reason, Advertised, Classified};
use crate::api::throttle::Bucket;
use crate::api::token::AccessToken;
use crate::api::{Access, PlatformClient, PlatformError};
use crate::echo::echo_message;

/// Without `Retry-After`, a 429 or 503 waits this long (what the .NET SDK does).
const DEFAULT_WAIT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct GenesysHttp {
    client: PlatformClient,
    /// The division of the run's business unit, once known: a 403 is then
    /// explained against it (`access`).
    unit: Arc<Mutex<Option<UnitDivision>>>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl GenesysHttp {
    pub fn new(client: PlatformClient) -> Self {
        GenesysHttp {
            client,
            unit: Arc::new(Mutex::new(None)),
        }
    }

    /// From now on, a 403 says where the role holds the permission,
    /// measured against `unit`.
    pub fn set_unit(&self, unit: UnitDivision) {
        *self.unit.lock().expect("unit division") = Some(unit);
    }

    pub fn client(&self) -> &PlatformClient {
        &self.client
    }

    pub fn for_run(&self) -> GenesysHttp {
        GenesysHttp::new(self.client.for_run())
    }

    /// A JSON call to `path` (below the API base), its answer parsed.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, PlatformError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("request bodies serialize"));
        let call = self.call(method, path, body, true)?;
        let (_, bytes) = self.client.call(self, &call).await?;
        serde_json::from_slice(&bytes).map_err(|e| PlatformError::malformed(call.endpoint, &e))
    }

    /// A GET whose 403 is not explained: the doctor's own look-ups.
    pub async fn json_plain<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, PlatformError> {
        let call = self.call(method, path, None, false)?;
        let (_, bytes) = self.client.call(self, &call).await?;
        serde_json::from_slice(&bytes).map_err(|e| PlatformError::malformed(call.endpoint, &e))
    }

    /// A call that may answer 200 or 202, with the status.
    pub async fn json_status<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(StatusCode, T), PlatformError> {
        let body = serde_json::to_vec(body).expect("request bodies serialize");
        let call = self.call(method, path, Some(body), true)?;
        let (status, bytes) = self.client.call(self, &call).await?;
        let parsed = serde_json::from_slice(&bytes)
            .map_err(|e| PlatformError::malformed(call.endpoint, &e))?;
        Ok((status, parsed))
    }

    /// A call to `path` below the API base; `explained`: a 403 says where
    /// the role holds the permission.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        explained: bool,
    ) -> Result<Call<Explained>, PlatformError> {
        Ok(Call {
            endpoint: format!("{method} /{path}"),
            url: under(self.client.transport().api_base, path)?,
            buckets: buckets_of(&method, path),
            method,
            query: Vec::new(),
            body,
            label: "genesys",
            lock: LockRole::Free,
            subject: explained.then_some(Explained),
        })
    }

    /// A 403 explained against the business unit's division, once known.
    async fn explain_access(&self, unexplained: PlatformError) -> PlatformError {
        let unit = self.unit.lock().expect("unit division").clone();
        match (unexplained, unit) {
            (
                PlatformError::MissingPermission {
                    endpoint,
                    permission,
                    code,
                    correlation_id,
                    access,
                },
                Some(unit),
            ) if *access == Access::Unknown && is_permission(&permission) => {
                // Of several ("requires any"), the first is the one to grant.
                let first = permission.split(", ").next().unwrap_or_default().to_owned();
                let access = access::of(self, &first, &unit).await;
                PlatformError::MissingPermission {
                    endpoint,
                    permission: first,
                    code,
                    correlation_id,
                    access: Box::new(access.unwrap_or(Access::Unknown)),
                }
            }
            (unexplained, _) => unexplained,
        }
    }

    /// A result too large to pass inline, fetched from the `downloadUrl`
    /// the platform put it at (no token: the URL is presigned).
    pub async fn download<T: DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<T, PlatformError> {
        let t = self.client.transport();
        let endpoint = format!("GET the download of {what}");
        let url = handed_out(t.api_base, url, &endpoint)?;
        self.client.count(|s| &s.requests);
        let answer = t.http.get(url).timeout(t.timeout).send().await;
        let unavailable = |reason: String| PlatformError::Unavailable {
            endpoint: endpoint.clone(),
            attempts: 1,
            elapsed_secs: 0,
            reason,
        };
        let bytes = match answer {
            Ok(r) if r.status().is_success() => {
                match crate::api::body::read_capped(r, t.max_answer).await {
                    Ok(bytes) => bytes,
                    Err(crate::api::body::BodyError::Transport(e)) => {
                        return Err(unavailable(transport_reason(&e)))
                    }
                    Err(too_large) => {
                        return Err(PlatformError::Malformed {
                            endpoint: endpoint.clone(),
                            message: too_large.describe("platform.max_answer_bytes"),
                        })
                    }
                }
            }
            _ => {
                return Err(unavailable(
                    "the download did not answer with the result".into(),
                ))
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| PlatformError::malformed(endpoint, &e))
    }

    /// `PUT` of an upload to its presigned URL, with exactly the headers
    /// the platform returned and no token (the URL carries its signature).
    pub async fn put_upload(
        &self,
        url: &str,
        headers: &std::collections::BTreeMap<String, String>,
        body: Vec<u8>,
    ) -> Result<(), PlatformError> {
        let t = self.client.transport();
        let url = handed_out(t.api_base, url, "PUT the schedule upload")?;
        let mut request = t.http.put(url).timeout(t.timeout).body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        self.client.count(|s| &s.requests);
        let endpoint = "PUT the schedule upload".to_owned();
        let response = request
            .send()
            .await
            .map_err(|e| PlatformError::unanswered(endpoint.clone(), &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body =
            crate::api::body::read_capped(response, crate::api::body::TOKEN_ANSWER_BYTES).await;
        let text = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
        Err(PlatformError::Refused {
            endpoint,
            status: status.as_u16(),
            code: "upload".into(),
            // Only the storage service's error code: its message may
            // repeat the signed request (S3's SignatureDoesNotMatch does).
            message: storage_code(&text).map_or_else(
                || format!("an answer of {} bytes, not shown", text.len()),
                echo_message,
            ),
            correlation_id: "(none)".into(),
        })
    }
}

/// `path` below the API base, keeping the base's own path (a gateway's
/// prefix such as `https://gw.example/genesys/`): `Url::join` would drop
/// its last segment without a trailing slash.
fn under(base: &Url, path: &str) -> Result<Url, PlatformError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path.trim_start_matches('/'))
        .map_err(|e| PlatformError::Setup(e.to_string()))
}

/// A URL the platform handed out (an upload, a download, the notifications
/// socket): as secure as the API's own. Against an https API, only https
/// or wss: schedule data never leaves in clear because an answer said so.
pub(super) fn handed_out(api: &Url, url: &str, what: &str) -> Result<Url, PlatformError> {
    let parsed = Url::parse(url).map_err(|_| PlatformError::Malformed {
        endpoint: what.to_owned(),
        message: "the platform handed out a URL that does not parse".into(),
    })?;
    let secure = matches!(parsed.scheme(), "https" | "wss");
    let allowed = secure || (api.scheme() == "http" && matches!(parsed.scheme(), "http" | "ws"));
    if !allowed {
        return Err(PlatformError::Malformed {
            endpoint: what.to_owned(),
            message: format!(
                "the platform handed out a {} URL; only https (wss) is followed from an https API",
                crate::echo::echo(parsed.scheme())
            ),
        });
    }
    Ok(parsed)
}

/// The buckets a call is counted in, narrowest first: every call in the
/// per-token one; creating a shift-trade query job first in its own
/// (5 a minute).
fn buckets_of(method: &Method, path: &str) -> &'static [Bucket] {
    match *method == Method::POST && path.ends_with("/shifttrading/trades/query/jobs") {
        true => &[Bucket::TradeJobs, Bucket::Default],
        false => &[Bucket::Default],
    }
}

/// What a 403 says is missing: the permissions its body names, else the one
/// the endpoint needs, else its message as it stands.
fn missing_permission(endpoint: &str, error: &ErrorBody) -> String {
    error
        .permissions()
        .or_else(|| access::needed_by(endpoint).map(str::to_owned))
        .unwrap_or_else(|| format!("a permission the platform did not name ({})", error.text()))
}

/// The `<Code>` of a storage service's XML error (S3 and its likes).
fn storage_code(body: &str) -> Option<&str> {
    let (_, rest) = body.split_once("<Code>")?;
    rest.split_once("</Code>").map(|(code, _)| code)
}

/// A Genesys Cloud call whose 403 is explained against the business
/// unit's division (the doctor's own look-ups are not).
pub struct Explained;

impl Dialect for GenesysHttp {
    type Subject = Explained;

    /// Genesys answers: `ErrorBody` with `messageWithParams`, the
    /// `ININ-Correlation-Id` header, 429 with `Retry-After` (CONTRACT §7).
    fn classify(
        &self,
        endpoint: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Classified {
        if status.is_success() {
            return Classified::Success;
        }
        let retry_after = crate::api::classify::retry_after(headers);
        let correlation =
            header(headers, "inin-correlation-id").map_or("(none)".into(), echo_message);
        let error: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let code = error
            .code
            .as_deref()
            .map_or_else(|| "(no code)".into(), echo_message);
        let endpoint = endpoint.to_owned();
        match status.as_u16() {
            401 => Classified::Unauthorized,
            429 => Classified::RateLimited {
                wait: retry_after.unwrap_or(DEFAULT_WAIT),
                masked: false,
                hinted: retry_after.is_some() || Advertised::read(headers).is_some(),
            },
            408 | 500..=599 => Classified::Transient {
                reason: format!("HTTP {} {code}", status.as_u16()),
                wait: retry_after,
            },
            403 => Classified::Forbidden(PlatformError::MissingPermission {
                permission: echo_message(&missing_permission(&endpoint, &error)),
                endpoint,
                code,
                correlation_id: correlation,
                access: Box::new(Access::Unknown),
            }),
            other => Classified::Failed(PlatformError::Refused {
                endpoint,
                status: other,
                code,
                message: echo_message(&error.text()),
                correlation_id: correlation,
            }),
        }
    }

    fn explain<'a>(
        &'a self,
        _subject: &'a Explained,
        _token: &'a AccessToken,
        _fresh_token_tried: bool,
        unexplained: PlatformError,
    ) -> BoxFuture<'a, Diagnosis> {
        Box::pin(async move { Diagnosis::Final(self.explain_access(unexplained).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 27 item 14: the base's path prefix is kept, and a URL the
    /// platform hands out is never less secure than the API.
    #[test]
    fn calls_keep_the_base_path_and_handed_out_urls_their_security() {
        let base: Url = "https://gw.example/genesys".parse().unwrap();
        assert_eq!(
            under(&base, "api/v2/tokens/me").unwrap().as_str(),
            "https://gw.example/genesys/api/v2/tokens/me"
        );
        let root: Url = "https://api.example".parse().unwrap();
        assert_eq!(
            under(&root, "api/v2/tokens/me").unwrap().as_str(),
            "https://api.example/api/v2/tokens/me"
        );
        assert!(handed_out(&root, "https://s3.example/up?sig=1", "x").is_ok());
        assert!(handed_out(&root, "wss://streaming.example/c", "x").is_ok());
        assert!(handed_out(&root, "http://s3.example/up", "x").is_err());
        assert!(handed_out(&root, "ws://streaming.example/c", "x").is_err());
        assert!(handed_out(&root, "file:///etc/passwd", "x").is_err());
        let local: Url = "http://127.0.0.1:8080".parse().unwrap();
        assert!(handed_out(&local, "http://127.0.0.1:8080/uploads/k", "x").is_ok());
    }
}
