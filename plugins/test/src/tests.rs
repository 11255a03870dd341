//! The whole test verdict on real runner reports, and the stage errors for bad ones
//! (derived from the real reports: cut, garbled, emptied, or paired with a contradicting
//! exit status).

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn settings(config: &[(&str, &str)]) -> Settings {
    let task = Task {
        run_id: "run-1".into(),
        stage: "test".into(),
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

fn pytest_run(code: i32, junit: Vec<u8>, coverage: Option<Vec<u8>>) -> Reports {
    Reports {
        writer: Some("pytest"),
        junit,
        junit_at: "/out/junit.xml".into(),
        coverage: coverage.map(|c| (c, "/out/coverage.xml".to_string())),
        ran: Some((
            Runner::Pytest,
            ContainerOutput {
                exit_code: code,
                stdout: "2 failed, 4 passed in 0.10s".into(),
                stderr: String::new(),
                truncated: false,
                duration_ms: 900,
            },
        )),
    }
}

fn attempt(n: u32) -> Reports {
    pytest_run(
        if n == 1 { 1 } else { 0 },
        fixture(&format!("pytest-python-app-attempt{n}.xml")),
        Some(fixture(&format!("coverage-python-app-attempt{n}.xml"))),
    )
}

fn error(result: Result<StageReport, StageError>) -> StageError {
    match result {
        Err(e) => e,
        Ok(report) => panic!("expected an error, got a report: {}", report.summary),
    }
}

#[test]
fn attempt_one_fails_two_tests_and_attempt_two_passes() {
    let first = assess(&attempt(1), &settings(&[]), "test").unwrap();
    assert_eq!(first.outcome, Outcome::Failure);
    assert_eq!(first.summary, "2 of 6 tests failed; line coverage 100.0%");
    assert_eq!(first.test_failures.len(), 2);
    let second = assess(&attempt(2), &settings(&[("min_coverage", "80")]), "test").unwrap();
    assert_eq!(second.outcome, Outcome::Success);
    assert_eq!(
        second.coverage.map(|c| (c.lines_covered, c.lines_total)),
        Some((13, 13))
    );
    let kinds: Vec<(&str, &str)> = second
        .artifacts
        .iter()
        .map(|a| (a.kind.as_str(), a.reference.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("junit", "/out/junit.xml"), ("file", "/out/coverage.xml")]
    );
}

#[test]
fn truncated_junit_is_a_stage_error_naming_runner_and_byte() {
    let mut reports = attempt(1);
    reports.junit.truncate(1500);
    let StageError::BadToolOutput(message) = error(assess(&reports, &settings(&[]), "test")) else {
        panic!("expected bad tool output");
    };
    assert!(
        message.starts_with(
            "pytest's JUnit report /out/junit.xml cannot be read: truncated XML at byte 1500"
        ),
        "{message}"
    );
}

#[test]
fn garbled_or_empty_junit_is_a_stage_error() {
    let mut reports = attempt(2);
    let text = String::from_utf8(reports.junit.clone()).unwrap();
    reports.junit = text.replacen("</testsuite>", "</testsuit>", 1).into_bytes();
    let StageError::BadToolOutput(message) = error(assess(&reports, &settings(&[]), "test")) else {
        panic!("expected bad tool output");
    };
    assert!(
        message.contains("cannot be read: invalid XML at byte"),
        "{message}"
    );
    reports.junit = Vec::new();
    let StageError::BadToolOutput(message) = error(assess(&reports, &settings(&[]), "test")) else {
        panic!("expected bad tool output");
    };
    assert!(
        message.ends_with("empty input: expected a JUnit XML document"),
        "{message}"
    );
}

#[test]
fn failing_status_with_a_passing_report_is_a_tool_error() {
    // Exit 1 says tests failed; the attempt-2 report lists none.
    let reports = pytest_run(1, fixture("pytest-python-app-attempt2.xml"), None);
    let StageError::ToolFailed(message) = error(assess(&reports, &settings(&[]), "test")) else {
        panic!("expected a tool failure");
    };
    assert!(
        message.starts_with("pytest exited 1, which means tests failed"),
        "{message}"
    );
    assert!(
        message.ends_with("it printed:\n2 failed, 4 passed in 0.10s"),
        "{message}"
    );
}

#[test]
fn bad_or_missing_coverage_is_a_stage_error_when_it_matters() {
    let mut cut = attempt(2);
    if let Some((xml, _)) = &mut cut.coverage {
        xml.truncate(300);
    }
    let StageError::BadToolOutput(message) = error(assess(&cut, &settings(&[]), "test")) else {
        panic!("expected bad tool output");
    };
    assert_eq!(
        message,
        "pytest's coverage report /out/coverage.xml cannot be read: truncated coverage XML: \
         the input ends at byte 300, before </coverage>"
    );
    let mut none = attempt(2);
    none.coverage = None;
    assert_eq!(
        assess(&none, &settings(&[]), "test").unwrap().coverage,
        None
    );
    let StageError::BadToolOutput(message) =
        error(assess(&none, &settings(&[("min_coverage", "50")]), "test"))
    else {
        panic!("expected bad tool output");
    };
    assert_eq!(
        message,
        "stage test: `min_coverage` is set but pytest wrote no coverage report"
    );
}

#[test]
fn reports_read_from_the_workspace_name_their_file() {
    let reports = Reports {
        writer: None,
        junit: fixture("mocha-samples.xml"),
        junit_at: "/workspace/build/junit.xml".into(),
        coverage: Some((
            b"<coverage".to_vec(),
            "/workspace/build/coverage.xml".into(),
        )),
        ran: None,
    };
    let StageError::BadToolOutput(message) = error(assess(&reports, &settings(&[]), "test")) else {
        panic!("expected bad tool output");
    };
    assert!(
        message.starts_with("the coverage report /workspace/build/coverage.xml cannot be read"),
        "{message}"
    );
    let without = Reports {
        coverage: None,
        ..reports
    };
    let report = assess(&without, &settings(&[]), "test").unwrap();
    assert_eq!(report.summary, "3 of 5 tests failed, 1 skipped");
    assert!(report.artifacts.is_empty());
}
