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

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
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
    // libpq's default is prefer, which a man in the middle downgrades to
    // clear text (the password with it): off loopback the default here is
    // verify-full.
    let mut mode = match on_loopback(&parsed) {
        true => SslMode::Prefer,
        false => SslMode::VerifyFull,
    };
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

/// Whether the URL's host is this machine (a name of loopback, an address
/// of it, or a Unix socket directory).
pub fn on_loopback(url: &Url) -> bool {
    // `postgres:` is not a special scheme: its host comes as text, an
    // address included.
    match url.host() {
        Some(url::Host::Domain(d)) => d.starts_with('/') || crate::api::url::is_loopback_name(d),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    }
}

/// The URL as shown in messages, logs and `/readyz`: its query's values
/// hidden, whatever they hold.
pub fn shown(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return "(a store URL that does not parse)".into();
    };
    let keys: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    parsed.set_query(None);
    if !keys.is_empty() {
        let mut q = parsed.query_pairs_mut();
        for k in keys {
            q.append_pair(&k, "…");
        }
    }
    parsed.to_string()
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
        let (url, tls) = split("postgres://wfm@127.0.0.1/wfm").unwrap();
        assert_eq!(url, "postgres://wfm@127.0.0.1/wfm");
        assert_eq!(tls.mode, SslMode::Prefer, "libpq's default on loopback");
        assert!(!tls.verifies_chain());
        // Issue 27 item 3: off loopback, verified unless told otherwise.
        let (_, tls) = split("postgres://wfm@db.example/wfm").unwrap();
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(
            shown("postgres://wfm@db/wfm?sslmode=require&application_name=secret"),
            "postgres://wfm@db/wfm?sslmode=%E2%80%A6&application_name=%E2%80%A6"
        );
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
