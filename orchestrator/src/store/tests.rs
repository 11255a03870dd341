//! Run store tests, each on both back ends: a real SQLite file, and a schema of its own
//! on the real PostgreSQL server named by `BOSUN_TEST_POSTGRES` (started by
//! `scripts/services.sh postgres`; under `CI=true` a missing server fails the test).

mod inbox;
mod leases;
mod reads;
mod retention;

use super::testing::PostgresSchema;
use super::*;
use crate::model::{RunRecord, RunStatus, RunTrigger, StageRecord};
use bosun_bus::StageResult;
use bosun_bus::{Outcome, StageFailure, StageFailureKind, StageReport};

fn trigger(branch: &str) -> RunTrigger {
    RunTrigger {
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        clone_url: "file:///tmp/shop".into(),
        default_branch: "main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        branch: branch.into(),
        event: "push".into(),
        changed_paths: None,
        pull_request: None,
        sender: "dev".into(),
        message: None,
        fork: false,
    }
}

fn run(id: &str, branch: &str, created_ms: u64) -> RunRecord {
    RunRecord {
        id: id.into(),
        trigger: trigger(branch),
        status: RunStatus::Running,
        created_ms,
        finished_ms: None,
        config_source: Some("pipeline:\n  stages: [lint]\n".into()),
        config_origin: None,
        error: None,
        failures: 0,
        stages: vec![StageRecord::pending("lint")],
        denials: vec![],
        warnings: vec![],
        notified: false,
        paths_budget_spent: 0,
        rerun_of: None,
    }
}

fn result(task_id: &str, outcome: Option<Outcome>) -> StageResult {
    StageResult {
        task_id: task_id.into(),
        plugin: None,
        report: outcome.map(|o| StageReport {
            outcome: o,
            summary: "2 findings".into(),
            findings: vec![],
            tests: None,
            test_failures: vec![],
            coverage: None,
            artifacts: vec![],
            metrics: vec![],
            truncated: false,
        }),
        failure: outcome.is_none().then(|| StageFailure {
            kind: StageFailureKind::ToolFailed,
            message: "pylint exited 32".into(),
        }),
        logs: vec![],
        logs_dropped_bytes: 0,
        duration_ms: 12,
    }
}

/// Where one test's store lives.
pub(super) enum TestStore {
    Sqlite(tempfile::TempDir),
    Postgres(Box<PostgresSchema>),
}

impl TestStore {
    pub(super) fn sqlite() -> TestStore {
        TestStore::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A fresh schema, or `None` (after saying why) when no server is configured.
    pub(super) fn postgres(test: &str) -> Option<TestStore> {
        let url = bosun_test_support::service_var(test, "BOSUN_TEST_POSTGRES")?;
        match PostgresSchema::create(&url, test) {
            Ok(schema) => Some(TestStore::Postgres(Box::new(schema))),
            Err(e) => bosun_test_support::missing_service(
                test,
                &format!(
                    "PostgreSQL at BOSUN_TEST_POSTGRES does not answer ({e}); `bash scripts/services.sh postgres` starts only it"
                ),
            ),
        }
    }

    pub(super) fn location(&self) -> StoreLocation {
        match self {
            TestStore::Sqlite(dir) => StoreLocation::Sqlite(dir.path().join("runs.db")),
            TestStore::Postgres(schema) => schema.location().clone(),
        }
    }

    pub(super) fn open(&self) -> Store {
        Store::open(&self.location()).unwrap()
    }
}

/// Each test body runs twice, as `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both_back_ends {
    ($(fn $name:ident($store:ident: &TestStore) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn check($store: &TestStore) $body

            #[test]
            fn sqlite() {
                check(&TestStore::sqlite());
            }

            #[test]
            fn postgres() {
                let test = concat!(module_path!(), "::postgres");
                if let Some(store) = TestStore::postgres(test) {
                    check(&store);
                }
            }
        }
    )*};
}
pub(super) use on_both_back_ends;

