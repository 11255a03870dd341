//! The whole lint verdict on real tool reports, and the stage errors for bad ones
//! (derived from the real reports: cut, garbled, emptied).

use super::*;
use crate::settings::Settings;

const PYLINT_SAMPLES: &[u8] = include_bytes!("../tests/fixtures/pylint-samples.json");
const ESLINT_NODE_APP: &[u8] = include_bytes!("../tests/fixtures/eslint-node-app.json");

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

fn bad_output(result: Result<Assessment, StageError>) -> String {
    match result {
        Err(StageError::BadToolOutput(message)) => message,
        Err(other) => panic!("expected bad tool output, got {other:?}"),
        Ok(a) => panic!("expected an error, got a report: {}", a.report.summary),
    }
}

#[test]
fn pylint_report_becomes_findings_metrics_and_sarif() {
    let a = assess(
        Language::Python,
        PYLINT_SAMPLES,
        "/out/pylint.json",
        &settings(&[]),
    )
    .unwrap();
    assert_eq!(a.report.outcome, Outcome::Failure);
    assert_eq!(a.report.findings.len(), 8);
    assert_eq!(a.report.artifacts.len(), 1);
    assert_eq!(a.report.artifacts[0].reference, "/out/pylint.json");
    let sarif: serde_json::Value = serde_json::from_slice(&a.sarif).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 8);
}

#[test]
fn eslint_warnings_pass_under_their_limit() {
    let a = assess(
        Language::Node,
        ESLINT_NODE_APP,
        "/out/eslint.json",
        &settings(&[("max_warnings", "10")]),
    )
    .unwrap();
    assert_eq!(a.report.outcome, Outcome::Success);
    assert_eq!(
        a.report.summary,
        "eslint: 3 findings (0 errors, 3 warnings)"
    );
    let finding = &a.report.findings[2];
    assert_eq!(
        (
            finding.rule.as_str(),
            finding.path.as_deref(),
            finding.line,
            finding.tool.as_str()
        ),
        ("prefer-const", Some("src/ledger.js"), Some(31), "eslint")
    );
}

#[test]
fn truncated_report_is_a_stage_error_never_a_pass() {
    let cut = &PYLINT_SAMPLES[..1000];
    let message = bad_output(assess(
        Language::Python,
        cut,
        "/out/pylint.json",
        &settings(&[]),
    ));
    assert_eq!(
        message,
        "pylint printed truncated JSON: the input ends at byte 1000, inside the document \
         (in /out/pylint.json)"
    );
}

#[test]
fn garbled_report_names_tool_byte_and_file() {
    let mut garbled = ESLINT_NODE_APP.to_vec();
    let colon = ESLINT_NODE_APP
        .windows(11)
        .position(|w| w == b"\"messages\":")
        .unwrap()
        + 10;
    garbled[colon] = b'}';
    let message = bad_output(assess(
        Language::Node,
        &garbled,
        "/out/eslint.json",
        &settings(&[]),
    ));
    assert_eq!(
        message,
        format!("eslint printed invalid JSON at byte {colon}: expected `:` (in /out/eslint.json)")
    );
    assert!(message.ends_with("(in /out/eslint.json)"), "{message}");
}

#[test]
fn empty_or_foreign_report_is_a_stage_error() {
    let empty = bad_output(assess(
        Language::Python,
        b"",
        "/out/pylint.json",
        &settings(&[]),
    ));
    assert_eq!(
        empty,
        "pylint printed nothing where its JSON report should be (in /out/pylint.json)"
    );
    // An eslint report handed to the pylint reader.
    let foreign = bad_output(assess(
        Language::Python,
        ESLINT_NODE_APP,
        "/out/pylint.json",
        &settings(&[]),
    ));
    assert!(
        foreign.starts_with("pylint printed JSON that is not its report format at byte"),
        "{foreign}"
    );
    assert!(foreign.contains("missing field `type`"), "{foreign}");
}

#[test]
fn a_bad_report_file_is_called_a_file_not_printed_output() {
    let file = "/workspace/build/pylint.json";
    let cut = bad_output(assess(
        Language::Python,
        &PYLINT_SAMPLES[..1000],
        file,
        &settings(&[]),
    ));
    assert_eq!(
        cut,
        "the pylint report file /workspace/build/pylint.json holds truncated JSON: the file \
         ends at byte 1000, inside the document"
    );
    let foreign = bad_output(assess(
        Language::Python,
        ESLINT_NODE_APP,
        file,
        &settings(&[]),
    ));
    assert!(
        foreign.starts_with(
            "the pylint report file /workspace/build/pylint.json holds JSON that is not the \
             tool's report format at byte"
        ),
        "{foreign}"
    );
    assert!(!foreign.contains("printed"), "{foreign}");
}

#[test]
fn pylint_json2_and_eslint_with_metadata_reports_are_judged_like_the_others() {
    let json2 = include_bytes!("../tests/fixtures/pylint-json2-samples.json");
    let a = assess(Language::Python, json2, "/out/pylint.json", &settings(&[])).unwrap();
    let b = assess(
        Language::Python,
        PYLINT_SAMPLES,
        "/out/pylint.json",
        &settings(&[]),
    )
    .unwrap();
    assert_eq!(a.report.summary, b.report.summary);
    assert_eq!(a.report.findings, b.report.findings);
    let with_metadata = include_bytes!("../tests/fixtures/eslint-json-with-metadata-ci.json");
    let report = assess(
        Language::Node,
        with_metadata,
        "/workspace/eslint.json",
        &settings(&[]),
    )
    .unwrap()
    .report;
    assert_eq!(report.findings.len(), 5);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.path.as_deref().is_some_and(|p| p.starts_with("src/"))),
        "paths under the CI machine's cwd are made relative: {:?}",
        report.findings
    );
}
