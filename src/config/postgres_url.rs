//! A PostgreSQL connection URL as libpq reads it, where tokio-postgres
//! differs: `sslmode` takes libpq's six values (tokio-postgres knows three)
//! and `sslrootcert` names the CA file that verifies the server. Both are
//! taken out of the URL the driver parses, and become a [`PostgresTls`].

use std::path::PathBuf;

use url::Url;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, without verifying it (libpq `allow`
    /// and `prefer`, its default).
    Prefer,
    /// TLS or nothing; the server verified only against `sslrootcert`
    /// when one is given (as libpq does), else not at all.
    Require,
    /// TLS, the certificate chain verified, not the host name.
    VerifyCa,
    /// TLS, the chain and the host name verified.
    VerifyFull,
}

/// How the store's connections use TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTls {
    pub mode: SslMode,
    /// PEM file of the CA(s) the server's certificate must chain to;
    /// without one, the Mozilla roots (`sslrootcert=system` too).
    pub root_cert: Option<PathBuf>,
}

impl PostgresTls {
    /// Whether the server's certificate chain is checked.
    pub fn verifies_chain(&self) -> bool {
        match self.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Require => self.root_cert.is_some(),
            SslMode::Disable | SslMode::Prefer => false,
        }
    }
}

/// `url` without the keys libpq and the driver read differently, and the
/// TLS they ask for. A password anywhere in it is refused: URLs are shown.
pub fn split(url: &str) -> Result<(String, PostgresTls), String> {
    let mut parsed = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let mut mode = SslMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "password" => {
                return Err("must not contain a password, in its query either: set \
                            store.password_file, the environment variable \
                            WFM_PUBLISHER__STORE__PASSWORD, or the systemd credential \
                            store_password"
                    .into())
            }
            "sslmode" => mode = ssl_mode(&value)?,
            "sslrootcert" if value != "system" => root_cert = Some(PathBuf::from(&*value)),
            "sslrootcert" => root_cert = None,
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    Ok((parsed.to_string(), PostgresTls { mode, root_cert }))
}

fn ssl_mode(value: &str) -> Result<SslMode, String> {
    Ok(match value {
        "disable" => SslMode::Disable,
        "allow" | "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            return Err(format!(
                "sslmode={} is not one of disable, allow, prefer, require, verify-ca, verify-full",
                crate::echo::echo(other)
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_and_the_ca_file_come_out_of_the_url() {
        let (url, tls) =
            split("postgres://wfm@db:5432/wfm?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x")
                .unwrap();
        assert_eq!(url, "postgres://wfm@db:5432/wfm?application_name=x");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let (url, tls) = split("postgres://wfm@db/wfm").unwrap();
        assert_eq!(url, "postgres://wfm@db/wfm");
        assert_eq!(tls.mode, SslMode::Prefer);
        assert!(!tls.verifies_chain());
        let (_, tls) = split("postgres://wfm@db/wfm?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert!(
            tls.verifies_chain(),
            "require with a CA file verifies, as libpq's does"
        );
        assert!(split("postgres://wfm@db/wfm?sslmode=verify").is_err());
        let err = split("postgres://wfm@db/wfm?password=s3cret").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
