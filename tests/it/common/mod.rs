//! Helpers shared by the integration tests: a simulator on 127.0.0.1:0 and
//! a raw HTTP client that speaks the contract without the publisher's code.
#![allow(dead_code)]

pub mod browser;
pub mod genesys;
pub mod oauth;
pub mod postgres;
pub mod publishing;
pub mod relay;
pub mod running;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Weekday};

use serde_json::Value;
use wfm_publisher::clock::{self, SharedClock};
use wfm_publisher::config::Settings;
use wfm_publisher::sim::{AnyScenario, Dating, Scenario, SimHandle};
use wfm_publisher::testbed::{self, Testbed};

pub use wfm_publisher::testbed::ConfigFile;

/// The week the tests publish, read once from the clock that the binary,
/// the simulator and the library's system clock all read (faked with them
/// under libfaketime): the first coming Monday whose swap cut-off (the
/// default 12 hours before it starts in Chicago) is more than two hours
/// ahead, so a test's swaps are decided before it whatever the hour.
pub fn week() -> NaiveDate {
    static WEEK: OnceLock<NaiveDate> = OnceLock::new();
    *WEEK.get_or_init(|| {
        wfm_publisher::domain::week::first_week_with_cutoff_ahead(
            clock::system().now(),
            chrono_tz::America::Chicago,
            Weekday::Mon,
            wfm_publisher::domain::week::COMING_WEEK_CUTOFF,
        )
    })
}

/// Day `n` of the test week (0: Monday).
pub fn day(n: i64) -> NaiveDate {
    week() + TimeDelta::days(n)
}

/// The test week's schedule in the small scenario.
pub fn schedule_id() -> String {
    format!("chicago-{}", week())
}

/// `n` milliseconds, for the configuration's durations.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// How long one step of a test (a process to its end, a state to come
/// about) may take before the test fails saying what it waited for: steps
/// take seconds, so only a hang reaches it, and it is under two minutes.
pub const PATIENCE: Duration = Duration::from_secs(110);

/// `step` to its end, or a failure naming `what` after [`PATIENCE`].
pub async fn patiently<T>(what: &str, step: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, step).await {
        Ok(done) => done,
        Err(_) => panic!("still waiting after {PATIENCE:?} for {what}"),
    }
}

pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// config/sim-small.toml served for the test week, as `wfm-publisher sim`
/// serves it for the coming one.
pub fn small_scenario() -> Scenario {
    small_scenario_for(week())
}

/// config/sim-small.toml served for the week of `week`, a Monday.
pub fn small_scenario_for(week: NaiveDate) -> Scenario {
    small_scenario_dated(Dating::Week(week))
}

/// config/sim-small.toml with its dates as written (the week of
/// 2026-11-30): for tests whose manual clock starts before that week.
pub fn small_scenario_as_written() -> Scenario {
    small_scenario_dated(Dating::AsWritten)
}

