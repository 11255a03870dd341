//! Matrix stages: instances run in parallel up to `max_parallel`, later stages wait for
//! every instance, and `fail_fast` stops the siblings of a failed instance.

use super::*;
use crate::model::StageState;
use bosun_bus::topics;

fn stages_of(tasks: &[(String, TaskMessage)]) -> Vec<String> {
    let mut names: Vec<String> = tasks.iter().map(|(_, t)| t.task.stage.clone()).collect();
    names.sort();
    names
}

#[test]
fn max_parallel_holds_instances_back_and_later_stages_wait_for_all() {
    let mut h = Harness::new(vec![]);
    let config = r#"pipeline:
  stages:
    - name: test
      matrix: { python: ["3.11", "3.12", "3.13"] }
      max_parallel: 2
    - name: build
"#;
    let (run_id, effects) = h.start("main", config);
    let first = tasks(&effects);
    assert_eq!(
        stages_of(&first),
        ["test-3_11", "test-3_12"],
        "two at a time"
    );
    let after_one = tasks(&h.reply(&first[0].1, pass("ok")));
    assert_eq!(
        stages_of(&after_one),
        ["test-3_13"],
        "the third takes the free place"
    );
    assert!(
        tasks(&h.reply(&first[1].1, pass("ok"))).is_empty(),
        "build waits for 3.13"
    );
    let build = only_task(&h.reply(&after_one[0].1, pass("ok")), "agent.build");
    let end = h.reply(&build, pass("built"));
    assert!(!end.is_empty());
    assert_eq!(h.run(&run_id).status, RunStatus::Success);
}

#[test]
fn fail_fast_cancels_the_siblings_and_their_late_results_are_ignored() {
    let mut h = Harness::new(vec![]);
    let config = r#"pipeline:
  stages:
    - name: test
      matrix: { python: ["3.11", "3.12"], os: [debian, alpine] }
    - name: build
"#;
    let (run_id, effects) = h.start("main", config);
    let out = tasks(&effects);
    assert_eq!(out.len(), 4, "no max_parallel: every instance at once");
    let failed = &out[0].1;
    let effects = h.reply(
        failed,
        result(report(Outcome::Failure, "lint-like failure")),
    );
    // Each sibling out with an agent is announced cancelled, so its tools stop now
    // rather than when the whole run ends.
    let mut announced: Vec<String> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { topic, payload, .. } if topic == topics::PIPELINE_EVENTS => {
                let event: serde_json::Value = serde_json::from_slice(payload).ok()?;
                (event["kind"] == "stage.cancelled" && event["run_id"] == run_id.as_str())
                    .then(|| event["stage"].as_str().unwrap_or_default().to_string())
            }
            _ => None,
        })
        .collect();
    announced.sort();
    let mut siblings: Vec<String> = out[1..].iter().map(|(_, t)| t.task.stage.clone()).collect();
    siblings.sort();
    assert_eq!(announced, siblings);
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Failure);
    for stage in &run.stages {
        match stage.name.as_str() {
            name if name == failed.task.stage => assert_eq!(stage.state, StageState::Failure),
            "build" => assert_eq!(stage.state, StageState::Skipped),
            _ => {
                assert_eq!(stage.state, StageState::Cancelled, "{}", stage.name);
                assert!(stage.summary.contains("(fail_fast)"), "{}", stage.summary);
            }
        }
    }
    let events = h.scheduler.store().events(&run_id).unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "stage.cancelled")
            .count(),
        3
    );
    // A cancelled instance's result arrives anyway: it changes nothing.
    assert!(tasks(&h.reply(&out[1].1, pass("ok"))).is_empty());
    assert_eq!(
        h.run(&run_id).stage(&out[1].1.task.stage).unwrap().state,
        StageState::Cancelled
    );
}

/// A matrix of two instances that do not stop each other.
const TWO_INSTANCES_NO_FAIL_FAST: &str = r#"pipeline:
  stages:
    - name: test
      matrix: { python: ["3.11", "3.12"] }
      fail_fast: false
"#;

#[test]
fn without_fail_fast_the_other_instances_finish() {
    let mut h = Harness::new(vec![]);
    let config = TWO_INSTANCES_NO_FAIL_FAST;
    let (run_id, effects) = h.start("main", config);
    let out = tasks(&effects);
    h.reply(&out[0].1, result(report(Outcome::Failure, "failed")));
    assert_eq!(
        h.run(&run_id).stage(&out[1].1.task.stage).unwrap().state,
        StageState::Running
    );
    h.reply(&out[1].1, pass("ok"));
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Failure);
    assert_eq!(
        run.stage(&out[1].1.task.stage).unwrap().state,
        StageState::Success
    );
}

/// Each instance of a matrix is a stage of its own on GitHub: its own commit status
/// context, pending when it goes out and settled with its own outcome.
#[test]
fn each_instance_has_its_own_commit_status() {
    let mut h = Harness::new(vec![]);
    let config = TWO_INSTANCES_NO_FAIL_FAST;
    let (_, mut effects) = h.start("main", config);
    let instances = tasks(&effects);
    assert_eq!(stages_of(&instances), ["test-3_11", "test-3_12"]);
    for (_, task) in &instances {
        let answer = if task.task.stage == "test-3_11" {
            pass("ok")
        } else {
            high_vulnerability()
        };
        effects.extend(h.reply(task, answer));
    }
    let statuses: Vec<(String, StatusState)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Status { update, .. } => Some((update.context.clone(), update.state)),
            _ => None,
        })
        .collect();
    let of = |context: &str| -> Vec<StatusState> {
        statuses
            .iter()
            .filter(|(c, _)| c == context)
            .map(|(_, s)| *s)
            .collect()
    };
    assert_eq!(
        of("bosun/test-3_11"),
        [StatusState::Pending, StatusState::Success],
        "{statuses:?}"
    );
    assert_eq!(
        of("bosun/test-3_12"),
        [StatusState::Pending, StatusState::Failure],
        "{statuses:?}"
    );
    assert!(
        of("bosun/test").is_empty(),
        "no status for the matrix as a whole: {statuses:?}"
    );
}
