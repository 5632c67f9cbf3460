//! The daemon started in-process, as `wfm-publisher run` would, on the wall
//! clock with runs of given weeks started at once, or on a clock a test moves.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;
use wfm_publisher::clock::{self, SharedClock};
use wfm_publisher::daemon::{self, AtStart, Daemon, DaemonError, DaemonOptions, RunNow};
use wfm_publisher::publish::Report;

pub struct Running {
    pub daemon: Arc<Daemon>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<Vec<Report>, DaemonError>>,
}

impl Running {
    /// The daemon of `config`, running each of `targets` for `week` at
    /// once; `adopt`: taking over a week the platform shows published.
    pub async fn start(config: &Path, targets: &[&str], week: NaiveDate, adopt: bool) -> Running {
        let runs = targets
            .iter()
            .map(|t| RunNow {
                target: t.parse().expect("a target name"),
                week: Some(week),
            })
            .collect();
        let at_start = AtStart {
            runs,
            adopt,
            exit_when_done: false,
        };
        Running::launch(config, clock::system(), at_start).await
    }

    /// The daemon of `config` on `clock`, doing `at_start` first.
    pub async fn launch(config: &Path, clock: SharedClock, at_start: AtStart) -> Running {
        let shutdown = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let options = DaemonOptions {
            config: config.to_path_buf(),
            clock,
            shutdown: shutdown.clone(),
            reload_on_sighup: false,
            at_start: Some(at_start),
        };
        let task = tokio::spawn(daemon::run_observed(options, tx));
        let daemon = rx.await.expect("the daemon starts");
        Running {
            daemon,
            shutdown,
            task,
        }
    }

    pub fn admin(&self) -> String {
        format!(
            "http://{}",
            self.daemon
                .admin_addr()
                .expect("the admin endpoint listens")
        )
    }

    /// Stops the daemon as SIGTERM does; its reports.
    pub async fn stop(self) -> Vec<Report> {
        self.shutdown.cancel();
        self.task
            .await
            .expect("the daemon's task")
            .expect("the daemon stops cleanly")
    }
}
