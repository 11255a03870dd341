//! Turning a tool's messages into the stage's verdict: counts, thresholds, the summary
//! line, and the findings kept within the host's report cap.

use crate::message::LintMessage;
use bosun_sdk::{Finding, Metric, Outcome, Severity};

/// Which findings fail the stage (`with: fail_on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Any error-level (high or critical) finding; the default.
    Error,
    /// Any warning-level (medium) finding or worse.
    Warning,
    /// Any finding at all.
    Any,
}

impl FailOn {
    /// Parse `error`, `warning` or `any`.
    pub fn parse(raw: &str) -> Option<FailOn> {
        match raw.trim() {
            "error" => Some(FailOn::Error),
            "warning" => Some(FailOn::Warning),
            "any" => Some(FailOn::Any),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            FailOn::Error => "error",
            FailOn::Warning => "warning",
            FailOn::Any => "any",
        }
    }
}

/// What fails the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Which findings fail it outright.
    pub fail_on: FailOn,
    /// Most warnings allowed (`with: max_warnings`); none means no limit.
    pub max_warnings: Option<u64>,
}

/// Findings by level: errors are high or critical, warnings medium, style low or info.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub errors: u64,
    pub warnings: u64,
    pub style: u64,
}

impl Counts {
    pub fn of(messages: &[LintMessage]) -> Counts {
        let mut counts = Counts::default();
        for message in messages {
            match message.severity {
                Severity::High | Severity::Critical => counts.errors += 1,
                Severity::Medium => counts.warnings += 1,
                Severity::Low | Severity::Info => counts.style += 1,
            }
        }
        counts
    }

    pub fn total(&self) -> u64 {
        self.errors + self.warnings + self.style
    }
}

/// The stage's verdict on one tool run.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// `pylint: 3 findings (1 error, 2 warnings)`, plus why it failed and what was cut.
    pub summary: String,
    /// The findings kept for the report, worst first.
    pub findings: Vec<Finding>,
    pub metrics: Vec<Metric>,
}

/// Judge `messages` from `tool` against `thresholds`, keeping at most `max_findings`
/// findings (the worst ones, in the tool's order within a level).
pub fn judge(
    tool: &str,
    messages: &[LintMessage],
    thresholds: Thresholds,
    max_findings: usize,
) -> Verdict {
    let counts = Counts::of(messages);
    let mut reasons = Vec::new();
    let failing = match thresholds.fail_on {
        FailOn::Error => counts.errors,
        FailOn::Warning => counts.errors + counts.warnings,
        FailOn::Any => counts.total(),
    };
    if failing > 0 {
        reasons.push(format!(
            "{} at or above fail_on: {}",
            plural(failing, "finding", "findings"),
            thresholds.fail_on.as_str()
        ));
    }
    if let Some(max) = thresholds.max_warnings
        && counts.warnings > max
    {
        reasons.push(format!(
            "{} over max_warnings: {max}",
            plural(counts.warnings, "warning", "warnings")
        ));
    }
    let mut order: Vec<&LintMessage> = messages.iter().collect();
    // Stable: within a level the tool's own order (file by file) is kept.
    order.sort_by_key(|m| std::cmp::Reverse(m.severity.rank()));
    let kept = order.len().min(max_findings);
    let cut = order.len() - kept;
    let findings = order
        .into_iter()
        .take(kept)
        .map(|m| m.to_finding(tool))
        .collect();

    let mut summary = format!("{tool}: {}", describe(&counts));
    if !reasons.is_empty() {
        summary.push_str(&format!("; failed: {}", reasons.join(", ")));
    }
    if cut > 0 {
        summary.push_str(&format!(
            "; {cut} lower-severity findings not listed (report keeps {kept})"
        ));
    }
    let metric = |name: &str, value: u64| Metric {
        name: name.to_string(),
        value: value as f64,
        unit: "count".to_string(),
    };
    let metrics = vec![
        metric("findings", counts.total()),
        metric("errors", counts.errors),
        metric("warnings", counts.warnings),
        metric("style", counts.style),
        metric("findings-cut", cut as u64),
    ];
    Verdict {
        outcome: if reasons.is_empty() {
            Outcome::Success
        } else {
            Outcome::Failure
        },
        summary,
        findings,
        metrics,
    }
}

/// `no findings`, or `3 findings (1 error, 2 warnings)` with `, 4 style` when some are.
fn describe(counts: &Counts) -> String {
    if counts.total() == 0 {
        return "no findings".to_string();
    }
    let mut parts = vec![
        plural(counts.errors, "error", "errors"),
        plural(counts.warnings, "warning", "warnings"),
    ];
    if counts.style > 0 {
        parts.push(format!("{} style", counts.style));
    }
    format!(
        "{} ({})",
        plural(counts.total(), "finding", "findings"),
        parts.join(", ")
    )
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests;
