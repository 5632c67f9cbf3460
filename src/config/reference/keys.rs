//! Every section and key of the configuration, as the reference shows it.
//! The tests beside this file fail when a key the loader reads is missing
//! here, when one here is not read, and when a default here is not the
//! loader's.
//!
//! A table: its entries are alike in shape on purpose, one per key.

use super::Default::{Derived, Required, Unset, Value};
use super::Kind::*;
use super::Platform::{Both, Genesys, Simple};
use super::{Key, Section};

const fn key(
    name: &'static str,
    kind: super::Kind,
    default: super::Default,
    doc: &'static str,
) -> Key {
    Key {
        name,
        kind,
        default,
        platform: Both,
        doc,
    }
}

const fn only(platform: super::Platform, key: Key) -> Key {
    Key { platform, ..key }
}

pub static SECTIONS: &[Section] = &[
    Section {
        path: "log",
        doc: "Logging. `RUST_LOG`, when set, wins; then the command line's `-v` or `--log-level`.",
        keys: &[key(
            "level",
            String,
            Value("\"info\""),
            "`trace`, `debug`, `info`, `warn`, `error`, or a filter directive such as \
             `wfm_publisher=debug,info`. A reload (SIGHUP) applies a new level at once.",
        )],
    },
    Section {
        path: "platform",
        doc: "The WFM platform and the OAuth client-credentials application the publisher uses.",
        keys: &[
            key(
                "kind",
                String,
                Value("\"simple\""),
                "`simple` (the contract of CONTRACT.md) or `genesys-cloud` (Genesys Cloud WFM).",
            ),
            only(Genesys, key(
                "region",
                String,
                Value("\"mypurecloud.com\""),
                "The Genesys Cloud region's domain (`mypurecloud.com`, `mypurecloud.ie`, \
                 `usw2.pure.cloud`, …): the base URLs default to `https://login.REGION` and \
                 `https://api.REGION`. Read, and ignored, for the simple contract.",
            )),
            key(
                "auth_base_url",
                Url,
                Derived("**required** for `simple`; Genesys Cloud: `https://login.{region}/`"),
                "Where tokens are requested (`POST {auth_base_url}/oauth/token`); its path is \
                 kept. No user name, password or query.",
            ),
            key(
                "api_base_url",
                Url,
                Derived("**required** for `simple`; Genesys Cloud: `https://api.{region}/`"),
                "Base of the `/api/v2` endpoints; its path is kept. No user name, password or query.",
            ),
            key(
                "allow_insecure_http",
                Boolean,
                Value("false"),
                "Accept `http://` base and webhook URLs: for a local simulator. Warned about \
                 for a host off loopback (the secret and tokens would cross the network in clear).",
            ),
            key("client_id", String, Required, "The OAuth application's client id."),
            key(
                "client_secret_file",
                Path,
                Unset,
                "A file holding the client secret (keeps it out of this file and the \
                 environment). Under systemd leave it unset: the unit hands the root-only \
                 file over as the credential `client_secret`.",
            ),
            key(
                "client_secret",
                String,
                Unset,
                "The client secret itself: allowed, discouraged (this file becomes a secret); \
                 in practice `WFM_PUBLISHER__PLATFORM__CLIENT_SECRET`.",
            ),
            only(Simple, key(
                "scopes",
                Strings,
                Value("[\"wfm:schedule:read\", \"wfm:schedule:write\", \"wfm:admin\", \"org:read\"]"),
                "Scopes requested; the platform silently grants only those the application is \
                 entitled to (`check` says which it dropped). Genesys Cloud grants by role, \
                 not scope: the key is unknown there.",
            )),
            key("request_timeout", Duration, Value("\"30s\""), "Whole-request timeout; a hung call is retried after it."),
            key("connect_timeout", Duration, Value("\"10s\""), "TCP and TLS connect timeout."),
            key(
                "refresh_before",
                Duration,
                Value("\"5m\""),
                "Fetch a new token this long before the current one expires. Must be longer \
                 than `min_token_margin`.",
            ),
            key(
                "min_token_margin",
                Duration,
                Value("\"30s\""),
                "Never start a request with a token that has less than this left.",
            ),
            key(
                "default_token_lifetime",
                Duration,
                Value("\"10m\""),
                "A token's lifetime when its answer has no `expires_in` (RFC 6749 only \
                 recommends it); a token refused sooner is dropped on its 401.",
            ),
            key(
                "check_timeout",
                Duration,
                Value("\"15s\""),
                "How long `check` gives each row before saying which host did not answer.",
            ),
            key(
                "max_answer_bytes",
                Integer,
                Value("67108864"),
                "The largest answer read from the platform (64 MiB); a larger one, declared \
                 or not, is refused rather than read. At least 1024.",
            ),
        ],
    },
    Section {
        path: "rate_limits.default",
        doc: "Every call but publish: at most `requests` per `per`. The budget the platform \
              advertises (`X-RateLimit-*`, Genesys Cloud's `inin-ratelimit-*`) governs; this \
              is then a ceiling, and the only pacing for a platform that advertises none.",
        keys: RATE_DEFAULT,
    },
    Section {
        path: "rate_limits.publish",
        doc: "The simple contract's `POST …/publish`, which has a stricter bucket.",
        keys: RATE_PUBLISH,
    },
    Section {
        path: "rate_limits.trade_jobs",
        doc: "Genesys Cloud's shift-trade query jobs (5 a minute per user): a 429 there holds \
              only these, and `deferral.poll_interval` is kept at `per` ÷ `requests` or more.",
        keys: RATE_TRADES,
    },
    Section {
        path: "retry",
        doc: "Backoff for transient failures (429, 5xx, timeouts, locks); a `Retry-After` \
              always wins. A run that still fails for such a cause ends `failed` and the \
              daemon runs it again; `publish` exits 75.",
        keys: &[
            key("initial_delay", Duration, Value("\"500ms\""), "First wait between attempts of a call."),
            key("max_delay", Duration, Value("\"30s\""), "Longest wait between attempts of a call."),
            key("max_attempts", Integer, Value("8"), "Attempts of a call before giving up."),
            key(
                "max_elapsed",
                Duration,
                Value("\"5m\""),
                "Time a call may take, retries included. Genesys Cloud: also how long an \
                 update may take to end.",
            ),
            key(
                "run_initial_delay",
                Duration,
                Value("\"1m\""),
                "The daemon's first wait before running a failed run again.",
            ),
            key(
                "run_max_delay",
                Duration,
                Value("\"30m\""),
                "The longest, doubling with jitter from `run_initial_delay`, until the run ends \
                 otherwise, the deferral deadline passes or the next scheduled run is due.",
            ),
        ],
    },
    Section {
        path: "workers",
        doc: "Concurrency and the stop.",
        keys: &[
            key(
                "concurrency",
                Integer,
                Value("256"),
                "Calls in flight at once (1 to 256); the budget paces them. Enough is the \
                 calls a second times the round trip, three times that around publish locks \
                 (docs/BENCHMARKS.md).",
            ),
            key(
                "shutdown_grace",
                Duration,
                Value("\"30s\""),
                "On SIGTERM, how long requests already sent may finish before the process \
                 persists and exits; the rest resumes at the next start.",
            ),
        ],
    },
    Section {
        path: "store",
        doc: "Durable state: what was published, so a restart neither publishes twice nor \
              forgets deferred agents. SQLite by default; PostgreSQL (`url`) for two replicas.",
        keys: &[
            key(
                "path",
                Path,
                Value("\"/var/lib/wfm-publisher/state.db\""),
                "The SQLite database, on persistent storage; created mode 0600 by the daemon \
                 or `publish` (never by `status`, `check` or a dry run). Beside it \
                 `state.db.lock`, the run lock.",
            ),
            key(
                "url",
                String,
                Unset,
                "`postgres://user@host:5432/db?sslmode=verify-full[&sslrootcert=FILE]`: the \
                 state in PostgreSQL, shared by replicas, with the lease that lets one \
                 publish. Without a password (one in the URL is refused). `sslmode` as libpq \
                 reads it; the default is `prefer` on loopback, `verify-full` elsewhere.",
            ),
            key(
                "password_file",
                Path,
                Unset,
                "A file holding the database password; else `WFM_PUBLISHER__STORE__PASSWORD`, \
                 else the systemd credential `store_password`; none for trust or peer \
                 authentication.",
            ),
            key(
                "password",
                String,
                Unset,
                "The database password itself; in practice `WFM_PUBLISHER__STORE__PASSWORD`.",
            ),
            key(
                "lease_ttl",
                Duration,
                Value("\"15s\""),
                "PostgreSQL: how long the lease lasts without renewal, on the database's clock.",
            ),
            key(
                "lease_renew",
                Duration,
                Value("\"5s\""),
                "PostgreSQL: how often the leader renews it; at most half of `lease_ttl`. A \
                 takeover takes at most `lease_ttl` + `lease_renew`.",
            ),
        ],
    },
    Section {
        path: "admin",
        doc: "The HTTP endpoint: `/healthz`, `/readyz`, `/status`, `/metrics`, \
              `POST /targets/NAME/runs`.",
        keys: &[
            key(
                "listen",
                String,
                Value("\"127.0.0.1:9464\""),
                "Address and port. Any address but loopback is refused unless an admin token \
                 is configured. Takes effect at the next start.",
            ),
            key(
                "token_file",
                Path,
                Unset,
                "The bearer token `POST /targets/NAME/runs` and `/status` require; else the \
                 systemd credential `admin_token`; with neither, runs cannot be triggered over \
                 HTTP. `/healthz`, `/readyz` and `/metrics` stay open.",
            ),
            key(
                "header_read_timeout",
                Duration,
                Value("\"10s\""),
                "A client that has not sent its headers within this is cut off.",
            ),
            key("request_timeout", Duration, Value("\"30s\""), "A request not answered within this gets 503."),
            key(
                "max_connections",
                Integer,
                Value("64"),
                "Connections served at once (1 to 1024); one more is answered 503 at once.",
            ),
            key(
                "max_connections_per_address",
                Integer,
                Derived("a quarter of `max_connections`, at least 1"),
                "Connections one client address may hold (1 to `max_connections`); one more is answered 503 at once.",
            ),
        ],
    },
    Section {
        path: "notify",
        doc: "The webhook told about runs that end badly and late source files \
              (payloads: docs/OPERATION.md, \"The webhook\").",
        keys: &[
            key(
                "webhook_url",
                Url,
                Unset,
                "Receives a JSON POST; https unless `platform.allow_insecure_http`. A query \
                 string (a chat hook's key) is accepted and never shown.",
            ),
            key(
                "timeout",
                Duration,
                Value("\"10s\""),
                "How long one notification may take; at the stop, pending ones are waited for \
                 this long at most (never beyond `workers.shutdown_grace`).",
            ),
        ],
    },
    Section {
        path: "targets.NAME",
        doc: "One table per schedule to publish; at least one. NAME (lower-case letters, \
              digits, `_`, `-`) appears in logs, `/status`, the store and the command line \
              (`--target NAME`).",
        keys: TARGET,
    },
    Section {
        path: "targets.NAME.deferral",
        doc: "Agents with a pending shift swap (trade) are not written until it is decided.",
        keys: &[
            key(
                "poll_interval",
                Duration,
                Value("\"1m\""),
                "How often the swaps are listed again while agents wait. Shorter than `deadline`.",
            ),
            key(
                "deadline",
                Duration,
                Value("\"12h\""),
                "Stop waiting this long before the week starts: agents still waiting are \
                 reported unpublished and the run ends partial.",
            ),
        ],
    },
    Section {
        path: "targets.NAME.dst",
        doc: "Local times a DST change skips or repeats.",
        keys: &[
            key(
                "nonexistent",
                String,
                Value("\"error\""),
                "A time in a spring-forward gap: `error` refuses the agent's week, \
                 `shift_forward` moves it by the gap.",
            ),
            key(
                "ambiguous",
                String,
                Value("\"error\""),
                "A time repeated at fall-back: `error`, `earliest` or `latest`.",
            ),
        ],
    },
    Section {
        path: "targets.NAME.activity_codes",
        doc: "*Genesys Cloud only.* The source file's activity names mapped to the business \
              unit's activity codes, by code name or id: `phone = \"On Queue\"`. An \
              activity not listed is looked up by its own name; one that matches no active \
              code is refused at `FILE:LINE`.",
        keys: &[],
    },
];

