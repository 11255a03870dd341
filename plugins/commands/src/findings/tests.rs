//! Tool reports a step's commands write, read on the real tool output the lint and
//! security stages' tests hold (`plugins/lint/tests/fixtures/TOOLS.txt`,
//! `plugins/security/tests/fixtures/*/README.md` say where each comes from).

use super::*;

const PYLINT_JSON: &[u8] = include_bytes!("../../../lint/tests/fixtures/pylint-samples.json");
const PYLINT_JSON2: &[u8] =
    include_bytes!("../../../lint/tests/fixtures/pylint-json2-samples.json");
const ESLINT_JSON: &[u8] = include_bytes!("../../../lint/tests/fixtures/eslint-node-app.json");
const ESLINT_WITH_METADATA: &[u8] =
    include_bytes!("../../../lint/tests/fixtures/eslint-json-with-metadata-ci.json");
const BANDIT_APP: &[u8] =
    include_bytes!("../../../security/tests/fixtures/bandit/bandit-python-app.json");
const BANDIT_MIXED: &[u8] =
    include_bytes!("../../../security/tests/fixtures/bandit/bandit-mixed.json");
const TRIVY_FS: &[u8] = include_bytes!("../../../security/tests/fixtures/trivy/infra-app-fs.json");
const TRIVY_IMAGE: &[u8] = include_bytes!("../../../security/tests/fixtures/trivy/alpine-310.json");
const TRIVY_K8S: &[u8] =
    include_bytes!("../../../security/tests/fixtures/trivy/k8s-cluster-all.json");

/// `rule severity path:line:column` of each finding.
fn summary(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}:{}:{}",
                f.rule,
                f.severity.as_str(),
                f.path.as_deref().unwrap_or("-"),
                f.line.unwrap_or(0),
                f.column.unwrap_or(0)
            )
        })
        .collect()
}

#[test]
fn pylint_json_reports_become_findings_at_workspace_paths() {
    let findings = from_tool_report("pylint", PYLINT_JSON).unwrap();
    assert_eq!(findings.len(), 8);
    assert!(findings.iter().all(|f| f.tool == "pylint"));
    let undefined = findings
        .iter()
        .find(|f| f.rule == "undefined-variable")
        .unwrap();
    assert_eq!(undefined.severity, Severity::High);
    assert_eq!(undefined.path.as_deref(), Some("inventory/stock.py"));
    // pylint counts columns from 0, findings from 1.
    assert_eq!((undefined.line, undefined.column), (Some(19), Some(12)));
    assert_eq!(undefined.message, "Undefined variable 'totl'");
}

#[test]
fn pylint_json2_reports_give_the_same_findings_as_json() {
    assert_eq!(
        from_tool_report("pylint", PYLINT_JSON2).unwrap(),
        from_tool_report("pylint", PYLINT_JSON).unwrap()
    );
}

#[test]
fn eslint_json_paths_under_workspace_become_relative() {
    let findings = from_tool_report("eslint", ESLINT_JSON).unwrap();
    assert_eq!(
        summary(&findings),
        [
            "no-unused-vars MEDIUM src/format.js:4:35",
            "no-var MEDIUM src/format.js:5:3",
            "prefer-const MEDIUM src/ledger.js:31:9",
        ]
    );
    assert!(findings.iter().all(|f| f.tool == "eslint"));
}

#[test]
fn eslint_json_with_metadata_paths_are_relative_to_the_checkout_or_its_cwd() {
    // Written on a CI machine: relative to eslint's `cwd`.
    let findings = from_tool_report("eslint", ESLINT_WITH_METADATA).unwrap();
    assert_eq!(findings.len(), 5);
    assert!(
        findings
            .iter()
            .all(|f| f.path.as_deref().is_some_and(|p| p.starts_with("src/"))),
        "{:?}",
        summary(&findings)
    );
    // Written by a step that ran `cd web && eslint …`: relative to the checkout.
    let text = String::from_utf8(ESLINT_WITH_METADATA.to_vec()).unwrap();
    let in_web = text.replace("/home/runner/work/shop/shop", "/workspace/web");
    let findings = from_tool_report("eslint", in_web.as_bytes()).unwrap();
    assert!(
        findings
            .iter()
            .all(|f| f.path.as_deref().is_some_and(|p| p.starts_with("web/src/"))),
        "{:?}",
        summary(&findings)
    );
}

