//! SARIF reader tests on logs in the shapes ruff, eslint's SARIF formatter, semgrep,
//! hadolint, bandit, trivy, snyk and gitleaks print (each checked against the OASIS
//! SARIF 2.1.0 schema); bad input is derived from them.

use super::*;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/sarif/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn read(name: &str) -> Vec<SarifFinding> {
    parse(&fixture(name), Some("/workspace")).unwrap()
}

#[test]
fn ruff_absolute_uris_become_workspace_paths() {
    let findings = read("ruff.sarif");
    assert_eq!(findings.len(), 2);
    let first = &findings[0];
    assert_eq!(first.tool, "ruff");
    assert_eq!(first.rule, "F401");
    assert_eq!(first.severity, Severity::High);
    assert_eq!(first.message, "`os` imported but unused");
    assert_eq!(first.path.as_deref(), Some("inventory/stock.py"));
    assert_eq!((first.line, first.column), (Some(3), Some(8)));
    // Percent-encoded non-ASCII and spaces are decoded.
    assert_eq!(findings[1].path.as_deref(), Some("inventory/nümbers v2.py"));
    // Without a root, the producer's absolute path is all there is.
    let unrooted = parse(&fixture("ruff.sarif"), None).unwrap();
    assert_eq!(
        unrooted[0].path.as_deref(),
        Some("/workspace/inventory/stock.py")
    );
}

#[test]
fn eslint_artifact_indexes_and_suppressions() {
    let findings = read("eslint.sarif");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].tool, "ESLint");
    assert_eq!(findings[0].rule, "no-unused-vars");
    assert!(!findings[0].suppressed);
    let eqeqeq = &findings[1];
    assert_eq!(eqeqeq.severity, Severity::Medium);
    // Only `index` in the location: the URI comes from `run.artifacts`.
    assert_eq!(eqeqeq.path.as_deref(), Some("src/orders.js"));
    assert_eq!(eqeqeq.line, Some(5));
    assert!(
        eqeqeq.suppressed,
        "an eslint-disable comment is an in-source suppression"
    );
}

#[test]
fn semgrep_without_levels_uses_the_rule_default() {
    let findings = read("semgrep.sarif");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].tool, "Semgrep OSS");
    assert_eq!(
        findings[0].rule,
        "python.lang.security.audit.subprocess-shell-true.subprocess-shell-true"
    );
    assert_eq!(findings[0].severity, Severity::High);
    assert_eq!(findings[0].path.as_deref(), Some("app/tasks.py"));
    assert_eq!(findings[1].severity, Severity::Medium);
    assert_eq!(findings[1].line, Some(4));
}

#[test]
fn hadolint_levels_map_to_severities() {
    let findings = read("hadolint.sarif");
    let severities: Vec<_> = findings
        .iter()
        .map(|f| (f.rule.as_str(), f.severity))
        .collect();
    assert_eq!(
        severities,
        [
            ("DL3006", Severity::High),
            ("DL3008", Severity::Medium),
            ("DL3009", Severity::Low)
        ]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.path.as_deref() == Some("Dockerfile"))
    );
    assert_eq!(findings[0].tool, "Hadolint");
}

#[test]
fn bandit_results_keep_rule_and_place() {
    let findings = read("bandit.sarif");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].rule, "B602");
    assert_eq!(findings[0].severity, Severity::High);
    assert_eq!(findings[0].path.as_deref(), Some("app/tasks.py"));
    assert_eq!((findings[0].line, findings[0].column), (Some(12), Some(5)));
    assert_eq!(findings[1].severity, Severity::Low);
    assert_eq!(findings[0].fixed_version, None);
}

