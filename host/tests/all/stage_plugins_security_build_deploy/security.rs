//! The `security` stage: bandit on the samples through the Docker runner, and Trivy,
//! Snyk and SARIF reports already in the workspace, judged without Docker (real Trivy
//! runs are in `security_trivy.rs`).

use super::*;
use bosun_test_support::assert_contains;

#[tokio::test]
async fn security_bandit_finds_exactly_one_high_issue_in_the_python_app() {
    let Some(env) =
        docker_or_skip("security_bandit_finds_exactly_one_high_issue_in_the_python_app").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "security").await;
    let d = dirs(Some("examples/python-app"));
    let t = task("security", &[("python_image", &env.python)]);
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure, "{}", report.summary);
    let high: Vec<_> = report
        .findings
        .iter()
        .filter(|f| matches!(f.severity, Severity::High | Severity::Critical))
        .collect();
    assert_eq!(high.len(), 1, "{:#?}", report.findings);
    assert_eq!(high[0].rule, "B602");
    assert_eq!(high[0].tool, "bandit");
    assert_eq!(high[0].path.as_deref(), Some("src/shop/receipts.py"));
    assert_eq!(high[0].line, Some(11));
    assert!(
        report.summary.starts_with("1 HIGH issue (B602) blocks; "),
        "{}",
        report.summary
    );
    assert!(!report.truncated);
    let sarif_artifact = report.artifacts.iter().find(|a| a.kind == "sarif").unwrap();
    assert_eq!(sarif_artifact.reference, "/out/security.sarif");
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.out.join("security.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), report.findings.len());
    let b602 = results.iter().find(|r| r["ruleId"] == "B602").unwrap();
    assert_eq!(b602["level"], "error");
    assert_eq!(
        b602["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "src/shop/receipts.py"
    );
}

#[tokio::test]
async fn security_ignore_applies_until_its_date_and_then_no_longer() {
    let Some(env) =
        docker_or_skip("security_ignore_applies_until_its_date_and_then_no_longer").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "security").await;
    let d = dirs(Some("examples/python-app"));
    let active = task(
        "security",
        &[
            ("python_image", &env.python),
            (
                "ignore",
                "B602 until 2099-12-31: the folder comes from our own config",
            ),
        ],
    );
    let report = report_of(&rt.run_stage(&plugin, &active, &call(&d, false)).await).clone();
    assert_eq!(report.outcome, Outcome::Success, "{}", report.summary);
    assert!(
        report
            .summary
            .starts_with("nothing at or above HIGH blocks"),
        "{}",
        report.summary
    );
    assert!(
        report.summary.ends_with("; 1 ignored"),
        "{}",
        report.summary
    );
    let ignored = report.findings.iter().find(|f| f.rule == "B602").unwrap();
    assert!(
        ignored
            .message
            .starts_with("ignored until 2099-12-31: the folder comes from our own config"),
        "{}",
        ignored.message
    );

    let d = dirs(Some("examples/python-app"));
    let expired = task(
        "security",
        &[
            ("python_image", &env.python),
            ("ignore.B602.until", "2020-01-31"),
            ("ignore.B602.reason", "the folder comes from our own config"),
        ],
    );
    let report = report_of(&rt.run_stage(&plugin, &expired, &call(&d, false)).await).clone();
    assert_eq!(report.outcome, Outcome::Failure);
    assert!(
        report
            .summary
            .ends_with("; ignore no longer applies to B602 (expired 2020-01-31)"),
        "{}",
        report.summary
    );
}

#[tokio::test]
async fn security_bandit_that_cannot_run_is_a_tool_error_naming_it() {
    let Some(env) =
        docker_or_skip("security_bandit_that_cannot_run_is_a_tool_error_naming_it").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "security").await;
    let d = dirs(Some("examples/python-app"));
    // The base image has no bandit: the container cannot start its command.
    let t = task("security", &[("python_image", &env.base)]);
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::ToolFailed, "{message}");
    // The container's init cannot exec the command: exit 127, its error kept.
    assert!(
        message.starts_with(&format!(
            "plugin security: bandit (image {}) exited with code 127: ",
            env.base
        )),
        "{message}"
    );
    assert_contains(message, "exec bandit failed");
}

