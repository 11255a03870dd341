//! Why a stage failed, in a few lines people read first: the blocking findings (rule,
//! severity, file and line, worst first), the failed tests by name, the coverage
//! shortfall, or the error that stopped the stage; cut with "… and N more".

use super::{last_attempt, test_name};
use crate::config::StageSpec;
use crate::model::{StageRecord, StageState};
use crate::store::AttemptRow;
use bosun_bus::{Finding, Severity};

/// Most reasons listed for one stage before "… and N more".
pub const MAX_REASONS: usize = 5;

/// The reasons `stage` failed, most important first; empty when it did not fail.
pub fn stage_reasons(
    stage: &StageRecord,
    spec: Option<&StageSpec>,
    attempts: &[AttemptRow],
) -> Vec<String> {
    if !matches!(stage.state, StageState::Failure | StageState::Errored) {
        return Vec::new();
    }
    let Some(last) = last_attempt(attempts, &stage.name) else {
        return vec![stage.summary.clone()];
    };
    let Some(report) = &last.report else {
        return vec![
            last.failure_message
                .clone()
                .unwrap_or_else(|| stage.summary.clone()),
        ];
    };
    let mut reasons = Vec::new();
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let serious = findings.iter().any(|f| f.severity >= Severity::High);
    reasons.extend(
        findings
            .iter()
            .filter(|f| !serious || f.severity >= Severity::High)
            .map(|f| finding_line(f)),
    );
    reasons.extend(report.test_failures.iter().map(|t| {
        let place = match (&t.path, t.line) {
            (Some(path), Some(line)) => format!(" ({path}:{line})"),
            (Some(path), None) => format!(" ({path})"),
            _ => String::new(),
        };
        let message = t.message.lines().next().unwrap_or_default();
        format!("test failed: {}{place}: {message}", test_name(t))
    }));
    if let (Some(coverage), Some(bar)) = (report.coverage, min_coverage(spec))
        && coverage.percent() < bar
    {
        reasons.push(format!(
            "coverage {:.1}% is below min_coverage {bar}%",
            coverage.percent()
        ));
    }
    if reasons.is_empty() {
        reasons.push(report.summary.clone());
    }
    if reasons.len() > MAX_REASONS {
        let more = reasons.len() - MAX_REASONS;
        reasons.truncate(MAX_REASONS);
        reasons.push(format!("… and {more} more"));
    }
    reasons
}

fn finding_line(f: &Finding) -> String {
    let severity = format!("{:?}", f.severity).to_uppercase();
    let place = match (&f.path, f.line) {
        (Some(path), Some(line)) => format!(" {path}:{line}"),
        (Some(path), None) => format!(" {path}"),
        _ => String::new(),
    };
    let mut lines = f.message.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default();
    // A message that goes on (a failed command's output) ends with what matters most.
    let rest: Vec<&str> = lines.collect();
    let tail: String = rest[rest.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|line| format!("\n    | {line}"))
        .collect();
    format!("{severity} {}{place}: {first}{tail}", f.rule)
}

/// Last lines of a long finding message shown under its first.
const TAIL_LINES: usize = 3;

fn min_coverage(spec: Option<&StageSpec>) -> Option<f64> {
    spec?
        .with
        .iter()
        .find(|(key, _)| key == "min_coverage")
        .and_then(|(_, value)| value.trim().trim_end_matches('%').parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_bus::{Coverage, Outcome, StageReport, TestFailure};

    fn finding(severity: Severity, rule: &str, line: u32) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            message: format!("{rule} found\nsecond line"),
            path: Some("src/shop/app.py".into()),
            line: Some(line),
            column: None,
            tool: "bandit".into(),
            fixed_version: None,
        }
    }

    fn attempt(report: Option<StageReport>, failure: Option<&str>) -> AttemptRow {
        AttemptRow {
            stage: "security".into(),
            attempt: 1,
            dispatched_ms: 0,
            deadline_ms: 0,
            settled_ms: Some(1),
            agent_id: None,
            plugin_name: None,
            plugin_version: None,
            plugin_digest: None,
            outcome: Some("failure".into()),
            failure_kind: None,
            failure_message: failure.map(str::to_string),
            duration_ms: None,
            report,
            reused_from: None,
        }
    }

    fn failing_report(summary: &str) -> StageReport {
        StageReport {
            outcome: Outcome::Failure,
            summary: summary.into(),
            findings: vec![],
            tests: None,
            test_failures: vec![],
            coverage: None,
            artifacts: vec![],
            metrics: vec![],
            truncated: false,
        }
    }

    fn failed(name: &str) -> StageRecord {
        let mut stage = StageRecord::pending(name);
        stage.state = StageState::Failure;
        stage.summary = "6 findings".into();
        stage
    }

    #[test]
    fn the_serious_findings_lead_worst_first_with_rule_file_and_line() {
        let mut report = failing_report("6 findings");
        report.findings = vec![
            finding(Severity::Low, "B101", 3),
            finding(Severity::High, "B602", 12),
            finding(Severity::Critical, "CVE-2023-0286", 1),
            finding(Severity::Medium, "B105", 7),
        ];
        let reasons = stage_reasons(&failed("security"), None, &[attempt(Some(report), None)]);
        assert_eq!(
            reasons,
            [
                "CRITICAL CVE-2023-0286 src/shop/app.py:1: CVE-2023-0286 found\n    | second line",
                "HIGH B602 src/shop/app.py:12: B602 found\n    | second line",
            ]
        );
    }

    #[test]
    fn failed_tests_and_the_coverage_shortfall_are_named_and_long_lists_cut() {
        let mut report = failing_report("tests failed");
        report.coverage = Some(Coverage {
            lines_covered: 60,
            lines_total: 100,
        });
        report.test_failures = (0..6)
            .map(|i| TestFailure {
                suite: "tests.test_cart".into(),
                name: format!("test_{i}"),
                message: "assert 3 == 4".into(),
                path: Some("tests/test_cart.py".into()),
                line: Some(10 + i),
            })
            .collect();
        let config = "pipeline:\n  stages:\n    - name: test\n      with: { min_coverage: 80 }\n";
        let spec = crate::config::parse(".bosun.yml", config).unwrap().stages[0].clone();
        let mut stage = failed("test");
        stage.name = "security".into();
        let reasons = stage_reasons(&stage, Some(&spec), &[attempt(Some(report), None)]);
        assert_eq!(reasons.len(), MAX_REASONS + 1);
        assert_eq!(
            reasons[0],
            "test failed: tests.test_cart::test_0 (tests/test_cart.py:10): assert 3 == 4"
        );
        assert_eq!(
            reasons[MAX_REASONS], "… and 2 more",
            "5 shown of 7 (6 tests and coverage)"
        );
    }

    #[test]
    fn an_errored_stage_gives_its_error_and_a_passed_one_nothing() {
        let mut stage = failed("security");
        stage.state = StageState::Errored;
        let reasons = stage_reasons(
            &stage,
            None,
            &[attempt(None, Some("image bosun/x not found"))],
        );
        assert_eq!(reasons, ["image bosun/x not found"]);
        stage.state = StageState::Success;
        assert!(stage_reasons(&stage, None, &[]).is_empty());
    }
}
