//! Trivy's JSON report (`trivy image|fs|config --format json`) into issues.
//!
//! Schema 2 (Trivy 0.20 and later) is an object with `Results`; schema 1 was a bare list
//! of results, and is read too. Each result (one per target: an OS, a lock file, a
//! Dockerfile) may carry `Vulnerabilities`, `Misconfigurations` (failed checks only)
//! and `Secrets`. Only the fields Bosun reports are kept; the rest is skipped unread.

use crate::issue::{Issue, Kind};
use crate::parse_error::ParseError;
use bosun_sdk::{Finding, Severity};
use serde::Deserialize;
use std::io::BufRead;

/// The tool name findings carry.
pub const TOOL: &str = "trivy";
const FORMAT: &str = "Trivy";

#[derive(Deserialize)]
struct Report {
    #[serde(rename = "ArtifactType", default)]
    artifact_type: Option<String>,
    #[serde(rename = "Results", default)]
    results: Option<Vec<TargetResult>>,
}

#[derive(Deserialize)]
struct TargetResult {
    #[serde(rename = "Target", default)]
    target: String,
    #[serde(rename = "Class", default)]
    class: Option<String>,
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Option<Vec<Vulnerability>>,
    #[serde(rename = "Misconfigurations", default)]
    misconfigurations: Option<Vec<Misconfiguration>>,
    #[serde(rename = "Secrets", default)]
    secrets: Option<Vec<Secret>>,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(rename = "VulnerabilityID")]
    id: String,
    #[serde(rename = "PkgName")]
    package: String,
    #[serde(rename = "InstalledVersion", default)]
    installed: Option<String>,
    #[serde(rename = "FixedVersion", default)]
    fixed: Option<String>,
    #[serde(rename = "Severity")]
    severity: String,
    #[serde(rename = "Title", default)]
    title: Option<String>,
    #[serde(rename = "PrimaryURL", default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Misconfiguration {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Title", default)]
    title: Option<String>,
    #[serde(rename = "Message", default)]
    message: Option<String>,
    #[serde(rename = "Severity")]
    severity: String,
    #[serde(rename = "Status", default)]
    status: Option<String>,
    #[serde(rename = "PrimaryURL", default)]
    url: Option<String>,
    #[serde(rename = "CauseMetadata", default)]
    cause: Option<Cause>,
}

#[derive(Deserialize)]
struct Cause {
    #[serde(rename = "StartLine", default)]
    start_line: Option<u32>,
}

/// A committed secret. Trivy's `Match`/`Code` fields (the secret in context) are never
/// read, so the value cannot reach a report or a log.
#[derive(Deserialize)]
struct Secret {
    #[serde(rename = "RuleID")]
    id: String,
    #[serde(rename = "Title", default)]
    title: Option<String>,
    #[serde(rename = "Severity")]
    severity: String,
    #[serde(rename = "StartLine", default)]
    start_line: Option<u32>,
}

/// Every vulnerability, failed check and secret in a Trivy JSON report, in report order.
pub fn parse(bytes: &[u8]) -> Result<Vec<Issue>, ParseError> {
    parse_reader(bytes)
}

/// [`parse`], streaming from a reader: memory holds the issues, never the report.
pub fn parse_reader<R: BufRead>(mut reader: R) -> Result<Vec<Issue>, ParseError> {
    let json = |source| ParseError::Json {
        format: FORMAT,
        source,
    };
    let (artifact_type, results) = match first_byte(&mut reader)? {
        None => return Err(ParseError::Empty),
        Some(b'[') => (
            None,
            serde_json::from_reader::<_, Vec<TargetResult>>(reader).map_err(json)?,
        ),
        Some(_) => {
            let report: Report = serde_json::from_reader(reader).map_err(json)?;
            (report.artifact_type, report.results.unwrap_or_default())
        }
    };
    // Targets of an image scan are paths inside the image, not workspace files.
    let workspace_targets = artifact_type.as_deref() != Some("container_image");
    let mut issues = Vec::new();
    for result in results {
        result.collect(workspace_targets, &mut issues)?;
    }
    Ok(issues)
}

/// Skip leading whitespace and peek at the first byte without consuming it.
pub(crate) fn first_byte<R: BufRead>(reader: &mut R) -> Result<Option<u8>, ParseError> {
    loop {
        let buffer = reader.fill_buf().map_err(ParseError::Read)?;
        if buffer.is_empty() {
            return Ok(None);
        }
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => {
                let byte = buffer.get(at).copied();
                reader.consume(at);
                return Ok(byte);
            }
            None => {
                let all = buffer.len();
                reader.consume(all);
            }
        }
    }
}

