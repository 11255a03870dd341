//! The `security` stage running real Trivy (0.59.1, `bosun/trivy`) offline on the infra
//! sample through the Docker runner: `fs` with the secret and misconfiguration scanners,
//! and `config` on the Dockerfile, the Kubernetes manifest and the Helm chart.

use super::*;

/// [`docker_or_skip`], and the Trivy image (`BOSUN_TEST_TRIVY_IMAGE`, real Trivy
/// 0.59.1 built by `scripts/services.sh`): skipped loudly without it, a failure in CI.
async fn trivy_or_skip(test: &str) -> Option<(Env, String)> {
    let env = docker_or_skip(test).await?;
    let image = service_var(test, "BOSUN_TEST_TRIVY_IMAGE")?;
    if let Err(e) = env.runner.client().inspect_image(&image).await {
        return missing_service(test, &format!("image {image} is not built ({e})"));
    }
    Some((env, image))
}

/// A security task that runs only Trivy, from `image`, with `settings` on top.
fn trivy_task(image: &str, settings: &[(&str, &str)]) -> Task {
    let mut config = vec![("bandit", "false"), ("trivy_image", image)];
    config.extend_from_slice(settings);
    task("security", &config)
}

/// Real Trivy on the infra sample with no network: the secret and misconfiguration
/// scanners need no vulnerability database (none can be fetched here; the `vuln` path
/// is tested on real reports above).
#[tokio::test]
async fn security_trivy_finds_the_infra_apps_token_and_misconfigurations_offline() {
    let test = "security_trivy_finds_the_infra_apps_token_and_misconfigurations_offline";
    let Some((env, trivy)) = trivy_or_skip(test).await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "security").await;
    let d = dirs(Some("examples/infra-app"));
    // The settings of the sample's .bosun.yml, with the image under test.
    let t = trivy_task(
        &trivy,
        &[
            ("trivy_scanners", "secret,misconfig"),
            ("fail_on", "HIGH,CRITICAL"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure, "{}", report.summary);
    assert!(
        report.summary.starts_with(
            "1 CRITICAL and 5 HIGH issues (github-pat, DS002, DS029, KSV009, KSV014, +1 more) \
             block; "
        ),
        "{}",
        report.summary
    );
    let token = report
        .findings
        .iter()
        .find(|f| f.rule == "github-pat")
        .unwrap_or_else(|| panic!("no github-pat finding: {:#?}", report.findings));
    assert_eq!(token.tool, "trivy");
    assert_eq!(token.severity, Severity::Critical);
    assert_eq!(token.path.as_deref(), Some("config/deploy.env"));
    assert_eq!(token.line, Some(6));
    let mut dockerfile: Vec<(&str, Severity)> = report
        .findings
        .iter()
        .filter(|f| f.path.as_deref() == Some("Dockerfile"))
        .map(|f| (f.rule.as_str(), f.severity))
        .collect();
    dockerfile.sort_by_key(|(rule, _)| *rule);
    assert_eq!(
        dockerfile,
        [
            ("DS002", Severity::High),
            ("DS026", Severity::Low),
            ("DS029", Severity::High)
        ]
    );
    let privileged = report.findings.iter().find(|f| f.rule == "KSV017").unwrap();
    assert_eq!(privileged.path.as_deref(), Some("k8s/deployment.yaml"));
    assert_eq!(privileged.severity, Severity::High);
    let host_network = report.findings.iter().find(|f| f.rule == "KSV009").unwrap();
    assert_eq!(
        host_network.path.as_deref(),
        Some("chart/inventory/templates/deployment.yaml"),
        "the Helm chart is rendered and checked"
    );
    // The fake token's value reaches neither the findings nor the files in /out
    // (Trivy masks it in its report; the stage never reads the match).
    let value = "ghp_YYJyISsUutQHS5IiROgaIaRIhbL2xO86pDqg";
    assert!(
        std::fs::read_to_string(d.workspace.join("config/deploy.env"))
            .unwrap()
            .contains(value),
        "the sample still plants the token"
    );
    assert!(report.findings.iter().all(|f| !f.message.contains(value)));
    for file in ["trivy.json", "security.sarif"] {
        let text = std::fs::read_to_string(d.out.join(file)).unwrap();
        assert!(!text.contains(value), "{file} holds the token");
    }
}

/// Real Trivy in its `config` mode on the infra sample, offline: the Dockerfile, the
/// Kubernetes manifest and the rendered Helm chart are checked, and nothing else (no
/// secret scanner: the planted token is not its business).
#[tokio::test]
async fn security_trivy_config_finds_the_infra_apps_misconfigurations_offline() {
    let test = "security_trivy_config_finds_the_infra_apps_misconfigurations_offline";
    let Some((env, trivy)) = trivy_or_skip(test).await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "security").await;
    let d = dirs(Some("examples/infra-app"));
    let t = trivy_task(
        &trivy,
        &[("trivy_command", "config"), ("fail_on", "HIGH,CRITICAL")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure, "{}", report.summary);
    assert!(
        report
            .summary
            .starts_with("5 HIGH issues (DS002, DS029, KSV009, KSV014, KSV017) block; "),
        "{}",
        report.summary
    );
    let mut high: Vec<(&str, &str, Option<u32>)> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .map(|f| (f.rule.as_str(), f.path.as_deref().unwrap_or("-"), f.line))
        .collect();
    high.sort();
    assert_eq!(
        high,
        [
            // `USER root`, and `apt-get install` without `--no-install-recommends`.
            ("DS002", "Dockerfile", Some(13)),
            ("DS029", "Dockerfile", Some(8)),
            // The chart's `hostNetwork: true`, found in the rendered template.
            (
                "KSV009",
                "chart/inventory/templates/deployment.yaml",
                Some(9)
            ),
            // The manifest's container: a writable root, and `privileged: true`.
            ("KSV014", "k8s/deployment.yaml", Some(19)),
            ("KSV017", "k8s/deployment.yaml", Some(19)),
        ]
    );
    let healthcheck = report.findings.iter().find(|f| f.rule == "DS026").unwrap();
    assert_eq!(
        (healthcheck.path.as_deref(), healthcheck.severity),
        (Some("Dockerfile"), Severity::Low)
    );
    assert!(report.findings.iter().all(|f| f.tool == "trivy"));
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.path.as_deref() != Some("config/deploy.env")),
        "config mode runs no secret scanner: {:#?}",
        report.findings
    );

    // A target folder narrows the scan; paths stay relative to the workspace.
    let t = trivy_task(
        &trivy,
        &[("trivy_command", "config"), ("trivy_target", "k8s")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    let mut paths: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.path.as_deref().unwrap_or("-"))
        .collect();
    paths.dedup();
    assert_eq!(paths, ["k8s/deployment.yaml"], "{:#?}", report.findings);
    let privileged = report.findings.iter().find(|f| f.rule == "KSV017").unwrap();
    assert_eq!(privileged.line, Some(19));
}
