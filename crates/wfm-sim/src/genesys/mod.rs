//! A simulator of the Genesys Cloud WFM API of
//! `genesys-cloud/CONTRACT.md`, for testing the publisher's Genesys adapter:
//! served when a scenario file says `kind = "genesys-cloud"`.
//!
//! One HTTP server plays every host: the login host (`/oauth/token`), the
//! API host (`/api/v2/...`), the object store behind presigned upload URLs
//! (`/uploads/{key}`) and result downloads (`/downloads/{key}`), and the
//! notification websocket (`/channels/{id}`). Everything timed runs on the
//! injected clock.
//!
//! Where the contract is silent the simulator decides, strictly:
//!
//! * Tokens: `scope` is ignored; `expires_in` is the client's lifetime.
//!   401 codes: `authentication.required` (no bearer), `bad.credentials`
//!   (unknown token), `credentials.expired`.
//! * Permissions: a grant is a permission in some divisions (`"*"`: all),
//!   optionally team-scoped. A BU is `authorized` when the client holds any
//!   `wfm:` permission in its division; the MU list shows only such MUs.
//!   Refusals are 403 `missing.permissions` (one permission required) or
//!   `missing.any.permissions` (any of several), naming them in
//!   `messageParams.permissions`. `divisionspermitted/paged/me` lists the
//!   divisions where a permission is held, team-scoped or not, with
//!   `allDivsPermitted` true for a `"*"` grant; `authorization/subjects/me`
//!   gives one grant per division whose role's policies are the permissions
//!   held there, a team-scoped one with a `condition` (`team in [...]`: the
//!   real syntax is undocumented, only its presence is relied on).
//! * Weeks: a `weekId` that is not the BU's start day is 400 `invalid.value`.
//! * Blank schedules take `weekCount` 1–6.
//! * Uploads: the store checks, in order, the signature (`expires` and
//!   `signature` as handed out), expiry, single use, the three returned
//!   headers with exactly their values, `Content-Length` equal to
//!   `contentLengthBytes` and to the body, gzip, and the JSON's shape
//!   (unknown fields refused). Refusals are S3-style XML: 403, 411 or 400.
//!   `…/update` then uses the key up; an unknown, un-uploaded or used key is
//!   400 `invalid.value`.
//! * Update semantics, applied whole or not at all when the operation ends
//!   (`server.operation_delay` later, or inline at `update_inline_rate`):
//!   the schedule's `metadata.version` is required and must be current; an
//!   agent that already has a schedule needs its current `metadata.version`;
//!   users must be in the BU (and, for a team-scoped editor, in the named
//!   teams); shifts are matched by `id`, left-out shifts are kept,
//!   `delete:true` removes a shift (or, on the agent, its whole schedule), a
//!   shift without `id` is new and gets one; every shift must start inside
//!   the schedule's span (weeks plus a day, from local midnight), have a
//!   positive length, active activity codes of the BU, activities inside
//!   the shift, and not overlap another. Any failure ends the operation
//!   `Error` with no reason on the wire (`server.error_event`: `bare` sends
//!   exactly `{"status":"Error"}`). Success bumps the schedule's version by
//!   one and each written agent's by one; `published:true` publishes the
//!   schedule and un-publishes any other of the BU with the same week date;
//!   `published:false` changes nothing (one-way). `server.concurrent_edits`
//!   has another editor save the schedule while the next updates are
//!   processed: the version moves under them, and they end in `Error`.
//! * Writing an agent with a Matched trade in the schedule's weeks is
//!   accepted and recorded as a [`record::TradeViolation`].
//! * Agent queries: `managementUnitId` required (400); at
//!   `agent_query_processing_rate` the first answer is `Processing` with an
//!   `operationId`, and the same query asked again after `operation_delay`
//!   answers `Complete`. More than `inline_agent_limit` agent schedules come
//!   as a `downloadUrl` (plain JSON `{agentSchedules, businessUnitTimeZone}`);
//!   a trade query job with more than `inline_trade_limit` trades answers
//!   a `downloadUrl` (`{"entities": [...]}`) instead of `queryTradesResult`.
//! * Trades move along their scenario timelines and expire at their
//!   `expiration`. Allowed moves: Unmatched → Matched, Denied, Expired,
//!   Canceled; Matched → Approved, Denied, Expired, Canceled. Approval applies
//!   to the BU's published schedule of the week: the initiating shift moves
//!   to the receiver, the receiving shift (if any) to the initiator, both
//!   with new ids; both agents' versions and the schedule's go up. A failed
//!   approval leaves the trade Matched and records its `failureReason`
//!   (`ScheduleNotPublished`, `InitiatingAgentScheduleNotFound`,
//!   `InitiatingAgentShiftNotFound`, `ReceivingAgentScheduleNotFound`,
//!   `ReceivingAgentShiftNotFound`, `TransitionNotAllowed`).
//! * Trade query jobs count 5 a minute per client (429 with `limit`), need
//!   all three lists non-empty, are read back only by their starter (404
//!   for anyone else, and for inline jobs), and keep their result forever.
//!   The legacy MU route answers 404 from `legacy_trades_until` (UTC date).
//! * Notifications: topics other than BU schedules are 400; a topic the
//!   client may not view (`wfm:schedule:view` or
//!   `wfm:publishedSchedule:view` in the BU's division) is `Rejected`.
//!   Events reach only sockets connected when they happen; an expired
//!   channel is 404. No heartbeats are sent. `server.notification_socket =
//!   "silent"` hands out a `connectUri` whose host takes the connection and
//!   never answers the handshake.
//! * Every response carries `ININ-Correlation-Id` (also `contextId` of an
//!   error) and `inin-ratelimit-allowed/count/reset` (reset in seconds);
//!   300 calls a minute per token by default, then 429 with `Retry-After`.

