//! Snyk's JSON report (`snyk test --json`) into issues.
//!
//! One project is an object with `vulnerabilities`; `--all-projects` writes a list of
//! them. Snyk lists a vulnerable package once per dependency path that reaches it; the
//! parser counts it once per project. License issues (`type: license`) are findings of
//! their own kind. A project Snyk could not test carries `error` instead: reading it
//! fails, as does any JSON without `vulnerabilities`, so nothing passes unread.

use crate::issue::{Issue, Kind, workspace_relative};
use crate::parse_error::ParseError;
use crate::trivy::non_empty;
use bosun_sdk::{Finding, Severity};
use serde::Deserialize;
use std::io::BufRead;

/// The tool name findings carry.
pub const TOOL: &str = "snyk";
const FORMAT: &str = "Snyk";

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    vulnerabilities: Option<Vec<Vulnerability>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(rename = "projectName", default)]
    project_name: Option<String>,
    /// The manifest or lock file tested, relative to `path`.
    #[serde(rename = "displayTargetFile", default)]
    target_file: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
struct Vulnerability {
    id: String,
    #[serde(default)]
    title: Option<String>,
    severity: String,
    #[serde(rename = "packageName")]
    package: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(rename = "fixedIn", default)]
    fixed_in: Option<Vec<String>>,
    /// `license` for license issues; absent for vulnerabilities.
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// Every distinct vulnerability and license issue of every project, in report order.
pub fn parse(bytes: &[u8]) -> Result<Vec<Issue>, ParseError> {
    parse_reader(bytes)
}

/// [`parse`], streaming from a reader.
pub fn parse_reader<R: BufRead>(mut reader: R) -> Result<Vec<Issue>, ParseError> {
    let json = |source| ParseError::Json {
        format: FORMAT,
        source,
    };
    let projects: Vec<Project> = match crate::trivy::first_byte(&mut reader)? {
        None => return Err(ParseError::Empty),
        Some(b'[') => serde_json::from_reader(reader).map_err(json)?,
        Some(_) => vec![serde_json::from_reader(reader).map_err(json)?],
    };
    let mut issues = Vec::new();
    for project in projects {
        project.collect(&mut issues)?;
    }
    Ok(issues)
}

