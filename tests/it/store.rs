//! The store's contract, the same test against SQLite and against a real
//! PostgreSQL (a throwaway cluster); then PostgreSQL's lease and fencing.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use common::postgres::PgCluster;
use wfm_publisher::config::PostgresSettings;
use wfm_publisher::domain::lifecycle::AgentState;
use wfm_publisher::domain::plan::{AgentWeek, Shift, SwapStatus};
use wfm_publisher::domain::{ScheduleId, TargetName};
use wfm_publisher::platform::journal::{CarriedWeek, Operation, OperationEnd, OperationState};
use wfm_publisher::store::{
    AgentRow, AppliedSwap, Lease, NewRun, Outcome, PostgresStore, Role, SqliteStore, Store,
    StoreError,
};

fn week(h: u32) -> AgentWeek {
    AgentWeek::new(vec![Shift {
        start: format!("2026-11-30T{h:02}:00:00Z").parse().unwrap(),
        end: format!("2026-11-30T{:02}:00:00Z", h + 8).parse().unwrap(),
        activity: "phone".into(),
    }])
}

fn row(agent: &str, week: AgentWeek, state: AgentState) -> AgentRow {
    AgentRow {
        agent_id: agent.into(),
        week,
        was_deferred: matches!(state, AgentState::Deferred { .. }),
        state,
        trade: None,
    }
}

fn monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
}

/// The target every run here is of.
static CHICAGO: std::sync::LazyLock<TargetName> =
    std::sync::LazyLock::new(|| "chicago".parse().unwrap());

/// The schedule every run here writes.
static SCHEDULE: std::sync::LazyLock<ScheduleId> = std::sync::LazyLock::new(|| "s-1".into());

fn new_run() -> NewRun<'static> {
    NewRun {
        target: &CHICAGO,
        week_start: monday(),
        schedule_id: &SCHEDULE,
        source: "in.csv",
        source_hash: "h",
        started_at: Utc::now(),
    }
}

/// A run written, the store reopened (`reopen`), the run resumed with its
/// rows, a trade applied once, the run finished.
fn contract(reopen: &dyn Fn() -> Box<dyn Store>) {
    let deferred = AgentState::Deferred {
        swap_id: "sw-1".into(),
    };
    let run = {
        let store = reopen();
        let planned = [
            row("a-1", week(8), AgentState::Planned),
            row("a-2", week(14), AgentState::Planned),
        ];
        let run = store.create_run(&new_run(), &planned).unwrap();
        let saved = [
            row("a-1", week(8), deferred.clone()),
            row("a-2", week(14), AgentState::Published),
        ];
        store.save_agents(run, &"s-1".into(), &saved).unwrap();
        run
    };
    let store = reopen();
    let open = store
        .open_run(&"chicago".parse().unwrap(), monday())
        .unwrap()
        .unwrap();
    assert_eq!(open.run.id, run);
    assert_eq!(open.run.week_start, monday());
    assert_eq!(open.agents[0].state, deferred);
    assert!(open.agents[0].was_deferred);
    assert_eq!(open.agents[1].state, AgentState::Published);
    assert_eq!(open.agents[1].week, week(14));
    assert_eq!(
        store.published_hashes(&"s-1".into()).unwrap()["a-2"],
        *week(14).hash()
    );
    // A dry run's plan on the simple contract compares with these.
    let weeks = store.published_weeks(&"s-1".into()).unwrap();
    assert_eq!(weeks.keys().collect::<Vec<_>>(), ["a-2"]);
    assert_eq!(weeks["a-2"], week(14));
    let pending = store.pending_deferrals().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].swap_id, Some("sw-1".into()));

    let swap = AppliedSwap {
        swap_id: &"sw-1".into(),
        resolution: SwapStatus::Approved,
    };
    let traded = [row("a-1", week(10), AgentState::Planned)];
    store
        .save_trade(run, &"s-1".into(), &swap, &traded)
        .unwrap();
    let twice = store
        .save_trade(run, &"s-1".into(), &swap, &traded)
        .unwrap_err();
    assert!(
        matches!(twice, StoreError::SwapAlreadyApplied { .. }),
        "a trade applies once, said in words: {twice}"
    );
    let open = store
        .open_run(&"chicago".parse().unwrap(), monday())
        .unwrap()
        .unwrap();
    assert_eq!(open.applied_swaps, ["sw-1"]);
    assert_eq!(open.agents[0].week, week(10));

    store
        .finish_run(run, Outcome::Success, "done", Utc::now())
        .unwrap();
    assert!(store
        .open_run(&"chicago".parse().unwrap(), monday())
        .unwrap()
        .is_none());
    let recent = store.recent_runs(5).unwrap();
    assert_eq!(recent[0].outcome, Outcome::Success);
    assert!(recent[0].finished_at.is_some());
    let refused = store.refused_run(&new_run(), "no source").unwrap();
    assert_eq!(store.recent_runs(1).unwrap()[0].id, refused);
    assert_eq!(store.agents(run).unwrap().len(), 2);
    journal(&*store, run);
    // What an operation went through survives a restart.
    let open = reopen().unfinished_operations(&"s-1".into()).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].1.state,
        OperationState::Submitted {
            operation_id: "op-7".into()
        }
    );
}

