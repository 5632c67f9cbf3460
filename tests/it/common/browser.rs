//! A headless Chromium (Debian's `chromium`) driven through its
//! chromedriver (Debian's `chromium-driver`) with the W3C WebDriver
//! protocol: a handful of JSON calls over HTTP, made with the reqwest the
//! tests already use. chromedriver listens on a free loopback port it picks
//! itself; Chromium gets a fresh profile and the flags that keep it from
//! calling anywhere (updates, sync, metrics, QUIC).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// Flags for a Chromium that talks only to the pages it is sent to, and
/// starts no crash reporter (a process of its own session, which would
/// outlive a failed test).
const FLAGS: [&str; 12] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-dev-shm-usage",
    "--window-size=1280,2000",
];

pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    /// The session's URL on chromedriver.
    session: String,
    _profile: tempfile::TempDir,
}

/// Where a program is on PATH, or a failure saying that scripts/test
/// installs it.
fn installed(program: &str, package: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    assert!(
        !path.is_empty(),
        "{program} is missing: scripts/test installs Debian's {package}"
    );
    path
}

impl Browser {
    pub async fn start() -> Browser {
        let chromium = installed("chromium", "chromium");
        let chromedriver = installed("chromedriver", "chromium-driver");
        let (driver, port) = start_driver(&chromedriver);
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let answer = call(
            &http,
            reqwest::Method::POST,
            &format!("{base}/session"),
            Some(capabilities),
        )
        .await;
        let id = answer["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Browser {
            driver,
            http,
            session: format!("{base}/session/{id}"),
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// Runs `script` (a function body; `return` gives its value) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// Runs `script` until what it returns passes `check`, and returns
    /// that; fails after `PATIENCE`, naming `what` and the page's text.
    pub async fn wait_for(
        &self,
        what: &str,
        script: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + super::PATIENCE;
        while tokio::time::Instant::now() < deadline {
            let value = self.eval(script).await;
            if check(&value) {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = self.eval("return document.body.innerText").await;
        panic!(
            "still waiting for {what}; the page reads:\n{}",
            text.as_str().unwrap_or_default()
        );
    }

    /// Focuses the element `css` selects and presses `key` on it, as a
    /// keyboard would (WebDriver's key codes: "\u{e007}" is Enter).
    pub async fn press(&self, css: &str, key: &str) {
        let found = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        let element = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned();
        self.post(&format!("/element/{element}/value"), json!({"text": key}))
            .await;
    }

    /// The page as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let url = format!("{}/screenshot", self.session);
        let png = call(&self.http, reqwest::Method::GET, &url, None).await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a base64 screenshot"))
            .unwrap()
    }

    /// Ends the session (Chromium exits), then chromedriver (Drop).
    pub async fn close(self) {
        call(&self.http, reqwest::Method::DELETE, &self.session, None).await;
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        call(&self.http, reqwest::Method::POST, &url, Some(body)).await
    }
}

impl Drop for Browser {
    /// Ends chromedriver's process group: chromedriver and every Chromium
    /// process it started.
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) with a negative pid signals that process
            // group, ours alone (`process_group(0)` at the spawn).
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.driver.wait();
    }
}

/// chromedriver on a port of its choosing, and the port. Started again if
/// it exits without one: with `--port=0` it picks a port and exits when
/// that port is not free on both IPv4 and IPv6 ("IPv6 port not available.
/// Exiting..."), as the other tests' sockets may make it; once in CI it
/// exited so ("did not say its port: Disconnected").
fn start_driver(chromedriver: &str) -> (Child, u16) {
    let mut last = None;
    for _ in 0..3 {
        // A process group of its own, with the Chromium it starts: a test
        // that fails before `close` still ends them all (Drop).
        let mut driver = Command::new(chromedriver)
            .process_group(0)
            .args(["--port=0", "--allowed-origins=", "--log-level=WARNING"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        match driver_port(&mut driver) {
            Ok(port) => return (driver, port),
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                last = Some(e);
            }
        }
    }
    panic!("chromedriver did not say its port, three times: {last:?}")
}

/// The port chromedriver says it picked. Its output is read to the end on
/// a thread of its own: a closed pipe would stop it at its next line.
fn driver_port(driver: &mut Child) -> Result<u16, String> {
    let out = driver.stdout.take().expect("chromedriver's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                let _ = tx.send(rest.trim_end_matches('.').parse::<u16>());
            }
        }
    });
    match rx.recv_timeout(super::PATIENCE) {
        Ok(Ok(port)) => Ok(port),
        other => Err(format!("{other:?}")),
    }
}

/// One WebDriver call; its `value`, or a failure with the driver's error.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, url);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let answer = request.send().await.expect("chromedriver answers");
    let status = answer.status();
    let body: Value = answer.json().await.expect("a WebDriver answer");
    assert!(status.is_success(), "WebDriver {url}: {status} {body}");
    body["value"].clone()
}
