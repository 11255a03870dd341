//! Reads on both back ends: gates, notifications, dead letters, statistics, kept files,
//! attempt states, schedule marks, GitHub object ids and live log chunks.

use super::*;

on_both_back_ends! {
fn gates_notifications_and_dead_letters_read_back(at: &TestStore) {
    let mut store = at.open();
    let verdicts = serde_json::json!([{"policy": "prod", "decision": "allow"}]);
    store
        .write(|w| {
            w.save_run(&run("r1", "main", 1))?;
            w.gate_requested("r1/deploy/1/before-stage", "r1", "deploy", "before-stage", 3)?;
            w.gate_requested("r1/deploy/1/before-stage", "r1", "deploy", "before-stage", 4)?;
            w.notification("r1", "slack", "sent", 2, "posted", 5)?;
            w.dead_letter(
                &bosun_bus::messages::DeadLetter {
                    version: 1,
                    topic: "agent.lint".into(),
                    key: "r1".into(),
                    reason: "poison".into(),
                    deliveries: 5,
                    payload: "{}".into(),
                },
                6,
            )
        })
        .unwrap();
    assert!(store.write(|w| w.gate_answered("r1/deploy/1/before-stage", &verdicts, 7)).unwrap());
    assert!(!store.write(|w| w.gate_answered("r1/deploy/1/before-stage", &verdicts, 8)).unwrap());
    let gates = store.gates("r1").unwrap();
    assert_eq!(gates.len(), 1);
    assert_eq!((gates[0].requested_ms, gates[0].answered_ms), (3, Some(7)));
    assert_eq!(gates[0].verdicts.as_ref(), Some(&verdicts));
    let sent = store.notifications("r1").unwrap();
    assert_eq!((sent[0].attempts, sent[0].at_ms), (2, 5));
    let letters = store.dead_letters(10).unwrap();
    assert_eq!((letters[0].deliveries, letters[0].key.as_str()), (5, "r1"));
}

fn statistics_count_by_day_and_plugin(at: &TestStore) {
    let mut store = at.open();
    let day = 86_400_000;
    store
        .write(|w| {
            w.save_run(&run("r1", "main", day + 5))?;
            w.insert_attempt("r1", "lint", 1, day + 10, day + 1000)?;
            w.insert_attempt("r1", "test", 1, day + 10, day + 1000)?;
            w.upsert_agent(
                &bosun_bus::inventory::InventoryMessage {
                    agent_id: "agent-a".into(),
                    stages: vec!["lint".into()],
                    plugins: vec![],
                    version: 1,
                    sent_unix_ms: day,
                },
                day,
            )
        })
        .unwrap();
    let mut passed = result("r1/lint/1", Some(Outcome::Success));
    passed.plugin = Some(bosun_bus::PluginId {
        name: "lint".into(),
        version: "1.0.0".into(),
        digest: "sha256:aa".into(),
    });
    store
        .write(|w| w.settle_attempt("r1", "lint", 1, "agent-a", &passed, day + 20))
        .unwrap();
    let runs = store.runs_per_day(0).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].day.as_str(), runs[0].group.as_str(), runs[0].count),
        ("1970-01-02", "acme/shop", 1)
    );
    let attempts = store.attempts_per_day(0).unwrap();
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|c| (c.group.as_str(), c.outcome.as_str()))
        .collect();
    assert_eq!(outcomes, [("lint", "success"), ("test", "pending")]);
    let durations = store.stage_durations(0).unwrap();
    assert_eq!(durations.len(), 1);
    assert_eq!((durations[0].attempts, durations[0].max_ms), (1, 12));
    assert!((durations[0].average_ms - 12.0).abs() < 1e-9);
    let used = store.plugins_used(10).unwrap();
    assert_eq!(used.len(), 1);
    assert_eq!((used[0].attempts, used[0].agents.clone()), (1, vec!["agent-a".to_string()]));
    let agents = store.agents().unwrap();
    assert_eq!(agents[0].stages, ["lint"]);
    assert!(store.run_stamp("r1").unwrap().is_some());
    assert!(store.run_stamp("nope").unwrap().is_none());
}

fn kept_files_count_toward_the_run_and_replace_their_own_row(at: &TestStore) {
    let store = at.open();
    assert_eq!(store.artifact_key().unwrap().len(), 32);
    let row = |stage: &str, attempt: u32, path: &str, size: u64| ArtifactRow {
        stage: stage.into(),
        attempt,
        path: path.into(),
        size,
        digest: format!("sha256:{}", "0".repeat(64)),
        kept_ms: 1,
    };
    store.keep_artifact("r1", &row("build", 1, "a", 10)).unwrap();
    store.keep_artifact("r1", &row("build", 1, "b", 5)).unwrap();
    store.keep_artifact("r1", &row("test", 1, "c", 7)).unwrap();
    assert_eq!(store.artifact_usage("r1", "build", 1, "a").unwrap(), (12, 1));
    store.keep_artifact("r1", &row("build", 1, "a", 3)).unwrap();
    assert_eq!(store.artifacts("r1").unwrap().len(), 3, "replaced, not added");
    assert_eq!(
        store.artifact("r1", "build", Some(1), "a").unwrap().unwrap().size,
        3
    );
    assert_eq!(
        store.attempt_state("r1", "build", 1).unwrap(),
        AttemptState::Unknown
    );
    assert_eq!(store.artifact_usage("r9", "build", 1, "a").unwrap(), (0, 0));
}

