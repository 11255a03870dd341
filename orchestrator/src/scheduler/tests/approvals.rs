//! Stages that wait for a person: approved, rejected, timed out, across a restart, and
//! who may decide (a named approver or team member, a non-approver, the operator, and a
//! pull request's author with the `from` their own config wrote).

use super::*;
use crate::model::StageState;
use crate::scheduler::{Decided, StageDecision};
use crate::store::EventRow;
use crate::trust::Decider;

const TWO_HOURS: u64 = 2 * 3600 * 1000;

/// build → deploy (waits for alice or the release team, 2 h) → security.
const DEPLOY: &str = r#"pipeline:
  stages:
    - name: build
    - name: deploy
      needs: [build]
      approval: { from: [alice, "@acme/release"], timeout: 2h }
    - name: security
      needs: [deploy]
"#;

/// A tenant whose release team is bob, and whose pull requests carol approves.
fn approving_tenant() -> TenantSettings {
    let mut tenant = tenant(vec![]);
    tenant
        .teams
        .insert("@acme/release".into(), vec!["bob".into()]);
    tenant.pull_requests.approvers = vec!["carol".into()];
    tenant
}

fn member(login: &str) -> Decider {
    Decider::Member {
        login: login.into(),
    }
}

impl Harness {
    fn decide(
        &mut self,
        run_id: &str,
        stage: &str,
        approve: bool,
        decider: Decider,
        reason: &str,
    ) -> (Decided, Vec<Effect>) {
        self.now += 10;
        let decision = StageDecision {
            approve,
            decider,
            reason: reason.into(),
        };
        self.scheduler
            .decide(run_id, stage, decision, self.now)
            .unwrap()
    }

    fn events_of(&self, run_id: &str, kind: &str) -> Vec<EventRow> {
        let events = self.scheduler.store().events(run_id).unwrap();
        events.into_iter().filter(|e| e.kind == kind).collect()
    }

    /// A run of DEPLOY on `branch` whose build passed: deploy waits.
    fn waiting_deploy(&mut self, branch: &str) -> String {
        let (run_id, effects) = self.start(branch, DEPLOY);
        let build = only_task(&effects, "agent.build");
        let after = self.reply(&build, pass("built"));
        assert!(tasks(&after).is_empty(), "deploy waits: {after:?}");
        run_id
    }
}

#[test]
fn a_stage_with_an_approval_waits_and_runs_once_an_approver_approves() {
    let mut h = Harness::with_tenant(approving_tenant());
    let run_id = h.waiting_deploy("main");
    let run = h.run(&run_id);
    let deploy = run.stage("deploy").unwrap();
    assert_eq!(deploy.state, StageState::AwaitingApproval);
    let waiting = deploy.approval.clone().unwrap();
    assert_eq!(waiting.approvers, ["alice", "@acme/release"]);
    assert_eq!(waiting.deadline_ms, h.now + TWO_HOURS);
    assert_eq!(run.status, RunStatus::Running);
    let asked = h.events_of(&run_id, "gate.requested");
    assert!(
        asked[0].message.contains("alice, @acme/release"),
        "{asked:?}"
    );
    let gates = h.scheduler.store().gates(&run_id).unwrap();
    assert_eq!(
        (gates[0].phase.as_str(), gates[0].answered_ms),
        ("approval", None)
    );

    // bob approves as a member of the release team.
    let (decided, effects) = h.decide(&run_id, "deploy", true, member("bob"), "ship it");
    assert_eq!(
        decided,
        Decided::Done {
            approved: true,
            by: "bob".into()
        }
    );
    let deploy_task = only_task(&effects, "agent.deploy");
    assert_eq!(deploy_task.task.attempt, 1);
    let allowed = &h.events_of(&run_id, "gate.allowed")[0];
    assert_eq!(allowed.stage.as_deref(), Some("deploy"));
    let data = allowed.data.as_ref().unwrap();
    assert_eq!(data["approval"]["by"], "bob");
    assert_eq!(data["approval"]["reason"], "ship it");
    assert_eq!(data["approval"]["at_ms"], h.now);
    let gate = &h.scheduler.store().gates(&run_id).unwrap()[0];
    assert_eq!(gate.answered_ms, Some(h.now));
    assert_eq!(gate.verdicts.as_ref().unwrap()[0]["by"], "bob");

    // Decided once: another decision finds nothing waiting.
    let (again, _) = h.decide(&run_id, "deploy", false, member("alice"), "too late");
    assert!(matches!(again, Decided::NotWaiting(_)), "{again:?}");
    let security = only_task(&h.reply(&deploy_task, pass("deployed")), "agent.security");
    h.reply(&security, pass("clean"));
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Success);
    let decision = run.stage("deploy").unwrap().approval.clone().unwrap();
    assert_eq!(decision.decision.unwrap().by, "bob");
}

