//! Retention on both back ends: what goes, what stays, and the logs budget.

use super::*;
use bosun_bus::{LogLevel, LogLine};

const DAY: u64 = 86_400_000;

fn finished(id: &str, tenant: &str, created_ms: u64) -> RunRecord {
    let mut record = run(id, "main", created_ms);
    record.trigger.tenant = tenant.into();
    record.status = RunStatus::Success;
    record.finished_ms = Some(created_ms + 1_000);
    record
}

fn kept_file(digest: char) -> ArtifactRow {
    ArtifactRow {
        stage: "build".into(),
        attempt: 1,
        path: format!("dist/{digest}.txt"),
        size: 3,
        digest: format!("sha256:{}", digest.to_string().repeat(64)),
        kept_ms: 1,
    }
}

/// A run with one settled attempt (with `log_bytes` of log text), an event, a gate, a
/// notification, a dead letter and a delivery.
fn record_everything(store: &mut Store, record: &RunRecord, log_bytes: usize) {
    let id = record.id.clone();
    let mut settled = result(&format!("{id}/build/1"), Some(Outcome::Success));
    settled.logs = vec![LogLine {
        at_ms: 1,
        level: LogLevel::Info,
        source: "log".into(),
        message: "x".repeat(log_bytes),
    }];
    let at = record.created_ms;
    store
        .write(|w| {
            w.save_run(record)?;
            w.insert_attempt(&id, "build", 1, at + 1, at + 100)?;
            w.settle_attempt(&id, "build", 1, "agent-a", &settled, at + 2)?;
            w.event(&id, at, "run.created", None, None, "created", None)?;
            w.gate_requested(
                &format!("{id}/deploy/1/before-stage"),
                &id,
                "deploy",
                "before-stage",
                at,
            )?;
            w.notification(&id, "slack", "sent", 1, "ok", at)?;
            w.dead_letter(
                &bosun_bus::messages::DeadLetter {
                    version: 1,
                    topic: "agent.build".into(),
                    key: id.clone(),
                    reason: "poison".into(),
                    deliveries: 5,
                    payload: "{}".into(),
                },
                at,
            )?;
            w.record_delivery(
                &format!("d-{id}"),
                &record.trigger.tenant,
                "push",
                "run",
                Some(&id),
                at,
            )
            .map(|_| ())
        })
        .unwrap();
}

on_both_back_ends! {
fn old_finished_runs_go_with_everything_recorded_about_them(at: &TestStore) {
    let mut store = at.open();
    let now = 100 * DAY;
    let old = finished("old", "acme", now - 40 * DAY);
    let older = finished("older", "Acme", now - 50 * DAY);
    let recent = finished("recent", "acme", now - 2 * DAY);
    let mut in_flight = run("in-flight", "main", now - 60 * DAY);
    in_flight.status = RunStatus::Running;
    let other_tenant = finished("bravo-old", "bravo", now - 40 * DAY);
    for record in [&old, &older, &recent, &in_flight, &other_tenant] {
        record_everything(&mut store, record, 10);
    }
    // `old` keeps a file nobody else keeps, and one `recent` keeps too.
    store.keep_artifact("old", &kept_file('a')).unwrap();
    store.keep_artifact("old", &kept_file('b')).unwrap();
    store.keep_artifact("recent", &kept_file('b')).unwrap();

    let cutoff = now - 30 * DAY;
    let first = store.prune_runs("acme", cutoff, 1).unwrap();
    assert_eq!(first.runs, 1, "one small batch at a time");
    assert!(store.run("older").unwrap().is_none(), "the oldest goes first");
    let second = store.prune_runs("acme", cutoff, 1).unwrap();
    assert_eq!(second.runs, 1);
    assert_eq!(second.unreferenced, vec![kept_file('a').digest], "b is still kept by `recent`");
    let third = store.prune_runs("acme", cutoff, 1).unwrap();
    assert_eq!(third, Pruned::default(), "nothing left to prune");

    for gone in ["old", "older"] {
        assert!(store.run(gone).unwrap().is_none());
        assert!(store.attempts(gone).unwrap().is_empty());
        assert!(store.events(gone).unwrap().is_empty());
        assert!(store.gates(gone).unwrap().is_empty());
        assert!(store.notifications(gone).unwrap().is_empty());
        assert!(store.artifacts(gone).unwrap().is_empty());
        assert_eq!(store.delivery_count(&format!("d-{gone}")).unwrap(), 0);
    }
    for kept in ["recent", "in-flight", "bravo-old"] {
        assert!(store.run(kept).unwrap().is_some(), "{kept} is kept");
        assert_eq!(store.attempts(kept).unwrap().len(), 1);
        assert_eq!(store.events(kept).unwrap().len(), 1);
    }
    // Deliveries go by age alone (GitHub redelivers within days, never months).
    assert_eq!(store.delivery_count("d-in-flight").unwrap(), 0);
    assert_eq!(store.delivery_count("d-recent").unwrap(), 1);
    assert_eq!(store.delivery_count("d-bravo-old").unwrap(), 1, "another tenant's");
    let letters: Vec<String> = store.dead_letters(100).unwrap().into_iter().map(|l| l.key).collect();
    assert_eq!(letters.len(), 3, "{letters:?}");
    assert!(!letters.contains(&"old".to_string()));
    assert_eq!(store.artifacts("recent").unwrap(), vec![kept_file('b')]);
}

fn logs_past_the_budget_go_oldest_first(at: &TestStore) {
    let mut store = at.open();
    let now = 100 * DAY;
    let runs = [
        finished("first", "acme", now - 3 * DAY),
        finished("second", "acme", now - 2 * DAY),
        finished("third", "acme", now - DAY),
    ];
    for record in &runs {
        record_everything(&mut store, record, 1_000);
    }
    // The run in flight has the oldest attempt: its logs count but stay.
    let mut in_flight = run("in-flight", "main", now - 4 * DAY);
    in_flight.status = RunStatus::Running;
    record_everything(&mut store, &in_flight, 1_000);
    let size = |store: &Store, id: &str| {
        store
            .attempt_logs(id, "build", 1)
            .unwrap()
            .unwrap()
            .iter()
            .map(|l| l.message.len())
            .sum::<usize>()
    };
    // Room for two attempts' logs (each a little over 1000 bytes as stored JSON).
    let dropped = store.prune_logs("acme", 2_300, 10, now).unwrap();
    assert_eq!(dropped, 1);
    assert_eq!(size(&store, "first"), 0, "the oldest finished attempt's logs went");
    assert_eq!(size(&store, "second"), 1_000);
    assert_eq!(size(&store, "third"), 1_000);
    assert_eq!(size(&store, "in-flight"), 1_000, "a run in flight keeps its logs");
    let events = store.events("first").unwrap();
    let pruned = events.iter().find(|e| e.kind == "logs.pruned").unwrap();
    assert_eq!((pruned.stage.as_deref(), pruned.attempt), (Some("build"), Some(1)));
    assert!(pruned.message.contains("2300 bytes"), "{}", pruned.message);
    assert!(store.run("first").unwrap().is_some(), "the run itself stays");
    assert_eq!(store.prune_logs("acme", 2_300, 10, now).unwrap(), 0, "within budget now");
    assert_eq!(store.prune_logs("bravo", 0, 10, now).unwrap(), 0, "another tenant's budget");
}
}