#[tokio::test]
async fn security_trivy_image_that_does_not_exist_is_a_tool_error_naming_it() {
    let Some(env) =
        docker_or_skip("security_trivy_image_that_does_not_exist_is_a_tool_error_naming_it").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "security").await;
    let d = dirs(Some("examples/python-app"));
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_image", "aquasec/trivy:0.58.0")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::ToolFailed, "{message}");
    assert_contains(message, "trivy: aquasec/trivy:0.58.0: image not found");
}

#[tokio::test]
async fn security_trivy_report_in_the_workspace_is_judged() {
    let (rt, plugin) = plain_runtime("security").await;
    let d = dirs(None);
    write(
        &d,
        "reports/trivy.json",
        &security_fixture("debian-buster.json"),
    );
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_report", "reports/trivy.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure);
    assert_eq!(
        report.summary,
        "1 CRITICAL vulnerability (CVE-2019-18224) blocks; 1 below threshold"
    );
    let critical = &report.findings[0];
    assert_eq!(critical.path.as_deref(), Some("libidn2-0"));
    assert_eq!(critical.fixed_version.as_deref(), Some("2.0.5-1+deb10u1"));
    let metric = |name: &str| {
        report
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap()
            .value
    };
    assert_eq!(metric("severity_critical"), 1.0);
    assert_eq!(metric("severity_low"), 1.0);
}

#[tokio::test]
async fn security_bad_reports_are_stage_errors_naming_the_tool_and_file() {
    let (rt, plugin) = plain_runtime("security").await;
    let full = security_fixture("alpine-310.json");
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "truncated",
            full[..full.len() / 3].to_vec(),
            "trivy report r.json: the report is not valid Trivy JSON: EOF while parsing",
        ),
        (
            "empty",
            Vec::new(),
            "trivy report r.json: the report is empty",
        ),
        (
            "not json",
            b"FATAL: image scan error: unable to initialize a scanner\n".to_vec(),
            "trivy report r.json: the report is not valid Trivy JSON: expected value at line 1 column 1",
        ),
    ];
    for (label, bytes, expected) in cases {
        let d = dirs(None);
        write(&d, "r.json", &bytes);
        let t = task(
            "security",
            &[("bandit", "false"), ("trivy_report", "r.json")],
        );
        let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
        let (kind, message) = failure_of(&result);
        assert_eq!(kind, StageFailureKind::BadToolOutput, "{label}: {message}");
        assert!(message.contains(expected), "{label}: {message}");
    }

    // A 100 MB report is refused by size before it is read.
    let d = dirs(None);
    let file = std::fs::File::create(d.workspace.join("big.json")).unwrap();
    file.set_len(100 << 20).unwrap();
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_report", "big.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::BadToolOutput);
    assert_contains(
        message,
        "trivy report big.json is 100.0 MiB, over the 64 MiB limit",
    );

    // A missing report and a bad ignore are config errors.
    let d = dirs(None);
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_report", "nope.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert_contains(message, "`trivy_report` names nope.json");
    let t = task("security", &[("ignore", "CVE-2019-18224: not reachable")]);
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert_contains(message, "stage security: `ignore` entry 1");
}

