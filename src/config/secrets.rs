//! Where the OAuth client secret and the admin token come from.
//!
//! Order for the client secret, first found wins:
//! 1. `platform.client_secret_file` (keeps the secret out of the config file
//!    and out of `/proc/<pid>/environ`);
//! 2. `WFM_PUBLISHER__PLATFORM__CLIENT_SECRET`;
//! 3. `platform.client_secret` in the file (allowed, discouraged);
//! 4. `$CREDENTIALS_DIRECTORY/client_secret` (systemd `LoadCredential=`).
//!
//! 2 and 3 are the same key: the environment layer overrides the file, so
//! reading the key once yields them in that order. No message here ever
//! contains a secret's value.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::Problem;
use super::parse;
use super::reader::{Field, Reader, Table};
use crate::secret::Secret;

const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";
const CREDENTIAL_NAME: &str = "client_secret";

pub(crate) fn client_secret(platform: &mut Table, r: &mut Reader, base: &Path) -> Option<Secret> {
    // Both keys are read up front so neither is reported as unknown.
    let file = platform.parsed(r, "client_secret_file", |s| parse::path(s, base));
    let inline = platform.secret_string(r, "client_secret");

    match file {
        Field::Present(path) => {
            return read_secret_file(&path).map_or_else(
                |msg| {
                    platform.problem(r, "client_secret_file", msg);
                    None
                },
                Some,
            )
        }
        Field::Invalid => return None,
        Field::Absent => {}
    }
    match inline {
        Field::Present(s) if s.is_empty() => {
            platform.problem(r, "client_secret", "must not be empty");
            return None;
        }
        Field::Present(s) => return Some(Secret::new(s)),
        Field::Invalid => return None,
        Field::Absent => {}
    }
    if let Some(dir) = r.env().get(CREDENTIALS_DIRECTORY).filter(|d| !d.is_empty()) {
        let path = PathBuf::from(dir).join(CREDENTIAL_NAME);
        // An absent credential just means "not this source"; any other
        // failure means one was meant to be there.
        if !matches!(path.try_exists(), Ok(false)) {
            return match read_secret_file(&path) {
                Ok(secret) => Some(secret),
                Err(msg) => {
                    let key = platform.key("client_secret");
                    r.report_raw(Problem::new(path.display().to_string(), key, msg));
                    None
                }
            };
        }
    }
    let key = platform.key("client_secret");
    let env_var = r.env_var_for(&key);
    platform.problem(
        r,
        "client_secret",
        format!(
            "no client secret found; set one of: platform.client_secret_file (a file holding \
             the secret), the environment variable {env_var}, platform.client_secret in this \
             file (discouraged), or a systemd credential ${CREDENTIALS_DIRECTORY}/{CREDENTIAL_NAME}"
        ),
    );
    None
}

/// `admin.token_file`, read now so a missing file fails the start, not the
/// first admin request.
pub(crate) fn admin_token(
    admin: &mut Table,
    r: &mut Reader,
    base: &Path,
) -> Option<(Option<PathBuf>, Option<Secret>)> {
    let file = admin
        .parsed(r, "token_file", |s| parse::path(s, base))
        .optional()?;
    let Some(path) = file else {
        return Some((None, None));
    };
    match read_secret_file(&path) {
        Ok(token) => Some((Some(path), Some(token))),
        Err(msg) => {
            admin.problem(r, "token_file", msg);
            None
        }
    }
}

/// The file's content without the trailing newline editors add; the error
/// names the file and the OS reason, never the content.
fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not valid UTF-8", path.display()))?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret::new(trimmed.to_string()))
}
