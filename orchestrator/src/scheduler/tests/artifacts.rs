//! What stage tasks say about artifacts: the step that keeps files gets a token for
//! its own attempt; the step that needs it reads the attempt that passed (a retried
//! build's second), matrix instances by their names; plugin stages and steps that keep
//! nothing offer nothing; a task re-sent after a restart carries the same token.

use super::*;
use crate::artifacts::TokenScope;
use bosun_bus::artifacts::ArtifactInput;

const CONFIG: &str = r#"pipeline:
  stages:
    - name: build
      image: bosun/python:3.11
      commands: [make]
      artifacts: [dist]
      retries: 1
    - name: wheels
      needs: []
      matrix: { py: ["3.11", "3.12"] }
      image: "bosun/python:${{ matrix.py }}"
      commands: [make wheel]
      artifacts: ["/out/*.whl"]
    - name: lint
      needs: []
    - name: docs
      needs: []
      image: bosun/python:3.11
      commands: [make docs]
    - name: test
      needs: [build, wheels, lint, docs]
      image: bosun/python:3.11
      commands: [make test]
"#;

fn input(stage: &str, attempt: u32) -> ArtifactInput {
    ArtifactInput {
        stage: stage.into(),
        attempt,
    }
}

#[test]
fn the_stage_that_needs_a_step_reads_the_attempt_that_passed_with_a_token_of_its_own() {
    let mut h = Harness::new(vec![]);
    let key = h.scheduler.store().artifact_key().unwrap();
    let (run_id, effects) = h.start("main", CONFIG);
    let first = tasks(&effects);
    let task = |name: &str| {
        first
            .iter()
            .find(|(_, t)| t.task.stage == name)
            .map(|(_, t)| t.clone())
            .unwrap()
    };
    let build = task("build");
    let plan = build.artifacts.clone().unwrap();
    assert_eq!(
        (plan.keep.as_slice(), plan.inputs.len()),
        (&["dist".to_string()][..], 0)
    );
    let scope = TokenScope::verify(&key, &plan.token).unwrap();
    assert!(scope.may_upload(&run_id, "build", 1) && scope.reads.is_empty());
    assert_eq!(
        task("wheels-3_12").artifacts.unwrap().keep,
        ["/out/*.whl"],
        "each matrix instance keeps its own"
    );
    assert!(task("lint").artifacts.is_none(), "a plugin stage has none");
    assert!(
        task("docs").artifacts.is_none(),
        "a step that keeps nothing and reads nothing"
    );

    // The build's tool fails once; its retry gets a token of its own.
    h.reply(
        &build,
        StageResult {
            report: None,
            failure: Some(StageFailure {
                kind: bosun_bus::StageFailureKind::ToolFailed,
                message: "the engine went away".into(),
            }),
            ..pass("")
        },
    );
    let retry = only_task(&h.tick(120_000), "agent.commands");
    let second = retry.artifacts.clone().unwrap();
    assert_ne!(second.token, plan.token);
    assert!(
        TokenScope::verify(&key, &second.token)
            .unwrap()
            .may_upload(&run_id, "build", 2)
    );
    for name in ["wheels-3_11", "wheels-3_12", "lint", "docs"] {
        assert!(
            tasks(&h.reply(&task(name), pass("ok"))).is_empty(),
            "{name}"
        );
    }
    let test = only_task(&h.reply(&retry, pass("built")), "agent.commands");
    let reads = test.artifacts.clone().unwrap();
    assert!(reads.keep.is_empty());
    assert_eq!(
        reads.inputs,
        [
            input("build", 2),
            input("wheels-3_11", 1),
            input("wheels-3_12", 1)
        ]
    );
    let scope = TokenScope::verify(&key, &reads.token).unwrap();
    assert!(scope.may_read(&run_id, "build", 2));
    assert!(
        !scope.may_read(&run_id, "build", 1),
        "not the attempt that failed"
    );
    assert!(!scope.may_read(&run_id, "docs", 1));

    // After a restart the task goes out again with the same token.
    h.restart();
    let again = only_task(&h.scheduler.resume(h.now).unwrap(), "agent.commands");
    assert_eq!(again.artifacts, test.artifacts);
}
