//! The SQLite store: migrations from earlier releases, errors named, file modes.
use super::schema::{MIGRATE_0_TO_1, SCHEMA_VERSION};
use super::*;
use crate::domain::lifecycle::UnpublishedKind;
use crate::domain::plan::Shift;

fn week(h: u32) -> AgentWeek {
    AgentWeek::new(vec![Shift {
        start: format!("2026-11-30T{h:02}:00:00Z").parse().unwrap(),
        end: format!("2026-11-30T{:02}:00:00Z", h + 8).parse().unwrap(),
        activity: "phone".into(),
    }])
}

/// What the first release's `SqliteStore::open` created, and rows as it
/// wrote them (`HASH8`, `EMPTY`: the hashes of `week(8)` and of no
/// shifts; see [`first_release`]).
const FIRST_RELEASE: &str = r#"
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, week_start TEXT NOT NULL,
  schedule_id TEXT NOT NULL, source TEXT NOT NULL, source_hash TEXT NOT NULL, started_at TEXT NOT NULL,
  finished_at TEXT, outcome TEXT NOT NULL, summary TEXT);
CREATE INDEX runs_by_target ON runs (target, week_start, outcome);
CREATE TABLE agents (run_id INTEGER NOT NULL REFERENCES runs (id), agent_id TEXT NOT NULL, shifts TEXT NOT NULL,
  content_hash TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, swap_id TEXT, trade TEXT,
  was_deferred INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, agent_id));
CREATE TABLE applied_swaps (run_id INTEGER NOT NULL REFERENCES runs (id), swap_id TEXT NOT NULL,
  resolution TEXT NOT NULL, PRIMARY KEY (run_id, swap_id));
CREATE TABLE published (schedule_id TEXT NOT NULL, agent_id TEXT NOT NULL, content_hash TEXT NOT NULL,
  PRIMARY KEY (schedule_id, agent_id));
INSERT INTO runs VALUES (1, 'chicago', '2026-11-30', 's-1', 'in.csv', 'h', '2026-11-26T06:00:00+00:00', NULL, 'running', NULL);
INSERT INTO agents VALUES (1, 'a-1', '[{"startTime":"2026-11-30T08:00:00Z","endTime":"2026-11-30T16:00:00Z","activity":"phone"}]',
  'HASH8', 'published', NULL, NULL, NULL, 0);
INSERT INTO agents VALUES (1, 'a-2', '[]', 'EMPTY', 'failed',
  'swap sw-9 still pending at the deferral deadline 2026-11-29 06:00:00 UTC: unpublished; resolve the swap, then run `wfm-publisher publish` for this target and week again', 'sw-9', NULL, 1);
INSERT INTO agents VALUES (1, 'a-3', '[]', 'EMPTY', 'failed', 'the platform rejected PUT /api/v2/wfm/schedule/agent/a-3 (invalid_shift: overlap)', NULL, NULL, 0);
INSERT INTO agents VALUES (1, 'a-4', '[]', 'EMPTY', 'deferred', NULL, 'sw-4', NULL, 1);
INSERT INTO published VALUES ('s-1', 'a-1', 'HASH8');
"#;

fn first_release() -> String {
    FIRST_RELEASE
        .replace("HASH8", &week(8).hash().to_string())
        .replace("EMPTY", &AgentWeek::new(Vec::new()).hash().to_string())
}

#[test]
fn a_database_of_the_first_release_is_migrated_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let hash8 = week(8).hash().to_string();
    Connection::open(&path)
        .unwrap()
        .execute_batch(&first_release())
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let open = store
        .open_run(&"chicago".parse().unwrap(), monday)
        .unwrap()
        .unwrap();
    let by_id: BTreeMap<_, _> = open
        .agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a))
        .collect();
    assert_eq!(
        by_id["a-1"].week,
        week(8),
        "shifts and hash read as written"
    );
    assert_eq!(by_id["a-1"].state, AgentState::Published);
    let kind = |a: &str| match &by_id[a].state {
        AgentState::Unpublished(u) => u.kind,
        other => panic!("{a}: {other:?}"),
    };
    assert_eq!(kind("a-2"), UnpublishedKind::DeadlinePassed);
    assert_eq!(kind("a-3"), UnpublishedKind::Refused);
    assert_eq!(
        by_id["a-4"].state,
        AgentState::Deferred {
            swap_id: "sw-4".into()
        }
    );
    assert_eq!(
        store.published_hashes(&"s-1".into()).unwrap()["a-1"].hex(),
        hash8
    );
    drop(store);
    // Opening again does not migrate twice.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.agents(1).unwrap().len(), 4);
}

