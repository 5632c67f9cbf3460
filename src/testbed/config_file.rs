//! The configuration file a testbed writes, in types: each key a setter
//! named as the key, each `[section]` a field, so that a test states its
//! setup as `c.workers.concurrency(16)` and a key that is renamed or
//! misspelt fails to compile. Only the keys set are written; the loader's
//! defaults apply to the rest. Written as TOML and loaded by the loader the
//! daemon uses, which refuses a key it does not know (the test below sets
//! every key here, so a key renamed in `config/` fails it).
//!
//! Values are the types the file's text stands for (durations, addresses,
//! zones, the loader's own enums); URLs, paths and cron expressions stay
//! text, as tests also write broken ones.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::Weekday;
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use crate::config::{AgentIds, AmbiguousTimePolicy, NonexistentTimePolicy, PlatformKind};

/// A duration as the file writes it (`"500ms"`, `"1m 30s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl From<Duration> for Span {
    fn from(d: Duration) -> Self {
        Span(d)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(self.0))
    }
}

/// A key that takes one of a few words (`"email"`, `"shift_forward"`),
/// set from the loader's enum the word stands for.
macro_rules! word {
    ($(#[$meta:meta])* $name:ident($enum:ident) { $($variant:ident => $word:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name($enum);

        impl From<$enum> for $name {
            fn from(v: $enum) -> Self {
                $name(v)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(match self.0 {
                    $($enum::$variant => $word,)*
                })
            }
        }
    };
}

word! {
    /// `agent_ids`
    AgentIdsWord(AgentIds) { UserId => "user_id", Email => "email" }
}

word! {
    /// `dst.nonexistent`
    NonexistentWord(NonexistentTimePolicy) { Error => "error", ShiftForward => "shift_forward" }
}

word! {
    /// `dst.ambiguous`
    AmbiguousWord(AmbiguousTimePolicy) { Error => "error", Earliest => "earliest", Latest => "latest" }
}

/// A section's keys, each `Option` (unset: not written) with a setter of
/// the key's name; then its sub-tables, as fields.
macro_rules! section {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$kmeta:meta])* $key:ident: $ty:ty, )*
        }
        $( tables { $( $(#[$tmeta:meta])* $tvis:vis $table:ident: $tty:ty, )* } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Serialize)]
        pub struct $name {
            $( #[serde(skip_serializing_if = "Option::is_none")] $key: Option<$ty>, )*
            $($( $(#[$tmeta])* pub $table: $tty, )*)?
        }

        impl $name {
            $(
                $(#[$kmeta])*
                pub fn $key(&mut self, value: impl Into<$ty>) -> &mut Self {
                    self.$key = Some(value.into());
                    self
                }
            )*
        }
    };
}

section! {
    /// `[log]`
    LogSection {
        level: String,
    }
}

section! {
    /// `[platform]`. Its `kind` (and `region`) with [`PlatformSection::kind`].
    PlatformSection {
        auth_base_url: String,
        api_base_url: String,
        allow_insecure_http: bool,
        client_id: String,
        client_secret_file: String,
        client_secret: String,
        scopes: Vec<String>,
        request_timeout: Span,
        connect_timeout: Span,
        refresh_before: Span,
        min_token_margin: Span,
        default_token_lifetime: Span,
        check_timeout: Span,
        max_answer_bytes: i64,
    }
    tables {
        #[serde(flatten)]
        kind: KindKeys,
    }
}

/// `platform.kind` and `platform.region`, written together from the
/// loader's [`PlatformKind`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindKeys {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
}

impl PlatformSection {
    /// `kind`, and for Genesys Cloud its `region`.
    pub fn kind(&mut self, kind: PlatformKind) -> &mut Self {
        self.kind = match kind {
            PlatformKind::Simple => KindKeys {
                kind: Some("simple"),
                region: None,
            },
            PlatformKind::GenesysCloud { region } => KindKeys {
                kind: Some("genesys-cloud"),
                region: Some(region),
            },
        };
        self
    }
}

section! {
    /// One of `[rate_limits.default]`, `.publish`, `.trade_jobs`.
    RateLimitSection {
        requests: i64,
        per: Span,
        burst: i64,
    }
}

section! {
    /// `[rate_limits]`: its buckets.
    RateLimitsSection {}
    tables {
        pub default: RateLimitSection,
        pub publish: RateLimitSection,
        pub trade_jobs: RateLimitSection,
    }
}

section! {
    /// `[retry]`
    RetrySection {
        initial_delay: Span,
        max_delay: Span,
        max_attempts: i64,
        max_elapsed: Span,
        run_initial_delay: Span,
        run_max_delay: Span,
    }
}

section! {
    /// `[workers]`
    WorkersSection {
        concurrency: i64,
        shutdown_grace: Span,
    }
}

section! {
    /// `[store]`
    StoreSection {
        path: String,
        url: String,
        password_file: String,
        password: String,
        lease_ttl: Span,
        lease_renew: Span,
    }
}

section! {
    /// `[admin]`
    AdminSection {
        listen: SocketAddr,
        token_file: String,
        header_read_timeout: Span,
        request_timeout: Span,
        max_connections: i64,
        max_connections_per_address: i64,
    }
}

section! {
    /// `[notify]`
    NotifySection {
        webhook_url: String,
        timeout: Span,
    }
}

section! {
    /// `[targets.<name>.deferral]`
    DeferralSection {
        poll_interval: Span,
        deadline: Span,
    }
}

section! {
    /// `[targets.<name>.dst]`
    DstSection {
        nonexistent: NonexistentWord,
        ambiguous: AmbiguousWord,
    }
}

section! {
    /// `[targets.<name>]`; `business_unit` and after: Genesys Cloud's.
    TargetSection {
        schedule_id: String,
        time_zone: Tz,
        allow_frequent: bool,
        cron: String,
        source: String,
        week_start_day: Weekday,
        catch_up: Span,
        source_wait: Span,
        source_grace: Span,
        source_settle: Span,
        follow_symlinks: bool,
        max_source_bytes: i64,
        business_unit: String,
        schedule_description: String,
        agent_ids: AgentIdsWord,
    }
    tables {
        pub deferral: DeferralSection,
        pub dst: DstSection,
        /// Genesys Cloud: source activity → activity code.
        pub activity_codes: BTreeMap<String, String>,
    }
}

impl TargetSection {
    /// The small scenario's Chicago schedule of the week, published
    /// Thursdays at 06:00 in Chicago from `inbox/{inbox}/{week_start}.csv`.
    pub fn chicago(inbox: &str) -> Self {
        let mut t = TargetSection::default();
        t.schedule_id("chicago-{week_start}")
            .time_zone(chrono_tz::America::Chicago)
            .cron("0 6 * * 4")
            .source(format!("inbox/{inbox}/{{week_start}}.csv"));
        t
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigFile {
    pub log: LogSection,
    pub platform: PlatformSection,
    pub rate_limits: RateLimitsSection,
    pub retry: RetrySection,
    pub workers: WorkersSection,
    pub store: StoreSection,
    pub admin: AdminSection,
    pub notify: NotifySection,
    pub targets: BTreeMap<String, TargetSection>,
}

impl ConfigFile {
    /// What the tests and benchmarks start from: against `base_url` as
    /// `client_id`, whose secret is in the file `client_secret`; limits
    /// high enough that a test is not a wait; the store `state.db`; the
    /// admin endpoint on a free loopback port; one target, `chicago`
    /// ([`TargetSection::chicago`]).
    pub fn standard(base_url: &str, client_id: &str) -> Self {
        let mut c = ConfigFile::default();
        c.platform
            .auth_base_url(base_url)
            .api_base_url(base_url)
            .allow_insecure_http(true)
            .client_id(client_id)
            .client_secret_file("client_secret")
            .request_timeout(Duration::from_secs(5));
        c.rate_limits
            .default
            .requests(1000)
            .per(Duration::from_secs(1));
        c.rate_limits
            .publish
            .requests(100)
            .per(Duration::from_secs(1));
        c.retry
            .initial_delay(Duration::from_millis(20))
            .max_delay(Duration::from_millis(500))
            .max_attempts(6)
            .max_elapsed(Duration::from_secs(60));
        c.store.path("state.db");
        c.admin.listen(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.targets
            .insert("chicago".into(), TargetSection::chicago("chicago"));
        c
    }

    /// `[targets.{name}]`, an empty one added if there is none.
    pub fn target(&mut self, name: &str) -> &mut TargetSection {
        self.targets.entry(name.to_string()).or_default()
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        let mut value = toml::Value::try_from(self).expect("a configuration serializes as TOML");
        prune(&mut value);
        toml::to_string(&value).expect("a TOML table serializes")
    }
}

/// Leaves out the tables nothing was set in: an empty `[notify]` says
/// nothing the loader's defaults do not.
fn prune(value: &mut toml::Value) {
    if let toml::Value::Table(table) = value {
        for (_, v) in table.iter_mut() {
            prune(v);
        }
        table.retain(|_, v| !matches!(v, toml::Value::Table(t) if t.is_empty()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Every key of the simple contract's configuration, set to a valid
    /// value.
    fn every_simple_key() -> ConfigFile {
        let mut c = ConfigFile::standard("http://127.0.0.1:1/", "publisher");
        c.log.level("debug");
        c.platform
            .kind(PlatformKind::Simple)
            .client_secret("inline-secret")
            .scopes(vec!["wfm:schedule:read".to_string()])
            .connect_timeout(secs(3))
            .refresh_before(secs(90))
            .min_token_margin(secs(20))
            .default_token_lifetime(secs(600))
            .check_timeout(secs(7))
            .max_answer_bytes(1_000_000);
        c.rate_limits.trade_jobs.requests(5).per(secs(60)).burst(2);
        c.retry.run_initial_delay(secs(1)).run_max_delay(secs(2));
        c.workers.concurrency(8).shutdown_grace(secs(2));
        c.store
            .url("postgres://wfm@127.0.0.1:5432/wfm?sslmode=disable")
            .password_file("pg_password")
            .password("inline-password")
            .lease_ttl(secs(4))
            .lease_renew(secs(1));
        c.admin
            .token_file("admin_token")
            .header_read_timeout(Duration::from_millis(300))
            .request_timeout(secs(9))
            .max_connections(4);
        c.notify
            .webhook_url("http://127.0.0.1:1/hook")
            .timeout(secs(2));
        let t = c.target("chicago");
        t.allow_frequent(true)
            .week_start_day(Weekday::Sun)
            .catch_up(secs(7200))
            .source_wait(secs(0))
            .source_grace(secs(3600))
            .source_settle(Duration::from_millis(50))
            .follow_symlinks(true)
            .max_source_bytes(1000);
        t.deferral
            .poll_interval(Duration::from_millis(300))
            .deadline(secs(600));
        t.dst
            .nonexistent(NonexistentTimePolicy::ShiftForward)
            .ambiguous(AmbiguousTimePolicy::Latest);
        c
    }

    /// The keys only Genesys Cloud's configuration has, set.
    fn every_genesys_key() -> ConfigFile {
        let mut c = ConfigFile::standard("http://127.0.0.1:1/", "publisher");
        c.platform.kind(PlatformKind::GenesysCloud {
            region: "mypurecloud.ie".into(),
        });
        let t = c.target("chicago");
        t.business_unit("Chicago Support")
            .schedule_description("week {week_start}")
            .agent_ids(AgentIds::Email);
        t.activity_codes.insert("phone".into(), "On Queue".into());
        c
    }

    /// `config` written in a directory with the secret files it names,
    /// then loaded.
    fn load(config: &ConfigFile) -> Settings {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for file in ["client_secret", "pg_password", "admin_token"] {
            let path = dir.path().join(file);
            std::fs::write(&path, "a-secret").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let path = dir.path().join("config.toml");
        let text = config.to_toml();
        std::fs::write(&path, &text).unwrap();
        Settings::load_with_env(&path, Default::default()).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn every_key_the_builder_writes_is_one_the_loader_reads() {
        let settings = load(&every_simple_key());
        let chicago = &settings.targets["chicago"];
        assert_eq!(chicago.deferral.poll_interval, Duration::from_millis(300));
        assert_eq!(chicago.week_start_day, Weekday::Sun);
        assert_eq!(chicago.source_wait.wait, Some(Duration::ZERO));
        assert_eq!(chicago.dst.ambiguous, AmbiguousTimePolicy::Latest);
        assert_eq!(settings.workers.concurrency, 8);
        assert_eq!(settings.admin.max_connections, 4);
        assert_eq!(settings.rate_limits.trade_jobs.burst, 2);

        let settings = load(&every_genesys_key());
        assert_eq!(
            settings.platform.kind,
            PlatformKind::GenesysCloud {
                region: "mypurecloud.ie".into()
            }
        );
        let genesys = settings.targets["chicago"].genesys.clone().unwrap();
        assert_eq!(genesys.agent_ids, AgentIds::Email);
        assert_eq!(genesys.activity_codes["phone"], "On Queue");
    }

    #[test]
    fn only_the_keys_set_are_written() {
        let text = ConfigFile::standard("http://127.0.0.1:1/", "publisher").to_toml();
        assert!(!text.contains("[workers]"), "{text}");
        assert!(!text.contains("trade_jobs"), "{text}");
        assert!(text.contains("max_delay = \"500ms\""), "{text}");
    }
}
