//! SARIF 2.1.0 reports from any producer (`sarif_report`), read by `bosun-reports` and
//! judged like the stage's own scanners' findings.

use crate::issue::{Issue, Kind};
use bosun_reports::sarif::{self, SarifError, SarifFinding};
use bosun_sdk::{Finding, Severity};

/// Where tools saw the workspace: absolute paths under it become workspace-relative.
const WORKSPACE_ROOT: &str = "/workspace";

/// What a SARIF report held: the issues that count, and how many results the producer
/// itself marked suppressed (not counted: the stage's `ignore` list, with its expiry
/// and reason, is where findings are accepted).
#[derive(Debug)]
pub struct SarifIssues {
    /// Every unsuppressed result, in report order.
    pub issues: Vec<Issue>,
    /// Results the producer suppressed.
    pub suppressed: usize,
}

/// Read a SARIF log's results as issues.
pub fn parse(bytes: &[u8]) -> Result<SarifIssues, SarifError> {
    let findings = sarif::parse(bytes, Some(WORKSPACE_ROOT))?;
    let mut issues = Vec::with_capacity(findings.len());
    let mut suppressed = 0;
    for finding in findings {
        if finding.suppressed {
            suppressed += 1;
        } else {
            issues.push(issue(finding));
        }
    }
    Ok(SarifIssues { issues, suppressed })
}

fn issue(f: SarifFinding) -> Issue {
    let severity = match f.severity {
        bosun_reports::Severity::Info => Severity::Info,
        bosun_reports::Severity::Low => Severity::Low,
        bosun_reports::Severity::Medium => Severity::Medium,
        bosun_reports::Severity::High => Severity::High,
        bosun_reports::Severity::Critical => Severity::Critical,
    };
    // A fixed version is what vulnerability scanners (Trivy, Snyk) add; other
    // producers report weaknesses in code or configuration.
    let kind = if f.fixed_version.is_some() {
        Kind::Vulnerability
    } else {
        Kind::Code
    };
    let mut finding = Finding::new(&f.tool, f.rule.clone(), severity, f.message);
    finding.path = f.path.clone();
    finding.line = f.line;
    finding.column = f.column;
    finding.fixed_version = f.fixed_version;
    Issue {
        finding,
        kind,
        title: f.rule,
        file: f.path,
        package: None,
        target: None,
        help_uri: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivys_sarif_of_the_infra_sample_reads_like_its_json() {
        let path = format!(
            "{}/tests/fixtures/sarif/trivy-infra-app.sarif",
            env!("CARGO_MANIFEST_DIR")
        );
        let read = parse(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read.suppressed, 0);
        assert_eq!(read.issues.len(), 26);
        assert!(read.issues.iter().all(|i| i.finding.tool == "Trivy"));
        let token = read.issues.iter().find(|i| i.id() == "github-pat").unwrap();
        assert_eq!(token.severity(), Severity::Critical);
        assert_eq!(token.file.as_deref(), Some("config/deploy.env"));
        assert_eq!(token.finding.line, Some(6));
        let root = read.issues.iter().find(|i| i.id() == "DS002").unwrap();
        assert_eq!(root.severity(), Severity::High);
        assert_eq!(root.kind, Kind::Code);
        assert_eq!(root.file.as_deref(), Some("Dockerfile"));
    }

    #[test]
    fn results_the_producer_suppressed_are_counted_apart() {
        let log = br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"semgrep"}},
            "results":[
              {"ruleId":"subprocess-shell-true","level":"error","message":{"text":"shell=True"},
               "locations":[{"physicalLocation":{"artifactLocation":{"uri":"/workspace/src/app.py"},
               "region":{"startLine":11}}}]},
              {"ruleId":"insecure-hash","level":"warning","message":{"text":"md5"},
               "suppressions":[{"kind":"inSource"}]}]}]}"#;
        let read = parse(log).unwrap();
        assert_eq!(read.suppressed, 1);
        assert_eq!(read.issues.len(), 1);
        let shell = &read.issues[0];
        assert_eq!(shell.finding.tool, "semgrep");
        assert_eq!(shell.severity(), Severity::High);
        assert_eq!(shell.file.as_deref(), Some("src/app.py"));
    }

    #[test]
    fn what_is_not_sarif_is_an_error() {
        let err = parse(br#"{"SchemaVersion":2,"Results":[]}"#).unwrap_err();
        assert!(matches!(err, SarifError::NotSarif { .. }), "{err}");
        assert!(matches!(parse(b" "), Err(SarifError::Empty)));
    }
}