#[test]
fn a_rejection_fails_the_stage_with_its_reason_and_blocks_what_needs_it() {
    let mut h = Harness::with_tenant(approving_tenant());
    let run_id = h.waiting_deploy("main");
    let (decided, effects) = h.decide(
        &run_id,
        "deploy",
        false,
        member("alice"),
        "freeze until Monday",
    );
    assert!(matches!(
        decided,
        Decided::Done {
            approved: false,
            ..
        }
    ));
    assert!(tasks(&effects).is_empty(), "nothing runs: {effects:?}");
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Failure);
    let deploy = run.stage("deploy").unwrap();
    assert_eq!(deploy.state, StageState::Failure);
    assert_eq!(deploy.summary, "rejected by alice: freeze until Monday");
    let security = run.stage("security").unwrap();
    assert_eq!(
        (security.state, security.blocked),
        (StageState::Skipped, true)
    );
    assert_eq!(
        run.denials,
        ["approval of deploy: rejected by alice: freeze until Monday"]
    );
    let denied = &h.events_of(&run_id, "gate.denied")[0];
    assert_eq!(
        denied.data.as_ref().unwrap()["approval"]["reason"],
        "freeze until Monday"
    );
    assert!(
        h.events_of(&run_id, "stage.dispatched").len() == 1,
        "only build went out"
    );
}

#[test]
fn nobody_deciding_in_time_rejects_the_stage() {
    let mut h = Harness::with_tenant(approving_tenant());
    let run_id = h.waiting_deploy("main");
    assert!(h.tick(TWO_HOURS - 1).is_empty(), "still waiting");
    assert_eq!(
        h.run(&run_id).stage("deploy").unwrap().state,
        StageState::AwaitingApproval
    );
    let effects = h.tick(2);
    assert!(tasks(&effects).is_empty());
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Failure);
    let deploy = run.stage("deploy").unwrap();
    assert_eq!(deploy.state, StageState::Failure);
    assert_eq!(
        deploy.summary,
        "rejected by the timeout: nobody decided within 2h"
    );
    let denied = &h.events_of(&run_id, "gate.denied")[0];
    assert_eq!(
        denied.data.as_ref().unwrap()["approval"]["by"],
        "the timeout"
    );
}

#[test]
fn a_restarted_orchestrator_still_waits_and_still_times_out() {
    let mut h = Harness::with_tenant(approving_tenant());
    let approved = h.waiting_deploy("main");
    // Another branch: a newer push on main would supersede the first run.
    let timed_out = h.waiting_deploy("release");
    h.restart();
    let resumed = h.scheduler.resume(h.now).unwrap();
    assert!(
        tasks(&resumed).is_empty(),
        "nothing is sent for a waiting stage"
    );
    assert!(h.tick(60_000).is_empty(), "both still wait");
    for run_id in [&approved, &timed_out] {
        assert_eq!(
            h.run(run_id).stage("deploy").unwrap().state,
            StageState::AwaitingApproval
        );
    }
    let (_, effects) = h.decide(&approved, "deploy", true, member("alice"), "go");
    let deploy = only_task(&effects, "agent.deploy");
    assert_eq!(deploy.task.run_id, approved);
    h.reply(&deploy, pass("deployed"));
    h.restart();
    h.tick(TWO_HOURS);
    assert_eq!(h.run(&timed_out).status, RunStatus::Failure);
    assert!(
        h.run(&timed_out)
            .stage("deploy")
            .unwrap()
            .summary
            .contains("nobody decided"),
        "rejected by the timeout"
    );
    assert_eq!(
        h.run(&approved).stage("deploy").unwrap().state,
        StageState::Success,
        "the approved one was not timed out"
    );
}

#[test]
fn someone_who_is_not_an_approver_is_refused_and_the_refusal_is_recorded() {
    let mut h = Harness::with_tenant(approving_tenant());
    let run_id = h.waiting_deploy("main");
    let (decided, effects) = h.decide(&run_id, "deploy", true, member("mallory"), "lgtm");
    let Decided::Refused(why) = decided else {
        panic!("{decided:?}")
    };
    assert!(why.contains("mallory is not an approver"), "{why}");
    assert!(
        why.contains("alice, @acme/release"),
        "the rule is named: {why}"
    );
    assert!(tasks(&effects).is_empty());
    // The tenant's shared token cannot speak for a named approver.
    let shared = Decider::Tenant {
        tenant: "acme".into(),
        by: Some("alice".into()),
    };
    let (decided, _) = h.decide(&run_id, "deploy", true, shared, "lgtm");
    assert!(matches!(decided, Decided::Refused(_)), "{decided:?}");
    let refused = h.events_of(&run_id, "approval.refused");
    assert_eq!(refused.len(), 2);
    assert_eq!(
        refused[0].data.as_ref().unwrap()["approval"]["by"],
        "mallory"
    );
    assert_eq!(
        h.run(&run_id).stage("deploy").unwrap().state,
        StageState::AwaitingApproval,
        "still waiting"
    );
    // The operator decides everywhere.
    let operator = Decider::Operator {
        by: Some("ops".into()),
    };
    let (decided, effects) = h.decide(&run_id, "deploy", true, operator, "break glass");
    assert_eq!(
        decided,
        Decided::Done {
            approved: true,
            by: "ops (operator token)".into()
        }
    );
    only_task(&effects, "agent.deploy");
    // Unknown stages and runs.
    let (decided, _) = h.decide(&run_id, "nope", true, member("alice"), "");
    assert_eq!(decided, Decided::NoSuchStage);
    let (decided, _) = h.decide("no-such-run", "deploy", true, member("alice"), "");
    assert_eq!(decided, Decided::NotInFlight);
}

