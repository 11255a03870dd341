//! One Trivy result (one target: an OS, a lock file, a Dockerfile, a Kubernetes
//! resource's image) into issues: vulnerabilities, failed checks, secrets and licenses.

use super::{TOOL, non_empty, severity};
use crate::issue::{Issue, Kind, workspace_relative};
use crate::parse_error::ParseError;
use bosun_sdk::Finding;
use serde::Deserialize;

/// A result as Trivy writes it; only the fields Bosun reports are kept.
#[derive(Deserialize)]
pub(super) struct TargetResult {
    /// Every result names its target; a list entry without one is not a Trivy result.
    #[serde(rename = "Target")]
    target: String,
    #[serde(rename = "Class", default)]
    class: Option<String>,
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Option<Vec<Vulnerability>>,
    #[serde(rename = "Misconfigurations", default)]
    misconfigurations: Option<Vec<Misconfiguration>>,
    #[serde(rename = "Secrets", default)]
    secrets: Option<Vec<Secret>>,
    #[serde(rename = "Licenses", default)]
    licenses: Option<Vec<License>>,
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

/// A license Trivy classified (`--scanners license`): a package's declared license, or
/// one found in a file's text. Its severity is Trivy's, from the license's category.
#[derive(Deserialize)]
struct License {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Severity")]
    severity: String,
    #[serde(rename = "Category", default)]
    category: Option<String>,
    #[serde(rename = "PkgName", default)]
    package: Option<String>,
    #[serde(rename = "FilePath", default)]
    file_path: Option<String>,
    #[serde(rename = "Link", default)]
    url: Option<String>,
}

/// What a result's target is, which decides whether findings point at a workspace file.
pub(super) enum Origin {
    /// A repository scan (`fs`, `config`): lock files and Dockerfiles are workspace
    /// files; an OS package database is not.
    Workspace,
    /// An image scan: targets are paths inside the image.
    Image,
    /// A cluster scan: the result belongs to this resource (`shop/Deployment/web`).
    Cluster(String),
}

impl TargetResult {
    /// Append this result's issues, in report order.
    pub(super) fn collect(
        self,
        origin: &Origin,
        issues: &mut Vec<Issue>,
    ) -> Result<(), ParseError> {
        let (target, file, path) = match origin {
            Origin::Cluster(resource) => {
                let label = if self.target.is_empty() || self.target == *resource {
                    resource.clone()
                } else {
                    format!("{resource}: {}", self.target)
                };
                (label, None, resource.clone())
            }
            Origin::Workspace | Origin::Image => {
                let relative = workspace_relative(&self.target);
                let file = (matches!(origin, Origin::Workspace)
                    && self.class.as_deref() != Some("os-pkgs"))
                .then(|| relative.clone())
                .filter(|f| !f.is_empty());
                (self.target, file, relative)
            }
        };
        let context = Context {
            target: &target,
            file: &file,
            path: &path,
        };
        for v in self.vulnerabilities.unwrap_or_default() {
            issues.push(v.issue(&context)?);
        }
        for m in self.misconfigurations.unwrap_or_default() {
            // Passed checks appear with `--include-non-failures`; only failures count.
            if m.status.as_deref().is_none_or(|s| s == "FAIL") {
                issues.push(m.issue(&context)?);
            }
        }
        for s in self.secrets.unwrap_or_default() {
            issues.push(s.issue(&context)?);
        }
        for l in self.licenses.unwrap_or_default() {
            issues.push(l.issue(&context)?);
        }
        Ok(())
    }
}

/// Where a result's findings point.
struct Context<'a> {
    /// The result's target as messages name it.
    target: &'a str,
    /// The workspace file, if the target is one.
    file: &'a Option<String>,
    /// The finding's path for checks and secrets.
    path: &'a str,
}

impl Context<'_> {
    fn issue(&self, finding: Finding, kind: Kind, title: String) -> Issue {
        Issue {
            finding,
            kind,
            title,
            file: self.file.clone(),
            package: None,
            target: Some(self.target.to_string()),
            help_uri: None,
        }
    }
}

impl Vulnerability {
    fn issue(self, at: &Context) -> Result<Issue, ParseError> {
        let severity = severity(&self.id, &self.severity)?;
        let title = non_empty(self.title).unwrap_or_else(|| self.id.clone());
        let installed = non_empty(self.installed);
        let fixed = non_empty(self.fixed);
        let version = installed.as_deref().unwrap_or("(version unknown)");
        let fix = match &fixed {
            Some(f) => format!("fixed in {f}"),
            None => "no fixed version yet".to_string(),
        };
        let message = format!("{} {version}: {title}; {fix} [{}]", self.package, at.target);
        let mut finding = Finding::new(TOOL, self.id, severity, message);
        finding.path = Some(self.package.clone());
        finding.fixed_version = fixed;
        let mut issue = at.issue(finding, Kind::Vulnerability, title);
        issue.package = Some(match &installed {
            Some(version) => format!("{}@{version}", self.package),
            None => self.package,
        });
        issue.help_uri = non_empty(self.url);
        Ok(issue)
    }
}

impl Misconfiguration {
    fn issue(self, at: &Context) -> Result<Issue, ParseError> {
        let severity = severity(&self.id, &self.severity)?;
        let title = non_empty(self.title).unwrap_or_else(|| self.id.clone());
        let message = match non_empty(self.message) {
            Some(detail) => format!("{title}: {detail}"),
            None => title.clone(),
        };
        let mut finding = Finding::new(TOOL, self.id, severity, message);
        finding.path = Some(at.path.to_string());
        finding.line = self.cause.and_then(|c| c.start_line).filter(|l| *l > 0);
        let mut issue = at.issue(finding, Kind::Misconfiguration, title);
        issue.help_uri = non_empty(self.url);
        Ok(issue)
    }
}

impl Secret {
    fn issue(self, at: &Context) -> Result<Issue, ParseError> {
        let severity = severity(&self.id, &self.severity)?;
        let title = non_empty(self.title).unwrap_or_else(|| self.id.clone());
        let message = format!("secret in {}: {title}", at.target);
        let mut finding = Finding::new(TOOL, self.id, severity, message);
        finding.path = Some(at.path.to_string());
        finding.line = self.start_line.filter(|l| *l > 0);
        Ok(at.issue(finding, Kind::Secret, title))
    }
}

impl License {
    /// The rule id is the license's name, so `ignore: GPL-3.0 until …` accepts it.
    fn issue(self, at: &Context) -> Result<Issue, ParseError> {
        let severity = severity(&self.name, &self.severity)?;
        let category = non_empty(self.category).unwrap_or_else(|| "unclassified".into());
        let package = non_empty(self.package);
        let file_path = non_empty(self.file_path);
        let subject = match (&package, &file_path) {
            (Some(package), _) => package.clone(),
            (None, Some(file)) => file.clone(),
            (None, None) => at.target.to_string(),
        };
        let message = format!(
            "{subject} is licensed {} ({category} license) [{}]",
            self.name, at.target
        );
        let mut finding = Finding::new(TOOL, self.name.clone(), severity, message);
        // A package's license points at the package; a file's at the file.
        finding.path = Some(match (&package, &file_path) {
            (Some(package), _) => package.clone(),
            (None, Some(file)) => workspace_relative(file),
            (None, None) => at.path.to_string(),
        });
        let title = format!("{} license ({category})", self.name);
        let mut issue = at.issue(finding, Kind::License, title);
        issue.package = package;
        issue.help_uri = non_empty(self.url);
        Ok(issue)
    }
}
