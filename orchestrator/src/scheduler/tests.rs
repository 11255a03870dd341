//! Scheduler tests: real run store (SQLite in a temp folder), real pipeline configs,
//! agent replies built as agents build them.

use super::*;
use crate::settings::{PolicySettings, Secret, TenantSettings};
use bosun_bus::messages::ResultMessage;
use bosun_bus::notify::RunStatus as SummaryStatus;
use bosun_bus::policy::{PolicyReplyMessage, PolicyTaskMessage, PolicyVerdict};
use bosun_bus::{
    Finding, Outcome, Severity, StageFailure, StageReport, StageResult, TestFailure, TestTotals,
};

const SEED: &str = "pipeline:
  stages: [lint, test, build, security, deploy]
  retry_on_failure: true
  notify_on_success: true
  deploy_environment: staging
";

struct Harness {
    scheduler: Scheduler,
    dir: tempfile::TempDir,
    now: u64,
    settings: Arc<ServerSettings>,
}

fn tenant(policies: Vec<PolicySettings>) -> TenantSettings {
    TenantSettings {
        owner: "acme".into(),
        slack_webhook: Secret {
            value: Some("http://127.0.0.1:9/slack".into()),
            env: None,
        },
        github_token: Secret {
            value: Some("token".into()),
            env: None,
        },
        policies,
        ..TenantSettings::default()
    }
}

fn trigger(branch: &str) -> RunTrigger {
    RunTrigger {
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        clone_url: "file:///srv/shop".into(),
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

impl Harness {
    fn new(policies: Vec<PolicySettings>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let settings = Arc::new(ServerSettings {
            tenants: vec![tenant(policies)],
            ..ServerSettings::default()
        });
        let store = Store::open(&dir.path().join("runs.db")).unwrap();
        let scheduler = Scheduler::open(store, Arc::clone(&settings)).unwrap();
        Harness {
            scheduler,
            dir,
            now: 1_700_000_000_000,
            settings,
        }
    }

    fn restart(&mut self) {
        let store = Store::open(&self.dir.path().join("runs.db")).unwrap();
        self.scheduler = Scheduler::open(store, Arc::clone(&self.settings)).unwrap();
    }

    fn start(&mut self, branch: &str, config: &str) -> (String, Vec<Effect>) {
        let Accepted::Queued { run_id } = self
            .scheduler
            .accept(trigger(branch), None, self.now)
            .unwrap()
        else {
            panic!("not queued")
        };
        let effects = self
            .scheduler
            .config_loaded(
                &run_id,
                Ok((config.to_string(), ".bosun.yml@0123456".into())),
                self.now,
            )
            .unwrap();
        (run_id, effects)
    }

    fn reply(&mut self, task: &TaskMessage, result: StageResult) -> Vec<Effect> {
        self.now += 5;
        let reply = AgentReply::Stage(ResultMessage {
            version: 1,
            agent_id: "agent-1".into(),
            result: StageResult {
                task_id: task.task.id(),
                ..result
            },
        });
        self.scheduler.on_reply(reply, self.now).unwrap()
    }

    fn tick(&mut self, advance_ms: u64) -> Vec<Effect> {
        self.now += advance_ms;
        self.scheduler.tick(self.now).unwrap()
    }

    fn run(&self, id: &str) -> RunRecord {
        self.scheduler.store().run(id).unwrap().unwrap()
    }
}

fn tasks(effects: &[Effect]) -> Vec<(String, TaskMessage)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { topic, payload, .. } if topic.starts_with("agent.") => {
                messages::decode::<TaskMessage>(payload)
                    .ok()
                    .map(|m| (topic.clone(), m))
            }
            _ => None,
        })
        .collect()
}

fn only_task(effects: &[Effect], topic: &str) -> TaskMessage {
    let found = tasks(effects);
    assert_eq!(
        found.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        [topic],
        "effects: {effects:?}"
    );
    found.into_iter().next().unwrap().1
}

