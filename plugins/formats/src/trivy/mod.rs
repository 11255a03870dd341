//! Trivy's JSON report (`trivy image|fs|config|k8s --format json`) into issues.
//!
//! Schema 2 (Trivy 0.20 and later) is an object with `Results` (left out when nothing
//! was found); schema 1 was a bare list of results, and `null` when an old Trivy found
//! nothing: both are read. `trivy k8s` reports carry `ClusterName` and put results
//! under resources ([`k8s`]). Each result may carry `Vulnerabilities`,
//! `Misconfigurations` (failed checks only), `Secrets` and `Licenses` ([`result`]).
//! Any other JSON is refused: a report Bosun cannot recognise must never pass as clean.

mod k8s;
mod result;

use crate::issue::Issue;
use crate::parse_error::ParseError;
use bosun_sdk::Severity;
use k8s::Resource;
use result::{Origin, TargetResult};
use serde::Deserialize;
use std::io::BufRead;

pub use k8s::SCAN_ERROR_RULE;

/// The tool name findings carry.
pub const TOOL: &str = "trivy";
const FORMAT: &str = "Trivy";

/// Every top-level field of the report shapes Bosun reads; which ones are present says
/// whether this is a Trivy report at all.
#[derive(Deserialize)]
struct Report {
    #[serde(rename = "SchemaVersion", default)]
    schema_version: Option<serde_json::Value>,
    #[serde(rename = "ArtifactName", default)]
    artifact_name: Option<String>,
    #[serde(rename = "ArtifactType", default)]
    artifact_type: Option<String>,
    #[serde(rename = "Results", default)]
    results: Option<Vec<TargetResult>>,
    /// `trivy k8s`: present (possibly empty) in every cluster report.
    #[serde(rename = "ClusterName", default)]
    cluster_name: Option<String>,
    #[serde(rename = "Resources", default)]
    resources: Option<Vec<Resource>>,
    #[serde(rename = "Findings", default)]
    findings: Option<Vec<Resource>>,
    #[serde(rename = "Vulnerabilities", default)]
    vulnerable_resources: Option<Vec<Resource>>,
    #[serde(rename = "Misconfigurations", default)]
    misconfigured_resources: Option<Vec<Resource>>,
}

impl Report {
    /// A Trivy report names its schema, its artifact, or its cluster; anything else
    /// (another tool's JSON, a typo'd file) is not one.
    fn is_trivy(&self) -> bool {
        self.schema_version.is_some()
            || self.artifact_name.is_some()
            || self.artifact_type.is_some()
            || self.results.is_some()
            || self.cluster_name.is_some()
    }
}

/// Every vulnerability, failed check, secret and license in a Trivy JSON report, in
/// report order.
pub fn parse(bytes: &[u8]) -> Result<Vec<Issue>, ParseError> {
    parse_reader(bytes)
}

