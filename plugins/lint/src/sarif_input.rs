//! SARIF logs as the lint stage's input (`with: sarif`): any tool's results, read by
//! `bosun_reports::sarif`, judged like pylint's and eslint's messages.
//!
//! Each finding keeps the tool its run names; results the producer marks as suppressed
//! (an accepted suppression, such as an `eslint-disable` comment) are not counted. A
//! file that is not a SARIF 2.1.0 log is a stage error naming the file, never a pass.

use crate::message::LintMessage;
use crate::settings::Settings;
use crate::{Assessment, sarif, verdict};
use bosun_reports::sarif::{SarifFinding, parse};
use bosun_sdk::fs::WORKSPACE;
use bosun_sdk::{Severity, StageError, StageReport};

/// The label of a SARIF-only run that names no tool at all.
pub const TOOL: &str = "sarif";

/// Judge the SARIF logs in `files` (their bytes and where they were read from) against
/// `settings`.
pub fn assess(files: &[(Vec<u8>, String)], settings: &Settings) -> Result<Assessment, StageError> {
    let mut messages = Vec::new();
    for (bytes, source) in files {
        let findings = parse(bytes, Some(WORKSPACE)).map_err(|e| {
            StageError::BadToolOutput(format!(
                "the SARIF report file {source} cannot be read: {e}"
            ))
        })?;
        messages.extend(
            findings
                .into_iter()
                .filter(|f| !f.suppressed)
                .map(to_message),
        );
    }
    let mut tools: Vec<&str> = Vec::new();
    for message in &messages {
        if let Some(tool) = message.tool.as_deref()
            && !tools.contains(&tool)
        {
            tools.push(tool);
        }
    }
    let label = if tools.is_empty() {
        TOOL.to_string()
    } else {
        tools.join(", ")
    };
    let verdict = verdict::judge(
        &label,
        &messages,
        settings.thresholds,
        settings.max_findings,
    );
    let sarif = sarif::to_sarif(&label, &messages)
        .map_err(|e| StageError::Other(format!("encoding the SARIF log of {label}: {e}")))?;
    let mut report = StageReport::new(verdict.outcome, verdict.summary);
    report.findings = verdict.findings;
    report.metrics = verdict.metrics;
    Ok(Assessment { report, sarif })
}

fn to_message(finding: SarifFinding) -> LintMessage {
    LintMessage {
        rule: finding.rule,
        rule_code: None,
        severity: severity(finding.severity),
        path: finding.path,
        line: finding.line,
        column: finding.column,
        message: finding.message,
        tool: Some(finding.tool),
    }
}

fn severity(severity: bosun_reports::Severity) -> Severity {
    match severity {
        bosun_reports::Severity::Info => Severity::Info,
        bosun_reports::Severity::Low => Severity::Low,
        bosun_reports::Severity::Medium => Severity::Medium,
        bosun_reports::Severity::High => Severity::High,
        bosun_reports::Severity::Critical => Severity::Critical,
    }
}

#[cfg(test)]
mod tests;