fn report(outcome: Outcome, summary: &str) -> StageReport {
    StageReport {
        outcome,
        summary: summary.into(),
        findings: vec![],
        tests: None,
        test_failures: vec![],
        coverage: None,
        artifacts: vec![],
        metrics: vec![],
        truncated: false,
    }
}

fn result(report: StageReport) -> StageResult {
    StageResult {
        task_id: String::new(),
        plugin: None,
        report: Some(report),
        failure: None,
        logs: vec![],
        logs_dropped_bytes: 0,
        duration_ms: 7,
    }
}

fn pass(summary: &str) -> StageResult {
    result(report(Outcome::Success, summary))
}

fn failing_tests(names: &[&str]) -> StageResult {
    let mut r = report(Outcome::Failure, "2 of 10 tests failed");
    r.tests = Some(TestTotals {
        total: 10,
        passed: 8,
        failed: names.len() as u32,
        errors: 0,
        skipped: 0,
        duration_ms: 40,
    });
    r.test_failures = names
        .iter()
        .map(|n| TestFailure {
            suite: "tests.test_cart".into(),
            name: n.to_string(),
            message: "assert 3 == 4".into(),
            path: None,
            line: None,
        })
        .collect();
    result(r)
}

fn high_vulnerability() -> StageResult {
    let mut r = report(Outcome::Failure, "1 HIGH vulnerability");
    r.findings = vec![Finding {
        rule: "CVE-2023-0286".into(),
        severity: Severity::High,
        message: "openssl: X.400 address type confusion".into(),
        path: Some("libssl1.1".into()),
        line: None,
        column: None,
        tool: "trivy".into(),
        fixed_version: Some("1.1.1t-r0".into()),
    }];
    result(r)
}

