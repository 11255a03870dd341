//! Conversions between the plugin bindings and the wire types in `bosun-bus`, with caps.

use crate::bindings::bosun::agent::types as wit;
use crate::bindings::exports::bosun::agent::{notifier_plugin as wit_notify, policy_plugin};
use crate::capabilities::log::truncate_utf8;
use crate::limits::ReportCaps;
use bosun_bus as bus;

/// The task as plugins see it.
pub fn task_to_wit(task: &bus::Task) -> wit::Task {
    wit::Task {
        run_id: task.run_id.clone(),
        stage: task.stage.clone(),
        attempt: task.attempt,
        tenant: task.tenant.clone(),
        repository: task.repository.clone(),
        commit: task.commit.clone(),
        branch: task.branch.clone(),
        event: task.event.clone(),
        config: task.config.clone(),
    }
}

fn severity(s: wit::Severity) -> bus::Severity {
    match s {
        wit::Severity::Info => bus::Severity::Info,
        wit::Severity::Low => bus::Severity::Low,
        wit::Severity::Medium => bus::Severity::Medium,
        wit::Severity::High => bus::Severity::High,
        wit::Severity::Critical => bus::Severity::Critical,
    }
}

fn cap_text(text: String, max: usize, truncated: &mut bool) -> String {
    if text.len() <= max {
        return text;
    }
    *truncated = true;
    format!("{}…[truncated]", truncate_utf8(&text, max))
}

fn cap_list<T>(mut items: Vec<T>, max: usize, truncated: &mut bool) -> Vec<T> {
    if items.len() > max {
        items.truncate(max);
        *truncated = true;
    }
    items
}

/// A plugin's report as a wire report, cut at the host's caps (and flagged if cut).
pub fn report_from_wit(report: wit::StageReport, caps: &ReportCaps) -> bus::StageReport {
    let mut cut = false;
    let t = caps.text_bytes;
    let findings = cap_list(report.findings, caps.findings, &mut cut)
        .into_iter()
        .map(|f| bus::Finding {
            rule: cap_text(f.rule, 256, &mut cut),
            severity: severity(f.severity),
            message: cap_text(f.message, t, &mut cut),
            path: f.path.map(|p| cap_text(p, 1024, &mut cut)),
            line: f.line,
            column: f.column,
            tool: cap_text(f.tool, 256, &mut cut),
            fixed_version: f.fixed_version.map(|v| cap_text(v, 256, &mut cut)),
        })
        .collect();
    let test_failures = cap_list(report.test_failures, caps.test_failures, &mut cut)
        .into_iter()
        .map(|f| bus::TestFailure {
            suite: cap_text(f.suite, 1024, &mut cut),
            name: cap_text(f.name, 1024, &mut cut),
            message: cap_text(f.message, t, &mut cut),
            path: f.path.map(|p| cap_text(p, 1024, &mut cut)),
            line: f.line,
        })
        .collect();
    let artifacts = cap_list(report.artifacts, caps.entries, &mut cut)
        .into_iter()
        .map(|a| bus::Artifact {
            kind: cap_text(a.kind, 64, &mut cut),
            name: cap_text(a.name, 1024, &mut cut),
            reference: cap_text(a.reference, 2048, &mut cut),
            digest: a.digest.map(|d| cap_text(d, 256, &mut cut)),
        })
        .collect();
    let metrics = cap_list(report.metrics, caps.entries, &mut cut)
        .into_iter()
        .map(|m| bus::Metric {
            name: cap_text(m.name, 256, &mut cut),
            value: m.value,
            unit: cap_text(m.unit, 64, &mut cut),
        })
        .collect();
    bus::StageReport {
        outcome: match report.outcome {
            wit::Outcome::Success => bus::Outcome::Success,
            wit::Outcome::Failure => bus::Outcome::Failure,
            wit::Outcome::Skipped => bus::Outcome::Skipped,
        },
        summary: cap_text(report.summary, t, &mut cut),
        findings,
        tests: report.tests.map(|x| bus::TestTotals {
            total: x.total,
            passed: x.passed,
            failed: x.failed,
            errors: x.errors,
            skipped: x.skipped,
            duration_ms: x.duration_ms,
        }),
        test_failures,
        coverage: report.coverage.map(|c| bus::Coverage {
            lines_covered: c.lines_covered,
            lines_total: c.lines_total,
        }),
        artifacts,
        metrics,
        truncated: cut,
    }
}

/// A plugin's own error as a classified failure.
pub fn failure_from_wit(
    error: wit::StageError,
    plugin: &str,
    caps: &ReportCaps,
) -> bus::StageFailure {
    let mut cut = false;
    let (kind, message) = match error {
        wit::StageError::InvalidConfig(m) => (bus::StageFailureKind::InvalidConfig, m),
        wit::StageError::ToolFailed(m) => (bus::StageFailureKind::ToolFailed, m),
        wit::StageError::BadToolOutput(m) => (bus::StageFailureKind::BadToolOutput, m),
        wit::StageError::Io(m) => (bus::StageFailureKind::Io, m),
        wit::StageError::Other(m) => (bus::StageFailureKind::PluginError, m),
    };
    bus::StageFailure {
        kind,
        message: format!(
            "plugin {plugin}: {}",
            cap_text(message, caps.text_bytes, &mut cut)
        ),
    }
}