impl Project {
    fn collect(self, issues: &mut Vec<Issue>) -> Result<(), ParseError> {
        let name = non_empty(self.project_name)
            .or_else(|| non_empty(self.path.clone()))
            .unwrap_or_else(|| "(unnamed project)".into());
        if let Some(message) = non_empty(self.error) {
            return Err(ParseError::ToolError {
                format: FORMAT,
                message: format!("{name}: {message}"),
            });
        }
        let Some(vulnerabilities) = self.vulnerabilities else {
            return Err(ParseError::Shape {
                format: FORMAT,
                expected: "vulnerabilities or error (is it `snyk test --json` output?)",
            });
        };
        let file = non_empty(self.target_file).map(|f| workspace_relative(&f));
        let target = file.clone().unwrap_or_else(|| name.clone());
        let mut seen: Vec<(String, String, Option<String>)> = Vec::new();
        for v in vulnerabilities {
            let key = (v.id.clone(), v.package.clone(), v.version.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            issues.push(v.issue(&target, &file)?);
        }
        Ok(())
    }
}

impl Vulnerability {
    fn issue(self, target: &str, file: &Option<String>) -> Result<Issue, ParseError> {
        let severity = severity(&self.id, &self.severity)?;
        let title = non_empty(self.title).unwrap_or_else(|| self.id.clone());
        let version = non_empty(self.version);
        let fixed: Vec<String> = self
            .fixed_in
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect();
        let fixed = (!fixed.is_empty()).then(|| fixed.join(", "));
        let kind = match self.kind.as_deref() {
            Some("license") => Kind::License,
            _ => Kind::Vulnerability,
        };
        let shown = version.as_deref().unwrap_or("(version unknown)");
        let message = match (kind, &fixed) {
            (Kind::License, _) => format!("{} {shown}: {title} [{target}]", self.package),
            (_, Some(f)) => format!("{} {shown}: {title}; fixed in {f} [{target}]", self.package),
            (_, None) => format!(
                "{} {shown}: {title}; no fixed version yet [{target}]",
                self.package
            ),
        };
        let mut finding = Finding::new(TOOL, self.id, severity, message);
        finding.path = Some(self.package.clone());
        finding.fixed_version = fixed;
        Ok(Issue {
            finding,
            kind,
            title,
            file: file.clone(),
            package: Some(match version {
                Some(v) => format!("{}@{v}", self.package),
                None => self.package,
            }),
            target: Some(target.to_string()),
            help_uri: None,
        })
    }
}

fn severity(id: &str, word: &str) -> Result<Severity, ParseError> {
    match word {
        "low" => Ok(Severity::Low),
        "medium" => Ok(Severity::Medium),
        "high" => Ok(Severity::High),
        "critical" => Ok(Severity::Critical),
        other => Err(ParseError::Severity {
            format: FORMAT,
            id: id.to_string(),
            value: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../security/tests/fixtures/snyk/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn ids(issues: &[Issue]) -> Vec<&str> {
        issues.iter().map(Issue::id).collect()
    }

    #[test]
    fn one_project_counts_each_vulnerability_once_whatever_its_paths() {
        let issues = parse(&fixture("npm-project.json")).unwrap();
        assert_eq!(
            ids(&issues),
            [
                "SNYK-JS-LODASH-1018905",
                "SNYK-JS-LODASH-1040724",
                "SNYK-JS-MINIMIST-2429795",
                "SNYK-JS-INFLIGHT-6095116",
                "snyk:lic:npm:gpl-thing:GPL-3.0"
            ]
        );
        let severities: Vec<Severity> = issues.iter().map(Issue::severity).collect();
        assert_eq!(
            severities,
            [
                Severity::Medium,
                Severity::High,
                Severity::Critical,
                Severity::Medium,
                Severity::High
            ]
        );
        let minimist = &issues[2];
        assert_eq!(minimist.finding.tool, "snyk");
        assert_eq!(minimist.kind, Kind::Vulnerability);
        assert_eq!(minimist.finding.path.as_deref(), Some("minimist"));
        assert_eq!(minimist.finding.fixed_version.as_deref(), Some("1.2.6"));
        assert_eq!(minimist.package.as_deref(), Some("minimist@1.2.5"));
        assert_eq!(minimist.file.as_deref(), Some("package-lock.json"));
        assert_eq!(
            minimist.finding.message,
            "minimist 1.2.5: Prototype Pollution; fixed in 1.2.6 [package-lock.json]"
        );
        assert!(
            issues[3]
                .finding
                .message
                .ends_with("no fixed version yet [package-lock.json]"),
            "{}",
            issues[3].finding.message
        );
        let license = &issues[4];
        assert_eq!(license.kind, Kind::License);
        assert_eq!(
            license.finding.message,
            "gpl-thing 2.0.1: GPL-3.0 license [package-lock.json]"
        );
    }

    #[test]
    fn all_projects_lists_are_read_project_by_project() {
        let issues = parse(&fixture("all-projects.json")).unwrap();
        assert_eq!(
            issues.len(),
            6,
            "5 from the npm project, 1 from pip, 0 clean"
        );
        let jinja = &issues[5];
        assert_eq!(jinja.id(), "SNYK-PYTHON-JINJA2-6150717");
        assert_eq!(
            jinja.file.as_deref(),
            Some("services/inventory/requirements.txt")
        );
        assert!(parse(b"[]").unwrap().is_empty());
    }

    #[test]
    fn errors_and_other_shapes_fail_loudly() {
        let err = parse(&fixture("error.json")).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "Snyk reported an error instead of results: /workspace: Could not detect \
                 supported target files in /workspace."
            ),
            "{err}"
        );
        // A list with one failed project fails, even when the others were tested.
        let mut list = b"[".to_vec();
        list.extend(fixture("npm-project.json"));
        list.push(b',');
        list.extend(fixture("error.json"));
        list.push(b']');
        assert!(matches!(parse(&list), Err(ParseError::ToolError { .. })));
        for other in [&b"{}"[..], br#"{"version":"2.1.0","runs":[]}"#] {
            let err = parse(other).unwrap_err().to_string();
            assert!(
                err.starts_with("the report is not a Snyk report: it has none of vulnerabilities"),
                "{err}"
            );
        }
        assert!(matches!(parse(b"null"), Err(ParseError::Json { .. })));
        assert!(matches!(parse(b""), Err(ParseError::Empty)));
        let err =
            parse(br#"{"vulnerabilities":[{"id":"X","severity":"severe","packageName":"p"}]}"#)
                .unwrap_err()
                .to_string();
        assert_eq!(err, "X has severity \"severe\", which Snyk does not use");
    }
}