#[test]
fn trivy_security_severity_outranks_the_level_and_fixes_are_read() {
    let findings = read("trivy.sarif");
    let got: Vec<_> = findings
        .iter()
        .map(|f| (f.rule.as_str(), f.severity, f.fixed_version.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            // "Fixed Version: " with nothing after it: there is no fix yet.
            ("CVE-2022-42969", Severity::Medium, None),
            ("CVE-2023-30861", Severity::High, Some("2.3.2, 2.2.5")),
            // level "error" alone would be high; CVSS 9.1 is critical.
            ("CVE-2022-29217", Severity::Critical, Some("2.4.0")),
        ]
    );
    assert_eq!(findings[2].path.as_deref(), Some("requirements.txt"));
    assert_eq!(findings[2].line, Some(2));
    assert_eq!(findings[2].tool, "Trivy");
}

#[test]
fn snyk_fix_descriptions_give_the_fixed_version() {
    let findings = read("snyk.sarif");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].tool, "Snyk Open Source");
    assert_eq!(findings[0].severity, Severity::High);
    assert_eq!(findings[0].fixed_version.as_deref(), Some("4.17.21"));
    // CVSS 3.7 is low, whatever the level says.
    assert_eq!(findings[1].severity, Severity::Low);
    assert_eq!(findings[1].fixed_version, None);
    assert_eq!(findings[1].path.as_deref(), Some("package.json"));
}

#[test]
fn gitleaks_results_without_level_are_warnings() {
    let findings = read("gitleaks.sarif");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule, "aws-access-token");
    assert_eq!(findings[0].severity, Severity::Medium);
    assert_eq!(findings[0].path.as_deref(), Some("config/deploy.env"));
    assert_eq!((findings[0].line, findings[0].column), (Some(2), Some(19)));
}

#[test]
fn several_runs_in_one_log_are_all_read() {
    let ruff: Value = serde_json::from_slice(&fixture("ruff.sarif")).unwrap();
    let mut log: Value = serde_json::from_slice(&fixture("hadolint.sarif")).unwrap();
    log["runs"]
        .as_array_mut()
        .unwrap()
        .push(ruff["runs"][0].clone());
    let findings = parse(&serde_json::to_vec(&log).unwrap(), Some("/workspace")).unwrap();
    let tools: Vec<_> = findings.iter().map(|f| f.tool.as_str()).collect();
    assert_eq!(tools, ["Hadolint", "Hadolint", "Hadolint", "ruff", "ruff"]);
}

/// A CodeQL-style log: rules in an extension, results that give only an index and a
/// message id, a base inside the workspace, `pass` results.
const REFERENCES: &str = r#"{"version": "2.1.0", "runs": [{
  "tool": {
    "driver": {"name": "CodeQL", "rules": [
      {"id": "js/unused-local-variable",
       "shortDescription": {"text": "Unused variable, import, function or class"},
       "messageStrings": {"default": {"text": "Unused variable {0} in {1}."}}}
    ]},
    "extensions": [{"name": "codeql/javascript-queries", "rules": [
      {"id": "js/sql-injection", "shortDescription": {"text": "Database query built from user-controlled sources"},
       "properties": {"security-severity": 8.8}}
    ]}]
  },
  "originalUriBaseIds": {"SRC": {"uri": "file:///workspace/web/"}},
  "results": [
    {"rule": {"index": 0}, "message": {"id": "default", "arguments": ["tmp", "render"]},
     "locations": [{"physicalLocation": {"artifactLocation": {"uri": "views/list.js", "uriBaseId": "SRC"}}}]},
    {"rule": {"id": "js/sql-injection", "index": 0, "toolComponent": {"index": 0}},
     "level": "warning", "message": {"text": ""}},
    {"ruleId": "js/unused-local-variable", "kind": "pass", "message": {"text": "fine"}},
    {"ruleId": "js/unused-local-variable", "kind": "review", "message": {"text": "look"}}
  ]
}]}"#;

#[test]
fn rules_by_index_message_strings_and_bases_are_resolved() {
    let findings = parse(REFERENCES.as_bytes(), Some("/workspace")).unwrap();
    assert_eq!(findings.len(), 3, "the pass result is not a finding");
    assert_eq!(findings[0].rule, "js/unused-local-variable");
    assert_eq!(findings[0].message, "Unused variable tmp in render.");
    assert_eq!(findings[0].path.as_deref(), Some("web/views/list.js"));
    assert_eq!(findings[0].severity, Severity::Medium);
    assert_eq!(findings[1].rule, "js/sql-injection");
    assert_eq!(
        findings[1].severity,
        Severity::High,
        "CVSS 8.8 from the extension's rule"
    );
    assert_eq!(
        findings[1].message,
        "Database query built from user-controlled sources"
    );
    assert_eq!(findings[1].path, None);
    assert_eq!(
        findings[2].severity,
        Severity::Info,
        "a review result defaults to none"
    );
}

