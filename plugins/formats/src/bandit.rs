//! bandit's JSON report (`bandit -r <src> -f json`) into issues.
//!
//! Each result names a test (`B602`), a file and line, a severity and a confidence.
//! Files bandit could not parse are listed under `errors`; they went unscanned, so each
//! becomes an informational issue rather than silently passing.

use crate::issue::{Issue, Kind, workspace_relative};
use crate::parse_error::ParseError;
use bosun_sdk::{Finding, Severity};
use serde::Deserialize;
use std::io::BufRead;

/// The tool name findings carry.
pub const TOOL: &str = "bandit";
const FORMAT: &str = "bandit";
/// The rule id given to files bandit could not scan.
pub const SCAN_ERROR_RULE: &str = "bandit-scan-error";

#[derive(Deserialize)]
struct Report {
    results: Vec<BanditResult>,
    #[serde(default)]
    errors: Vec<BanditError>,
}

#[derive(Deserialize)]
struct BanditResult {
    filename: String,
    line_number: u32,
    #[serde(default)]
    col_offset: Option<u32>,
    issue_severity: String,
    #[serde(default)]
    issue_confidence: Option<String>,
    issue_text: String,
    test_id: String,
    #[serde(default)]
    test_name: Option<String>,
    #[serde(default)]
    more_info: Option<String>,
}

#[derive(Deserialize)]
struct BanditError {
    filename: String,
    reason: String,
}

/// Every result in a bandit JSON report, then one issue per file it could not scan.
pub fn parse(bytes: &[u8]) -> Result<Vec<Issue>, ParseError> {
    parse_reader(bytes)
}

/// [`parse`], streaming from a reader.
pub fn parse_reader<R: BufRead>(mut reader: R) -> Result<Vec<Issue>, ParseError> {
    if crate::trivy::first_byte(&mut reader)?.is_none() {
        return Err(ParseError::Empty);
    }
    let report: Report = serde_json::from_reader(reader).map_err(|source| ParseError::Json {
        format: FORMAT,
        source,
    })?;
    let mut issues = Vec::with_capacity(report.results.len() + report.errors.len());
    for r in report.results {
        let severity = match r.issue_severity.as_str() {
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "UNDEFINED" => Severity::Info,
            other => {
                return Err(ParseError::Severity {
                    format: FORMAT,
                    id: r.test_id,
                    value: other.to_string(),
                });
            }
        };
        let path = workspace_relative(&r.filename);
        let test_name = r.test_name.unwrap_or_else(|| r.test_id.clone());
        let confidence = r.issue_confidence.unwrap_or_else(|| "UNDEFINED".into());
        let message = format!(
            "{}: {} (confidence {confidence})",
            test_name,
            r.issue_text.trim()
        );
        let line = Some(r.line_number).filter(|l| *l > 0);
        // bandit counts columns from 0; findings count from 1.
        let column = r.col_offset.map(|c| c.saturating_add(1));
        let finding =
            Finding::new(TOOL, r.test_id, severity, message).at(path.clone(), line, column);
        issues.push(Issue {
            finding,
            kind: Kind::Code,
            title: test_name,
            file: Some(path),
            package: None,
            target: None,
            help_uri: r.more_info.filter(|u| !u.is_empty()),
        });
    }
    for e in report.errors {
        let path = workspace_relative(&e.filename);
        let message = format!("bandit could not scan {path}: {}", e.reason);
        let finding = Finding::new(TOOL, SCAN_ERROR_RULE, Severity::Info, message).at(
            path.clone(),
            None,
            None,
        );
        issues.push(Issue {
            finding,
            kind: Kind::ScanError,
            title: "file not scanned".into(),
            file: Some(path),
            package: None,
            target: None,
            help_uri: None,
        });
    }
    Ok(issues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../security/tests/fixtures/bandit/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn summary(issues: &[Issue]) -> Vec<String> {
        issues
            .iter()
            .map(|i| {
                format!(
                    "{} {} {}:{}",
                    i.id(),
                    i.severity().as_str(),
                    i.finding.path.as_deref().unwrap_or("-"),
                    i.finding.line.unwrap_or(0)
                )
            })
            .collect()
    }

    #[test]
    fn python_app_has_exactly_one_high_issue_the_shell_call() {
        let issues = parse(&fixture("bandit-python-app.json")).unwrap();
        let high: Vec<String> = summary(&issues)
            .into_iter()
            .filter(|s| s.contains(" HIGH ") || s.contains(" CRITICAL "))
            .collect();
        assert_eq!(high, ["B602 HIGH src/shop/receipts.py:11"]);
        let b602 = issues.iter().find(|i| i.id() == "B602").unwrap();
        assert_eq!(
            b602.finding.message,
            "subprocess_popen_with_shell_equals_true: subprocess call with shell=True \
             identified, security issue. (confidence HIGH)"
        );
        assert_eq!(b602.finding.tool, "bandit");
        assert_eq!(b602.file.as_deref(), Some("src/shop/receipts.py"));
        assert!(b602.help_uri.as_deref().unwrap().contains("b602"));
        assert!(
            issues
                .iter()
                .filter(|i| i.id() != "B602")
                .all(|i| i.severity() == Severity::Low),
            "everything else is LOW: {:?}",
            summary(&issues)
        );
        assert_eq!(issues[0].id(), "B404");
    }

    #[test]
    fn mixed_sample_has_each_severity_and_an_unscanned_file() {
        let issues = parse(&fixture("bandit-mixed.json")).unwrap();
        assert_eq!(
            summary(&issues),
            [
                "B403 LOW app/tasks.py:3",
                "B404 LOW app/tasks.py:4",
                "B602 HIGH app/tasks.py:12",
                "B506 MEDIUM app/tasks.py:17",
                "B301 MEDIUM app/tasks.py:22",
                "B303 MEDIUM app/tasks.py:27",
                "B306 MEDIUM app/tasks.py:32",
                "bandit-scan-error INFO app/broken.py:0",
            ]
        );
        let unscanned = issues.last().unwrap();
        assert_eq!(unscanned.kind, Kind::ScanError);
        assert_eq!(
            unscanned.finding.message,
            "bandit could not scan app/broken.py: syntax error while parsing AST from file"
        );
    }

    #[test]
    fn no_python_files_means_no_issues() {
        assert!(parse(&fixture("bandit-no-python.json")).unwrap().is_empty());
    }

    #[test]
    fn bad_reports_are_errors() {
        assert!(matches!(parse(b""), Err(ParseError::Empty)));
        let full = fixture("bandit-python-app.json");
        let err = parse(&full[..full.len() - 40]).unwrap_err().to_string();
        assert!(err.contains("not valid bandit JSON"), "{err}");
        // What a crashed bandit leaves on stderr is not a report.
        let err = parse(&fixture("bandit-crash.stderr"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid bandit JSON"), "{err}");
        // A Trivy report is JSON, but not bandit's.
        let err = parse(br#"{"SchemaVersion":2,"Results":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `results`"), "{err}");
    }
}
