//! Policy gate scenarios: what a deny, a warning and a timeout do to the run.

use super::*;
use bosun_bus::policy::{
    Decision, PolicyPhase, PolicyReplyMessage, PolicyTaskMessage, PolicyVerdict,
};

/// A tenant policy on `deploy` before it runs.
fn deploy_policy(plugin: &str) -> PolicySettings {
    PolicySettings {
        plugin: plugin.into(),
        with: Default::default(),
        stages: vec!["deploy".into()],
        phases: vec![PolicyPhase::BeforeStage],
    }
}

/// The policy question among `effects`.
fn gate_task(effects: &[Effect]) -> PolicyTaskMessage {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Publish { topic, payload, .. } if topic == "agent.policy" => {
                Some(messages::decode(payload).unwrap())
            }
            _ => None,
        })
        .unwrap()
}

/// An agent's answer to `request_id` with one verdict per `(policy, decision)`.
fn answer(request_id: &str, run_id: &str, verdicts: Vec<(&str, Decision)>) -> AgentReply {
    AgentReply::Policy(PolicyReplyMessage {
        version: 1,
        agent_id: "agent-1".into(),
        request_id: request_id.into(),
        run_id: run_id.into(),
        verdicts: verdicts
            .into_iter()
            .map(|(policy, decision)| PolicyVerdict {
                policy: policy.into(),
                digest: None,
                decision,
            })
            .collect(),
    })
}

#[test]
fn a_policy_deny_halts_the_run_with_its_reasons() {
    let policy = PolicySettings {
        plugin: "production-only-from-default-branch".into(),
        with: Default::default(),
        stages: vec!["deploy".into()],
        phases: vec![bosun_bus::policy::PolicyPhase::BeforeStage],
    };
    let mut h = Harness::new(vec![policy]);
    let config = "pipeline:\n  stages: [build, deploy]\n  deploy_environment: production\n";
    let (run_id, effects) = h.start("feature/x", config);
    let build = only_task(&effects, "agent.build");
    let gate_effects = h.reply(&build, pass("built"));
    assert_eq!(kinds(&gate_effects), ["agent.policy"]);
    let gate: PolicyTaskMessage = gate_effects
        .iter()
        .find_map(|e| match e {
            Effect::Publish { topic, payload, .. } if topic == "agent.policy" => {
                Some(messages::decode(payload).unwrap())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(gate.input.environment.as_deref(), Some("production"));
    assert_eq!(gate.input.branch, "feature/x");
    assert!(!gate.input.fork, "a push is never a fork");
    let reply = AgentReply::Policy(PolicyReplyMessage {
        version: 1,
        agent_id: "agent-1".into(),
        request_id: gate.request_id.clone(),
        run_id: run_id.clone(),
        verdicts: vec![PolicyVerdict {
            policy: "production-only-from-default-branch".into(),
            digest: None,
            decision: Decision::Deny(vec!["feature/x is not main".into()]),
        }],
    });
    h.now += 1;
    let end = h.scheduler.on_reply(reply, h.now).unwrap();
    assert!(tasks(&end).is_empty(), "deploy must not be dispatched");
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Halted);
    assert_eq!(
        run.denials,
        ["production-only-from-default-branch: feature/x is not main"]
    );
    assert!(run.error.unwrap().contains("feature/x is not main"));
    let gates = h.scheduler.store().gates(&run_id).unwrap();
    assert!(gates[0].answered_ms.is_some());
}

#[test]
fn policy_warnings_are_recorded_and_the_stage_goes_on() {
    let mut h = Harness::new(vec![deploy_policy("min-coverage")]);
    let (run_id, effects) = h.start("main", "pipeline:\n  stages: [build, deploy]\n");
    let build = only_task(&effects, "agent.build");
    let gate = gate_task(&h.reply(&build, pass("built")));
    assert_eq!(gate.request_id, format!("{run_id}/deploy/1/before-stage"));
    let reply = answer(
        &gate.request_id,
        &run_id,
        vec![
            (
                "min-coverage",
                Decision::Warn(vec!["coverage 61% < 80%".into()]),
            ),
            ("other", Decision::Allow),
        ],
    );
    h.now += 1;
    let next = h.scheduler.on_reply(reply, h.now).unwrap();
    let deploy = only_task(&next, "agent.deploy");
    assert_eq!(deploy.task.attempt, 1);
    let run = h.run(&run_id);
    assert_eq!(run.warnings, ["min-coverage: coverage 61% < 80%"]);
    assert!(run.denials.is_empty());
    let events = h.scheduler.store().events(&run_id).unwrap();
    let warned = events.iter().find(|e| e.kind == "gate.warned").unwrap();
    assert_eq!(warned.message, "min-coverage: coverage 61% < 80%");
    assert!(events.iter().any(|e| e.kind == "gate.allowed"));
}

#[test]
fn a_gate_with_no_answer_in_time_fails_closed() {
    let mut h = Harness::new(vec![deploy_policy("min-coverage")]);
    let (run_id, effects) = h.start("main", "pipeline:\n  stages: [build, deploy]\n");
    let build = only_task(&effects, "agent.build");
    let gate = gate_task(&h.reply(&build, pass("built")));
    let timeout_ms = h.settings.gate_timeout().as_millis() as u64;
    assert!(
        tasks(&h.tick(timeout_ms + 1)).is_empty(),
        "deploy must not run"
    );
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Halted);
    assert!(
        run.denials[0].contains("no policy answer for deploy"),
        "{:?}",
        run.denials
    );
    // A late answer finds the gate closed.
    let late = answer(
        &gate.request_id,
        &run_id,
        vec![("min-coverage", Decision::Allow)],
    );
    assert!(h.scheduler.on_reply(late, h.now).unwrap().is_empty());
}

#[test]
fn a_fork_pull_requests_gate_tells_policies_the_head_is_a_fork() {
    let policy = PolicySettings {
        plugin: "production-only-from-default-branch".into(),
        with: Default::default(),
        stages: vec!["lint".into()],
        phases: vec![PolicyPhase::BeforeStage],
    };
    let mut h = Harness::new(vec![policy]);
    let mut fork = trigger("contributor:main");
    fork.event = "pull_request".into();
    fork.pull_request = Some(7);
    fork.fork = true;
    let run_id = match h.scheduler.accept(fork, None, h.now).unwrap() {
        Accepted::AwaitingApproval { run_id } => {
            h.scheduler
                .approve(&run_id, "octo", h.now)
                .unwrap()
                .unwrap();
            run_id
        }
        Accepted::Queued { run_id } => run_id,
        other => panic!("a fork's run is accepted: {other:?}"),
    };
    let effects = h
        .scheduler
        .config_loaded(
            &run_id,
            Ok(LoadedConfig::new(
                "pipeline:\n  stages: [lint]\n",
                ".bosun.yml@0123456",
            )),
            h.now,
        )
        .unwrap();
    let gate = gate_task(&effects);
    assert!(gate.input.fork, "the gate must say the head is a fork");
    assert_eq!(gate.input.event, "pull_request");
    assert_eq!(gate.input.branch, "contributor:main");
}
