//! Turning a parsed test run and its coverage into the stage's verdict: totals, the
//! failures (named by suite and test, so the same test is recognisable on a retry), the
//! coverage bar and the summary line.

use crate::cobertura::LineCoverage;
use bosun_junit::TestRun;
use bosun_sdk::fs::WORKSPACE;
use bosun_sdk::{Coverage, Metric, Outcome, TestFailure, TestTotals};

/// The stage's verdict on one test run.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// `2 of 12 tests failed`, `all 12 tests passed; line coverage 91.3%`, ...
    pub summary: String,
    pub tests: TestTotals,
    /// The failures kept for the report, in the runner's order.
    pub failures: Vec<TestFailure>,
    pub coverage: Option<Coverage>,
    pub metrics: Vec<Metric>,
}

/// Judge `run` (and its `coverage`) against `min_coverage`, listing at most
/// `max_failures` failures.
pub fn judge(
    run: &TestRun,
    coverage: Option<LineCoverage>,
    min_coverage: Option<f64>,
    max_failures: usize,
) -> Verdict {
    let totals = &run.totals;
    let failing = totals.failed.saturating_add(totals.errors);
    let mut failed = failing > 0 || totals.total == 0;
    let mut summary = if totals.total == 0 {
        "no tests ran".to_string()
    } else if failing > 0 {
        let mut text = format!("{failing} of {} failed", tests(totals.total));
        if totals.errors > 0 {
            text.push_str(&format!(
                " ({}, {})",
                count(totals.failed, "failure", "failures"),
                count(totals.errors, "error", "errors")
            ));
        }
        text
    } else if totals.total == 1 {
        "the 1 test passed".to_string()
    } else {
        format!("all {} passed", tests(totals.passed))
    };
    if totals.skipped > 0 && totals.total > 0 {
        summary.push_str(&format!(", {} skipped", totals.skipped));
    }
    if let Some(coverage) = coverage {
        let percent = coverage.percent();
        summary.push_str(&format!("; line coverage {percent:.1}%"));
        if let Some(min) = min_coverage
            && percent < min
        {
            failed = true;
            summary.push_str(&format!(" is below the {min}% minimum"));
        }
    }
    let kept = run.failures.len().min(max_failures);
    let cut = run.failures.len() - kept;
    if cut > 0 {
        summary.push_str(&format!(
            "; {cut} more failures not listed (report keeps {kept})"
        ));
    }
    let failures = run
        .failures
        .iter()
        .take(kept)
        .map(|failure| TestFailure {
            // pytest names the module in `classname` and gives every suite one name;
            // mocha puts the describe() titles there. Either says more than the suite.
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
    let metric = |name: &str, value: f64, unit: &str| Metric {
        name: name.to_string(),
        value,
        unit: unit.to_string(),
    };
    let mut metrics = vec![
        metric("tests", f64::from(totals.total), "count"),
        metric("tests-failed", f64::from(totals.failed), "count"),
        metric("tests-errored", f64::from(totals.errors), "count"),
        metric("tests-skipped", f64::from(totals.skipped), "count"),
        metric("test-failures-cut", cut as f64, "count"),
    ];
    if let Some(coverage) = coverage {
        metrics.push(metric("line-coverage", coverage.percent(), "percent"));
    }
    Verdict {
        outcome: if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        summary,
        tests: TestTotals {
            total: totals.total,
            passed: totals.passed,
            failed: totals.failed,
            errors: totals.errors,
            skipped: totals.skipped,
            duration_ms: totals.duration_ms,
        },
        failures,
        coverage: coverage.map(|c| Coverage {
            lines_covered: c.covered,
            lines_total: c.total,
        }),
        metrics,
    }
}

fn tests(n: u32) -> String {
    if n == 1 {
        "1 test".into()
    } else {
        format!("{n} tests")
    }
}

fn count(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Runners in the tool container see the repository at `/workspace`.
fn workspace_relative(path: &str) -> String {
    path.strip_prefix(WORKSPACE)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path)
        .to_string()
}

#[cfg(test)]
mod tests;
