//! TLS to PostgreSQL as libpq's `sslmode` means it (rustls): no
//! verification for `prefer` and a plain `require`; the certificate chain
//! for `verify-ca` (and `require` with an `sslrootcert`, as libpq does);
//! chain and host name for `verify-full`. The chain is checked against
//! `sslrootcert` (a private CA, a cloud provider's own) or the Mozilla
//! roots.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as DriverMode;

use crate::config::{PostgresTls, SslMode};

/// The driver's mode and the TLS configuration for `tls`, or why the CA
/// file cannot be used.
pub fn configure(tls: &PostgresTls) -> Result<(DriverMode, rustls::ClientConfig), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let driver = match tls.mode {
        SslMode::Disable => DriverMode::Disable,
        SslMode::Prefer => DriverMode::Prefer,
        _ => DriverMode::Require,
    };
    let lenient = |chain| {
        let verifier = Lenient {
            provider: provider.clone(),
            chain,
        };
        builder
            .clone()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
    let config = if !tls.verifies_chain() {
        lenient(None)
    } else {
        let roots = Arc::new(roots(tls)?);
        let chain = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("sslrootcert: {e}"))?;
        match tls.mode {
            SslMode::VerifyFull => builder.with_webpki_verifier(chain).with_no_client_auth(),
            _ => lenient(Some(chain)),
        }
    };
    Ok((driver, config))
}

fn roots(tls: &PostgresTls) -> Result<RootCertStore, String> {
    let Some(path) = &tls.root_cert else {
        return Ok(RootCertStore::from_iter(
            webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
        ));
    };
    let shown = path.display();
    let mut store = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("sslrootcert {shown}: cannot read it: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("sslrootcert {shown}: not PEM certificates: {e}"))?;
        store
            .add(cert)
            .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
    }
    if store.is_empty() {
        return Err(format!("sslrootcert {shown}: holds no certificate"));
    }
    Ok(store)
}

/// libpq's checks short of `verify-full`. Without `chain` (`prefer` and a
/// plain `require`): encrypted, not authenticated. With it (`verify-ca`):
/// the chain to a trusted root, whatever host name the certificate is for.
/// The handshake's signatures are checked either way, with the provider's
/// algorithms (those the chain's verifier was built with).
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    // The two versions' checks are separate methods of the trait, alike
    // but for the rustls function each calls.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
