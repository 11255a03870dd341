//! Run store tests on real SQLite files.

use super::*;
use crate::model::{RunStatus, RunTrigger, StageRecord};
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

#[test]
fn migrations_apply_once_and_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
    store.write(|w| w.save_run(&run("r1", "main", 1))).unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
    assert_eq!(store.run("r1").unwrap().unwrap().trigger.branch, "main");
}

#[test]
fn a_newer_schema_is_refused_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(
        err.contains("schema version 99")
            && err.contains(&format!("({})", migrations::MIGRATIONS.len())),
        "{err}"
    );
}

#[test]
fn an_attempt_settles_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
    store
        .write(|w| {
            w.save_run(&run("r1", "main", 1))?;
            w.insert_attempt("r1", "lint", 1, 10, 1000)
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
    assert_eq!(attempts[0].agent_id.as_deref(), Some("agent-a"));
    assert_eq!(attempts[0].outcome.as_deref(), Some("error"));
    assert_eq!(attempts[0].failure_kind.as_deref(), Some("tool-failed"));
}

#[test]
fn a_delivery_id_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
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

#[test]
fn deliveries_recorded_before_the_per_tenant_key_still_deduplicate() {
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
fn a_failed_transaction_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
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
}

#[test]
fn listing_filters_and_orders_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
    store
        .write(|w| {
            w.save_run(&run("r1", "main", 1))?;
            w.save_run(&run("r2", "feature", 2))?;
            let mut done = run("r3", "main", 3);
            done.status = RunStatus::Success;
            w.save_run(&done)
        })
        .unwrap();
    let all = store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r3", "r2", "r1"]
    );
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
    let unfinished = store.unfinished_runs().unwrap();
    assert_eq!(
        unfinished.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r1", "r2"]
    );
}

#[test]
fn events_keep_their_order_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
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
}

#[test]
fn a_reused_stage_brings_the_files_it_kept_into_the_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
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
    store
        .write(|w| w.copy_attempts("r1", "r2", "build", "build-rollback"))
        .unwrap();
    assert_eq!(store.artifacts("r2").unwrap(), vec![kept.clone()]);
    assert_eq!(
        store.artifacts("r1").unwrap(),
        vec![kept],
        "the original keeps its own"
    );
}
