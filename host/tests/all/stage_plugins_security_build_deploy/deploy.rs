//! The `deploy` stage against the recording `helm`/`kubectl` of `bosun/deploy-tools`:
//! the exact argv, secrets as files by name, failures, rollback and the network grant.

use super::*;
use bosun_test_support::assert_contains;

/// A workspace with a Helm chart and manifests (the fake tools only need them to exist).
fn deploy_dirs() -> Dirs {
    let d = dirs(None);
    write(
        &d,
        "chart/Chart.yaml",
        b"apiVersion: v2\nname: python-app\nversion: 0.1.0\n",
    );
    write(&d, "chart/values.yaml", b"image:\n  tag: latest\n");
    write(&d, "k8s/deployment.yaml", b"kind: Deployment\n");
    d
}

fn recorded_argv(d: &Dirs) -> Vec<String> {
    std::fs::read_to_string(d.out.join("deploy-argv.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn deploy_helm_upgrade_runs_exactly_the_expected_argv() {
    let Some(env) = docker_or_skip("deploy_helm_upgrade_runs_exactly_the_expected_argv").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[("environment", "staging"), ("image", &env.deploy)],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, true)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Success, "{}", report.summary);
    assert_eq!(
        recorded_argv(&d),
        [format!(
            "helm upgrade --install --atomic python-app /workspace/chart --namespace staging \
             --set image.tag={COMMIT}"
        )]
    );
    assert_eq!(
        report.summary,
        "deployed python-app (image tag 0123456789ab) to staging (namespace staging) with helm"
    );
    assert_eq!(report.artifacts[0].kind, "release");
    assert_eq!(report.artifacts[0].reference, "staging/python-app");
}

#[tokio::test]
async fn deploy_kubeconfig_secret_reaches_the_tool_as_a_file_by_name_only() {
    let Some(env) =
        docker_or_skip("deploy_kubeconfig_secret_reaches_the_tool_as_a_file_by_name_only").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[
            ("environment", "production"),
            ("image", &env.deploy),
            ("kubeconfig_secret", "KUBE_PRODUCTION"),
            ("values", "chart/values.yaml"),
        ],
    );
    // The agent holds the secret (`--secret-env KUBE_PRODUCTION`); the plugin only names it.
    let kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\n";
    let mut granted = call(&d, true);
    granted.secrets = vec![("KUBE_PRODUCTION".into(), kubeconfig.into())];
    granted.secrets_granted = vec!["KUBE_PRODUCTION".into()];
    let result = rt.run_stage(&plugin, &t, &granted).await;
    assert_eq!(report_of(&result).outcome, Outcome::Success);
    let recorded = recorded_argv(&d);
    assert_eq!(
        recorded[0],
        format!(
            "helm upgrade --install --atomic python-app /workspace/chart --namespace production \
             --values /workspace/chart/values.yaml --set image.tag={COMMIT}"
        ),
        "the wrapper execs helm with its argv untouched"
    );
    assert_eq!(
        recorded[1],
        // The plugin's wrapper writes the value with `echo`, which adds a newline.
        format!(
            "kubeconfig: /tmp/kubeconfig ({} bytes)",
            kubeconfig.len() + 1
        ),
        "the tool got the secret's value, resolved by the host"
    );
    assert!(
        result
            .logs
            .iter()
            .all(|l| !l.message.contains("clusters: []")),
        "the secret never appears in the logs"
    );
    // Granted, but the agent does not hold it: refused, naming the agent's flag.
    let mut unheld = call(&d, true);
    unheld.secrets_granted = vec!["KUBE_PRODUCTION".into()];
    let refused = rt.run_stage(&plugin, &t, &unheld).await;
    let failure = refused.failure.expect("a stage error without the secret");
    assert!(
        failure.message.contains("KUBE_PRODUCTION") && failure.message.contains("--secret-env"),
        "{failure:?}"
    );
    // Held, but not granted to this task (a pull request's, another stage's or
    // tenant's): refused, naming the settings that grant it.
    let mut ungranted = call(&d, true);
    ungranted.secrets = vec![("KUBE_PRODUCTION".into(), kubeconfig.into())];
    let refused = rt.run_stage(&plugin, &t, &ungranted).await;
    let failure = refused.failure.expect("a stage error without the grant");
    assert!(
        failure.message.contains("not granted") && failure.message.contains("`secrets`"),
        "{failure:?}"
    );
    let logged: Vec<&str> = result.logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("(kubeconfig from secret KUBE_PRODUCTION)")),
        "{logged:#?}"
    );
}

#[tokio::test]
async fn deploy_failing_upgrade_fails_the_stage_with_helms_error() {
    let Some(env) = docker_or_skip("deploy_failing_upgrade_fails_the_stage_with_helms_error").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[
            ("environment", "staging"),
            ("image", &env.deploy),
            ("env.FAKE_DEPLOY_FAIL", "upgrade"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, true)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure);
    assert_eq!(
        report.summary,
        "helm deploy of python-app (image tag 0123456789ab) to staging (namespace staging) \
         failed with exit code 1: Error: UPGRADE FAILED: fake failure requested by \
         FAKE_DEPLOY_FAIL=upgrade"
    );
    assert!(report.artifacts.is_empty());
    assert_eq!(recorded_argv(&d).len(), 1, "helm ran once");
}

#[tokio::test]
async fn deploy_rollback_task_runs_helm_rollback() {
    let Some(env) = docker_or_skip("deploy_rollback_task_runs_helm_rollback").await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "deploy").await;
    let d = deploy_dirs();
    // As the orchestrator sends it: the stage's `with`, `environment`, `action=rollback`.
    let t = task(
        "deploy-rollback",
        &[
            ("image", &env.deploy),
            ("environment", "staging"),
            ("action", "rollback"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, true)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Success, "{}", report.summary);
    assert_eq!(
        recorded_argv(&d),
        ["helm rollback python-app --namespace staging"]
    );
    assert_eq!(
        report.summary,
        "rolled back python-app in staging (namespace staging) with helm"
    );
}

#[tokio::test]
async fn deploy_with_kubectl_applies_the_manifests() {
    let Some(env) = docker_or_skip("deploy_with_kubectl_applies_the_manifests").await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[
            ("environment", "staging"),
            ("tool", "kubectl"),
            ("image", &env.deploy),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, true)).await;
    assert_eq!(report_of(&result).outcome, Outcome::Success);
    assert_eq!(
        recorded_argv(&d),
        ["kubectl apply --namespace staging -f /workspace/k8s"]
    );
}

#[tokio::test]
async fn deploy_needs_the_network_granted_to_the_stage() {
    let Some(env) = docker_or_skip("deploy_needs_the_network_granted_to_the_stage").await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[("environment", "staging"), ("image", &env.deploy)],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    // A refused request is a config problem: retrying it would be refused again.
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert!(
        message.contains("helm:") && message.contains("network access is not granted"),
        "{message}"
    );
    assert!(recorded_argv(&d).is_empty(), "nothing ran");
}

#[tokio::test]
async fn deploy_without_environment_or_chart_is_a_config_error() {
    let (rt, plugin) = plain_runtime("deploy").await;
    let d = dirs(None);
    let result = rt
        .run_stage(&plugin, &task("deploy", &[]), &call(&d, true))
        .await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert_contains(message, "stage deploy: no `environment`");
    let result = rt
        .run_stage(
            &plugin,
            &task("deploy", &[("environment", "staging")]),
            &call(&d, true),
        )
        .await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert_contains(message, "no Helm chart at chart in the workspace");
}
