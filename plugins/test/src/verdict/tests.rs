//! Verdicts on the real pytest, coverage.py and mocha reports in `tests/fixtures`.

use super::*;
use crate::cobertura;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn junit(name: &str) -> TestRun {
    bosun_junit::parse(&fixture(name)).unwrap()
}

fn coverage(name: &str) -> Option<LineCoverage> {
    Some(cobertura::parse(&fixture(name)).unwrap())
}

#[test]
fn python_app_fails_two_tests_on_attempt_one() {
    let verdict = judge(
        &junit("pytest-python-app-attempt1.xml"),
        coverage("coverage-python-app-attempt1.xml"),
        None,
        1000,
    );
    assert_eq!(verdict.outcome, Outcome::Failure);
    assert_eq!(verdict.summary, "2 of 6 tests failed; line coverage 100.0%");
    assert_eq!((verdict.tests.total, verdict.tests.failed), (6, 2));
    let named: Vec<(&str, &str, Option<&str>, Option<u32>)> = verdict
        .failures
        .iter()
        .map(|f| (f.suite.as_str(), f.name.as_str(), f.path.as_deref(), f.line))
        .collect();
    assert_eq!(
        named,
        [
            (
                "tests.test_cart",
                "test_empty_cart_totals_zero",
                Some("tests/test_cart.py"),
                Some(26)
            ),
            (
                "tests.test_cart",
                "test_total_multiplies_quantity",
                Some("tests/test_cart.py"),
                Some(33)
            ),
        ]
    );
    assert!(verdict.failures[0].message.starts_with("assert 100 == 0"));
    assert_eq!(
        verdict.coverage,
        Some(Coverage {
            lines_covered: 13,
            lines_total: 13
        })
    );
}

#[test]
fn python_app_passes_on_attempt_two() {
    let verdict = judge(
        &junit("pytest-python-app-attempt2.xml"),
        coverage("coverage-python-app-attempt2.xml"),
        Some(80.0),
        1000,
    );
    assert_eq!(verdict.outcome, Outcome::Success);
    assert_eq!(verdict.summary, "all 6 tests passed; line coverage 100.0%");
    assert!(verdict.failures.is_empty());
}

#[test]
fn samples_count_failures_errors_and_skips() {
    let verdict = judge(
        &junit("pytest-samples.xml"),
        coverage("coverage-samples.xml"),
        None,
        1000,
    );
    assert_eq!(
        verdict.summary,
        "3 of 9 tests failed (2 failures, 1 error), 2 skipped; line coverage 86.7%"
    );
    let t = &verdict.tests;
    assert_eq!(
        (t.total, t.passed, t.failed, t.errors, t.skipped),
        (9, 4, 2, 1, 2)
    );
    let names: Vec<(&str, &str)> = verdict
        .failures
        .iter()
        .map(|f| (f.suite.as_str(), f.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("tests.test_ops", "test_mean_of_halves"),
            ("tests.test_ops", "test_uses_config"),
            ("tests.test_ops.TestClamp", "test_above"),
        ]
    );
    assert_eq!(verdict.failures[1].line, Some(17));
    assert_eq!(
        verdict.failures[1].message,
        "failed on setup with \"RuntimeError: config service unavailable\""
    );
}

#[test]
fn min_coverage_obeyed_and_missed() {
    let run = junit("pytest-python-app-attempt2.xml");
    let samples = coverage("coverage-samples.xml");
    let met = judge(&run, samples, Some(86.0), 1000);
    assert_eq!(met.outcome, Outcome::Success);
    let missed = judge(&run, samples, Some(90.0), 1000);
    assert_eq!(missed.outcome, Outcome::Failure);
    assert_eq!(
        missed.summary,
        "all 6 tests passed; line coverage 86.7% is below the 90% minimum"
    );
    let line = missed
        .metrics
        .iter()
        .find(|m| m.name == "line-coverage")
        .unwrap();
    assert!((line.value - 86.67).abs() < 0.01);
}

#[test]
fn mocha_failures_name_the_describe_path_and_test_file() {
    let verdict = judge(&junit("mocha-samples.xml"), None, None, 1000);
    assert_eq!(verdict.summary, "3 of 5 tests failed, 1 skipped");
    let first = &verdict.failures[0];
    assert_eq!(
        (first.suite.as_str(), first.name.as_str()),
        ("orders", "multiplies by quantity")
    );
    assert_eq!(
        (first.path.as_deref(), first.line),
        (Some("test/orders.test.js"), Some(12))
    );
    assert!(
        first
            .message
            .starts_with("Expected values to be strictly equal")
    );
    let hook = &verdict.failures[2];
    assert_eq!(hook.suite, "orders with a store");
    assert_eq!(hook.name, "\"before all\" hook for \"never runs\"");
    assert_eq!(verdict.coverage, None);
}

#[test]
fn no_tests_is_a_failure() {
    let verdict = judge(&TestRun::default(), None, None, 1000);
    assert_eq!(verdict.outcome, Outcome::Failure);
    assert_eq!(verdict.summary, "no tests ran");
}

#[test]
fn failures_over_the_cap_are_cut_and_counted() {
    // 2,000 failures derived from the real attempt-1 report, repeated.
    let real = junit("pytest-python-app-attempt1.xml");
    let mut run = real.clone();
    run.failures = real.failures.iter().cycle().take(2000).cloned().collect();
    run.totals.total = 2000;
    run.totals.failed = 2000;
    run.totals.passed = 0;
    let verdict = judge(&run, None, None, 1000);
    assert_eq!(verdict.failures.len(), 1000);
    assert_eq!(
        verdict.summary,
        "2000 of 2000 tests failed; 1000 more failures not listed (report keeps 1000)"
    );
    let cut = verdict
        .metrics
        .iter()
        .find(|m| m.name == "test-failures-cut")
        .unwrap();
    assert_eq!(cut.value, 1000.0);
}
