//! The token manager against oidc-provider, an OAuth server from the npm
//! registry written independently of this project (tests/oauth/). `.ci/run`
//! installs it with `npm ci`; run locally without it, this test fails and
//! says how to install it rather than skipping silently.

use crate::common;

use std::process::Stdio;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use wfm_publisher::api::{PlatformClient, PlatformError};
use wfm_publisher::clock;

/// oidc-provider on 127.0.0.1:0, killed when dropped.
struct OidcServer {
    child: tokio::process::Child,
    /// Kept open: a closed stdout would end the server at its next write.
    _stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    base_url: String,
}

impl OidcServer {
    async fn start() -> Self {
        let dir = repo_file("tests/oauth");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run `npm ci --prefix tests/oauth` \
             (with node and npm from Debian: `apt-get install nodejs npm`), as .ci/run does"
        );
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("oidc-server.mjs"))
            // Kept open: the server exits when it closes, should the kill be missed.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its start-up warnings and any crash show in the test's output.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (apt-get install nodejs npm)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the OAuth server printed its port before exiting");
            if let Some(port) = line.strip_prefix("port=") {
                break port.trim().to_owned();
            }
        };
        OidcServer {
            child,
            _stdout: lines,
            base_url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn client(&self, id: &str, secret: &str) -> PlatformClient {
        let cfg = TestConfig::with_secret(&self.base_url, id, secret);
        PlatformClient::new(&cfg.settings(), clock::system()).unwrap()
    }
}

#[tokio::test]
async fn tokens_introspection_and_refusals_from_oidc_provider() {
    let mut server = OidcServer::start().await;

    let publisher = server.client("publisher", "publisher-secret");
    let token = publisher.tokens().token().await.expect("a token");
    assert!(token.granted.iter().any(|s| s == "wfm:admin"), "{token:?}");
    assert!((token.expires - token.received).num_seconds() > 0);
    let introspection = publisher.tokens().introspect(&token).await.unwrap();
    assert!(introspection.active);
    assert_eq!(introspection.client_id.as_deref(), Some("publisher"));

    // The thread's case: an OAuth client not entitled to wfm:admin.
    let err = server
        .client("no-admin", "no-admin-secret")
        .tokens()
        .token()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PlatformError::InvalidScope { .. }), "{text}");
    assert!(text.contains("refused scope wfm:admin "), "{text}");
    assert!(text.contains("\"no-admin\" is not entitled"), "{text}");

    let err = server
        .client("publisher", "a-rotated-secret")
        .tokens()
        .token()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PlatformError::InvalidClient { .. }), "{text}");
    assert!(!text.contains("a-rotated-secret"), "{text}");

    server.child.kill().await.unwrap();
}
