//! One problem a scanner reported, with what the report and SARIF need beyond a finding.

use bosun_sdk::{Finding, Severity};

/// What sort of problem a scanner found; the summary and SARIF word things by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A vulnerable package version (Trivy).
    Vulnerability,
    /// A misconfiguration in a Dockerfile, manifest or IaC file (Trivy).
    Misconfiguration,
    /// A secret committed to a file (Trivy).
    Secret,
    /// A package or file under a license its policy flags (Trivy, Snyk).
    License,
    /// A weakness in source code (bandit).
    Code,
    /// A file the scanner could not read, so it went unscanned.
    ScanError,
}

/// A scanner's finding and its context.
#[derive(Debug, Clone)]
pub struct Issue {
    /// The finding as the report carries it.
    pub finding: Finding,
    /// What sort of problem it is.
    pub kind: Kind,
    /// A one-line title for the rule (SARIF `shortDescription`).
    pub title: String,
    /// A workspace file the finding points at, for SARIF's physical location.
    pub file: Option<String>,
    /// `name@version` of a vulnerable package, for SARIF's logical location.
    pub package: Option<String>,
    /// Where the scanner's result came from (`Cargo.lock`, `alpine 3.10.2` image).
    pub target: Option<String>,
    /// A page describing the rule.
    pub help_uri: Option<String>,
}

impl Issue {
    /// The finding's severity.
    pub fn severity(&self) -> Severity {
        self.finding.severity
    }

    /// The finding's rule id.
    pub fn id(&self) -> &str {
        &self.finding.rule
    }
}

/// A path as the scanner printed it, made relative to the workspace root
/// (`./src/app.py` and `/workspace/src/app.py` become `src/app.py`).
pub fn workspace_relative(path: &str) -> String {
    let mut rest = path;
    if let Some(stripped) = rest.strip_prefix("/workspace/") {
        rest = stripped;
    }
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped;
    }
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_paths_become_workspace_relative() {
        assert_eq!(workspace_relative("./src/app.py"), "src/app.py");
        assert_eq!(workspace_relative("/workspace/src/app.py"), "src/app.py");
        assert_eq!(workspace_relative("src/app.py"), "src/app.py");
        assert_eq!(workspace_relative("/etc/passwd"), "/etc/passwd");
    }
}
