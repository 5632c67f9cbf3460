//! How the store and the lease reach PostgreSQL: the parsed URL with the
//! password set apart, TLS through rustls, and the small runtime the
//! store's connection runs on.
//!
//! The `Store` trait stays synchronous (the engine calls it between sends,
//! as it does SQLite): a call blocks its caller on the query, off the
//! caller's runtime workers (`store::blocking`), while the connection's
//! socket and the call's deadline are driven by a dedicated one-thread
//! runtime, so a store call never needs the caller's runtime, never nests
//! one, and never waits past its deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::super::StoreError;
use crate::config::PostgresSettings;

/// A connection attempt that takes longer is a failure: the database is
/// down or unreachable, and the caller's retry or the lease's next round
/// decides what follows.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Connector {
    config: Config,
    tls: MakeRustlsConnect,
    /// The URL as configured: it has no password, so it can be shown.
    shown: String,
}

impl Connector {
    pub fn new(settings: &PostgresSettings) -> Result<Self, StoreError> {
        let shown = crate::config::shown_postgres_url(&settings.url);
        let invalid = |message: String| StoreError::Postgres {
            store: shown.clone(),
            message,
        };
        let (driver_url, tls) =
            crate::config::split_postgres_url(&settings.url).map_err(invalid)?;
        let mut config: Config = driver_url
            .parse()
            .map_err(|e| invalid(format!("not a PostgreSQL connection URL: {e}")))?;
        let (mode, tls) = super::tls::configure(&tls).map_err(invalid)?;
        config.ssl_mode(mode);
        if let Some(password) = &settings.password {
            config.password(password.expose());
        }
        // The server gives up on a statement as the client does: at the
        // lease's TTL (unless the URL sets its own options).
        if config.get_options().is_none() {
            let ms = settings.lease_ttl.as_millis().max(1);
            config.options(format!("-c statement_timeout={ms}"));
        }
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("wfm-publisher");
        Ok(Connector {
            config,
            tls: MakeRustlsConnect::new(tls),
            shown,
        })
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// A new connection whose socket is driven by a task on the current
    /// runtime; the task ends when the client is dropped.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| self.error(&e))?;
        let shown = self.shown.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(store = %shown, error = %describe(&e), "state store connection lost");
            }
        });
        Ok(client)
    }

    pub fn error(&self, e: &tokio_postgres::Error) -> StoreError {
        StoreError::Postgres {
            store: self.shown.clone(),
            message: describe(e),
        }
    }
}

/// The server's own message when there is one (`ERROR: ...`), else the
/// client's. Neither ever contains the password.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}

/// The runtime the store's connection lives on. Dropped in the background,
/// so that a store dropped inside an async context does not panic.
pub struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    pub fn new() -> Result<Self, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wfm-store")
            .enable_all()
            .build()?;
        Ok(Bridge {
            runtime: Some(runtime),
        })
    }

    /// Connects on the bridge, blocking the caller until it is done (the
    /// connector's own timeout bounds it).
    pub fn connect(&self, connector: &Arc<Connector>) -> Result<Client, StoreError> {
        let connector = connector.clone();
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        let task = runtime.spawn(async move { connector.connect().await });
        futures::executor::block_on(task).unwrap_or_else(|e| {
            Err(StoreError::Postgres {
                store: String::new(),
                message: format!("the connection task failed: {e}"),
            })
        })
    }

    /// `work` to its end, blocking the caller, or None after `deadline`.
    /// The deadline's timer is the bridge's, which its own thread drives:
    /// the caller's runtime may have no worker free to drive one.
    pub fn wait<T>(
        &self,
        deadline: Duration,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        let _bridge = runtime.enter();
        futures::executor::block_on(tokio::time::timeout(deadline, work)).ok()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
