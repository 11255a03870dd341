//! Concurrency groups: one run at a time through a stage per group, the others waiting
//! in order, skipped (`queue: false`) or taking over (`cancel_in_progress`); a newer
//! push never cuts a deploy short unless its stage says it may.

use super::*;
use crate::model::StageState;

const LOCKED: &str = r#"pipeline:
  stages:
    - name: deploy
      environment: staging
      concurrency: { group: "deploy-${{ environment }}" }
"#;

fn waiting_events(h: &Harness, run_id: &str) -> Vec<String> {
    h.scheduler
        .store()
        .events(run_id)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "stage.waiting")
        .map(|e| e.message)
        .collect()
}

#[test]
fn two_runs_on_one_group_run_one_after_the_other_in_order() {
    let mut h = Harness::new(vec![]);
    let (first, effects) = h.start("main", LOCKED);
    let deploy_first = only_task(&effects, "agent.deploy");
    h.now += 1;
    let (second, effects) = h.start("feature-a", LOCKED);
    assert!(tasks(&effects).is_empty(), "the group is held: {effects:?}");
    h.now += 1;
    let (third, effects) = h.start("feature-b", LOCKED);
    assert!(tasks(&effects).is_empty());
    let waits = waiting_events(&h, &second);
    assert!(
        waits[0].contains(&format!("deploy-staging is held by run {first}")),
        "{waits:?}"
    );
    assert!(tasks(&h.tick(1_000)).is_empty(), "still held");

    h.reply(&deploy_first, pass("deployed"));
    assert_eq!(h.run(&first).status, RunStatus::Success);
    // The run that waited longest goes first, the other keeps waiting.
    let next = only_task(&h.tick(1_000), "agent.deploy");
    assert_eq!(next.task.run_id, second);
    assert_eq!(
        h.run(&third).stage("deploy").unwrap().state,
        StageState::Pending
    );
    h.reply(&next, pass("deployed"));
    let last = only_task(&h.tick(1_000), "agent.deploy");
    assert_eq!(last.task.run_id, third);
    assert!(
        waiting_events(&h, &third)
            .iter()
            .any(|m| m.contains("takes concurrency group"))
    );
}

#[test]
fn without_a_queue_a_busy_group_skips_the_stage() {
    let mut h = Harness::new(vec![]);
    let config = LOCKED.replace("\" }", "\", queue: false }");
    let (_, effects) = h.start("main", &config);
    only_task(&effects, "agent.deploy");
    let (second, effects) = h.start("feature", &config);
    assert!(tasks(&effects).is_empty());
    let stage = h.run(&second).stage("deploy").unwrap().clone();
    assert_eq!(stage.state, StageState::Skipped);
    assert!(stage.summary.contains("queue: false"), "{}", stage.summary);
}

#[test]
fn cancel_in_progress_takes_the_group_from_the_run_holding_it() {
    let mut h = Harness::new(vec![]);
    let config = LOCKED.replace("\" }", "\", cancel_in_progress: true }");
    let (first, effects) = h.start("main", &config);
    only_task(&effects, "agent.deploy");
    let (second, effects) = h.start("feature", &config);
    assert!(tasks(&effects).is_empty());
    let next = only_task(&h.tick(1_000), "agent.deploy");
    assert_eq!(next.task.run_id, second);
    let old = h.run(&first);
    assert_eq!(old.status, RunStatus::Cancelled);
    assert!(old.error.unwrap().contains("cancel_in_progress"));
}

#[test]
fn a_newer_push_never_cancels_a_running_deploy_unless_it_may() {
    let mut h = Harness::new(vec![]);
    let config = "pipeline:\n  stages:\n    - name: deploy\n      environment: production\n";
    let (first, effects) = h.start("main", config);
    only_task(&effects, "agent.deploy");
    h.now += 1;
    h.start("main", config);
    assert_eq!(
        h.run(&first).status,
        RunStatus::Running,
        "the deploy under way finishes"
    );

    // Before its deploy begins, a run is superseded as before.
    let config =
        "pipeline:\n  stages:\n    - lint\n    - name: deploy\n      environment: production\n";
    let (early, _) = h.start("release", config);
    h.now += 1;
    h.start("release", config);
    assert_eq!(h.run(&early).status, RunStatus::Cancelled);
}

#[test]
fn a_stage_waiting_for_an_approval_holds_no_group() {
    let mut h = Harness::new(vec![]);
    let config = r#"pipeline:
  stages:
    - name: deploy
      environment: staging
      approval: { timeout: 1h }
      concurrency: { group: "deploy-${{ environment }}" }
"#;
    let (first, effects) = h.start("main", config);
    assert!(tasks(&effects).is_empty(), "waits for a person");
    h.now += 1;
    let (second, _) = h.start("release", config);
    assert_eq!(
        h.run(&second).stage("deploy").unwrap().state,
        StageState::AwaitingApproval,
        "not held up by the first run, which has not begun its deploy"
    );
    let decision = crate::scheduler::StageDecision {
        approve: true,
        decider: crate::trust::Decider::Operator { by: None },
        reason: "ship".into(),
    };
    let (_, effects) = h
        .scheduler
        .decide(&second, "deploy", decision, h.now)
        .unwrap();
    let deploy = only_task(&effects, "agent.deploy");
    assert_eq!(deploy.task.run_id, second);
    // The first is approved now: its deploy waits for the group the second holds.
    let decision = crate::scheduler::StageDecision {
        approve: true,
        decider: crate::trust::Decider::Operator { by: None },
        reason: "ship".into(),
    };
    let (_, effects) = h
        .scheduler
        .decide(&first, "deploy", decision, h.now)
        .unwrap();
    assert!(tasks(&effects).is_empty(), "{effects:?}");
    assert!(waiting_events(&h, &first)[0].contains(&format!("held by run {second}")));
}