fn attempt_state_follows_the_attempt_and_its_run(at: &TestStore) {
    let mut store = at.open();
    store
        .write(|w| {
            w.save_run(&run("r1", "main", 1))?;
            w.insert_attempt("r1", "build", 1, 10, 1000)
        })
        .unwrap();
    assert_eq!(store.attempt_state("r1", "build", 1).unwrap(), AttemptState::Open);
    store
        .write(|w| w.settle_attempt("r1", "build", 1, "a", &result("r1/build/1", None), 20))
        .unwrap();
    assert_eq!(store.attempt_state("r1", "build", 1).unwrap(), AttemptState::Closed);
    assert_eq!(store.attempt_logs("r1", "build", 1).unwrap(), Some(vec![]));
    assert_eq!(store.attempt_logs("r1", "build", 2).unwrap(), None);
}

fn schedule_marks_are_kept_and_replaced(at: &TestStore) {
    let mut store = at.open();
    let mut mark = ScheduleMark {
        key: "acme/shop@main 0 3 * * *".into(),
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        branch: "main".into(),
        last_slot_ms: 1_000,
        run_id: None,
    };
    store.write(|w| w.mark_schedule(&mark, 1_000)).unwrap();
    mark.last_slot_ms = 2_000;
    mark.run_id = Some("r1".into());
    store.write(|w| w.mark_schedule(&mark, 2_500)).unwrap();
    drop(store);
    assert_eq!(at.open().schedule_marks().unwrap(), vec![mark]);
}

fn github_object_ids_are_remembered_and_replaced(at: &TestStore) {
    use crate::store::GitHubObject;
    let mut store = at.open();
    let (check, comment) = (GitHubObject::CheckRun, GitHubObject::PullRequestComment);
    assert_eq!(store.github_object(check, "r1/test").unwrap(), None);
    // GitHub's ids are past 2^31 by now.
    store.write(|w| w.remember_github_object(check, "r1/test", 21_474_836_480, 1)).unwrap();
    store.write(|w| w.remember_github_object(comment, "acme/shop#7", 9, 2)).unwrap();
    store.write(|w| w.remember_github_object(check, "r1/test", 21_474_836_481, 3)).unwrap();
    drop(store);
    let store = at.open();
    assert_eq!(store.github_object(check, "r1/test").unwrap(), Some(21_474_836_481));
    assert_eq!(store.github_object(comment, "acme/shop#7").unwrap(), Some(9));
    assert_eq!(store.github_object(comment, "r1/test").unwrap(), None);
}

fn live_log_chunks_are_stored_once_and_read_from_any_line(at: &TestStore) {
    use crate::store::{LiveAppend, LiveLogState};
    use bosun_bus::logs::LogChunkMessage;
    use bosun_bus::{LogLevel, LogLine};
    let mut store = at.open();
    assert_eq!(store.live_log_state("r1", "build", 1).unwrap(), LiveLogState::NoRun);
    store
        .write(|w| {
            w.save_run(&run("r1", "main", 1))?;
            w.insert_attempt("r1", "build", 1, 10, 1000)
        })
        .unwrap();
    assert_eq!(store.live_log_state("r1", "build", 1).unwrap(), LiveLogState::Running);
    assert_eq!(store.live_log_state("r1", "build", 2).unwrap(), LiveLogState::NotStarted);
    let chunk = |first: u64, count: u64| LogChunkMessage {
        version: 1,
        agent_id: "agent-1".into(),
        run_id: "r1".into(),
        stage: "build".into(),
        attempt: 1,
        seq: first,
        first_line: first,
        lines: (first..first + count)
            .map(|n| LogLine {
                at_ms: n,
                level: LogLevel::Info,
                source: "tool".into(),
                message: format!("line {n}"),
            })
            .collect(),
    };
    assert_eq!(store.append_live_log(&chunk(0, 3), 5).unwrap(), LiveAppend::Stored(3));
    assert_eq!(store.append_live_log(&chunk(0, 3), 5).unwrap(), LiveAppend::Duplicate);
    assert_eq!(store.append_live_log(&chunk(2, 3), 5).unwrap(), LiveAppend::Stored(2));
    let read: Vec<(u64, String)> = store
        .live_log_lines("r1", "build", 1, 1, 100)
        .unwrap()
        .into_iter()
        .map(|(n, line)| (n, line.message))
        .collect();
    assert_eq!(
        read,
        [(1, "line 1"), (2, "line 2"), (3, "line 3"), (4, "line 4")]
            .map(|(n, m)| (n, m.to_string()))
    );
    store
        .write(|w| w.settle_attempt("r1", "build", 1, "a", &result("r1/build/1", None), 20))
        .unwrap();
    assert_eq!(store.live_log_state("r1", "build", 1).unwrap(), LiveLogState::Ended);
    assert_eq!(store.append_live_log(&chunk(5, 1), 6).unwrap(), LiveAppend::Closed);
}
}
