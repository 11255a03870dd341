//! Policy and notifier plugins: their worlds load, evaluate and format, and each plugin
//! kind is called only through its own world.

use crate::common::*;
use bosun_host::PluginKind;
use bosun_host::bindings::exports::bosun::agent::notifier_plugin::{
    RunStatus, RunSummary, StageStatus, StageSummary,
};
use bosun_host::bindings::exports::bosun::agent::policy_plugin::{Decision, Phase, PolicyInput};
use bosun_test_support::assert_contains;

fn input(branch: &str, environment: Option<&str>, config: &[(&str, &str)]) -> PolicyInput {
    PolicyInput {
        tenant: "acme".into(),
        run_id: "run-42".into(),
        repository: "acme/app".into(),
        stage: "deploy".into(),
        phase: Phase::BeforeStage,
        branch: branch.into(),
        default_branch: "main".into(),
        event: "push".into(),
        fork: false,
        environment: environment.map(str::to_string),
        report: None,
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[tokio::test]
async fn policy_plugin_allows_warns_and_denies_per_tenant_settings() {
    let rt = runtime();
    let policy = load_file(&rt, bosun_test_plugins::POLICY_BRANCH).await;
    assert_eq!(policy.kind, PluginKind::Policy);
    assert_eq!(policy.id.name, "production-only-from-default-branch");

    let allowed = rt
        .evaluate_policy(&policy, &input("main", Some("production"), &[]))
        .await
        .unwrap();
    assert!(matches!(allowed, Decision::Allow));
    let staging = rt
        .evaluate_policy(&policy, &input("feature/x", Some("staging"), &[]))
        .await
        .unwrap();
    assert!(matches!(staging, Decision::Allow));
    match rt
        .evaluate_policy(&policy, &input("feature/x", Some("production"), &[]))
        .await
        .unwrap()
    {
        Decision::Deny(reasons) => {
            assert_eq!(
                reasons,
                ["production deploys come only from main; this run is on feature/x"]
            )
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    // Another tenant's settings: staging protected too, and only a warning.
    let tenant = [("protected", "staging,production"), ("mode", "warn")];
    match rt
        .evaluate_policy(&policy, &input("feature/x", Some("staging"), &tenant))
        .await
        .unwrap()
    {
        Decision::Warn(reasons) => assert!(reasons[0].contains("staging deploys")),
        other => panic!("expected a warning, got {other:?}"),
    }
}

/// A wire request's input for a deploy to production of `branch`, `event` and `fork`.
fn wire_input(branch: &str, event: &str, fork: bool) -> bosun_bus::policy::PolicyInput {
    bosun_bus::policy::PolicyInput {
        tenant: "acme".into(),
        run_id: "run-42".into(),
        repository: "acme/app".into(),
        stage: "deploy".into(),
        phase: bosun_bus::policy::PolicyPhase::BeforeStage,
        branch: branch.into(),
        default_branch: "main".into(),
        event: event.into(),
        fork,
        environment: Some("production".into()),
        report: None,
    }
}

#[tokio::test]
async fn built_in_default_branch_policy_denies_a_fork_through_the_host() {
    let rt = runtime();
    let policy = load_builtin(&rt, "production-only-from-default-branch").await;
    // The request as it arrives on the bus, converted the way the agent converts it.
    let fork = bosun_host::convert::policy_input_to_wit(
        &wire_input("contributor:main", "pull_request", true),
        &[],
    );
    match rt.evaluate_policy(&policy, &fork).await.unwrap() {
        Decision::Deny(reasons) => {
            assert_contains(&reasons[0], "production deploys never come from a fork");
            assert_contains(&reasons[0], "(contributor:main)");
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    let push = bosun_host::convert::policy_input_to_wit(&wire_input("main", "push", false), &[]);
    assert!(matches!(
        rt.evaluate_policy(&policy, &push).await.unwrap(),
        Decision::Allow
    ));
}

#[tokio::test]
async fn notifier_plugin_formats_block_kit_json() {
    let rt = runtime();
    let notifier = load_file(&rt, bosun_test_plugins::NOTIFIER_TEXT).await;
    assert_eq!(notifier.kind, PluginKind::Notifier);
    let summary = RunSummary {
        run_id: "run-42".into(),
        tenant: "acme".into(),
        repository: "acme/app".into(),
        branch: "main".into(),
        commit: "abc".into(),
        status: RunStatus::Halted,
        url: "http://127.0.0.1/runs/run-42".into(),
        duration_ms: 1234,
        stages: vec![StageSummary {
            name: "test".into(),
            status: StageStatus::Success,
            duration_ms: 900,
            attempts: 2,
            summary: "41 passed".into(),
            reasons: vec![],
        }],
        failed_tests: vec![],
        flaky_tests: vec!["tests/test_cart.py::test_total".into()],
        blocking_findings: vec![],
        policy_denials: vec![],
    };
    let body = rt.format_notification(&notifier, &summary).await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text = json["blocks"][0]["text"]["text"].as_str().unwrap();
    assert_contains(text, "*acme/app* on `main`: halted");
    assert_contains(text, "test passed in 900 ms (2 attempts)");
    assert_contains(text, "flaky: tests/test_cart.py::test_total");

    let mut empty = summary.clone();
    empty.run_id.clear();
    let failure = rt.format_notification(&notifier, &empty).await.unwrap_err();
    assert_contains(&failure.message, "no run id");
}

#[tokio::test]
async fn plugins_are_called_only_through_their_own_world() {
    let rt = runtime();
    let policy = load_file(&rt, bosun_test_plugins::POLICY_BRANCH).await;
    let stage = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = dirs();
    let result = rt.run_stage(&policy, &task(&[]), &call(&d)).await;
    let failure = result.failure.unwrap();
    assert_eq!(failure.kind, bosun_bus::StageFailureKind::PluginUnavailable);
    assert!(
        failure
            .message
            .contains("is a policy plugin, not a stage plugin"),
        "{}",
        failure.message
    );
    let wrong = rt
        .evaluate_policy(&stage, &input("main", None, &[]))
        .await
        .unwrap_err();
    assert!(
        wrong
            .message
            .contains("is a stage plugin, not a policy plugin"),
        "{}",
        wrong.message
    );
}
