//! Where the OAuth client secret and the admin token come from.
//!
//! Order for the client secret, first found wins:
//! 1. `platform.client_secret_file` (keeps the secret out of the config file
//!    and out of `/proc/<pid>/environ`);
//! 2. `WFM_PUBLISHER__PLATFORM__CLIENT_SECRET`;
//! 3. `platform.client_secret` in the file (allowed, discouraged);
//! 4. `$CREDENTIALS_DIRECTORY/client_secret` (systemd `LoadCredential=`).
//!
//! The admin token: `admin.token_file`, else `$CREDENTIALS_DIRECTORY/admin_token`,
//! else none (triggering runs over HTTP is off).
//!
//! The PostgreSQL password (`store.url`): `store.password_file`, else
//! `WFM_PUBLISHER__STORE__PASSWORD` (or `store.password`), else
//! `$CREDENTIALS_DIRECTORY/store_password`, else none.
//!
//! A configured file that cannot be used gives way to the systemd credential
//! of the same purpose when one exists (a warning says which was used: under
//! `DynamicUser=` a root-only file is unreadable by design); when neither
//! works, the one error names both places.
//!
//! 2 and 3 are the same key: the environment layer overrides the file, so
//! reading the key once yields them in that order. No message here ever
//! contains a secret's value.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::parse;
use super::reader::{Field, Reader, Table};
use crate::secret::Secret;

const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";
/// The systemd credential names (`LoadCredential=NAME:PATH`).
const CLIENT_SECRET: &str = "client_secret";
const ADMIN_TOKEN: &str = "admin_token";
const STORE_PASSWORD: &str = "store_password";

/// A file that should hold a secret and cannot be used. Names the file and
/// the reason, never the content.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretFileError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{} is not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{} is empty", path.display())]
    Empty { path: PathBuf },
}