#[test]
fn a_pull_request_cannot_choose_its_own_approvers() {
    let mut h = Harness::with_tenant(approving_tenant());
    // Mallory's pull request makes `test` wait for Mallory.
    let config = r#"pipeline:
  stages:
    - name: lint
    - name: test
      needs: [lint]
      approval: { from: [mallory, alice] }
"#;
    let mut pr = trigger("patch-1");
    pr.event = "pull_request".into();
    pr.pull_request = Some(7);
    pr.sender = "mallory".into();
    let Accepted::Queued { run_id } = h.scheduler.accept(pr, None, h.now).unwrap() else {
        panic!("not queued")
    };
    let config = Ok(LoadedConfig::new(config, ".bosun.yml@0123456"));
    let effects = h.scheduler.config_loaded(&run_id, config, h.now).unwrap();
    let lint = only_task(&effects, "agent.lint");
    assert!(tasks(&h.reply(&lint, pass("clean"))).is_empty());
    let waiting = h
        .run(&run_id)
        .stage("test")
        .unwrap()
        .approval
        .clone()
        .unwrap();
    assert_eq!(
        waiting.approvers,
        ["carol"],
        "the tenant's list, not the PR's"
    );

    let (decided, _) = h.decide(&run_id, "test", true, member("mallory"), "mine");
    let Decided::Refused(why) = decided else {
        panic!("{decided:?}")
    };
    assert!(why.contains("mallory sent this pull request"), "{why}");
    let (decided, _) = h.decide(&run_id, "test", true, member("alice"), "named by the PR");
    let Decided::Refused(why) = decided else {
        panic!("{decided:?}")
    };
    assert!(why.contains("pull_requests.approvers"), "{why}");
    let shared = Decider::Tenant {
        tenant: "acme".into(),
        by: Some("carol".into()),
    };
    let (decided, _) = h.decide(&run_id, "test", true, shared, "claims to be carol");
    assert!(matches!(decided, Decided::Refused(_)), "{decided:?}");
    assert_eq!(h.events_of(&run_id, "approval.refused").len(), 3);

    let (decided, effects) = h.decide(&run_id, "test", true, member("carol"), "reviewed");
    assert!(matches!(decided, Decided::Done { approved: true, .. }));
    only_task(&effects, "agent.test");
}

#[test]
fn cancelling_a_run_cancels_its_waiting_stage() {
    let mut h = Harness::with_tenant(approving_tenant());
    let run_id = h.waiting_deploy("main");
    let (found, _) = h.scheduler.cancel(&run_id, "not needed", h.now).unwrap();
    assert!(found);
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.stage("deploy").unwrap().state, StageState::Cancelled);
    let (decided, _) = h.decide(&run_id, "deploy", true, member("alice"), "late");
    assert_eq!(decided, Decided::NotInFlight);
}

#[test]
fn one_decision_by_a_matrix_stages_name_decides_every_waiting_instance() {
    let mut h = Harness::with_tenant(approving_tenant());
    let config = r#"pipeline:
  stages:
    - name: build
    - name: deploy
      needs: [build]
      matrix: { region: [eu, us] }
      approval: { from: [alice], timeout: 2h }
"#;
    let (run_id, effects) = h.start("main", config);
    let build = only_task(&effects, "agent.build");
    assert!(tasks(&h.reply(&build, pass("built"))).is_empty());
    for instance in ["deploy-eu", "deploy-us"] {
        let state = h.run(&run_id).stage(instance).unwrap().state;
        assert_eq!(state, StageState::AwaitingApproval, "{instance}");
    }

    // Someone who may not decide is refused for all of them, once.
    let (refused, effects) = h.decide(&run_id, "deploy", true, member("mallory"), "me");
    assert!(matches!(refused, Decided::Refused(_)), "{refused:?}");
    assert!(tasks(&effects).is_empty());
    assert_eq!(h.events_of(&run_id, "approval.refused").len(), 1);

    // alice approves the matrix stage by its written name: both instances run.
    let (decided, effects) = h.decide(&run_id, "deploy", true, member("alice"), "both");
    assert_eq!(
        decided,
        Decided::Done {
            approved: true,
            by: "alice".into()
        }
    );
    let mut sent: Vec<String> = tasks(&effects)
        .into_iter()
        .map(|(_, t)| t.task.stage)
        .collect();
    sent.sort();
    assert_eq!(sent, ["deploy-eu", "deploy-us"]);
    assert_eq!(h.events_of(&run_id, "gate.allowed").len(), 2);
    // Nothing waits now: the name decides nothing more.
    let (again, _) = h.decide(&run_id, "deploy", false, member("alice"), "late");
    assert_eq!(again, Decided::NoSuchStage);
}