fn small_scenario_dated(dating: Dating) -> Scenario {
    match AnyScenario::load_dated(&repo_file("config/sim-small.toml"), dating) {
        Ok((AnyScenario::Simple(s), _)) => *s,
        Ok(_) => panic!("config/sim-small.toml is a scenario of the simple contract"),
        Err(e) => panic!("the small scenario loads: {e}"),
    }
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub async fn spawn_sim(scenario: Scenario) -> SimHandle {
    spawn_sim_with_clock(scenario, clock::system()).await
}

pub async fn spawn_sim_with_clock(scenario: Scenario, clock: SharedClock) -> SimHandle {
    testbed::spawn_sim(scenario, clock)
        .await
        .expect("the simulator binds a loopback port")
}

/// A minimal contract-level client for tests of the simulator itself.
pub struct Raw {
    pub base: String,
    pub http: reqwest::Client,
    /// The schedule `put_week` and `publish` address.
    pub schedule: String,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl Raw {
    /// A client of the test week's schedule.
    pub fn new(sim: &SimHandle) -> Self {
        Self::of_week(sim, week())
    }

    /// A client of the small scenario's schedule of `week`.
    pub fn of_week(sim: &SimHandle, week: NaiveDate) -> Self {
        Raw {
            base: sim.base_url(),
            http: reqwest::Client::new(),
            schedule: format!("chicago-{week}"),
        }
    }

    pub async fn answer(r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn token_request(&self, id: &str, secret: &str, form: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("token request");
        Self::answer(r).await
    }

    pub async fn token(&self, id: &str, secret: &str, scope: &str) -> String {
        let a = self
            .token_request(
                id,
                secret,
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(a.status, 200, "token for {id}: {}", a.body);
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn publisher_token(&self) -> String {
        self.token(
            "publisher",
            "publisher-secret",
            "wfm:schedule:read wfm:schedule:write wfm:admin org:read",
        )
        .await
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::answer(req.send().await.expect("api request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn put_week(&self, token: &str, agent: &str, shifts: Value) -> Answer {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/v2/wfm/schedule/agent/{agent}"),
            token,
            Some(serde_json::json!({"scheduleId": self.schedule, "shifts": shifts})),
        )
        .await
    }

    pub async fn publish(&self, token: &str, agents: &[&str]) -> Answer {
        self.call(
            reqwest::Method::POST,
            "/api/v2/wfm/schedule/publish",
            token,
            Some(serde_json::json!({"scheduleId": self.schedule, "agentIds": agents})),
        )
        .await
    }
}

/// Sends `signal` (e.g. "-TERM") to process `pid`.
pub fn kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Monday 08:00-16:00 in Chicago during the test week.
pub fn monday_shift() -> Value {
    monday_shift_of(week())
}

/// Monday 08:00-16:00 in Chicago during the week of `week`.
pub fn monday_shift_of(week: NaiveDate) -> Value {
    serde_json::json!([{"startTime": utc_on(week, 8, 0), "endTime": utc_on(week, 16, 0), "activity": "phone"}])
}

/// The library's testbed with the standard configuration, failing the test
/// on any setup error.
pub struct TestConfig(Testbed);

impl std::ops::Deref for TestConfig {
    type Target = Testbed;
    fn deref(&self) -> &Testbed {
        &self.0
    }
}

impl TestConfig {
    /// `client` is one of the small scenario's clients; the secret is
    /// `<client>-secret`.
    pub fn new(base_url: &str, client: &str) -> Self {
        Self::with_secret(base_url, client, &format!("{client}-secret"))
    }

    pub fn with_secret(base_url: &str, client: &str, secret: &str) -> Self {
        TestConfig(Testbed::standard(base_url, client, secret).expect("a testbed"))
    }

    pub fn settings(&self) -> Settings {
        self.0
            .settings()
            .unwrap_or_else(|e| panic!("test configuration: {e}"))
    }

    /// Loads it changed by `change`; the file stays as it is.
    pub fn settings_with(&self, change: impl FnOnce(&mut ConfigFile)) -> Settings {
        self.0
            .settings_with(change)
            .unwrap_or_else(|e| panic!("test configuration: {e}"))
    }

    /// Changes it by `change` and rewrites the file.
    pub fn change(&self, change: impl FnOnce(&mut ConfigFile)) {
        self.0.change(change).unwrap()
    }

    /// Writes it changed by `change` to `name` beside the file: another
    /// process's configuration.
    pub fn variant(&self, name: &str, change: impl FnOnce(&mut ConfigFile)) -> PathBuf {
        self.0.variant(name, change).unwrap()
    }

    /// Rewrites the file's text, replacing `from` (which must be there) by
    /// `to`: for tests of a broken file.
    pub fn edit(&self, from: &str, to: &str) {
        self.0.edit(from, to).unwrap()
    }
}

/// Collects what a webhook receives.
pub async fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// `hour:minute` in Chicago on day `n` of the test week, in UTC as the
/// contract writes it (`2026-11-30T14:00:00Z`).
pub fn utc_at(n: i64, hour: u32, minute: u32) -> String {
    utc_on(day(n), hour, minute)
}

/// `hour:minute` in Chicago on `date`, in UTC as the contract writes it.
pub fn utc_on(date: NaiveDate, hour: u32, minute: u32) -> String {
    date.and_hms_opt(hour, minute, 0)
        .unwrap()
        .and_local_timezone(chrono_tz::America::Chicago)
        .unwrap()
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The run ended in success; when it did not, its rendered report says why.
#[track_caller]
pub fn assert_success(report: &wfm_publisher::publish::Report) {
    assert_eq!(
        report.outcome,
        Some(wfm_publisher::store::Outcome::Success),
        "{}",
        report.render()
    );
}
