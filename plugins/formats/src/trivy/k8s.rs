//! `trivy k8s` reports: the results sit under Kubernetes resources rather than at the
//! top. Trivy has written three shapes over time, all read here: `Resources` (the full
//! report), `Findings` (the consolidated summary) and, in older releases, the cluster
//! summary's `Vulnerabilities` and `Misconfigurations` lists of resources.

use super::result::{Origin, TargetResult};
use crate::issue::{Issue, Kind};
use crate::parse_error::ParseError;
use bosun_sdk::{Finding, Severity};
use serde::Deserialize;

/// Rule id of a resource Trivy could not scan (its `Error`).
pub const SCAN_ERROR_RULE: &str = "trivy-resource-not-scanned";

/// One Kubernetes resource and what Trivy found in it.
#[derive(Deserialize)]
pub(super) struct Resource {
    #[serde(rename = "Namespace", default)]
    namespace: Option<String>,
    #[serde(rename = "Kind", default)]
    kind: Option<String>,
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "Results", default)]
    results: Option<Vec<TargetResult>>,
    #[serde(rename = "Error", default)]
    error: Option<String>,
}

impl Resource {
    /// `namespace/Kind/name`, the way `kubectl` users find it (no namespace for
    /// cluster-wide resources).
    fn label(&self) -> String {
        let part = |p: &Option<String>| p.as_deref().map(str::trim).unwrap_or("").to_string();
        let (namespace, kind, name) = (part(&self.namespace), part(&self.kind), part(&self.name));
        let kind_name = match (kind.is_empty(), name.is_empty()) {
            (false, false) => format!("{kind}/{name}"),
            (false, true) => kind,
            (true, false) => name,
            (true, true) => "(unnamed resource)".into(),
        };
        if namespace.is_empty() {
            kind_name
        } else {
            format!("{namespace}/{kind_name}")
        }
    }

    /// Append the resource's issues; a resource Trivy failed to scan is a scan error,
    /// so the summary says something went unscanned instead of passing it.
    pub(super) fn collect(self, issues: &mut Vec<Issue>) -> Result<(), ParseError> {
        let label = self.label();
        if let Some(error) = self
            .error
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
        {
            let message = format!("trivy could not scan {label}: {error}");
            let mut finding = Finding::new(super::TOOL, SCAN_ERROR_RULE, Severity::Info, message);
            finding.path = Some(label.clone());
            issues.push(Issue {
                finding,
                kind: Kind::ScanError,
                title: "resource not scanned".into(),
                file: None,
                package: None,
                target: Some(label.clone()),
                help_uri: None,
            });
        }
        let origin = Origin::Cluster(label);
        for result in self.results.unwrap_or_default() {
            result.collect(&origin, issues)?;
        }
        Ok(())
    }
}
