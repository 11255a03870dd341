//! The step's verdict: a failed command named with its status and output, missing
//! reports, failed tests, the coverage bar and `fail_on`.

use super::*;

fn spec() -> StepSpec {
    StepSpec {
        image: "bosun/python:3.11".into(),
        commands: vec![
            "python3 -m venv /tmp/venv".into(),
            "/tmp/venv/bin/pytest --junitxml=reports/junit.xml".into(),
        ],
        ..StepSpec::default()
    }
}

fn output(exit_code: i32, failed_command: Option<u32>) -> StepOutput {
    StepOutput {
        exit_code,
        failed_command,
        stdout: "collected 3 items\nE   assert 1 == 2\n".into(),
        stderr: String::new(),
        truncated: false,
        duration_ms: 1500,
        cache_restored: None,
        cache_saved: false,
        collected: Vec::new(),
    }
}

fn totals(passed: u32, failed: u32) -> TestTotals {
    TestTotals {
        total: passed + failed,
        passed,
        failed,
        errors: 0,
        skipped: 0,
        duration_ms: 10,
    }
}

#[test]
fn a_failing_command_is_named_with_its_status_and_output() {
    let read = Read {
        tests: Some(totals(2, 1)),
        ..Read::default()
    };
    let report = report(&spec(), &output(1, Some(1)), read, &Bar::default()).unwrap();
    assert_eq!(report.outcome, Outcome::Failure);
    assert!(
        report.summary.starts_with(
            "command 2 failed (exit status 1): /tmp/venv/bin/pytest --junitxml=reports/junit.xml; 2 passed, 1 failed"
        ),
        "{}",
        report.summary
    );
    let first = &report.findings[0];
    assert_eq!(first.rule, "exit-status");
    assert!(first.message.contains("assert 1 == 2"), "{}", first.message);
}

#[test]
fn passing_commands_with_a_missing_report_are_an_error_not_a_pass() {
    let read = Read {
        problems: vec!["reports.junit: `reports/*.xml` matched no file the commands wrote".into()],
        ..Read::default()
    };
    match report(&spec(), &output(0, None), read, &Bar::default()) {
        Err(StageError::BadToolOutput(why)) => assert!(why.contains("reports.junit"), "{why}"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn failed_tests_fail_the_step_even_when_the_commands_passed() {
    let read = Read {
        tests: Some(totals(5, 2)),
        ..Read::default()
    };
    let report = report(&spec(), &output(0, None), read, &Bar::default()).unwrap();
    assert_eq!(report.outcome, Outcome::Failure);
    assert_eq!(report.summary, "5 passed, 2 failed");
}

#[test]
fn coverage_and_findings_meet_the_bar_or_fail_the_step() {
    let bar = Bar {
        min_coverage: Some(80.0),
        fail_on: Some(Severity::High),
    };
    let read = |covered, severity| Read {
        tests: Some(totals(3, 0)),
        coverage: Some(Coverage {
            lines_covered: covered,
            lines_total: 100,
        }),
        findings: vec![Finding::new("ruff", "F401", severity, "unused import")],
        ..Read::default()
    };
    let good = report(&spec(), &output(0, None), read(85, Severity::Medium), &bar).unwrap();
    assert_eq!(good.outcome, Outcome::Success);
    assert_eq!(
        good.summary,
        "3 passed, 0 failed; coverage 85.0%; 1 finding(s)"
    );
    let short = report(&spec(), &output(0, None), read(72, Severity::Low), &bar).unwrap();
    assert_eq!(short.outcome, Outcome::Failure);
    assert!(
        short.summary.starts_with("coverage 72.0% is below 80%"),
        "{}",
        short.summary
    );
    let severe = report(&spec(), &output(0, None), read(90, Severity::High), &bar).unwrap();
    assert_eq!(severe.outcome, Outcome::Failure);
    assert!(
        severe.summary.contains("worst HIGH (fail_on: high)"),
        "{}",
        severe.summary
    );
}
