//! Calls to Genesys Cloud's Platform API through the client's shared
//! machinery (token, gate, retry policy, clock, counters), read the way
//! Genesys answers: `ErrorBody` with `messageWithParams`, the
//! `ININ-Correlation-Id` header, `inin-ratelimit-*` headers, 429 with
//! `Retry-After` (genesys-cloud/CONTRACT.md §7).

use std::time::Duration;

use axum::body::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use std::sync::{Arc, Mutex};

use super::access::{self, UnitDivision};
use super::wire::{is_permission, ErrorBody};
use crate::api::classify::{transport_reason, Advertised};
use crate::api::retry;
use crate::api::throttle::Bucket;
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

/// What an answer means for the call.
enum Next {
    Done(StatusCode, Bytes),
    /// Try again after this long: a transient failure, retried.
    Wait(Duration, String),
    /// Try again after this long: the platform's rate limit, already
    /// counted and held by the client.
    RateLimited(Duration, String),
    /// A fresh token, once.
    Reauthorize,
    Fail(PlatformError),
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
        let endpoint = format!("{method} /{path}");
        let body = body.map(|b| serde_json::to_vec(b).expect("request bodies serialize"));
        let (_, bytes) = self.send(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| PlatformError::malformed(endpoint, &e))
    }

    /// A GET whose 403 is not explained: the doctor's own look-ups.
    pub async fn json_plain<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, PlatformError> {
        let endpoint = format!("{method} /{path}");
        let (_, bytes) = self.exchange(method, path, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| PlatformError::malformed(endpoint, &e))
    }

    /// A call that may answer 200 or 202, with the status.
    pub async fn json_status<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(StatusCode, T), PlatformError> {
        let endpoint = format!("{method} /{path}");
        let body = serde_json::to_vec(body).expect("request bodies serialize");
        let (status, bytes) = self.send(method, path, Some(body)).await?;
        let parsed =
            serde_json::from_slice(&bytes).map_err(|e| PlatformError::malformed(endpoint, &e))?;
        Ok((status, parsed))
    }

    /// One call; a 403 explained against the business unit's division.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), PlatformError> {
        let result = self.exchange(method, path, body).await;
        let unit = self.unit.lock().expect("unit division").clone();
        match (result, unit) {
            (
                Err(PlatformError::MissingPermission {
                    endpoint,
                    permission,
                    code,
                    correlation_id,
                    access,
                }),
                Some(unit),
            ) if *access == Access::Unknown && is_permission(&permission) => {
                // Of several ("requires any"), the first is the one to grant.
                let first = permission.split(", ").next().unwrap_or_default().to_owned();
                let access = access::of(self, &first, &unit).await;
                Err(PlatformError::MissingPermission {
                    endpoint,
                    permission: first,
                    code,
                    correlation_id,
                    access: Box::new(access.unwrap_or(Access::Unknown)),
                })
            }
            (result, _) => result,
        }
    }

    /// One call to its end: retried, waited, re-authorized as the answers say.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), PlatformError> {
        let t = self.client.transport();
        let endpoint = format!("{method} /{path}");
        let url = under(t.api_base, path)?;
        let started = t.clock.now();
        let mut delays = retry::delays(t.retry);
        let mut reauthorized = false;
        let bucket = bucket_of(&method, path);
        loop {
            let ticket = self.turn(bucket).await;
            let token = self.client.tokens().token().await?;
            if !self.client.may_send() {
                return Err(PlatformError::Cancelled);
            }
            self.client.count(|s| &s.requests);
            let mut request = t
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.bearer())
                .timeout(t.timeout);
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let departure = t.throttle.leaves(ticket);
            let next = match request.send().await {
                Ok(response) => {
                    let advertised = Advertised::read(response.headers());
                    t.throttle.observe(departure, advertised);
                    self.read(&endpoint, bucket, response).await
                }
                Err(e) => {
                    t.throttle.unanswered(Bucket::Default);
                    Next::Wait(Duration::ZERO, transport_reason(&e))
                }
            };
            let elapsed = (t.clock.now() - started).to_std().unwrap_or_default();
            let limited = matches!(next, Next::RateLimited(..));
            match next {
                Next::Done(status, bytes) => {
                    self.client.answered();
                    return Ok((status, bytes));
                }
                Next::Reauthorize if !reauthorized => {
                    self.client.tokens().invalidate(&token);
                    reauthorized = true;
                }
                Next::Reauthorize => return Err(PlatformError::Unauthorized { endpoint }),
                Next::Fail(e) => return Err(e),
                Next::Wait(wait, reason) | Next::RateLimited(wait, reason) => {
                    if retry::beyond_budget(t.retry, elapsed, wait) {
                        return Err(retry::too_long(endpoint, t.retry, elapsed, wait));
                    }
                    let delay = delays.next().filter(|_| elapsed < t.retry.max_elapsed);
                    let Some(delay) = delay else {
                        return Err(PlatformError::Unavailable {
                            endpoint,
                            attempts: t.retry.max_attempts,
                            elapsed_secs: elapsed.as_secs(),
                            reason,
                        });
                    };
                    if !limited {
                        self.client.retrying(&endpoint);
                    }
                    tracing::debug!(%endpoint, %reason, retry_in_ms = delay.max(wait).as_millis() as u64, "Genesys Cloud: retrying");
                    t.clock.sleep(delay.max(wait)).await;
                }
            }
        }
    }

    /// A call's turn: in the per-token bucket every call counts in, after
    /// one in `bucket` if the call has a narrower bucket of its own.
    async fn turn(&self, bucket: Bucket) -> crate::api::throttle::Ticket {
        let throttle = &self.client.transport().throttle;
        if bucket != Bucket::Default {
            let narrow = throttle.acquire(bucket).await;
            throttle.leaves(narrow);
        }
        throttle.acquire(Bucket::Default).await
    }

    /// Classifies one answer (the gate has seen its rate-limit headers); a
    /// 429 holds only `bucket`, the one the call was refused in.
    async fn read(&self, endpoint: &str, bucket: Bucket, response: reqwest::Response) -> Next {
        let status = response.status();
        let headers = response.headers().clone();
        let correlation =
            header(&headers, "inin-correlation-id").map_or("(none)".into(), echo_message);
        let retry_after = crate::api::classify::retry_after(&headers);
        let limit = self.client.transport().max_answer;
        let bytes = match crate::api::body::read_capped(response, limit).await {
            Ok(b) => b,
            Err(crate::api::body::BodyError::Transport(e)) => {
                return Next::Wait(Duration::ZERO, transport_reason(&e))
            }
            Err(too_large) => {
                return Next::Fail(PlatformError::Malformed {
                    endpoint: endpoint.to_owned(),
                    message: too_large.describe("platform.max_answer_bytes"),
                })
            }
        };
        if status.is_success() {
            return Next::Done(status, bytes);
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = error
            .code
            .as_deref()
            .map_or_else(|| "(no code)".into(), echo_message);
        match status.as_u16() {
            401 => Next::Reauthorize,
            429 => {
                let wait = retry_after.unwrap_or(DEFAULT_WAIT);
                self.client.rate_limited(bucket, endpoint, wait, false);
                Next::RateLimited(wait, format!("429 {code}"))
            }
            408 | 500..=599 => Next::Wait(
                retry_after.unwrap_or(Duration::ZERO),
                format!("HTTP {} {code}", status.as_u16()),
            ),
            403 => Next::Fail(PlatformError::MissingPermission {
                endpoint: endpoint.to_owned(),
                permission: echo_message(&missing_permission(endpoint, &error)),
                code,
                correlation_id: correlation,
                access: Box::new(Access::Unknown),
            }),
            other => Next::Fail(PlatformError::Refused {
                endpoint: endpoint.to_owned(),
                status: other,
                code,
                message: echo_message(&error.text()),
                correlation_id: correlation,
            }),
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

/// The bucket a call is counted in beside the per-token one: creating a
/// shift-trade query job has a limit of its own (5 a minute).
fn bucket_of(method: &Method, path: &str) -> Bucket {
    match *method == Method::POST && path.ends_with("/shifttrading/trades/query/jobs") {
        true => Bucket::TradeJobs,
        false => Bucket::Default,
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