fn kinds(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { topic, .. } => Some(topic.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn seed_scenario_retries_the_flaky_test_stage_and_halts_on_the_vulnerability() {
    let mut h = Harness::new(vec![]);
    let (run_id, effects) = h.start("main", SEED);
    let lint = only_task(&effects, "agent.lint");
    assert_eq!(lint.task.attempt, 1);
    assert_eq!(lint.plugin.as_deref(), Some("lint"));

    let test = only_task(&h.reply(&lint, pass("no findings")), "agent.test");
    let retry = h.reply(&test, failing_tests(&["test_total", "test_discount"]));
    assert!(tasks(&retry).is_empty(), "a retry waits for its backoff");
    assert_eq!(
        h.run(&run_id).stage("test").unwrap().state,
        crate::model::StageState::RetryWait
    );
    assert!(
        tasks(&h.tick(500)).is_empty(),
        "backoff of 1 s not over yet"
    );
    let test2 = only_task(&h.tick(600), "agent.test");
    assert_eq!(test2.task.attempt, 2);

    let build = only_task(&h.reply(&test2, pass("10 passed")), "agent.build");
    let security = only_task(&h.reply(&build, pass("image pushed")), "agent.security");
    let end = h.reply(&security, high_vulnerability());
    assert!(tasks(&end).is_empty(), "deploy must not run");
    assert!(kinds(&end).contains(&"agent.report"), "{end:?}");

    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Failure);
    assert_eq!(
        run.stage("deploy").unwrap().state,
        crate::model::StageState::Skipped
    );
    assert_eq!(run.stage("test").unwrap().attempt, 2);
    // The report names the vulnerability and the two flaky tests.
    let report_task = end
        .iter()
        .find_map(|e| match e {
            Effect::Publish { topic, payload, .. } if topic == "agent.report" => {
                Some(messages::decode::<ReportTaskMessage>(payload).unwrap())
            }
            _ => None,
        })
        .unwrap();
    let summary = report_task.summary;
    assert_eq!(summary.status, SummaryStatus::Failure);
    assert_eq!(summary.blocking_findings[0].rule, "CVE-2023-0286");
    assert_eq!(
        summary.flaky_tests,
        [
            "tests.test_cart::test_discount",
            "tests.test_cart::test_total"
        ]
    );
    assert_eq!(report_task.notifier, "slack");
    // Every step is in the audit log with a timestamp.
    let events = h.scheduler.store().events(&run_id).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for expected in [
        "run.created",
        "run.started",
        "stage.dispatched",
        "stage.result",
        "stage.retry-scheduled",
        "stage.passed",
        "stage.failed",
        "stage.skipped",
        "run.failed",
        "notify.requested",
    ] {
        assert!(kinds.contains(&expected), "missing {expected} in {kinds:?}");
    }
    assert!(events.iter().all(|e| e.at_ms >= 1_700_000_000_000));
}

#[test]
fn duplicate_and_stale_results_are_ignored() {
    let mut h = Harness::new(vec![]);
    let (run_id, effects) = h.start("main", "pipeline:\n  stages: [lint, test]\n");
    let lint = only_task(&effects, "agent.lint");
    let next = h.reply(&lint, pass("clean"));
    assert_eq!(tasks(&next).len(), 1);
    // The same result again (a redelivered task ran twice): nothing new is dispatched.
    let again = h.reply(&lint, result(report(Outcome::Failure, "different")));
    assert!(tasks(&again).is_empty());
    let run = h.run(&run_id);
    assert_eq!(
        run.stage("lint").unwrap().state,
        crate::model::StageState::Success
    );
    assert_eq!(run.failures, 0);
    let attempts = h.scheduler.store().attempts(&run_id).unwrap();
    assert_eq!(attempts.iter().filter(|a| a.stage == "lint").count(), 1);
    assert_eq!(attempts[0].outcome.as_deref(), Some("success"));
    let events = h.scheduler.store().events(&run_id).unwrap();
    assert!(events.iter().any(|e| e.kind == "result.ignored"));
}

#[test]
fn independent_stages_are_dispatched_together() {
    let mut h = Harness::new(vec![]);
    let config = "pipeline:
  stages:
    - name: lint
      needs: []
    - name: test
      needs: []
    - name: build
      needs: [lint, test]
";
    let (_, effects) = h.start("main", config);
    let mut topics: Vec<String> = tasks(&effects).into_iter().map(|(t, _)| t).collect();
    topics.sort();
    assert_eq!(topics, ["agent.lint", "agent.test"]);
}

#[test]
fn a_restart_resends_in_flight_work_and_settles_each_stage_once() {
    let mut h = Harness::new(vec![]);
    let config = "pipeline:\n  stages: [lint, test]\n  notify_on_success: true\n";
    let (run_id, effects) = h.start("main", config);
    let lint = only_task(&effects, "agent.lint");
    let test = only_task(&h.reply(&lint, pass("clean")), "agent.test");
    h.restart();
    assert_eq!(h.scheduler.active_runs(), 1);
    let resent = h.scheduler.resume(h.now).unwrap();
    let again = only_task(&resent, "agent.test");
    assert_eq!(again.task.id(), test.task.id());
    // The lint result arrives again (its offset was not committed): ignored.
    assert!(tasks(&h.reply(&lint, pass("clean"))).is_empty());
    let end = h.reply(&test, pass("ok"));
    assert!(kinds(&end).contains(&"agent.report"));
    assert!(h.reply(&again, pass("ok")).is_empty());
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Success);
    let attempts = h.scheduler.store().attempts(&run_id).unwrap();
    assert_eq!(attempts.len(), 2);
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
fn max_failures_halts_and_deadlines_count_as_lost_agents() {
    let mut h = Harness::new(vec![]);
    let config = "pipeline:
  max_failures: 2
  stages:
    - name: test
      retries: 5
      backoff: 10ms
      timeout: 1s
";
    let (run_id, effects) = h.start("main", config);
    let first = only_task(&effects, "agent.test");
    // No answer: the reaper fails the attempt as an infrastructure error and retries.
    assert!(tasks(&h.tick(1001)).is_empty());
    let second = only_task(&h.tick(20), "agent.test");
    assert_eq!(second.task.attempt, first.task.attempt + 1);
    let end = h.reply(&second, failing_tests(&["test_a"]));
    assert!(tasks(&end).is_empty());
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Halted);
    assert!(run.error.unwrap().contains("max_failures: 2"));
    let attempts = h.scheduler.store().attempts(&run_id).unwrap();
    assert_eq!(attempts[0].failure_kind.as_deref(), Some("infrastructure"));
}