mod access;
mod errors;
pub mod model;
mod notifications;
pub mod record;
mod routes;
pub mod scenario;
mod schedules;
mod silent;
mod state;
mod trades;
mod units;
mod update;
mod uploads;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use wfm_clock::SharedClock;

pub use record::{
    Content, ContentMark, OperationEntry, Outcome, Record, RequestEntry, TradeFailure, TradeMove,
    TradeViolation, UploadEntry,
};
pub use scenario::{NotificationSocket, PermissionErrors, Scenario, TradeState};
use state::State;

/// The `kind` of a Genesys Cloud scenario file.
pub const KIND: &str = "genesys-cloud";

pub(crate) struct Shared {
    state: Mutex<State>,
    clock: SharedClock,
    in_flight: crate::in_flight::InFlight,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("simulator state")
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The parts of a running simulator's scenario a test may change.
pub struct Live<'a> {
    pub faults: &'a mut crate::scenario::Faults,
    pub server: &'a mut scenario::Server,
    pub rate_limits: &'a mut scenario::RateLimits,
}

/// A running Genesys simulator.
pub struct GenesysHandle {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    serving: crate::Serving,
}

/// Serves `scenario` on a bound listener.
pub fn serve(
    scenario: Scenario,
    clock: SharedClock,
    listener: tokio::net::TcpListener,
) -> std::io::Result<GenesysHandle> {
    let addr = listener.local_addr()?;
    let started = clock.now();
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new(scenario, started, format!("http://{addr}"))),
        clock,
        in_flight: Default::default(),
    });
    let serving = crate::Serving::start(listener, routes::router(shared.clone()))?;
    Ok(GenesysHandle {
        addr,
        shared,
        serving,
    })
}

impl GenesysHandle {
    /// The base URL of every host: login, API, uploads and websockets.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of what the organization saw and now holds.
    pub fn record(&self) -> Record {
        let now = self.shared.now();
        let mut st = self.shared.lock();
        st.advance_trades(now);
        let mut record = st.snapshot();
        record.peak_concurrency = self.shared.in_flight.peak();
        record
    }

    /// Changes the faults, server switches and rate limits of the running
    /// organization; its data is fixed at start.
    pub fn reconfigure<R>(&self, f: impl FnOnce(Live<'_>) -> R) -> R {
        let mut st = self.shared.lock();
        let scenario = &mut st.scenario;
        f(Live {
            faults: &mut scenario.faults,
            server: &mut scenario.server,
            rate_limits: &mut scenario.rate_limits,
        })
    }

    /// Revokes every token issued so far.
    pub fn revoke_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// Moves a trade now, ahead of its timeline, as an admin's review would.
    /// False if there is no such trade.
    pub fn move_trade(&self, id: &str, into: TradeState) -> bool {
        let now = self.shared.now();
        let mut st = self.shared.lock();
        st.advance_trades(now);
        match st.trades.iter().position(|t| t.def.id == id) {
            Some(i) => {
                st.move_trade(i, into, now);
                true
            }
            None => false,
        }
    }

    /// Stops serving and waits for the server to finish.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.serving.stop().await
    }
}