#[test]
fn bandit_reports_keep_the_high_shell_call_and_unscanned_files() {
    let findings = from_tool_report("bandit", BANDIT_APP).unwrap();
    let high: Vec<String> = summary(&findings)
        .into_iter()
        .filter(|s| s.contains(" HIGH "))
        .collect();
    // bandit printed `./src/shop/receipts.py`, and no column.
    assert_eq!(high, ["B602 HIGH src/shop/receipts.py:11:0"]);
    assert!(findings.iter().all(|f| f.tool == "bandit"));
    let mixed = from_tool_report("bandit", BANDIT_MIXED).unwrap();
    let unscanned = mixed.last().unwrap();
    assert_eq!(unscanned.rule, bandit::SCAN_ERROR_RULE);
    assert_eq!(unscanned.severity, Severity::Info);
    assert_eq!(unscanned.path.as_deref(), Some("app/broken.py"));
}

#[test]
fn trivy_fs_reports_point_at_workspace_files_never_at_the_secret() {
    let findings = from_tool_report("trivy", TRIVY_FS).unwrap();
    let token = findings.iter().find(|f| f.rule == "github-pat").unwrap();
    assert_eq!(token.severity, Severity::Critical);
    assert_eq!(token.path.as_deref(), Some("config/deploy.env"));
    assert_eq!(token.line, Some(6));
    assert!(findings.iter().all(|f| !f.message.contains("ghp_")));
    let dockerfile: Vec<&str> = findings
        .iter()
        .filter(|f| f.path.as_deref() == Some("Dockerfile"))
        .map(|f| f.rule.as_str())
        .collect();
    assert_eq!(dockerfile, ["DS002", "DS026", "DS029"]);
    assert!(findings.iter().all(|f| f.tool == "trivy"));
}

#[test]
fn trivy_image_and_k8s_reports_are_read_too() {
    let image = from_tool_report("trivy", TRIVY_IMAGE).unwrap();
    assert_eq!(image.len(), 4);
    // A vulnerability's path is its package, as in the security stage's report.
    assert_eq!(image[0].path.as_deref(), Some("libcrypto1.1"));
    assert_eq!(image[0].fixed_version.as_deref(), Some("1.1.1d-r0"));
    let cluster = from_tool_report("trivy", TRIVY_K8S).unwrap();
    let rules: Vec<&str> = cluster.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["CVE-2019-18224", "KSV017", "KSV011", trivy::SCAN_ERROR_RULE]
    );
    // What an old Trivy printed for a clean scan.
    assert!(from_tool_report("trivy", b"null").unwrap().is_empty());
}

#[test]
fn cut_reports_name_where_they_end() {
    let cut = &ESLINT_JSON[..ESLINT_JSON.len() - 3];
    assert_eq!(
        from_tool_report("eslint", cut).unwrap_err(),
        format!(
            "the report holds truncated JSON: the file ends at byte {}, inside the document",
            cut.len()
        )
    );
    let cut = &TRIVY_FS[..TRIVY_FS.len() / 2];
    let why = from_tool_report("trivy", cut).unwrap_err();
    assert!(
        why.starts_with("the report is not valid Trivy JSON: EOF"),
        "{why}"
    );
}

#[test]
fn another_tools_report_is_refused_by_name() {
    // A Trivy report declared as bandit's, and bandit's as Trivy's.
    let why = from_tool_report("bandit", TRIVY_FS).unwrap_err();
    assert!(why.contains("missing field `results`"), "{why}");
    assert_eq!(
        from_tool_report("trivy", BANDIT_MIXED).unwrap_err(),
        "the report is not a Trivy report: it has none of SchemaVersion, ArtifactName, \
         Results or ClusterName"
    );
    // eslint's report declared as pylint's: an array of files, not of messages.
    let why = from_tool_report("pylint", ESLINT_JSON).unwrap_err();
    assert!(
        why.starts_with("the report holds JSON that is not the tool's report format at byte"),
        "{why}"
    );
    assert!(
        from_tool_report("snyk", b"{}")
            .unwrap_err()
            .contains("`snyk` is not a report kind")
    );
}
