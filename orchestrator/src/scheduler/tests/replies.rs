//! Replies whose ids do not read as a task or gate request id are dropped; the run
//! goes on as if they never came.

use super::*;
use bosun_bus::policy::{Decision, PolicyReplyMessage, PolicyVerdict};

#[test]
fn results_with_malformed_task_ids_are_ignored() {
    let mut h = Harness::new(vec![]);
    let (run_id, effects) = h.start("main", "pipeline:\n  stages: [lint, test]\n");
    let lint = only_task(&effects, "agent.lint");
    for hostile in [
        format!("{run_id}/lint/+1"),
        format!("{run_id}/lint/01"),
        format!("{run_id}/lint/one"),
        format!("{run_id}/lint/"),
        format!("{run_id}//1"),
        "/lint/1".to_string(),
        format!("x/{run_id}/lint/1"),
        format!("{run_id}/lint/1/after-stage"),
        format!("{run_id}/lint"),
        String::new(),
    ] {
        let reply = AgentReply::Stage(ResultMessage {
            version: 1,
            agent_id: "agent-1".into(),
            result: StageResult {
                task_id: hostile.clone(),
                ..pass("clean")
            },
        });
        h.now += 1;
        let effects = h.scheduler.on_reply(reply, h.now).unwrap();
        assert!(effects.is_empty(), "{hostile:?} gave {effects:?}");
    }
    let run = h.run(&run_id);
    assert_eq!(
        run.stage("lint").unwrap().state,
        crate::model::StageState::Running
    );
    assert!(
        h.scheduler.store().attempts(&run_id).unwrap()[0]
            .outcome
            .is_none(),
        "no result was recorded"
    );
    // The well-formed id still settles the attempt.
    only_task(&h.reply(&lint, pass("clean")), "agent.test");
}

#[test]
fn policy_answers_with_malformed_request_ids_are_ignored() {
    let policy = PolicySettings {
        plugin: "gatekeeper".into(),
        with: Default::default(),
        stages: vec!["deploy".into()],
        phases: vec![bosun_bus::policy::PolicyPhase::BeforeStage],
    };
    let mut h = Harness::new(vec![policy]);
    let (run_id, effects) = h.start("main", "pipeline:\n  stages: [build, deploy]\n");
    let build = only_task(&effects, "agent.build");
    assert_eq!(kinds(&h.reply(&build, pass("built"))), ["agent.policy"]);
    let deny = |request_id: String| {
        AgentReply::Policy(PolicyReplyMessage {
            version: 1,
            agent_id: "agent-1".into(),
            request_id,
            run_id: run_id.clone(),
            verdicts: vec![PolicyVerdict {
                policy: "gatekeeper".into(),
                digest: None,
                decision: Decision::Deny(vec!["no".into()]),
            }],
        })
    };
    for hostile in [
        format!("{run_id}/deploy/1"),
        format!("{run_id}/deploy/1/during"),
        format!("{run_id}/deploy/x/before-stage"),
        format!("{run_id}//1/before-stage"),
        format!("x/{run_id}/deploy/1/before-stage"),
        format!("{run_id}/deploy/1/before-stage/"),
    ] {
        h.now += 1;
        let effects = h.scheduler.on_reply(deny(hostile.clone()), h.now).unwrap();
        assert!(effects.is_empty(), "{hostile:?} gave {effects:?}");
    }
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(
        run.stage("deploy").unwrap().state,
        crate::model::StageState::Gating
    );
    assert!(run.denials.is_empty());
}