/// The operations journal: two updates begun, one ended, the other
/// still in flight.
fn journal(store: &dyn Store, run: i64) {
    let operation = |key: &str| Operation {
        schedule_id: "s-1".into(),
        upload_key: key.into(),
        issued_at: "2026-11-26T06:00:00Z".parse().unwrap(),
        schedule_version: 12,
        sets_published: false,
        agents: vec![CarriedWeek {
            agent_id: "a-1".into(),
            hash: week(8).hash().clone(),
        }],
        state: OperationState::Uploading,
    };
    let first = store.begin_operation(run, &operation("key-1")).unwrap();
    let second = store.begin_operation(run, &operation("key-2")).unwrap();
    let open = store.unfinished_operations(&"s-1".into()).unwrap();
    assert_eq!(
        open,
        vec![(first, operation("key-1")), (second, operation("key-2"))]
    );
    assert!(store
        .unfinished_operations(&"s-2".into())
        .unwrap()
        .is_empty());
    let ended = OperationState::Ended(OperationEnd::Abandoned);
    store
        .save_operation_state(first, &ended, Utc::now())
        .unwrap();
    let submitted = OperationState::Submitted {
        operation_id: "op-7".into(),
    };
    store
        .save_operation_state(second, &OperationState::Uploaded, Utc::now())
        .unwrap();
    store
        .save_operation_state(second, &submitted, Utc::now())
        .unwrap();
    let open = store.unfinished_operations(&"s-1".into()).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].0, second);
    assert_eq!(open[0].1.state, submitted);
}

#[test]
fn the_contract_holds_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    contract(&|| Box::new(SqliteStore::open(&path).unwrap()));
}

fn settings(url: &str) -> PostgresSettings {
    PostgresSettings {
        url: url.to_owned(),
        password: None,
        lease_ttl: Duration::from_secs(15),
        lease_renew: Duration::from_secs(5),
    }
}

/// A store that holds the lease, as the leader's does.
fn leading(url: &str, runtime: &tokio::runtime::Runtime) -> (PostgresStore, Lease) {
    let (store, mut lease) = PostgresStore::open(&settings(url)).unwrap();
    let role = runtime.block_on(lease.round()).unwrap();
    assert!(matches!(role, Role::Leader { .. }), "{role:?}");
    (store, lease)
}

#[test]
fn the_contract_holds_on_postgres() {
    let pg = PgCluster::start();
    let url = pg.url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Each reopening is a new process: it migrates (once) and takes the
    // lease the previous one left by releasing it.
    let leases = std::sync::Mutex::new(Vec::<Lease>::new());
    contract(&|| {
        for mut old in leases.lock().unwrap().drain(..) {
            runtime.block_on(old.release()).unwrap();
        }
        let (store, lease) = leading(&url, &runtime);
        leases.lock().unwrap().push(lease);
        Box::new(store)
    });
}

/// Runs `sql` on its own connection, as an operator (or time) would.
fn psql(url: &str, sql: &str, runtime: &tokio::runtime::Runtime) {
    runtime.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap();
    });
}

#[test]
fn one_leader_at_a_time_and_a_former_leader_cannot_write() {
    let pg = PgCluster::start();
    let url = pg.url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (first, mut first_lease) = leading(&url, &runtime);
    let (second, mut second_lease) = PostgresStore::open(&settings(&url)).unwrap();
    let holder = first.leadership().holder().to_owned();
    assert_eq!(
        runtime.block_on(second_lease.round()).unwrap(),
        Role::Standby {
            holder: Some(holder)
        }
    );
    let run = first.create_run(&new_run(), &[]).unwrap();
    assert!(matches!(
        second.save_agents(
            run,
            &"s-1".into(),
            &[row("a-1", week(8), AgentState::Published)]
        ),
        Err(StoreError::Fenced { fence: None, .. })
    ));
    // Renewing keeps the term.
    assert_eq!(
        runtime.block_on(first_lease.round()).unwrap(),
        Role::Leader { fence: 1 }
    );

    // The first leader is paused past its lease (the expiry is moved back
    // on the database's clock rather than waited for); the second takes over.
    psql(
        &url,
        "UPDATE leader SET expires_at = now() - interval '1 second'",
        &runtime,
    );
    assert_eq!(
        runtime.block_on(second_lease.round()).unwrap(),
        Role::Leader { fence: 2 }
    );
    // The first still believes it leads (its own clock has not run out),
    // yet the database refuses its write: the token changed.
    assert!(first.leadership().is_leader());
    let late = first.save_agents(
        run,
        &"s-1".into(),
        &[row("a-1", week(8), AgentState::Published)],
    );
    assert!(
        matches!(late, Err(StoreError::Fenced { fence: Some(1), .. })),
        "{late:?}"
    );
    assert!(second.published_hashes(&"s-1".into()).unwrap().is_empty());
    // Its next round finds the lease taken and steps down.
    assert!(matches!(
        runtime.block_on(first_lease.round()).unwrap(),
        Role::Standby { .. }
    ));
    assert!(!first.leadership().is_leader());
    second
        .save_agents(
            run,
            &"s-1".into(),
            &[row("a-1", week(8), AgentState::Published)],
        )
        .unwrap();
    // A clean stop hands over at once, with a new token.
    runtime.block_on(second_lease.release()).unwrap();
    assert_eq!(
        runtime.block_on(first_lease.round()).unwrap(),
        Role::Leader { fence: 3 }
    );
    let hashes: BTreeMap<_, _> = first.published_hashes(&"s-1".into()).unwrap();
    assert_eq!(hashes.len(), 1);
}

