//! Thresholds, summaries and the findings cap, on real pylint and eslint reports.

use super::*;
use crate::{eslint, pylint};

const PYLINT_SAMPLES: &[u8] = include_bytes!("../../tests/fixtures/pylint-samples.json");
const ESLINT_NODE_APP: &[u8] = include_bytes!("../../tests/fixtures/eslint-node-app.json");

fn thresholds(fail_on: FailOn, max_warnings: Option<u64>) -> Thresholds {
    Thresholds {
        fail_on,
        max_warnings,
    }
}

#[test]
fn errors_fail_by_default() {
    let messages = pylint::parse(PYLINT_SAMPLES).unwrap();
    let verdict = judge("pylint", &messages, thresholds(FailOn::Error, None), 5000);
    assert_eq!(verdict.outcome, Outcome::Failure);
    assert_eq!(
        verdict.summary,
        "pylint: 8 findings (4 errors, 1 warning, 3 style); failed: 4 findings at or above \
         fail_on: error"
    );
    assert_eq!(verdict.findings.len(), 8);
    // Worst first, the tool's order within a level.
    let rules: Vec<&str> = verdict.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules[..5],
        [
            "fatal",
            "syntax-error",
            "undefined-variable",
            "no-member",
            "unused-import"
        ]
    );
    assert!(verdict.findings.iter().all(|f| f.tool == "pylint"));
}

#[test]
fn warnings_pass_unless_asked_to_fail() {
    let messages = eslint::parse(ESLINT_NODE_APP).unwrap();
    let pass = judge("eslint", &messages, thresholds(FailOn::Error, None), 5000);
    assert_eq!(pass.outcome, Outcome::Success);
    assert_eq!(pass.summary, "eslint: 3 findings (0 errors, 3 warnings)");
    let strict = judge("eslint", &messages, thresholds(FailOn::Warning, None), 5000);
    assert_eq!(strict.outcome, Outcome::Failure);
    assert!(
        strict
            .summary
            .ends_with("failed: 3 findings at or above fail_on: warning")
    );
}

#[test]
fn max_warnings_obeyed_and_exceeded() {
    let messages = eslint::parse(ESLINT_NODE_APP).unwrap();
    let at_limit = judge(
        "eslint",
        &messages,
        thresholds(FailOn::Error, Some(3)),
        5000,
    );
    assert_eq!(at_limit.outcome, Outcome::Success);
    let over = judge(
        "eslint",
        &messages,
        thresholds(FailOn::Error, Some(2)),
        5000,
    );
    assert_eq!(over.outcome, Outcome::Failure);
    assert!(
        over.summary
            .ends_with("failed: 3 warnings over max_warnings: 2"),
        "{}",
        over.summary
    );
}

#[test]
fn fail_on_any_counts_style_findings() {
    let style_only: Vec<LintMessage> = pylint::parse(PYLINT_SAMPLES)
        .unwrap()
        .into_iter()
        .filter(|m| m.severity == Severity::Low)
        .collect();
    assert_eq!(
        judge("pylint", &style_only, thresholds(FailOn::Warning, None), 10).outcome,
        Outcome::Success
    );
    assert_eq!(
        judge("pylint", &style_only, thresholds(FailOn::Any, None), 10).outcome,
        Outcome::Failure
    );
}

#[test]
fn clean_run_says_no_findings() {
    let verdict = judge("pylint", &[], thresholds(FailOn::Any, Some(0)), 10);
    assert_eq!(verdict.outcome, Outcome::Success);
    assert_eq!(verdict.summary, "pylint: no findings");
}

#[test]
fn findings_over_the_cap_are_cut_keeping_the_worst() {
    // 10,000 findings derived from the real samples report, repeated.
    let one_run = pylint::parse(PYLINT_SAMPLES).unwrap();
    let messages: Vec<LintMessage> = one_run.iter().cycle().take(10_000).cloned().collect();
    let verdict = judge("pylint", &messages, thresholds(FailOn::Error, None), 5000);
    assert_eq!(verdict.findings.len(), 5000);
    // 10,000 / 8 × 4 errors = 5,000: exactly the errors are kept.
    assert!(
        verdict
            .findings
            .iter()
            .all(|f| f.severity == Severity::High)
    );
    assert!(
        verdict
            .summary
            .contains("; 5000 lower-severity findings not listed (report keeps 5000)"),
        "{}",
        verdict.summary
    );
    let cut = verdict
        .metrics
        .iter()
        .find(|m| m.name == "findings-cut")
        .unwrap();
    assert_eq!(cut.value, 5000.0);
    let total = verdict
        .metrics
        .iter()
        .find(|m| m.name == "findings")
        .unwrap();
    assert_eq!(total.value, 10_000.0);
}

#[test]
fn fail_on_words_are_parsed() {
    assert_eq!(FailOn::parse("error"), Some(FailOn::Error));
    assert_eq!(FailOn::parse(" warning "), Some(FailOn::Warning));
    assert_eq!(FailOn::parse("any"), Some(FailOn::Any));
    assert_eq!(FailOn::parse("errors"), None);
}
