//! Findings from the reports a step declares: SARIF from any producer, and the formats
//! the built-in lint and security stages read.

use bosun_sdk::prelude::*;

/// One SARIF result as a finding.
pub fn from_sarif(found: bosun_reports::SarifFinding) -> Finding {
    use bosun_reports::Severity as S;
    let severity = match found.severity {
        S::Info => Severity::Info,
        S::Low => Severity::Low,
        S::Medium => Severity::Medium,
        S::High => Severity::High,
        S::Critical => Severity::Critical,
    };
    Finding {
        rule: found.rule,
        severity,
        message: found.message,
        path: found.path,
        line: found.line,
        column: found.column,
        tool: found.tool,
        fixed_version: found.fixed_version,
    }
}

/// Findings from a pylint, eslint, bandit or Trivy JSON report.
pub fn from_tool_report(kind: &str, _bytes: &[u8]) -> Result<Vec<Finding>, String> {
    Err(format!(
        "{kind} reports are not read by command steps yet; write SARIF instead"
    ))
}
