//! The run summary: blocking findings worst first across stages, cut to
//! `MAX_BLOCKING`, the "… and N more" finding that says what was cut, and each failed
//! stage's reasons.

use super::*;
use crate::model::{RunTrigger, StageRecord};
use bosun_bus::{Outcome, StageReport};

fn finding(tool: &str, rule: &str, severity: Severity) -> Finding {
    Finding {
        rule: rule.to_string(),
        severity,
        message: format!("{rule} found"),
        path: Some("src/app.py".into()),
        line: Some(3),
        column: None,
        tool: tool.to_string(),
        fixed_version: None,
    }
}

fn failed(name: &str) -> StageRecord {
    let mut stage = StageRecord::pending(name);
    stage.state = StageState::Failure;
    stage.attempt = 1;
    stage
}

fn attempt(stage: &str, findings: Vec<Finding>) -> AttemptRow {
    AttemptRow {
        stage: stage.to_string(),
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
        failure_message: None,
        duration_ms: None,
        report: Some(StageReport {
            outcome: Outcome::Failure,
            summary: String::new(),
            findings,
            tests: None,
            test_failures: Vec::new(),
            coverage: None,
            artifacts: Vec::new(),
            metrics: Vec::new(),
            truncated: false,
        }),
        reused_from: None,
    }
}

fn run(stages: Vec<StageRecord>) -> RunRecord {
    RunRecord {
        id: "run-1".into(),
        trigger: RunTrigger {
            tenant: "acme".into(),
            repository: "acme/app".into(),
            clone_url: "https://git.example/acme/app.git".into(),
            default_branch: "main".into(),
            commit: "0".repeat(40),
            branch: "main".into(),
            event: "push".into(),
            changed_paths: None,
            pull_request: None,
            sender: String::new(),
            message: None,
            fork: false,
        },
        status: RunStatus::Failure,
        created_ms: 0,
        finished_ms: Some(10),
        config_source: None,
        config_origin: None,
        error: None,
        failures: 2,
        stages,
        denials: Vec::new(),
        warnings: Vec::new(),
        notified: false,
        paths_budget_spent: 0,
        rerun_of: None,
    }
}

/// `n` findings of one tool and severity, rules numbered from 1.
fn many(tool: &str, prefix: &str, severity: Severity, n: usize) -> Vec<Finding> {
    (1..=n)
        .map(|i| finding(tool, &format!("{prefix}-{i}"), severity))
        .collect()
}

#[test]
fn critical_vulnerabilities_of_a_later_stage_come_before_earlier_high_findings() {
    // lint runs first and reports 30 high (error-level) findings; security then fails
    // on 2 critical and 16 high vulnerabilities.
    let record = run(vec![failed("lint"), failed("security")]);
    let mut vulnerabilities = many("trivy", "CVE-H", Severity::High, 16);
    vulnerabilities.extend(many("trivy", "CVE-C", Severity::Critical, 2));
    let attempts = [
        attempt("lint", many("eslint", "eqeqeq", Severity::High, 30)),
        attempt("security", vulnerabilities),
    ];
    let blocking = blocking_findings(&record, &attempts);
    assert_eq!(blocking.len(), MAX_BLOCKING + 1);
    assert_eq!(blocking[0].rule, "CVE-C-1");
    assert_eq!(blocking[1].rule, "CVE-C-2");
    // Within one severity the stages keep their order: lint's highs before security's.
    assert!(blocking[2..MAX_BLOCKING].iter().all(|f| f.tool == "eslint"));
    let more = &blocking[MAX_BLOCKING];
    assert_eq!(more.rule, MORE_FINDINGS_RULE);
    assert_eq!(more.tool, MORE_FINDINGS_TOOL);
    assert_eq!(more.message, "… and 28 more blocking findings");
    assert_eq!(more.severity, Severity::High);
    assert_eq!(more.path, None);
}

#[test]
fn serious_findings_outrank_a_stage_that_failed_on_style_alone() {
    // lint failed on style findings only (its first five stand in); security on 18
    // high vulnerabilities. Every vulnerability is listed, ahead of the style.
    let record = run(vec![failed("lint"), failed("security")]);
    let attempts = [
        attempt("lint", many("pylint", "C0116", Severity::Low, 40)),
        attempt("security", many("trivy", "CVE", Severity::High, 18)),
    ];
    let blocking = blocking_findings(&record, &attempts);
    assert!(blocking[..18].iter().all(|f| f.tool == "trivy"));
    assert_eq!(blocking[18].tool, "pylint");
    assert_eq!(blocking[19].tool, "pylint");
    assert_eq!(blocking[20].message, "… and 3 more blocking findings");
    assert_eq!(blocking[20].severity, Severity::Low);
}

#[test]
fn nothing_cut_means_no_more_line() {
    let record = run(vec![failed("security")]);
    let attempts = [attempt(
        "security",
        many("trivy", "CVE", Severity::High, 20),
    )];
    let blocking = blocking_findings(&record, &attempts);
    assert_eq!(blocking.len(), 20);
    assert!(blocking.iter().all(|f| f.rule != MORE_FINDINGS_RULE));
    let one_over = [attempt(
        "security",
        many("trivy", "CVE", Severity::High, 21),
    )];
    let blocking = blocking_findings(&record, &one_over);
    assert_eq!(blocking[20].message, "… and 1 more blocking finding");
}

#[test]
fn the_run_summary_carries_the_ordered_list() {
    let record = run(vec![failed("lint"), failed("security")]);
    let attempts = [
        attempt("lint", many("eslint", "no-undef", Severity::High, 25)),
        attempt("security", many("trivy", "CVE", Severity::Critical, 1)),
    ];
    let summary = run_summary(&record, &attempts, "https://bosun.example");
    assert_eq!(summary.blocking_findings[0].rule, "CVE-1");
    assert_eq!(
        summary.blocking_findings.last().map(|f| f.message.as_str()),
        Some("… and 6 more blocking findings")
    );
}

#[test]
fn each_failed_stage_in_the_summary_says_why_with_the_coverage_bar_from_its_config() {
    let mut record = run(vec![failed("test"), failed("security")]);
    record.stages.insert(0, {
        let mut lint = StageRecord::pending("lint");
        lint.state = StageState::Success;
        lint
    });
    record.config_source = Some(
        "pipeline:\n  stages:\n    - lint\n    - name: test\n      with: { min_coverage: 80 }\n    - security\n"
            .into(),
    );
    let mut test = attempt("test", Vec::new());
    if let Some(report) = test.report.as_mut() {
        report.coverage = Some(bosun_bus::Coverage {
            lines_covered: 61,
            lines_total: 100,
        });
    }
    let attempts = [
        test,
        attempt("security", vec![finding("bandit", "B602", Severity::High)]),
    ];
    let summary = run_summary(&record, &attempts, "https://bosun.example");
    let reasons: Vec<&[String]> = summary.stages.iter().map(|s| &s.reasons[..]).collect();
    assert!(reasons[0].is_empty(), "lint passed: {:?}", reasons[0]);
    assert_eq!(reasons[1], ["coverage 61.0% is below min_coverage 80%"]);
    assert_eq!(reasons[2], ["HIGH B602 src/app.py:3: B602 found"]);
}