/// A wire report as plugins see it (a policy judging a stage's report after the stage).
pub fn report_to_wit(report: &bus::StageReport) -> wit::StageReport {
    wit::StageReport {
        outcome: match report.outcome {
            bus::Outcome::Success => wit::Outcome::Success,
            bus::Outcome::Failure => wit::Outcome::Failure,
            bus::Outcome::Skipped => wit::Outcome::Skipped,
        },
        summary: report.summary.clone(),
        findings: report.findings.iter().map(finding_to_wit).collect(),
        tests: report.tests.map(|x| wit::TestTotals {
            total: x.total,
            passed: x.passed,
            failed: x.failed,
            errors: x.errors,
            skipped: x.skipped,
            duration_ms: x.duration_ms,
        }),
        test_failures: report
            .test_failures
            .iter()
            .map(test_failure_to_wit)
            .collect(),
        coverage: report.coverage.map(|c| wit::Coverage {
            lines_covered: c.lines_covered,
            lines_total: c.lines_total,
        }),
        artifacts: report
            .artifacts
            .iter()
            .map(|a| wit::Artifact {
                kind: a.kind.clone(),
                name: a.name.clone(),
                reference: a.reference.clone(),
                digest: a.digest.clone(),
            })
            .collect(),
        metrics: report
            .metrics
            .iter()
            .map(|m| wit::Metric {
                name: m.name.clone(),
                value: m.value,
                unit: m.unit.clone(),
            })
            .collect(),
    }
}

fn finding_to_wit(f: &bus::Finding) -> wit::Finding {
    wit::Finding {
        rule: f.rule.clone(),
        severity: match f.severity {
            bus::Severity::Info => wit::Severity::Info,
            bus::Severity::Low => wit::Severity::Low,
            bus::Severity::Medium => wit::Severity::Medium,
            bus::Severity::High => wit::Severity::High,
            bus::Severity::Critical => wit::Severity::Critical,
        },
        message: f.message.clone(),
        path: f.path.clone(),
        line: f.line,
        column: f.column,
        tool: f.tool.clone(),
        fixed_version: f.fixed_version.clone(),
    }
}

fn test_failure_to_wit(f: &bus::TestFailure) -> wit::TestFailure {
    wit::TestFailure {
        suite: f.suite.clone(),
        name: f.name.clone(),
        message: f.message.clone(),
        path: f.path.clone(),
        line: f.line,
    }
}

/// What a policy sees: the request's input plus this tenant's settings for the policy.
pub fn policy_input_to_wit(
    input: &bus::policy::PolicyInput,
    config: &[(String, String)],
) -> policy_plugin::PolicyInput {
    policy_plugin::PolicyInput {
        tenant: input.tenant.clone(),
        run_id: input.run_id.clone(),
        repository: input.repository.clone(),
        stage: input.stage.clone(),
        phase: match input.phase {
            bus::policy::PolicyPhase::BeforeStage => policy_plugin::Phase::BeforeStage,
            bus::policy::PolicyPhase::AfterStage => policy_plugin::Phase::AfterStage,
        },
        branch: input.branch.clone(),
        default_branch: input.default_branch.clone(),
        event: input.event.clone(),
        fork: input.fork,
        environment: input.environment.clone(),
        report: input.report.as_ref().map(report_to_wit),
        config: config.to_vec(),
    }
}

/// A policy's decision as a wire decision; reasons are cut at the host's caps (a
/// policy's reasons travel in every reply and notification, like a report's text).
pub fn decision_from_wit(
    decision: policy_plugin::Decision,
    caps: &ReportCaps,
) -> bus::policy::Decision {
    let reasons = |reasons: Vec<String>| {
        let mut cut = false;
        cap_list(reasons, caps.entries, &mut cut)
            .into_iter()
            .map(|r| cap_text(r, caps.text_bytes, &mut cut))
            .collect()
    };
    match decision {
        policy_plugin::Decision::Allow => bus::policy::Decision::Allow,
        policy_plugin::Decision::Warn(r) => bus::policy::Decision::Warn(reasons(r)),
        policy_plugin::Decision::Deny(r) => bus::policy::Decision::Deny(reasons(r)),
    }
}

