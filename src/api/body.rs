//! Reading an answer's body, and no more of it than a limit: a platform
//! (or something posing as one) that sends gigabytes, or a chunked stream
//! that never ends, must not take the process's memory with it (the
//! Kubernetes limit is 256 MiB).

use axum::body::Bytes;

/// `platform.max_answer_bytes` unless configured: far above the largest
/// answer a week needs (a 50,000-agent download is some tens of MB).
pub const DEFAULT_MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// Token and introspection answers are a few hundred bytes.
pub const TOKEN_ANSWER_BYTES: u64 = 1024 * 1024;

#[derive(Debug)]
pub enum BodyError {
    /// The answer said, or turned out, to be longer than the limit.
    TooLarge {
        limit: u64,
    },
    Transport(reqwest::Error),
}

impl BodyError {
    /// What to say of it, with the key that raises the limit.
    pub fn describe(&self, key: &str) -> String {
        match self {
            BodyError::TooLarge { limit } => {
                format!("an answer over {limit} bytes ({key}): not read")
            }
            BodyError::Transport(e) => super::classify::transport_reason(e),
        }
    }
}

/// The body of `response`, refused at once if its length is declared over
/// `limit`, and as soon as it grows past `limit` otherwise.
pub async fn read_capped(mut response: reqwest::Response, limit: u64) -> Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}