on_both_back_ends! {
fn migrations_apply_once_and_reopen_keeps_data(at: &TestStore) {
    let mut store = at.open();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
    store.write(|w| w.save_run(&run("r1", "main", 1))).unwrap();
    drop(store);
    let store = at.open();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
    assert_eq!(store.run("r1").unwrap().unwrap().trigger.branch, "main");
}

fn a_newer_schema_is_refused_with_both_versions(at: &TestStore) {
    let store = at.open();
    match store.db().dialect() {
        db::Dialect::Sqlite => store.db().batch("PRAGMA user_version = 99").unwrap(),
        db::Dialect::Postgres => {
            store.db().batch("UPDATE bosun_schema SET version = 99").unwrap()
        }
    }
    drop(store);
    let err = Store::open(&at.location()).err().unwrap().to_string();
    assert!(
        err.contains("schema version 99")
            && err.contains(&format!("({})", migrations::MIGRATIONS.len())),
        "{err}"
    );
}

fn an_attempt_settles_once(at: &TestStore) {
    let mut store = at.open();
    store
        .write(|w| {
            w.save_run(&run("r1", "main", 1))?;
            w.insert_attempt("r1", "lint", 1, 10, 1000)?;
            // Sent again (a redelivered dispatch): the row stays as it was.
            w.insert_attempt("r1", "lint", 1, 11, 1001)
        })
        .unwrap();
    let first = store
        .write(|w| w.settle_attempt("r1", "lint", 1, "agent-a", &result("r1/lint/1", None), 20))
        .unwrap();
    let again = store
        .write(|w| {
            w.settle_attempt(
                "r1",
                "lint",
                1,
                "agent-b",
                &result("r1/lint/1", Some(Outcome::Success)),
                30,
            )
        })
        .unwrap();
    assert!(first);
    assert!(
        !again,
        "a duplicate result must not settle the attempt twice"
    );
    let attempts = store.attempts("r1").unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].dispatched_ms, 10);
    assert_eq!(attempts[0].agent_id.as_deref(), Some("agent-a"));
    assert_eq!(attempts[0].outcome.as_deref(), Some("error"));
    assert_eq!(attempts[0].failure_kind.as_deref(), Some("tool-failed"));
    assert_eq!(attempts[0].duration_ms, Some(12));
}

fn a_delivery_id_is_recorded_once(at: &TestStore) {
    let mut store = at.open();
    let first = store
        .write(|w| w.record_delivery("d-1", "acme", "push", "run", Some("r1"), 5))
        .unwrap();
    let second = store
        .write(|w| w.record_delivery("d-1", "acme", "push", "run", Some("r2"), 6))
        .unwrap();
    assert_eq!(first, None);
    assert_eq!(
        second,
        Some(SeenDelivery {
            run_id: Some("r1".into()),
            outcome: "run".into()
        })
    );
    assert_eq!(store.delivery_count("d-1").unwrap(), 1);
    // Another tenant reusing the id is a delivery of its own: it learns nothing of
    // acme's run and does not block acme's deliveries.
    let other = store
        .write(|w| w.record_delivery("d-1", "bravo", "push", "run", Some("r3"), 7))
        .unwrap();
    assert_eq!(other, None);
    assert_eq!(store.delivery_count("d-1").unwrap(), 2);
}