/// [`parse`], streaming from a reader: memory holds the issues, never the report.
pub fn parse_reader<R: BufRead>(mut reader: R) -> Result<Vec<Issue>, ParseError> {
    let json = |source| ParseError::Json {
        format: FORMAT,
        source,
    };
    let mut issues = Vec::new();
    match first_byte(&mut reader)? {
        None => return Err(ParseError::Empty),
        Some(b'[') => {
            let results: Vec<TargetResult> = serde_json::from_reader(reader).map_err(json)?;
            for result in results {
                result.collect(&Origin::Workspace, &mut issues)?;
            }
        }
        Some(_) => {
            // `null`: what Trivy before schema 2 printed for a clean scan.
            let Some(report) =
                serde_json::from_reader::<_, Option<Report>>(reader).map_err(json)?
            else {
                return Ok(issues);
            };
            if !report.is_trivy() {
                return Err(ParseError::Shape {
                    format: FORMAT,
                    expected: "SchemaVersion, ArtifactName, Results or ClusterName",
                });
            }
            // Targets of an image scan are paths inside the image, not workspace files.
            let origin = if report.artifact_type.as_deref() == Some("container_image") {
                Origin::Image
            } else {
                Origin::Workspace
            };
            for result in report.results.unwrap_or_default() {
                result.collect(&origin, &mut issues)?;
            }
            for resources in [
                report.resources,
                report.findings,
                report.vulnerable_resources,
                report.misconfigured_resources,
            ] {
                for resource in resources.unwrap_or_default() {
                    resource.collect(&mut issues)?;
                }
            }
        }
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

/// The trimmed text, or `None` when there is none (the scanners' reports leave optional
/// fields empty rather than out).
pub(crate) fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::Kind;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../security/tests/fixtures/trivy/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
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

    #[test]
    fn k8s_cluster_report_reads_every_resources_results() {
        let issues = parse(&fixture("k8s-cluster-all.json")).unwrap();
        assert_eq!(
            ids(&issues),
            ["CVE-2019-18224", "KSV017", "KSV011", SCAN_ERROR_RULE]
        );
        // [info, low, medium, high, critical]: the privileged container is HIGH.
        assert_eq!(counts(&issues), [1, 1, 0, 1, 1]);
        let privileged = &issues[1];
        assert_eq!(privileged.kind, Kind::Misconfiguration);
        assert_eq!(
            privileged.finding.path.as_deref(),
            Some("shop/Deployment/inventory")
        );
        assert_eq!(
            privileged.target.as_deref(),
            Some("shop/Deployment/inventory: Deployment/inventory")
        );
        assert_eq!(
            privileged.file, None,
            "a cluster resource is no workspace file"
        );
        let vulnerability = &issues[0];
        assert!(
            vulnerability.finding.message.ends_with(
                "[shop/Deployment/inventory: registry.example.com/shop/inventory:1.4.2 (debian 10.1)]"
            ),
            "{}",
            vulnerability.finding.message
        );
        let unscanned = &issues[3];
        assert_eq!(unscanned.kind, Kind::ScanError);
        assert_eq!(
            unscanned.finding.message,
            "trivy could not scan kube-system/DaemonSet/kube-proxy: unable to pull image \
             registry.k8s.io/kube-proxy:v1.31.0: unauthorized"
        );
    }

    #[test]
    fn k8s_cluster_summary_lists_of_resources_are_read() {
        let issues = parse(&fixture("k8s-cluster-summary.json")).unwrap();
        assert_eq!(ids(&issues), ["CVE-2019-18224", "KSV017"]);
        assert_eq!(counts(&issues), [0, 0, 0, 1, 1]);
        assert!(issues.iter().all(|i| i.file.is_none()));
        // A cluster with nothing found is still a cluster report, and clean.
        assert!(
            parse(br#"{"ClusterName":"kind-staging"}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn licenses_are_findings_with_trivys_severity() {
        let issues = parse(&fixture("npm-licenses.json")).unwrap();
        assert_eq!(ids(&issues), ["GPL-3.0", "WTFPL"]);
        assert_eq!(counts(&issues), [0, 0, 0, 1, 1]);
        let gpl = &issues[0];
        assert_eq!(gpl.kind, Kind::License);
        assert_eq!(gpl.finding.path.as_deref(), Some("gpl-thing"));
        assert_eq!(gpl.package.as_deref(), Some("gpl-thing"));
        assert_eq!(gpl.file.as_deref(), Some("package-lock.json"));
        assert_eq!(
            gpl.finding.message,
            "gpl-thing is licensed GPL-3.0 (restricted license) [package-lock.json]"
        );
        assert_eq!(issues[1].severity(), Severity::Critical);
        let file_license = br#"{"SchemaVersion":2,"Results":[{"Target":"Loose File License(s)",
            "Class":"license-file","Licenses":[{"Severity":"HIGH","Category":"restricted",
            "PkgName":"","FilePath":"vendor/lib/COPYING","Name":"GPL-2.0","Confidence":0.98}]}]}"#;
        let issues = parse(file_license).unwrap();
        assert_eq!(
            issues[0].finding.path.as_deref(),
            Some("vendor/lib/COPYING")
        );
        assert!(
            issues[0]
                .finding
                .message
                .starts_with("vendor/lib/COPYING is licensed GPL-2.0 (restricted license)"),
            "{}",
            issues[0].finding.message
        );
    }

    #[test]
    fn a_null_report_is_clean_but_unknown_shapes_fail() {
        assert!(parse(b"null").unwrap().is_empty());
        assert!(parse(b"  null\n").unwrap().is_empty());
        assert!(parse(b"[]").unwrap().is_empty());
        let bandit = std::fs::read(format!(
            "{}/../security/tests/fixtures/bandit/bandit-mixed.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        for other in [&bandit[..], b"{}", br#"{"results":[],"errors":[]}"#] {
            let err = parse(other).unwrap_err().to_string();
            assert_eq!(
                err,
                "the report is not a Trivy report: it has none of SchemaVersion, ArtifactName, \
                 Results or ClusterName"
            );
        }
        let err = parse(br#"[{"Vulnerabilities":[]}]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `Target`"), "{err}");
        let err = parse(br#""done""#).unwrap_err().to_string();
        assert!(err.contains("invalid type: string"), "{err}");
    }

    #[test]
    fn infra_app_scan_finds_the_token_and_the_dockerfile_checks() {
        let issues = parse(&fixture("infra-app-fs.json")).unwrap();
        let token: Vec<&Issue> = issues.iter().filter(|i| i.kind == Kind::Secret).collect();
        assert_eq!(token.len(), 1);
        assert_eq!(token[0].id(), "github-pat");
        assert_eq!(token[0].severity(), Severity::Critical);
        assert_eq!(token[0].file.as_deref(), Some("config/deploy.env"));
        assert_eq!(token[0].finding.line, Some(6));
        let dockerfile: Vec<(&str, Severity)> = issues
            .iter()
            .filter(|i| i.file.as_deref() == Some("Dockerfile"))
            .map(|i| (i.id(), i.severity()))
            .collect();
        assert_eq!(
            dockerfile,
            [
                ("DS002", Severity::High),
                ("DS026", Severity::Low),
                ("DS029", Severity::High)
            ]
        );
        let chart = issues
            .iter()
            .find(|i| i.id() == "KSV009")
            .map(|i| i.file.as_deref());
        assert_eq!(
            chart,
            Some(Some("chart/inventory/templates/deployment.yaml"))
        );
        assert!(issues.iter().any(|i| i.id() == "KSV017"));
    }
}