/// The run summary as notifiers see it.
pub fn run_summary_to_wit(summary: &bus::notify::RunSummary) -> wit_notify::RunSummary {
    use bus::notify::{RunStatus, StageStatus};
    wit_notify::RunSummary {
        run_id: summary.run_id.clone(),
        tenant: summary.tenant.clone(),
        repository: summary.repository.clone(),
        branch: summary.branch.clone(),
        commit: summary.commit.clone(),
        status: match summary.status {
            RunStatus::Success => wit_notify::RunStatus::Success,
            RunStatus::Failure => wit_notify::RunStatus::Failure,
            RunStatus::Halted => wit_notify::RunStatus::Halted,
            RunStatus::Cancelled => wit_notify::RunStatus::Cancelled,
        },
        url: summary.url.clone(),
        duration_ms: summary.duration_ms,
        stages: summary
            .stages
            .iter()
            .map(|s| wit_notify::StageSummary {
                name: s.name.clone(),
                status: match s.status {
                    StageStatus::Success => wit_notify::StageStatus::Success,
                    StageStatus::Failure => wit_notify::StageStatus::Failure,
                    StageStatus::Errored => wit_notify::StageStatus::Errored,
                    StageStatus::Skipped => wit_notify::StageStatus::Skipped,
                    StageStatus::Cancelled => wit_notify::StageStatus::Cancelled,
                },
                duration_ms: s.duration_ms,
                attempts: s.attempts,
                summary: s.summary.clone(),
                reasons: s.reasons.clone(),
            })
            .collect(),
        failed_tests: summary
            .failed_tests
            .iter()
            .map(test_failure_to_wit)
            .collect(),
        flaky_tests: summary.flaky_tests.clone(),
        blocking_findings: summary
            .blocking_findings
            .iter()
            .map(finding_to_wit)
            .collect(),
        policy_denials: summary.policy_denials.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_reports_are_cut_and_flagged() {
        let caps = ReportCaps {
            text_bytes: 10,
            findings: 2,
            test_failures: 1,
            entries: 1,
        };
        let finding = wit::Finding {
            rule: "R1".into(),
            severity: wit::Severity::High,
            message: "m".into(),
            path: None,
            line: None,
            column: None,
            tool: "t".into(),
            fixed_version: None,
        };
        let report = wit::StageReport {
            outcome: wit::Outcome::Failure,
            summary: "x".repeat(100),
            findings: vec![finding.clone(), finding.clone(), finding],
            tests: None,
            test_failures: vec![],
            coverage: None,
            artifacts: vec![],
            metrics: vec![],
        };
        let out = report_from_wit(report, &caps);
        assert!(out.truncated);
        assert_eq!(out.findings.len(), 2);
        assert!(out.summary.len() < 40);
        assert_eq!(out.findings[0].severity, bus::Severity::High);
    }

    #[test]
    fn small_reports_are_kept_whole() {
        let report = wit::StageReport {
            outcome: wit::Outcome::Success,
            summary: "ok".into(),
            findings: vec![],
            tests: None,
            test_failures: vec![],
            coverage: None,
            artifacts: vec![],
            metrics: vec![],
        };
        let out = report_from_wit(report, &ReportCaps::default());
        assert!(!out.truncated);
        assert_eq!(out.summary, "ok");
    }

    #[test]
    fn wire_reports_reach_policies_unchanged() {
        let report = bus::StageReport {
            outcome: bus::Outcome::Failure,
            summary: "1 critical".into(),
            findings: vec![bus::Finding {
                rule: "CVE-1".into(),
                severity: bus::Severity::Critical,
                message: "bad".into(),
                path: Some("Cargo.lock".into()),
                line: Some(3),
                column: None,
                tool: "audit".into(),
                fixed_version: Some("1.2.3".into()),
            }],
            tests: Some(bus::TestTotals {
                total: 2,
                passed: 1,
                failed: 1,
                errors: 0,
                skipped: 0,
                duration_ms: 9,
            }),
            test_failures: vec![bus::TestFailure {
                suite: "s".into(),
                name: "t".into(),
                message: "m".into(),
                path: None,
                line: Some(4),
            }],
            coverage: Some(bus::Coverage {
                lines_covered: 5,
                lines_total: 10,
            }),
            artifacts: vec![bus::Artifact {
                kind: "image".into(),
                name: "app".into(),
                reference: "registry/app:1".into(),
                digest: Some("sha256:00".into()),
            }],
            metrics: vec![bus::Metric {
                name: "size".into(),
                value: 1.5,
                unit: "MiB".into(),
            }],
            truncated: false,
        };
        let back = report_from_wit(report_to_wit(&report), &ReportCaps::default());
        assert_eq!(back, report);
    }

    #[test]
    fn policy_reasons_are_cut_at_the_caps() {
        let caps = ReportCaps {
            text_bytes: 8,
            findings: 1,
            test_failures: 1,
            entries: 2,
        };
        let decision = policy_plugin::Decision::Deny(vec!["x".repeat(50), "b".into(), "c".into()]);
        let bus::policy::Decision::Deny(reasons) = decision_from_wit(decision, &caps) else {
            panic!("a deny stays a deny");
        };
        assert_eq!(reasons.len(), 2);
        assert!(reasons[0].starts_with("xxxxxxxx…"), "{}", reasons[0]);
        assert_eq!(reasons[1], "b");
    }
}
