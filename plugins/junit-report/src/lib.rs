//! Built-in stage plugin: turns a JUnit XML report in the workspace into test totals and
//! failures (pytest `--junitxml`, mocha `xunit`, jest-junit).
//!
//! `with:` settings: `report` (workspace-relative path of the report, default
//! `junit.xml`). The stage fails when any test failed or errored; a report that cannot
//! be read is a stage error naming the file and the problem.

use bosun_junit::TestRun;
use bosun_sdk::fs;
use bosun_sdk::prelude::*;

/// Where test runners write their report unless told otherwise.
const DEFAULT_REPORT: &str = "junit.xml";

/// The stage; public so that native builds, which do not export it, still use it.
pub struct JunitReport;

impl Stage for JunitReport {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let report = task.config("report").unwrap_or(DEFAULT_REPORT);
        let path = fs::workspace_path(report).map_err(|_| {
            StageError::InvalidConfig(format!(
                "stage {}: `report` must be a path inside the workspace, got {report:?}",
                task.stage
            ))
        })?;
        let xml = std::fs::read(&path)
            .map_err(|e| StageError::Io(format!("reading JUnit report {}: {e}", path.display())))?;
        let run = bosun_junit::parse(&xml).map_err(|e| {
            StageError::BadToolOutput(format!("JUnit report {}: {e}", path.display()))
        })?;
        let stage_report = to_report(&run, report);
        log::info(&format!("{report}: {}", stage_report.summary));
        Ok(stage_report)
    }
}

/// The stage report for a parsed run; `report` is the file name used in the summary.
fn to_report(run: &TestRun, report: &str) -> StageReport {
    let totals = &run.totals;
    let summary = if totals.total == 0 {
        format!("no test cases in {report}")
    } else {
        summary(run)
    };
    let mut stage_report = if totals.failed.saturating_add(totals.errors) > 0 {
        StageReport::failure(summary)
    } else {
        StageReport::success(summary)
    };
    stage_report.tests = Some(TestTotals {
        total: totals.total,
        passed: totals.passed,
        failed: totals.failed,
        errors: totals.errors,
        skipped: totals.skipped,
        duration_ms: totals.duration_ms,
    });
    stage_report.test_failures = run
        .failures
        .iter()
        .map(|failure| TestFailure {
            // pytest puts the module in `classname` and one fixed name on the suite, so
            // the class name says more whenever there is one.
            suite: if failure.classname.is_empty() {
                failure.suite.clone()
            } else {
                failure.classname.clone()
            },
            name: failure.name.clone(),
            message: failure.message.clone(),
            path: failure.file.as_deref().map(workspace_relative),
            line: failure.line,
        })
        .collect();
    stage_report
}

/// `41 passed, 2 failed, 1 skipped`; errors and skips appear only when there are some.
fn summary(run: &TestRun) -> String {
    let totals = &run.totals;
    let mut parts = vec![
        format!("{} passed", totals.passed),
        format!("{} failed", totals.failed),
    ];
    match totals.errors {
        0 => {}
        1 => parts.push("1 error".to_string()),
        n => parts.push(format!("{n} errors")),
    }
    if totals.skipped > 0 {
        parts.push(format!("{} skipped", totals.skipped));
    }
    parts.join(", ")
}

/// Test runners in the tool container see the repository at `/workspace`; findings use
/// paths relative to it.
fn workspace_relative(path: &str) -> String {
    path.strip_prefix(fs::WORKSPACE)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path)
        .to_string()
}

// Exported only in the component: the export symbols are named like
// `bosun:agent/stage-plugin@0.2.0#run`, which native linkers reject when the crate is
// linked as a `cdylib` for the host (`cargo test`, `cargo build --workspace`).
#[cfg(target_arch = "wasm32")]
bosun_sdk::export_stage!(JunitReport);

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &[u8] = br#"<testsuites><testsuite name="pytest" time="1.25">
        <testcase classname="tests.test_cart" name="test_add" time="0.1"/>
        <testcase classname="tests.test_cart" name="test_total">
          <failure message="assert 3 == 4">tests/test_cart.py:12: AssertionError</failure>
        </testcase>
        <testcase classname="" name="test_db"><error message="no db">
          at connect (/workspace/test/db.js:3:9)</error></testcase>
        <testcase classname="tests.test_cart" name="test_refund"><skipped/></testcase>
    </testsuite></testsuites>"#;

    #[test]
    fn failing_tests_fail_the_stage_with_totals_and_failures() {
        let run = bosun_junit::parse(REPORT).unwrap();
        let report = to_report(&run, "junit.xml");
        assert_eq!(report.outcome, Outcome::Failure);
        assert_eq!(report.summary, "1 passed, 1 failed, 1 error, 1 skipped");
        let tests = report.tests.unwrap();
        assert_eq!((tests.total, tests.duration_ms), (4, 1250));
        assert_eq!(report.test_failures.len(), 2);
        let first = &report.test_failures[0];
        assert_eq!(first.suite, "tests.test_cart");
        assert_eq!(first.path.as_deref(), Some("tests/test_cart.py"));
        assert_eq!(first.line, Some(12));
        let second = &report.test_failures[1];
        assert_eq!(second.suite, "pytest");
        assert_eq!(second.path.as_deref(), Some("test/db.js"));
    }

    #[test]
    fn passing_and_empty_runs_succeed() {
        let run = bosun_junit::parse(br#"<testsuite><testcase name="a"/></testsuite>"#).unwrap();
        let report = to_report(&run, "junit.xml");
        assert_eq!(report.outcome, Outcome::Success);
        assert_eq!(report.summary, "1 passed, 0 failed");
        let empty = bosun_junit::parse(b"<testsuites/>").unwrap();
        assert_eq!(
            to_report(&empty, "out/junit.xml").summary,
            "no test cases in out/junit.xml"
        );
    }

    #[test]
    fn a_suite_that_failed_to_load_fails_the_stage() {
        let xml = include_bytes!("../../junit/tests/fixtures/pytest-module-import-error.xml");
        let report = to_report(&bosun_junit::parse(xml).unwrap(), "junit.xml");
        assert_eq!(report.outcome, Outcome::Failure);
        assert_eq!(report.summary, "0 passed, 0 failed, 1 error");
        assert_eq!(report.tests.unwrap().errors, 1);
        let failure = &report.test_failures[0];
        assert_eq!(failure.suite, "tests.test_orders");
        assert_eq!(failure.path.as_deref(), Some("tests/test_orders.py"));
        assert!(failure.message.starts_with("ImportError while importing"));
    }

    #[test]
    fn disabled_tests_are_reported_as_skipped() {
        let xml = include_bytes!("../../junit/tests/fixtures/googletest-disabled.xml");
        let report = to_report(&bosun_junit::parse(xml).unwrap(), "junit.xml");
        assert_eq!(report.outcome, Outcome::Success);
        assert_eq!(report.summary, "2 passed, 0 failed, 2 skipped");
    }

    #[test]
    fn unclosed_cdata_is_the_error_text() {
        let xml = include_bytes!("../../junit/tests/fixtures/jest-unclosed-cdata.xml");
        let error = bosun_junit::parse(xml).unwrap_err().to_string();
        assert!(
            error.starts_with("unclosed CDATA section at byte 417"),
            "{error}"
        );
    }
}
