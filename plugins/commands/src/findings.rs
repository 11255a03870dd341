//! Findings from the reports a step declares: SARIF from any producer, and the formats
//! the built-in lint and security stages read.

use bosun_formats::issue::Issue;
use bosun_formats::json_error::ReportError;
use bosun_formats::message::LintMessage;
use bosun_formats::parse_error::ParseError;
use bosun_formats::{bandit, eslint, pylint, trivy};
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

/// Findings from a pylint, eslint, bandit or Trivy JSON report, read by the same parsers
/// as the `lint` and `security` stages (`bosun-formats`): pylint `json` or `json2`,
/// eslint `json` or `json-with-metadata`, bandit `json`, and every Trivy shape the
/// security stage reads (schema 1 and 2, `fs`, `config`, `image`, `k8s`). Paths are
/// relative to the checkout, which is `/workspace` in the step's container.
///
/// The error says what is wrong with the report; the caller names its kind and file.
pub fn from_tool_report(kind: &str, bytes: &[u8]) -> Result<Vec<Finding>, String> {
    match kind {
        "pylint" => lint_findings(pylint::TOOL, pylint::parse(bytes)),
        "eslint" => lint_findings(eslint::TOOL, eslint::parse(bytes)),
        "bandit" => scanner_findings(bandit::parse(bytes)),
        "trivy" => scanner_findings(trivy::parse(bytes)),
        other => Err(format!("`{other}` is not a report kind command steps read")),
    }
}

/// Lint messages as findings credited to `tool`.
fn lint_findings(
    tool: &str,
    parsed: Result<Vec<LintMessage>, ReportError>,
) -> Result<Vec<Finding>, String> {
    let messages = parsed.map_err(|e| format!("the report {}", e.in_file()))?;
    Ok(messages.iter().map(|m| m.to_finding(tool)).collect())
}

/// A scanner's issues as findings; files it could not scan stay in as `INFO` findings,
/// so a report that skipped files does not read as clean.
fn scanner_findings(parsed: Result<Vec<Issue>, ParseError>) -> Result<Vec<Finding>, String> {
    let issues = parsed.map_err(|e| e.to_string())?;
    Ok(issues.into_iter().map(|issue| issue.finding).collect())
}

#[cfg(test)]
mod tests;