static RATE_DEFAULT: &[Key] = &[
    key("requests", Integer, Value("10"), "Calls allowed per `per`."),
    key("per", Duration, Value("\"1s\""), "The window."),
    key(
        "burst",
        Integer,
        Value("1"),
        "Calls allowed at once above the steady rate; 1 never sends more than `requests` \
         into one of the platform's fixed windows.",
    ),
];

static RATE_PUBLISH: &[Key] = &[
    key(
        "requests",
        Integer,
        Value("1"),
        "Publishes allowed per `per`.",
    ),
    key("per", Duration, Value("\"2s\""), "The window."),
    key(
        "burst",
        Integer,
        Value("1"),
        "As for `rate_limits.default`.",
    ),
];

static RATE_TRADES: &[Key] = &[
    key(
        "requests",
        Integer,
        Value("5"),
        "Trade query jobs allowed per `per`.",
    ),
    key("per", Duration, Value("\"60s\""), "The window."),
    key(
        "burst",
        Integer,
        Value("1"),
        "As for `rate_limits.default`.",
    ),
];

static TARGET: &[Key] = &[
    key(
        "schedule_id",
        String,
        Derived("**required** for `simple`; Genesys Cloud: found by `schedule_description`"),
        "The platform's schedule; `{week_start}` (YYYY-MM-DD) is replaced by the week's first \
         day. `.`, `..` and ids with `/` are refused.",
    ),
    key(
        "time_zone",
        String,
        Required,
        "IANA zone: the source file's times are local to it, and the cron runs in it.",
    ),
    key(
        "cron",
        String,
        Required,
        "When the daemon publishes, in `time_zone`: 5 fields, or 6 with seconds first \
         (`0 6 * * 4`: Thursdays 06:00). One that never fires, or fires more than once an \
         hour (unless `allow_frequent`), is refused.",
    ),
    key(
        "allow_frequent",
        Boolean,
        Value("false"),
        "Accept a cron that fires more than once an hour.",
    ),
    key(
        "source",
        Path,
        Required,
        "The week's file, with `{week_start}`; `.csv` or `.json` (formats: \
         docs/OPERATION.md, \"Source files\").",
    ),
    key(
        "week_start_day",
        String,
        Value("\"monday\""),
        "The first day of a week at this site.",
    ),
    key(
        "catch_up",
        Duration,
        Value("\"6h\""),
        "A run missed while the daemon was down is made up at start if at most this old; \
         `\"0s\"` never.",
    ),
    key(
        "source_wait",
        Duration,
        Derived("until the deferral deadline"),
        "How long after its start a run waits for a missing source file (never past the \
         deferral deadline); `\"0s\"` refuses at once.",
    ),
    key(
        "source_grace",
        Duration,
        Value("\"1h\""),
        "A wait this long tells the webhook once that the file is late.",
    ),
    key(
        "source_settle",
        Duration,
        Value("\"5s\""),
        "The file counts as complete once its size and mtime have not changed for this long.",
    ),
    key(
        "follow_symlinks",
        Boolean,
        Value("false"),
        "Read a source path that is a symbolic link (refused otherwise).",
    ),
    key(
        "max_source_bytes",
        Integer,
        Value("67108864"),
        "A week's file larger than this (64 MiB) is refused before it is read.",
    ),
    only(
        Genesys,
        key(
            "business_unit",
            String,
            Required,
            "The business unit, by name or id; its time zone and first day must be the target's.",
        ),
    ),
    only(
        Genesys,
        key(
            "schedule_description",
            String,
            Derived("`wfm-publisher NAME {week_start}`"),
            "The description the week's schedule is found by, or created with when there is none \
         and no `schedule_id`; `{week_start}` allowed.",
        ),
    ),
    only(
        Genesys,
        key(
            "agent_ids",
            String,
            Value("\"user_id\""),
            "What the source file's `agent_id` holds: `user_id` (Genesys user ids) or `email` \
         (resolved through the Users search, `directory:user:view`).",
        ),
    ),
];
