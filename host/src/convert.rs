//! Conversions between the plugin bindings and the wire types in `bosun-bus`, with caps.

use crate::bindings::bosun::agent::types as wit;
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
}