fn one_delivery_sent_to_many_stores_at_once_is_recorded_once(at: &TestStore) {
    // Eight connections (as eight orchestrators would hold) record one delivery at the
    // same moment, each in a transaction that also writes its own run: exactly one
    // wins, and every other one reads the winner's run.
    drop(at.open());
    let location = at.location();
    let start = std::sync::Barrier::new(8);
    let answers: Vec<Option<SeenDelivery>> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let (start, location) = (&start, &location);
                scope.spawn(move || {
                    let mut store = Store::open(location).unwrap();
                    start.wait();
                    store
                        .write(|w| {
                            let run_id = format!("r{i}");
                            let seen = w.record_delivery(
                                "same", "acme", "push", "run", Some(&run_id), 1,
                            )?;
                            if seen.is_none() {
                                w.save_run(&run(&run_id, "main", 1))?;
                            }
                            Ok(seen)
                        })
                        .unwrap()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let store = at.open();
    assert_eq!(answers.iter().filter(|a| a.is_none()).count(), 1, "{answers:?}");
    assert_eq!(store.delivery_count("same").unwrap(), 1);
    let runs = store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 1, "one run for one delivery");
    for seen in answers.into_iter().flatten() {
        assert_eq!(seen.run_id.as_deref(), Some(runs[0].id.as_str()));
    }
}

fn a_failed_transaction_writes_nothing(at: &TestStore) {
    let mut store = at.open();
    let outcome: Result<(), StoreError> = store.write(|w| {
        w.save_run(&run("r1", "main", 1))?;
        w.event("r1", 1, "run.created", None, None, "created", None)?;
        Err(StoreError::Corrupt {
            path: "x".into(),
            what: "test".into(),
            detail: "abort".into(),
        })
    });
    assert!(outcome.is_err());
    assert!(store.run("r1").unwrap().is_none());
    assert!(store.events("r1").unwrap().is_empty());
    // The connection is usable after the rollback.
    store.write(|w| w.save_run(&run("r2", "main", 2))).unwrap();
    assert!(store.run("r2").unwrap().is_some());
}

fn a_statement_the_server_refuses_is_a_typed_error_naming_the_store(at: &TestStore) {
    let mut store = at.open();
    let err = store
        .write(|w| w.db().execute("INSERT INTO no_such_table VALUES (1)", &[]))
        .unwrap_err();
    assert!(
        matches!(
            (&err, store.db().dialect()),
            (StoreError::Sqlite { .. }, db::Dialect::Sqlite)
                | (StoreError::Postgres { .. }, db::Dialect::Postgres)
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("no_such_table"), "{text}");
    assert!(!text.contains("bosun-test"), "a password in a message: {text}");
    store.write(|w| w.save_run(&run("r1", "main", 1))).unwrap();
}

fn listing_filters_and_orders_newest_first(at: &TestStore) {
    let mut store = at.open();
    store
        .write(|w| {
            w.save_run(&run("r1", "main", 1))?;
            w.save_run(&run("r2", "feature", 2))?;
            let mut done = run("r3", "main", 3);
            done.status = RunStatus::Success;
            done.finished_ms = Some(9);
            w.save_run(&done)
        })
        .unwrap();
    let all = store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r3", "r2", "r1"]
    );
    assert_eq!(all[0].finished_ms, Some(9));
    let main = store
        .list_runs(&RunFilter {
            branch: Some("main".into()),
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(main.len(), 2);
    let ok = store
        .list_runs(&RunFilter {
            status: Some("success".into()),
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(ok.len(), 1);
    let by_tenant = store
        .list_runs(&RunFilter {
            tenant: Some("ACME".into()),
            limit: Some(2),
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(by_tenant.len(), 2, "tenants compare without case; the limit holds");
    let unfinished = store.unfinished_runs().unwrap();
    assert_eq!(
        unfinished.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r1", "r2"]
    );
}

fn events_keep_their_order_and_data(at: &TestStore) {
    let mut store = at.open();
    store
        .write(|w| {
            w.event("r1", 5, "run.created", None, None, "created", None)?;
            w.event(
                "r1",
                6,
                "stage.dispatched",
                Some("lint"),
                Some(1),
                "lint attempt 1 dispatched",
                Some(&serde_json::json!({"topic": "agent.lint"})),
            )
        })
        .unwrap();
    let events = store.events("r1").unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].kind, "stage.dispatched");
    assert_eq!(events[1].attempt, Some(1));
    assert_eq!(events[1].data.as_ref().unwrap()["topic"], "agent.lint");
    assert!(events[0].seq < events[1].seq);
    let stamp = store.runs_stamp().unwrap();
    assert_eq!(stamp.0, events[1].seq);
}

fn a_reused_stage_brings_the_files_it_kept_into_the_rerun(at: &TestStore) {
    let mut store = at.open();
    store
        .write(|w| {
            w.save_run(&run("r1", "main", 1))?;
            w.save_run(&run("r2", "main", 2))?;
            w.insert_attempt("r1", "build", 1, 10, 1000)
        })
        .unwrap();
    store
        .write(|w| {
            w.settle_attempt(
                "r1",
                "build",
                1,
                "agent-a",
                &result("r1/build/1", Some(Outcome::Success)),
                20,
            )
        })
        .unwrap();
    let kept = crate::store::ArtifactRow {
        stage: "build".into(),
        attempt: 1,
        path: "dist/app.txt".into(),
        size: 12,
        digest: format!("sha256:{}", "a".repeat(64)),
        kept_ms: 20,
    };
    store.keep_artifact("r1", &kept).unwrap();
    let copied = store
        .write(|w| w.copy_attempts("r1", "r2", "build", "build-rollback"))
        .unwrap();
    assert_eq!(copied, 1);
    assert_eq!(store.attempts("r2").unwrap()[0].reused_from.as_deref(), Some("r1"));
    assert_eq!(store.artifacts("r2").unwrap(), vec![kept.clone()]);
    assert_eq!(
        store.artifacts("r1").unwrap(),
        vec![kept],
        "the original keeps its own"
    );
}

}

#[test]
fn deliveries_recorded_before_the_per_tenant_key_still_deduplicate() {
    // SQLite only: stores from before the per-tenant key exist only as SQLite files.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    drop(Store::open(&path).unwrap());
    // A store at schema 2 (without what later migrations add), with a delivery
    // recorded under the old key.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE deliveries;
         CREATE TABLE deliveries (delivery_id TEXT PRIMARY KEY, tenant TEXT NOT NULL,
             event TEXT NOT NULL, received_ms INTEGER NOT NULL, run_id TEXT, outcome TEXT NOT NULL);
         INSERT INTO deliveries VALUES ('old-1', 'acme', 'push', 1, 'r1', 'run');
         DROP INDEX IF EXISTS runs_by_tenant_created;
         DROP INDEX IF EXISTS artifacts_by_digest;
         DROP TABLE artifacts;
         DROP TABLE artifact_key;
         DROP TABLE schedule_marks;
         ALTER TABLE attempts DROP COLUMN reused_from;
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
    let again = store
        .write(|w| w.record_delivery("old-1", "acme", "push", "run", Some("r9"), 9))
        .unwrap();
    assert_eq!(again.and_then(|seen| seen.run_id).as_deref(), Some("r1"));
}

#[test]
fn a_connection_lost_inside_a_transaction_commits_nothing_and_the_next_write_reconnects() {
    let test =
        "a_connection_lost_inside_a_transaction_commits_nothing_and_the_next_write_reconnects";
    let Some(at) = TestStore::postgres(test) else {
        return;
    };
    let mut store = at.open();
    let outcome = store.write(|w| {
        w.save_run(&run("r1", "main", 1))?;
        // The server ends this session mid-transaction (as a failover or restart would).
        let _ = w
            .db()
            .execute("SELECT pg_terminate_backend(pg_backend_pid())", &[]);
        // What follows must fail, not run (and commit) on a fresh connection.
        w.save_run(&run("r2", "main", 2))
    });
    assert!(outcome.is_err(), "{outcome:?}");
    store.write(|w| w.save_run(&run("r3", "main", 3))).unwrap();
    assert!(store.run("r1").unwrap().is_none());
    assert!(store.run("r2").unwrap().is_none());
    assert!(
        store.run("r3").unwrap().is_some(),
        "the next write reconnected"
    );
}