#[test]
fn a_failed_deploy_runs_its_rollback() {
    let mut h = Harness::new(vec![]);
    let (run_id, effects) = h.start(
        "main",
        "pipeline:\n  stages: [deploy]\n  deploy_environment: staging\n",
    );
    let deploy = only_task(&effects, "agent.deploy");
    assert!(
        deploy
            .task
            .config
            .contains(&("environment".into(), "staging".into()))
    );
    let mut failed = result(report(Outcome::Failure, "helm upgrade failed"));
    failed.report = None;
    failed.failure = Some(StageFailure {
        kind: bosun_bus::StageFailureKind::InvalidConfig,
        message: "chart not found".into(),
    });
    let rollback = only_task(&h.reply(&deploy, failed), "agent.deploy");
    assert_eq!(rollback.task.stage, "deploy-rollback");
    assert!(
        rollback
            .task
            .config
            .contains(&("action".into(), "rollback".into()))
    );
    assert_eq!(
        h.run(&run_id).status,
        RunStatus::Running,
        "the run waits for its rollback"
    );
    h.reply(&rollback, pass("rolled back to revision 3"));
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Failure);
    assert_eq!(
        run.stage("deploy").unwrap().rollback,
        Some(crate::model::StageState::Success)
    );
}

#[test]
fn a_broken_config_is_recorded_with_its_message_and_a_commit_status() {
    let mut h = Harness::new(vec![]);
    let (run_id, effects) = h.start("main", "pipeline:\n  stages: [lint]\n  retires: 2\n");
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::ConfigError);
    let error = run.error.unwrap();
    assert!(error.contains("retires"), "{error}");
    let status = effects
        .iter()
        .find_map(|e| match e {
            Effect::Status { update, .. } => Some(update.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(status.state, StatusState::Error);
    assert!(status.description.contains("config"));
    assert_eq!(h.scheduler.active_runs(), 0);
}

#[test]
fn a_newer_push_cancels_the_superseded_run() {
    let mut h = Harness::new(vec![]);
    let (old, _) = h.start("main", "pipeline:\n  stages: [lint]\n");
    h.now += 10;
    let (new, effects) = h.start("main", "pipeline:\n  stages: [lint]\n");
    assert_eq!(tasks(&effects).len(), 1);
    assert_eq!(h.run(&old).status, RunStatus::Cancelled);
    assert!(h.run(&old).error.unwrap().contains(&new));
    assert_eq!(h.run(&new).status, RunStatus::Running);
}

#[test]
fn a_fork_run_awaiting_approval_survives_a_restart_and_can_be_approved_or_cancelled() {
    let mut h = Harness::new(vec![]);
    let mut fork = trigger("patch-1");
    fork.event = "pull_request".into();
    fork.pull_request = Some(7);
    fork.fork = true;
    let accepted = h.scheduler.accept(fork.clone(), None, h.now).unwrap();
    let Accepted::AwaitingApproval { run_id } = accepted else {
        panic!("a fork's run waits: {accepted:?}")
    };
    let Accepted::AwaitingApproval { run_id: other } =
        h.scheduler.accept(fork, None, h.now + 1).unwrap()
    else {
        panic!("waits")
    };
    assert!(
        h.scheduler.queued_runs().is_empty(),
        "nothing of a fork is loaded"
    );
    h.restart();
    let approved = h
        .scheduler
        .approve(&run_id, "octo", h.now)
        .unwrap()
        .unwrap();
    assert!(approved.fork);
    assert_eq!(h.run(&run_id).status, RunStatus::Queued);
    let (found, _) = h.scheduler.cancel(&other, "not this one", h.now).unwrap();
    assert!(found);
    assert_eq!(h.run(&other).status, RunStatus::Cancelled);
    let again = h.scheduler.approve(&run_id, "octo", h.now).unwrap();
    assert!(again.unwrap_err().contains("does not wait"));
}
