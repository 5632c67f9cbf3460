//! A throwaway PostgreSQL cluster for one test: `initdb` and `pg_ctl` from
//! Debian's `postgresql` package in a temporary directory, listening on a
//! free port of 127.0.0.1, run as `nobody` when the tests run as root
//! (initdb refuses root), stopped and deleted on drop. No Docker.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const NOBODY: u32 = 65534;

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// Started with `ssl = on` (its certificate in the data directory).
    tls: bool,
}

/// Debian's versioned binaries (the newest), else whatever is on PATH.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path().join("bin"))).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").exists());
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().unwrap_or_else(|| {
        let initdb = Command::new("sh")
            .args(["-c", "command -v initdb"])
            .output()
            .expect("sh runs");
        let path = String::from_utf8_lossy(&initdb.stdout).trim().to_owned();
        assert!(
            !path.is_empty(),
            "PostgreSQL is not installed: apt-get install postgresql (.ci/run does)"
        );
        Path::new(&path).parent().unwrap().to_path_buf()
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgCluster {
    pub fn start() -> PgCluster {
        Self::start_with(None)
    }

    /// A cluster that also accepts TLS, with `cert` and `key` (PEM).
    pub fn start_with_tls(cert: &str, key: &str) -> PgCluster {
        Self::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> PgCluster {
        let dir = tempfile::Builder::new().prefix("wfm-pg").tempdir().unwrap();
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        }
        let cluster = PgCluster {
            bin: bin_dir(),
            port: free_port(),
            dir,
            tls: tls.is_some(),
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        if let Some((cert, key)) = tls {
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = data.join(name);
                std::fs::write(&path, pem).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
                if unsafe { libc::geteuid() } == 0 {
                    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
                }
            }
        }
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`, without TLS.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// `tool` with `args`, as `nobody` when the tests run as root.
    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args).current_dir(self.dir.path());
        if unsafe { libc::geteuid() } == 0 {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        cmd
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool, args)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}\nlog: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }

    fn pg_ctl_start(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        if self.tls {
            options.push_str(" -c ssl=on");
        }
        let data = self.data();
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once (as a crash would) and starts it again.
    pub fn restart(&self) {
        self.stop();
        self.pg_ctl_start();
    }

    pub fn stop(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    pub fn start_again(&self) {
        self.pg_ctl_start();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        let args = ["-D", data.to_str().unwrap(), "-m", "immediate", "stop"];
        let _ = self.command("pg_ctl", &args).output();
    }
}