/// Why a systemd credential gave no secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialError {
    #[error("no systemd credential {name}: ${CREDENTIALS_DIRECTORY} is not set")]
    NoDirectory { name: &'static str },
    #[error("no systemd credential {name} in ${CREDENTIALS_DIRECTORY} ({})", dir.display())]
    Absent { name: &'static str, dir: PathBuf },
    #[error("systemd credential {name}: {source}")]
    Unusable {
        name: &'static str,
        source: SecretFileError,
    },
}

impl CredentialError {
    /// There is no such credential: "not this source", not a mistake.
    fn is_absent(&self) -> bool {
        !matches!(self, CredentialError::Unusable { .. })
    }
}

/// A configured secret file failed and so did the credential standing in
/// for it.
#[derive(Debug, thiserror::Error)]
#[error("{file}, and {credential}")]
pub(crate) struct NeitherSource {
    file: SecretFileError,
    credential: CredentialError,
}

pub(crate) fn client_secret(platform: &mut Table, r: &mut Reader, base: &Path) -> Option<Secret> {
    let found = first_secret(
        platform,
        r,
        base,
        ["client_secret_file", "client_secret"],
        CLIENT_SECRET,
    )?;
    if found.is_some() {
        return found;
    }
    let key = platform.key("client_secret");
    let env_var = r.env_var_for(&key);
    platform.problem(
        r,
        "client_secret",
        format!(
            "no client secret found; set one of: platform.client_secret_file (a file holding \
             the secret), the environment variable {env_var}, platform.client_secret in this \
             file (discouraged), or a systemd credential ${CREDENTIALS_DIRECTORY}/{CLIENT_SECRET}"
        ),
    );
    None
}

/// The PostgreSQL password: `store.password_file`, else `store.password`
/// (in practice `WFM_PUBLISHER__STORE__PASSWORD`), else the credential
/// `store_password`, else none (trust or peer authentication). `None` only
/// after a problem was recorded.
pub(crate) fn store_password(
    store: &mut Table,
    r: &mut Reader,
    base: &Path,
) -> Option<Option<Secret>> {
    first_secret(
        store,
        r,
        base,
        ["password_file", "password"],
        STORE_PASSWORD,
    )
}

/// The first of: the file named by `keys[0]`, the value of `keys[1]` (the
/// environment layer overrides the file), the systemd credential `name`.
/// `Some(None)` when there is none of them; `None` after a problem.
fn first_secret(
    table: &mut Table,
    r: &mut Reader,
    base: &Path,
    [file_key, inline_key]: [&'static str; 2],
    name: &'static str,
) -> Option<Option<Secret>> {
    // Both keys are read up front so neither is reported as unknown.
    let file = table.parsed(r, file_key, |s| parse::path(s, base));
    let inline = table.secret_string(r, inline_key);
    match file {
        Field::Present(path) => {
            return file_or_credential(table, r, file_key, &path, name)
                .map(|(secret, _)| Some(secret))
        }
        Field::Invalid => return None,
        Field::Absent => {}
    }
    match inline {
        Field::Present(s) if s.is_empty() => {
            table.problem(r, inline_key, "must not be empty");
            return None;
        }
        Field::Present(s) => return Some(Some(Secret::new(s))),
        Field::Invalid => return None,
        Field::Absent => {}
    }
    match credential(r.env(), name) {
        Ok((secret, _)) => Some(Some(secret)),
        Err(e) if e.is_absent() => Some(None),
        Err(e) => {
            table.problem(r, inline_key, e.to_string());
            None
        }
    }
}

/// `admin.token_file` or the credential `admin_token`, read now so a missing
/// file fails the start, not the first admin request. Yields where the token
/// was read from and the token; both `None` when neither is there.
pub(crate) fn admin_token(
    admin: &mut Table,
    r: &mut Reader,
    base: &Path,
) -> Option<(Option<PathBuf>, Option<Secret>)> {
    let file = admin
        .parsed(r, "token_file", |s| parse::path(s, base))
        .optional()?;
    if let Some(path) = file {
        let (token, from) = file_or_credential(admin, r, "token_file", &path, ADMIN_TOKEN)?;
        return Some((Some(from), Some(token)));
    }
    match credential(r.env(), ADMIN_TOKEN) {
        Ok((token, from)) => Some((Some(from), Some(token))),
        Err(e) if e.is_absent() => Some((None, None)),
        Err(e) => {
            admin.problem(r, "token_file", e.to_string());
            None
        }
    }
}

/// The secret in `path` (configured as `key`), or if that file cannot be
/// used, the systemd credential `name` with a warning saying so; when both
/// fail, one problem names both. Yields the secret and the file it came from.
fn file_or_credential(
    table: &Table,
    r: &mut Reader,
    key: &str,
    path: &Path,
    name: &'static str,
) -> Option<(Secret, PathBuf)> {
    let file = match read_secret_file(path) {
        Ok(secret) => {
            if let Some(warning) = open_to_others(path) {
                table.warning(r, key, warning);
            }
            return Some((secret, path.to_path_buf()));
        }
        Err(e) => e,
    };
    match credential(r.env(), name) {
        Ok((secret, from)) => {
            let used = format!(
                "{file}; using the systemd credential {name} ({}) instead",
                from.display()
            );
            table.warning(r, key, used);
            Some((secret, from))
        }
        Err(credential) => {
            table.problem(r, key, NeitherSource { file, credential }.to_string());
            None
        }
    }
}

/// The credential `name` in `$CREDENTIALS_DIRECTORY`, and its path.
fn credential(
    env: &HashMap<String, String>,
    name: &'static str,
) -> Result<(Secret, PathBuf), CredentialError> {
    let dir = env
        .get(CREDENTIALS_DIRECTORY)
        .filter(|d| !d.is_empty())
        .ok_or(CredentialError::NoDirectory { name })?;
    let dir = PathBuf::from(dir);
    let path = dir.join(name);
    // Absent just means "not this source"; any other failure means one was
    // meant to be there.
    if matches!(path.try_exists(), Ok(false)) {
        return Err(CredentialError::Absent { name, dir });
    }
    match read_secret_file(&path) {
        Ok(secret) => Ok((secret, path)),
        Err(source) => Err(CredentialError::Unusable { name, source }),
    }
}

/// What to fix when a secret file can be read by its group or by anyone:
/// other local users could read the secret.
fn open_to_others(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is mode {mode:04o}: other users of this machine can read the secret; chmod 600 it (owned by the service's user)",
            path.display()
        )
    })
}

/// The file's content without the trailing newline editors add.
fn read_secret_file(path: &Path) -> Result<Secret, SecretFileError> {
    let path_buf = || path.to_path_buf();
    let bytes = fs::read(path).map_err(|source| SecretFileError::Unreadable {
        path: path_buf(),
        source,
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| SecretFileError::NotUtf8 { path: path_buf() })?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(SecretFileError::Empty { path: path_buf() });
    }
    Ok(Secret::new(trimmed.to_string()))
}
