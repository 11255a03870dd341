//! Builders for stage reports, findings and severities.

use crate::{Finding, Outcome, Severity, StageReport};

impl StageReport {
    /// An empty report with the given outcome and one-line summary.
    pub fn new(outcome: Outcome, summary: impl Into<String>) -> Self {
        StageReport {
            outcome,
            summary: summary.into(),
            findings: Vec::new(),
            tests: None,
            test_failures: Vec::new(),
            coverage: None,
            artifacts: Vec::new(),
            metrics: Vec::new(),
        }
    }

    /// A passing report.
    pub fn success(summary: impl Into<String>) -> Self {
        Self::new(Outcome::Success, summary)
    }

    /// A failing report: the code under test did not meet the stage's bar.
    pub fn failure(summary: impl Into<String>) -> Self {
        Self::new(Outcome::Failure, summary)
    }

    /// Attach findings.
    pub fn with_findings(mut self, findings: Vec<Finding>) -> Self {
        self.findings = findings;
        self
    }

    /// Record a named number.
    pub fn with_metric(mut self, name: &str, value: f64, unit: &str) -> Self {
        self.metrics.push(crate::Metric {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
        });
        self
    }
}

impl Finding {
    /// A finding with no location yet.
    pub fn new(
        tool: &str,
        rule: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            rule: rule.into(),
            severity,
            message: message.into(),
            path: None,
            line: None,
            column: None,
            tool: tool.to_string(),
            fixed_version: None,
        }
    }

    /// Where in the workspace the finding is.
    pub fn at(mut self, path: impl Into<String>, line: Option<u32>, column: Option<u32>) -> Self {
        self.path = Some(path.into());
        self.line = line;
        self.column = column;
        self
    }
}

impl Severity {
    /// Rank from 0 (info) to 4 (critical), for thresholds.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Info => 0,
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical => 4,
        }
    }

    /// Parse a tool's severity word (`HIGH`, `warning`, `error`, `UNKNOWN`, ...).
    pub fn parse(word: &str) -> Option<Severity> {
        match word.trim().to_ascii_lowercase().as_str() {
            "info" | "note" | "none" | "unknown" | "negligible" => Some(Severity::Info),
            "low" | "convention" | "refactor" => Some(Severity::Low),
            "medium" | "moderate" | "warning" => Some(Severity::Medium),
            "high" | "error" | "fatal" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// Upper-case name as scanners print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}