#[test]
fn the_store_reconnects_after_the_database_restarts() {
    let pg = PgCluster::start();
    let url = pg.url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, mut lease) = leading(&url, &runtime);
    let run = store.create_run(&new_run(), &[]).unwrap();
    pg.restart();
    // The first call after the restart may find the old connection dead;
    // the one after it reconnects.
    let _ = store.recent_runs(1);
    assert_eq!(store.recent_runs(1).unwrap()[0].id, run);
    let _ = runtime.block_on(lease.round());
    assert!(matches!(
        runtime.block_on(lease.round()).unwrap(),
        Role::Leader { .. }
    ));
    store
        .finish_run(run, Outcome::Success, "done", Utc::now())
        .unwrap();
}

/// A private CA, and a certificate it signed for `name` (not 127.0.0.1):
/// the CA's PEM, the server's certificate and key.
fn private_ca(name: &str) -> (String, String, String) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_cert.pem(), server.pem(), key.serialize_pem())
}

/// Issue 32 item 4: TLS as libpq's `sslmode` and `sslrootcert` mean it, so
/// that a database with a private CA (or a cloud provider's own) can be
/// verified, and `require` does not verify where libpq's does not.
#[test]
fn tls_follows_libpq_sslmode_and_sslrootcert() {
    let (ca, cert, key) = private_ca("db.internal");
    let (other_ca, _, _) = private_ca("db.internal");
    let pg = PgCluster::start_with_tls(&cert, &key);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let other_file = dir.path().join("other.pem");
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&other_file, other_ca).unwrap();
    let base = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let with = |query: String| PostgresStore::open(&settings(&format!("{base}?{query}")));
    let root = |file: &std::path::Path| format!("sslrootcert={}", file.display());
    // The chain is the private CA's, the name is not 127.0.0.1.
    assert!(with(format!("sslmode=verify-ca&{}", root(&ca_file))).is_ok());
    let wrong_name = with(format!("sslmode=verify-full&{}", root(&ca_file)));
    assert!(
        wrong_name.is_err(),
        "verify-full took a certificate for another name"
    );
    // Without the CA file, the Mozilla roots do not know a private CA.
    assert!(with("sslmode=verify-ca".into()).is_err());
    // libpq's require encrypts without verifying, unless given a CA file.
    assert!(with("sslmode=require".into()).is_ok());
    let other = with(format!("sslmode=require&{}", root(&other_file)));
    assert!(
        other.is_err(),
        "require with another CA's file took the server"
    );
    let message = match other {
        Err(e) => e.to_string(),
        Ok(_) => unreachable!(),
    };
    assert!(
        message.contains("certificate") || message.contains("Certificate"),
        "{message}"
    );
}

/// Issue 27 item 10: links planted beside the store are not followed: the
/// lock's target is neither truncated nor written, a dangling link at the
/// database does not create one where it points; a database readable by
/// others is made 0600.
#[test]
fn planted_links_are_not_followed_and_an_open_database_is_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let db = dir.path().join("state.db");
    std::os::unix::fs::symlink(&victim, wfm_publisher::store::lock_path(&db)).unwrap();
    assert!(wfm_publisher::store::StoreLock::take(&db, "test").is_err());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    let elsewhere = dir.path().join("elsewhere.db");
    let dangling = dir.path().join("dangling.db");
    std::os::unix::fs::symlink(&elsewhere, &dangling).unwrap();
    assert!(SqliteStore::open(&dangling).is_err());
    assert!(
        !elsewhere.exists(),
        "the database was made where the link points"
    );

    let open = dir.path().join("open.db");
    std::fs::write(&open, "").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    SqliteStore::open(&open).unwrap();
    let mode = std::fs::metadata(&open).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
