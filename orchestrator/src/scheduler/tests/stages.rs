//! Stage scenarios: dispatch order, retries, stale results, restarts, deadlines,
//! `max_failures` and rollbacks.

use super::*;
use bosun_bus::notify::{NotifyTaskMessage, RunStatus as SummaryStatus};

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
    assert!(kinds(&end).contains(&"agent.notify"), "{end:?}");

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
            Effect::Publish { topic, payload, .. } if topic == "agent.notify" => {
                Some(messages::decode::<NotifyTaskMessage>(payload).unwrap())
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
    assert!(kinds(&end).contains(&"agent.notify"));
    assert!(h.reply(&again, pass("ok")).is_empty());
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::Success);
    let attempts = h.scheduler.store().attempts(&run_id).unwrap();
    assert_eq!(attempts.len(), 2);
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
fn when_paths_share_one_matching_budget_across_a_runs_stages() {
    let mut h = Harness::new(vec![]);
    let mut push = trigger("main");
    // Long paths against patterns of many stars: deciding that none ends in `b` to `i`
    // costs more than the run's whole budget.
    push.changed_paths = Some(
        (0..1_000)
            .map(|i| format!("{}{i}", "a".repeat(4000)))
            .collect(),
    );
    let Accepted::Queued { run_id } = h.scheduler.accept(push, None, h.now).unwrap() else {
        panic!("not queued")
    };
    let config = "\
pipeline:
  stages:
    - name: lint
      when:
        paths: [\"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\", \"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c\", \"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*d\", \"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*e\", \"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*f\", \"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*g\", \"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*h\", \"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*i\"]
    - name: test
      needs: []
      when:
        paths: [\"src/**/*.py\"]
";
    let effects = h.load(&run_id, config);
    // `lint` spent the run's budget undecided: it runs. `test`, whose filter matches
    // none of these paths, gets no fresh budget of its own: it counts as matched too.
    let dispatched: Vec<String> = tasks(&effects).into_iter().map(|(t, _)| t).collect();
    assert_eq!(dispatched, ["agent.lint", "agent.test"]);
    let run = h.run(&run_id);
    assert_eq!(run.paths_budget_spent, bosun_config::RUN_MATCH_BUDGET);
    let events = h.scheduler.store().events(&run_id).unwrap();
    let undecided: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "when.paths-undecided")
        .collect();
    assert_eq!(undecided.len(), 1, "said once per run");
    assert_eq!(undecided[0].stage.as_deref(), Some("lint"));
    assert!(
        undecided[0]
            .message
            .contains("run's budget of 20000000 matching steps")
            && undecided[0].message.contains("count as matched"),
        "{}",
        undecided[0].message
    );
}