#[test]
fn a_swap_applied_twice_is_named_not_a_raw_constraint() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
    let run = NewRun {
        target: &"chicago".parse().unwrap(),
        week_start: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        schedule_id: &"s-1".into(),
        source: "in.csv",
        source_hash: "h",
        started_at: "2026-11-26T12:00:00Z".parse().unwrap(),
    };
    let id = store.create_run(&run, &[]).unwrap();
    let swap = AppliedSwap {
        swap_id: &"sw-1".into(),
        resolution: SwapStatus::Approved,
    };
    store.save_trade(id, &"s-1".into(), &swap, &[]).unwrap();
    let twice = store.save_trade(id, &"s-1".into(), &swap, &[]).unwrap_err();
    let message = twice.to_string();
    assert!(
        matches!(twice, StoreError::SwapAlreadyApplied { .. }),
        "{message}"
    );
    assert!(!message.contains("UNIQUE"), "{message}");
    assert!(message.contains("sw-1"), "{message}");
}

#[test]
fn a_new_database_and_its_wal_and_shm_are_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    store.recent_runs(1).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
}

#[test]
fn opening_an_existing_store_never_creates_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    assert!(SqliteStore::open_existing(&path).unwrap().is_none());
    assert!(!path.exists());
    SqliteStore::open(&path).unwrap();
    assert!(SqliteStore::open_existing(&path).unwrap().is_some());
}

#[test]
fn a_stored_hash_that_is_not_hex_is_named_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .with(|c| {
            c.execute(
                "INSERT INTO published VALUES ('s-1', 'a-1', 'not a hash')",
                [],
            )
        })
        .unwrap();
    let err = store
        .published_hashes(&"s-1".into())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "corrupt row: published agent a-1: content hash \"not a hash\" is not 64 hex digits"
        ),
        "{err}"
    );
}

#[test]
fn a_database_of_version_1_gains_the_operations_journal_and_resumes() {
    use crate::platform::journal::{Operation, OperationState};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let v1 = format!(
        "{}{MIGRATE_0_TO_1}PRAGMA user_version = 1;",
        first_release()
    );
    Connection::open(&path).unwrap().execute_batch(&v1).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = store
        .with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let open = store
        .open_run(&"chicago".parse().unwrap(), monday)
        .unwrap()
        .unwrap();
    assert_eq!(open.agents.len(), 4);
    let operation = Operation {
        schedule_id: "s-1".into(),
        upload_key: "key-1".into(),
        issued_at: "2026-11-26T06:00:00Z".parse().unwrap(),
        schedule_version: 3,
        sets_published: true,
        agents: Vec::new(),
        state: OperationState::Uploading,
    };
    let id = store.begin_operation(open.run.id, &operation).unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.unfinished_operations(&"s-1".into()).unwrap(),
        vec![(id, operation)]
    );
}

/// The week last published to a schedule, per agent: a later run's
/// publication replaces an earlier one; a week planned and not published,
/// or published to another schedule, is not it.
#[test]
fn the_weeks_last_published_to_a_schedule_are_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
    let chicago = "chicago".parse().unwrap();
    let (s1, s2): (ScheduleId, ScheduleId) = ("s-1".into(), "s-2".into());
    let run = |schedule_id| NewRun {
        target: &chicago,
        week_start: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        schedule_id,
        source: "in.csv",
        source_hash: "h",
        started_at: "2026-11-26T12:00:00Z".parse().unwrap(),
    };
    let row = |agent: &str, week, state| AgentRow {
        agent_id: agent.into(),
        week,
        state,
        was_deferred: false,
        trade: None,
    };
    let first = store.create_run(&run(&s1), &[]).unwrap();
    let published = [
        row("a-1", week(8), AgentState::Published),
        row("a-2", week(9), AgentState::Published),
    ];
    store.save_agents(first, &"s-1".into(), &published).unwrap();
    let second = store.create_run(&run(&s1), &[]).unwrap();
    let later = [
        row("a-1", week(10), AgentState::Published),
        row("a-2", week(11), AgentState::Planned),
    ];
    store.save_agents(second, &"s-1".into(), &later).unwrap();
    let other = store.create_run(&run(&s2), &[]).unwrap();
    let elsewhere = [row("a-3", week(12), AgentState::Published)];
    store.save_agents(other, &"s-2".into(), &elsewhere).unwrap();

    let weeks = store.published_weeks(&"s-1".into()).unwrap();
    assert_eq!(weeks.keys().collect::<Vec<_>>(), ["a-1", "a-2"]);
    assert_eq!(weeks["a-1"], week(10));
    assert_eq!(weeks["a-2"], week(9));
    assert!(store.published_weeks(&"s-9".into()).unwrap().is_empty());
}
