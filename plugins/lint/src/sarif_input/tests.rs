//! The lint verdict on SARIF logs in ruff's and hadolint's shapes (written for these
//! tests, checked against the SARIF 2.1.0 schema), and the errors for other files.

use super::*;
use bosun_sdk::{Outcome, Task};
use serde_json::Value;

fn fixture(name: &str) -> (Vec<u8>, String) {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    (std::fs::read(&path).unwrap(), format!("/workspace/{name}"))
}

fn settings(config: &[(&str, &str)]) -> Settings {
    let task = Task {
        run_id: "run-1".into(),
        stage: "lint".into(),
        attempt: 1,
        tenant: "acme".into(),
        repository: "acme/app".into(),
        commit: "0".repeat(40),
        branch: "main".into(),
        event: "push".into(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    Settings::from_task(&task).unwrap()
}

#[test]
fn findings_of_several_tools_are_judged_together() {
    let files = [
        fixture("sarif/ruff-ci.sarif"),
        fixture("sarif/hadolint.sarif"),
    ];
    let a = assess(&files, &settings(&[])).unwrap();
    assert_eq!(a.report.outcome, Outcome::Failure);
    assert_eq!(
        a.report.summary,
        "ruff, Hadolint: 4 findings (2 errors, 1 warning, 1 style); failed: 2 findings at or \
         above fail_on: error"
    );
    let first = &a.report.findings[0];
    assert_eq!(first.tool, "ruff");
    assert_eq!(first.rule, "F401");
    assert_eq!(first.severity, Severity::High);
    assert_eq!(first.path.as_deref(), Some("inventory/stock.py"));
    assert_eq!((first.line, first.column), (Some(3), Some(8)));
    assert_eq!(
        a.report.findings[1].path.as_deref(),
        Some("inventory/my stock.py")
    );
    let hadolint = a
        .report
        .findings
        .iter()
        .find(|f| f.rule == "DL3008")
        .unwrap();
    assert_eq!(hadolint.tool, "Hadolint");
    assert_eq!(hadolint.severity, Severity::Medium);

    let sarif: Value = serde_json::from_slice(&a.sarif).unwrap();
    let runs = sarif["runs"].as_array().unwrap();
    let names: Vec<_> = runs
        .iter()
        .map(|r| r["tool"]["driver"]["name"].clone())
        .collect();
    assert_eq!(names, ["ruff", "Hadolint"]);
    assert_eq!(
        runs[0]["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "inventory/my%20stock.py"
    );
}

#[test]
fn a_clean_log_passes_and_names_its_tool() {
    let clean = br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"ruff"}},"results":[]}]}"#;
    let a = assess(&[(clean.to_vec(), "ruff.sarif".into())], &settings(&[])).unwrap();
    assert_eq!(a.report.outcome, Outcome::Success);
    assert_eq!(a.report.summary, "sarif: no findings");
}

#[test]
fn files_that_are_not_sarif_are_stage_errors_naming_the_file() {
    let eslint = include_bytes!("../../tests/fixtures/eslint-node-app.json").to_vec();
    let error = match assess(&[(eslint, "/workspace/eslint.json".into())], &settings(&[])) {
        Err(StageError::BadToolOutput(message)) => message,
        other => panic!(
            "expected bad tool output, got {:?}",
            other.map(|a| a.report.summary)
        ),
    };
    assert!(
        error.starts_with(
            "the SARIF report file /workspace/eslint.json cannot be read: not a SARIF log"
        ),
        "{error}"
    );
    let (bytes, at) = fixture("sarif/hadolint.sarif");
    let cut = bytes[..bytes.len() / 2].to_vec();
    assert!(matches!(
        assess(&[(cut, at)], &settings(&[])),
        Err(StageError::BadToolOutput(m)) if m.contains("truncated SARIF report")
    ));
}