/// A Trivy report in the real format with `count` vulnerabilities, cycling through
/// the entries of the real fixtures.
fn big_trivy_report(count: usize) -> Vec<u8> {
    let mut entries = Vec::new();
    for name in [
        "alpine-310.json",
        "debian-buster.json",
        "busybox-with-lockfile.json",
    ] {
        let doc: serde_json::Value = serde_json::from_slice(&security_fixture(name)).unwrap();
        for result in doc["Results"].as_array().unwrap() {
            entries.extend(
                result["Vulnerabilities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
        }
    }
    let mut doc: serde_json::Value =
        serde_json::from_slice(&security_fixture("debian-buster.json")).unwrap();
    let vulns: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            let mut v = entries[i % entries.len()].clone();
            v["PkgName"] = format!("pkg-{i}").into();
            v
        })
        .collect();
    doc["Results"][0]["Vulnerabilities"] = vulns.into();
    serde_json::to_vec_pretty(&doc).unwrap()
}

#[tokio::test]
async fn security_ten_thousand_findings_stay_within_the_report_cap() {
    let (rt, plugin) = plain_runtime("security").await;
    let d = dirs(None);
    write(&d, "trivy.json", &big_trivy_report(10_000));
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_report", "trivy.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.findings.len(), 5_000);
    assert!(!report.truncated, "the plugin cut the list, not the host");
    assert!(
        report.summary.ends_with(
            "5000 of 10000 findings listed, 5000 cut at the report cap (all in security.sarif)"
        ),
        "{}",
        report.summary
    );
    // The blocking ones (CRITICAL, HIGH) come first and are all kept.
    let blocking = report
        .findings
        .iter()
        .take_while(|f| matches!(f.severity, Severity::Critical | Severity::High))
        .count();
    assert!(blocking > 0 && blocking < 5_000);
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.out.join("security.sarif")).unwrap()).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        10_000
    );
}

#[tokio::test]
async fn security_k8s_snyk_and_sarif_reports_in_the_workspace_are_judged_together() {
    let (rt, plugin) = plain_runtime("security").await;
    let d = dirs(None);
    let fixture = |path: &str| {
        std::fs::read(
            workspace_root()
                .join("plugins/security/tests/fixtures")
                .join(path),
        )
        .unwrap()
    };
    write(
        &d,
        "reports/cluster.json",
        &fixture("trivy/k8s-cluster-all.json"),
    );
    write(&d, "reports/snyk.json", &fixture("snyk/npm-project.json"));
    write(
        &d,
        "reports/trivy.sarif",
        &fixture("sarif/trivy-infra-app.sarif"),
    );
    let t = task(
        "security",
        &[
            ("bandit", "false"),
            ("trivy_report", "reports/cluster.json"),
            ("snyk_report", "reports/snyk.json"),
            ("sarif_report", "reports/trivy.sarif"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure);
    // One CRITICAL from each source: the cluster's CVE, Snyk's minimist, the token.
    assert!(
        report.summary.starts_with("3 CRITICAL and "),
        "{}",
        report.summary
    );
    assert!(
        report
            .summary
            .ends_with("; 1 resource could not be scanned"),
        "{}",
        report.summary
    );
    let tools_of = |rule: &str| {
        report
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .map(|f| (f.tool.as_str(), f.severity))
    };
    assert_eq!(tools_of("KSV017"), Some(("trivy", Severity::High)));
    assert_eq!(
        tools_of("SNYK-JS-MINIMIST-2429795"),
        Some(("snyk", Severity::Critical))
    );
    assert_eq!(tools_of("github-pat"), Some(("Trivy", Severity::Critical)));
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.out.join("security.sarif")).unwrap()).unwrap();
    let runs: Vec<&str> = sarif["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tool"]["driver"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["trivy", "snyk", "Trivy"]);

    // A report of the wrong kind fails the stage rather than passing empty.
    let d = dirs(None);
    write(
        &d,
        "reports/snyk.json",
        &fixture("trivy/debian-buster.json"),
    );
    let t = task(
        "security",
        &[("bandit", "false"), ("snyk_report", "reports/snyk.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::BadToolOutput, "{message}");
    assert_contains(
        message,
        "snyk report reports/snyk.json: the report is not a Snyk report",
    );
}
