//! Presigned upload URLs, and the object store behind them: a `PUT` must
//! carry exactly the headers handed out, exactly the announced length, and a
//! gzip of a JSON `UpdateScheduleUploadSchema`, before it expires; each URL
//! takes one upload.

use std::collections::HashMap;
use std::io::Read;

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::access::Caller;
use super::errors::GError;
use super::record::UploadEntry;
use super::state::State;
use super::update::UploadSchema;
use wfm_clock::delta;

/// The headers every upload URL requires, as S3-style signed headers.
pub const UPLOAD_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "application/json"),
    ("Content-Encoding", "gzip"),
    ("x-amz-server-side-encryption", "AES256"),
];

#[derive(Debug, Clone)]
pub struct Upload {
    pub bu: String,
    pub schedule_id: String,
    pub length: u64,
    pub expires: DateTime<Utc>,
    pub signature: String,
    /// The parsed body once a `PUT` was accepted.
    pub body: Option<UploadSchema>,
    /// Set once `…/update` took the key.
    pub processed: bool,
}

/// A refusal of the object store: a status and an S3-style XML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRefusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl StoreRefusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        StoreRefusal {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code, self.message
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UploadUrlRequest {
    content_length_bytes: u64,
}

impl State {
    fn sign(&self, key: &str, expires: i64) -> String {
        let mut h = Sha256::new();
        h.update(format!("{key}|{expires}|{}", self.scenario.server.seed));
        hex::encode(h.finalize())
    }

    /// `POST …/schedules/{sid}/update/uploadurl`. Its parameters are every
    /// schedule handler's with a body (see schedules.rs): the caller, the
    /// path's ids, the body and the time.
    pub fn upload_url(
        &mut self,
        caller: &Caller,
        (bu, week, sid): (&str, &str, &str),
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Value, GError> {
        let unit = self.business_unit(bu)?.clone();
        self.edit_scope(caller, &unit.division)?;
        super::schedules::week_id(&unit, week)?;
        self.schedule_index(bu, sid)?;
        let request: UploadUrlRequest = serde_json::from_slice(body)
            .map_err(|e| GError::bad_request(format!("malformed request: {e}")))?;
        if request.content_length_bytes == 0 {
            return Err(GError::invalid("contentLengthBytes must be positive"));
        }
        let key = self.new_id("upload");
        let expires = now + delta(self.scenario.server.upload_url_lifetime);
        let signature = self.sign(&key, expires.timestamp());
        let url = format!(
            "{}/uploads/{key}?expires={}&signature={signature}",
            self.base_url,
            expires.timestamp()
        );
        self.uploads.insert(
            key.clone(),
            Upload {
                bu: bu.to_owned(),
                schedule_id: sid.to_owned(),
                length: request.content_length_bytes,
                expires,
                signature,
                body: None,
                processed: false,
            },
        );
        let headers: serde_json::Map<String, Value> = UPLOAD_HEADERS
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        Ok(json!({"uploadKey": key, "url": url, "headers": headers}))
    }

    /// `PUT /uploads/{key}`: stores the body or says why not.
    pub fn put_upload(
        &mut self,
        key: &str,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreRefusal> {
        let result = self.check_upload(key, query, headers, body, now);
        if let Some(upload) = self.uploads.get_mut(key) {
            let schedule_id = upload.schedule_id.clone();
            let refused = match &result {
                Ok(parsed) => {
                    upload.body = Some(parsed.clone());
                    None
                }
                Err(e) => Some(e.message.clone()),
            };
            if let Ok(parsed) = &result {
                let contents = parsed.contents(&schedule_id);
                self.mark(contents, super::record::ContentMark::Uploaded);
            }
            self.record.uploads.push(UploadEntry {
                upload_key: key.to_owned(),
                schedule_id,
                refused,
            });
        }
        result.map(|_| ())
    }

    fn check_upload(
        &self,
        key: &str,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<UploadSchema, StoreRefusal> {
        use StatusCode as S;
        let forbidden = |code, m: &str| StoreRefusal::new(S::FORBIDDEN, code, m);
        let upload = self
            .uploads
            .get(key)
            .ok_or_else(|| forbidden("AccessDenied", "No such upload URL"))?;
        let expires = query.get("expires").and_then(|e| e.parse::<i64>().ok());
        let signed = expires.is_some_and(|e| {
            e == upload.expires.timestamp() && query.get("signature") == Some(&upload.signature)
        });
        if !signed {
            return Err(forbidden(
                "SignatureDoesNotMatch",
                "The request signature does not match",
            ));
        }
        if now >= upload.expires {
            return Err(forbidden("AccessDenied", "Request has expired"));
        }
        if upload.body.is_some() || upload.processed {
            return Err(forbidden(
                "AccessDenied",
                "This upload URL has already been used",
            ));
        }
        for (name, value) in UPLOAD_HEADERS {
            let sent = headers.get(name).and_then(|v| v.to_str().ok());
            if sent != Some(value) {
                return Err(forbidden(
                    "SignatureDoesNotMatch",
                    &format!("Header {name} must be exactly {value:?}, got {sent:?}"),
                ));
            }
        }
        check_length(upload.length, headers, body)?;
        let json = gunzip(body).map_err(|e| {
            StoreRefusal::new(
                S::BAD_REQUEST,
                "InvalidRequest",
                format!("body is not valid gzip: {e}"),
            )
        })?;
        super::update::parse(&json)
            .map_err(|e| StoreRefusal::new(S::BAD_REQUEST, "InvalidRequest", e))
    }
}

fn check_length(declared: u64, headers: &HeaderMap, body: &[u8]) -> Result<(), StoreRefusal> {
    let sent = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(sent) = sent else {
        return Err(StoreRefusal::new(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header",
        ));
    };
    if sent != declared || body.len() as u64 != declared {
        return Err(StoreRefusal::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            format!(
                "Content-Length {sent} (body {}) is not the signed {declared}",
                body.len()
            ),
        ));
    }
    Ok(())
}

fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out)?;
    Ok(out)
}