fn severity(id: &str, word: &str) -> Result<Severity, ParseError> {
    match word {
        "UNKNOWN" => Ok(Severity::Info),
        "LOW" => Ok(Severity::Low),
        "MEDIUM" => Ok(Severity::Medium),
        "HIGH" => Ok(Severity::High),
        "CRITICAL" => Ok(Severity::Critical),
        other => Err(ParseError::Severity {
            format: FORMAT,
            id: id.to_string(),
            value: other.to_string(),
        }),
    }
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

impl TargetResult {
    fn collect(self, workspace_targets: bool, issues: &mut Vec<Issue>) -> Result<(), ParseError> {
        let target = self.target;
        // A lock file or a Dockerfile found by a repository scan is a workspace file;
        // an OS package database is not.
        let file = (workspace_targets && self.class.as_deref() != Some("os-pkgs"))
            .then(|| crate::issue::workspace_relative(&target))
            .filter(|f| !f.is_empty());
        for v in self.vulnerabilities.unwrap_or_default() {
            let severity = severity(&v.id, &v.severity)?;
            let title = non_empty(v.title).unwrap_or_else(|| v.id.clone());
            let installed = non_empty(v.installed);
            let fixed = non_empty(v.fixed);
            let version = installed.as_deref().unwrap_or("(version unknown)");
            let fix = match &fixed {
                Some(f) => format!("fixed in {f}"),
                None => "no fixed version yet".to_string(),
            };
            let message = format!("{} {version}: {title}; {fix} [{target}]", v.package);
            let mut finding = Finding::new(TOOL, v.id.clone(), severity, message);
            finding.path = Some(v.package.clone());
            finding.fixed_version = fixed;
            issues.push(Issue {
                finding,
                kind: Kind::Vulnerability,
                title,
                file: file.clone(),
                package: Some(match &installed {
                    Some(version) => format!("{}@{version}", v.package),
                    None => v.package.clone(),
                }),
                target: Some(target.clone()),
                help_uri: non_empty(v.url),
            });
        }
        for m in self.misconfigurations.unwrap_or_default() {
            if m.status.as_deref().is_some_and(|s| s != "FAIL") {
                continue;
            }
            let severity = severity(&m.id, &m.severity)?;
            let title = non_empty(m.title).unwrap_or_else(|| m.id.clone());
            let message = match non_empty(m.message) {
                Some(detail) => format!("{title}: {detail}"),
                None => title.clone(),
            };
            let line = m.cause.and_then(|c| c.start_line).filter(|l| *l > 0);
            let mut finding = Finding::new(TOOL, m.id, severity, message);
            finding.path = Some(crate::issue::workspace_relative(&target));
            finding.line = line;
            issues.push(Issue {
                finding,
                kind: Kind::Misconfiguration,
                title,
                file: file.clone(),
                package: None,
                target: Some(target.clone()),
                help_uri: non_empty(m.url),
            });
        }
        for s in self.secrets.unwrap_or_default() {
            let severity = severity(&s.id, &s.severity)?;
            let title = non_empty(s.title).unwrap_or_else(|| s.id.clone());
            let message = format!("secret in {target}: {title}");
            let mut finding = Finding::new(TOOL, s.id, severity, message);
            finding.path = Some(crate::issue::workspace_relative(&target));
            finding.line = s.start_line.filter(|l| *l > 0);
            issues.push(Issue {
                finding,
                kind: Kind::Secret,
                title,
                file: file.clone(),
                package: None,
                target: Some(target.clone()),
                help_uri: None,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/trivy/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn counts(issues: &[Issue]) -> [usize; 5] {
        let mut counts = [0; 5];
        for issue in issues {
            counts[usize::from(issue.severity().rank())] += 1;
        }
        counts
    }

    fn ids(issues: &[Issue]) -> Vec<&str> {
        issues.iter().map(Issue::id).collect()
    }

    #[test]
    fn alpine_310_has_four_medium_openssl_vulnerabilities() {
        let issues = parse(&fixture("alpine-310.json")).unwrap();
        // [info, low, medium, high, critical]
        assert_eq!(counts(&issues), [0, 0, 4, 0, 0]);
        assert_eq!(
            ids(&issues),
            [
                "CVE-2019-1549",
                "CVE-2019-1551",
                "CVE-2019-1549",
                "CVE-2019-1551"
            ]
        );
        let first = &issues[0];
        assert_eq!(first.finding.tool, "trivy");
        assert_eq!(first.finding.path.as_deref(), Some("libcrypto1.1"));
        assert_eq!(first.finding.fixed_version.as_deref(), Some("1.1.1d-r0"));
        assert_eq!(
            first.finding.message,
            "libcrypto1.1 1.1.1c-r0: openssl: information disclosure in fork(); fixed in \
             1.1.1d-r0 [testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2)]"
        );
        assert_eq!(first.package.as_deref(), Some("libcrypto1.1@1.1.1c-r0"));
        assert_eq!(first.file, None, "OS packages are not workspace files");
        assert_eq!(
            first.help_uri.as_deref(),
            Some("https://avd.aquasec.com/nvd/cve-2019-1549")
        );
        assert_eq!(issues[3].finding.path.as_deref(), Some("libssl1.1"));
    }

    #[test]
    fn alpine_39_has_two_critical_musl_vulnerabilities_without_titles() {
        let issues = parse(&fixture("alpine-39-high-critical.json")).unwrap();
        assert_eq!(counts(&issues), [0, 0, 0, 0, 2]);
        assert_eq!(ids(&issues), ["CVE-2019-14697", "CVE-2019-14697"]);
        let packages: Vec<_> = issues.iter().map(|i| i.finding.path.clone()).collect();
        assert_eq!(
            packages,
            [Some("musl".to_string()), Some("musl-utils".to_string())]
        );
        assert_eq!(
            issues[0].title, "CVE-2019-14697",
            "no Title: the id stands in"
        );
        assert!(issues[0].finding.message.contains("fixed in 1.1.20-r5"));
    }

    #[test]
    fn debian_buster_has_one_low_and_one_critical() {
        let issues = parse(&fixture("debian-buster.json")).unwrap();
        assert_eq!(counts(&issues), [0, 1, 0, 0, 1]);
        assert_eq!(ids(&issues), ["CVE-2019-18276", "CVE-2019-18224"]);
        let bash = &issues[0];
        assert_eq!(bash.finding.severity, Severity::Low);
        assert_eq!(bash.finding.fixed_version, None);
        assert!(
            bash.finding
                .message
                .starts_with("bash 5.0-4: bash: when effective UID"),
            "{}",
            bash.finding.message
        );
        assert!(bash.finding.message.contains("no fixed version yet"));
        assert_eq!(
            issues[1].finding.fixed_version.as_deref(),
            Some("2.0.5-1+deb10u1")
        );
    }

    #[test]
    fn lock_file_vulnerabilities_point_at_the_lock_file_only_in_repository_scans() {
        let issues = parse(&fixture("busybox-with-lockfile.json")).unwrap();
        assert_eq!(counts(&issues), [0, 0, 1, 1, 0]);
        assert_eq!(ids(&issues), ["CVE-2019-15542", "CVE-2021-38193"]);
        assert_eq!(issues[0].severity(), Severity::High);
        assert_eq!(issues[0].finding.path.as_deref(), Some("ammonia"));
        assert_eq!(issues[0].finding.fixed_version.as_deref(), Some(">= 2.1.0"));
        assert_eq!(
            issues[1].finding.fixed_version.as_deref(),
            Some(">= 3.1.0, >= 2.1.3, < 3.0.0")
        );
        // An image scan: Cargo.lock is a file inside the image.
        assert_eq!(issues[0].file, None);
        assert_eq!(issues[0].target.as_deref(), Some("Cargo.lock"));
    }

    #[test]
    fn a_clean_lock_file_has_no_issues() {
        assert!(parse(&fixture("cargo.lock.json")).unwrap().is_empty());
    }

    #[test]
    fn dockerfile_misconfiguration_is_one_high_finding_on_the_dockerfile() {
        let issues = parse(&fixture("dockerfile.json")).unwrap();
        assert_eq!(counts(&issues), [0, 0, 0, 1, 0]);
        let issue = &issues[0];
        assert_eq!(issue.id(), "DS-0002");
        assert_eq!(issue.kind, Kind::Misconfiguration);
        assert_eq!(issue.finding.path.as_deref(), Some("Dockerfile"));
        assert_eq!(issue.file.as_deref(), Some("Dockerfile"));
        assert_eq!(
            issue.finding.message,
            "Image user should not be 'root': Specify at least 1 USER command in Dockerfile \
             with non-root user as argument"
        );
    }

    #[test]
    fn schema_1_lists_and_secrets_are_read_without_the_secret_value() {
        let v1 =
            br#"[{"Target":"app/.env","Class":"secret","Secrets":[{"RuleID":"aws-access-key-id",
            "Category":"AWS","Severity":"CRITICAL","Title":"AWS Access Key ID","StartLine":3,
            "Match":"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"}]}]"#;
        let issues = parse(v1).unwrap();
        assert_eq!(issues.len(), 1);
        let secret = &issues[0];
        assert_eq!(secret.kind, Kind::Secret);
        assert_eq!(secret.finding.path.as_deref(), Some("app/.env"));
        assert_eq!(secret.finding.line, Some(3));
        assert!(!secret.finding.message.contains("AKIA"), "never the match");
        assert!(
            parse(br#"{"SchemaVersion":2,"ArtifactName":"x","Results":null}"#)
                .unwrap()
                .is_empty()
        );
        assert!(parse(br#"{"SchemaVersion":2}"#).unwrap().is_empty());
    }

    #[test]
    fn bad_reports_are_errors() {
        assert!(matches!(parse(b"  \n"), Err(ParseError::Empty)));
        let full = fixture("debian-buster.json");
        let cut = &full[..full.len() / 2];
        let err = parse(cut).unwrap_err().to_string();
        assert!(err.contains("not valid Trivy JSON"), "{err}");
        assert!(err.contains("EOF"), "{err}");
        let err = parse(b"Error: unable to initialize the scanner")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1 column 1"), "{err}");
        let err = parse(br#"{"Results":[{"Target":"x","Vulnerabilities":[{"VulnerabilityID":"CVE-1","PkgName":"p","Severity":"SEVERE"}]}]}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "CVE-1 has severity \"SEVERE\", which Trivy does not use"
        );
        let err = parse(br#"{"Results":{"Target":"x"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type: map"), "{err}");
    }
}