#[test]
fn a_log_with_no_results_is_empty_not_an_error() {
    let log = br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"ruff"}},"results":[]}]}"#;
    assert_eq!(parse(log, None).unwrap(), []);
    let none = br#"{"version":"2.1.0","runs":[]}"#;
    assert_eq!(parse(none, None).unwrap(), []);
}

#[test]
fn garbage_is_an_error_never_an_empty_list() {
    assert_eq!(parse(b"", None).unwrap_err(), SarifError::Empty);
    assert_eq!(parse(b" \n", None).unwrap_err(), SarifError::Empty);
    let error = parse(b"<?xml version=\"1.0\"?><testsuites/>", None).unwrap_err();
    assert!(
        matches!(
            error,
            SarifError::NotJson {
                line: 1,
                column: 1,
                ..
            }
        ),
        "{error:?}"
    );
    let error = parse(b"[]", None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "not a SARIF log: expected an object with \"version\" and \"runs\", found an array of 0 items"
    );
    // eslint's own JSON formatter, not its SARIF one.
    let eslint = br#"[{"filePath":"/workspace/a.js","messages":[],"errorCount":0}]"#;
    assert!(matches!(
        parse(eslint, None).unwrap_err(),
        SarifError::NotSarif { .. }
    ));
    let pylint = br#"{"messages":[],"statistics":{"messageTypeCount":{}}}"#;
    assert_eq!(
        parse(pylint, None).unwrap_err().to_string(),
        "not a SARIF log: expected an object with \"version\" and \"runs\", found an object with keys \"messages\", \"statistics\""
    );
    let runs_object = br#"{"version":"2.1.0","runs":{}}"#;
    assert!(
        parse(runs_object, None)
            .unwrap_err()
            .to_string()
            .contains("\"runs\" as an object")
    );
}

#[test]
fn other_versions_say_what_they_are() {
    let old = String::from_utf8(fixture("hadolint.sarif"))
        .unwrap()
        .replace("\"version\":\"2.1.0\"", "\"version\":\"2.0.0\"");
    assert_eq!(
        parse(old.as_bytes(), None).unwrap_err().to_string(),
        "unsupported SARIF version \"2.0.0\": expected \"2.1.0\""
    );
    let missing = br#"{"runs":[]}"#;
    assert!(matches!(
        parse(missing, None).unwrap_err(),
        SarifError::WrongVersion { found } if found.contains("no \"version\"")
    ));
}

#[test]
fn cut_logs_are_truncated() {
    let bytes = fixture("trivy.sarif");
    for cut in [bytes.len() / 3, bytes.len() - 3] {
        let error = parse(&bytes[..cut], None).unwrap_err();
        assert!(matches!(error, SarifError::Truncated { .. }), "{error:?}");
        assert!(error.to_string().starts_with("truncated SARIF report"));
    }
}

#[test]
fn runs_and_results_of_the_wrong_shape_are_named() {
    let no_tool = br#"{"version":"2.1.0","runs":[{"results":[]}]}"#;
    assert_eq!(
        parse(no_tool, None).unwrap_err().to_string(),
        "invalid SARIF run 1: no tool.driver"
    );
    let bad_line = br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},
        "results":[{"message":{"text":"a"}},{"locations":[{"physicalLocation":{"region":{"startLine":"three"}}}]}]}]}"#;
    let error = parse(bad_line, None).unwrap_err();
    assert!(
        matches!(
            error,
            SarifError::InvalidResult {
                run: 1,
                result: 2,
                ..
            }
        ),
        "{error:?}"
    );
}
