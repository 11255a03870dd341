//! Built-in notifier plugin `email`: a finished run as an email, returned as JSON
//! `{"subject", "text", "html"}` for the orchestrator to send (it holds the relay, the
//! login and the recipients; this plugin gets the run summary alone).
//!
//! Both bodies say the same, in this order: the outcome with repository, branch,
//! commit, duration and the link to the run; why it failed (each failed stage's
//! reasons, worst first, cut with `… and N more` by the orchestrator); the stages;
//! failed tests, flaky tests, blocking findings and policy denials when there are any.
//! Lists longer than [`MAX_LIST`] end in `… and N more`. The HTML escapes everything
//! from the run, so a branch name or test message cannot inject markup.

mod html;

use bosun_sdk::notify::{duration, failed_with_reasons, listed_findings, short_commit};
use bosun_sdk::prelude::*;
use serde_json::json;

/// Most entries listed in one section before `… and N more`.
pub const MAX_LIST: usize = 20;

/// The notifier; public so native builds, which do not export it, still use it.
pub struct Email;

impl Notifier for Email {
    fn format(summary: &RunSummary) -> Result<String, String> {
        let email = json!({
            "subject": subject(summary),
            "text": text(&sections(summary), summary),
            "html": html::body(&sections(summary), summary),
        });
        serde_json::to_string(&email).map_err(|e| {
            format!(
                "email: cannot encode the message for run {}: {e}",
                summary.run_id
            )
        })
    }
}

/// One titled list of the message; the same for both bodies.
pub struct Section {
    /// The heading, e.g. `Why it failed`.
    pub title: String,
    /// Its entries: a first line, then lines shown under it (a reason's output).
    pub entries: Vec<Entry>,
}

/// One entry of a section.
pub struct Entry {
    /// What the entry says.
    pub line: String,
    /// Lines shown under it, as written (command output).
    pub detail: Vec<String>,
    /// A heading within the section (a stage's name above its reasons).
    pub heading: bool,
}

impl Entry {
    fn line(line: impl Into<String>) -> Entry {
        Entry {
            line: line.into(),
            detail: Vec::new(),
            heading: false,
        }
    }
}

/// The outcome as a word.
pub fn outcome(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Success => "Success",
        RunStatus::Failure => "Failure",
        RunStatus::Halted => "Halted",
        RunStatus::Cancelled => "Cancelled",
    }
}

/// `Failure: acme/shop on main (0123456): security, test failed`.
pub fn subject(summary: &RunSummary) -> String {
    let mut subject = format!(
        "{}: {} on {} ({})",
        outcome(summary.status),
        summary.repository,
        summary.branch,
        short_commit(&summary.commit)
    );
    let failed: Vec<&str> = failed_with_reasons(summary)
        .map(|s| s.name.as_str())
        .collect();
    if !failed.is_empty() {
        subject.push_str(&format!(": {} failed", failed.join(", ")));
    }
    // One line: the orchestrator also replaces control characters, this keeps it short.
    subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// The overview line both bodies open with.
pub fn overview(summary: &RunSummary) -> String {
    format!(
        "{} of {} on {} at {}, in {}",
        outcome(summary.status),
        summary.repository,
        summary.branch,
        short_commit(&summary.commit),
        duration(summary.duration_ms)
    )
}

/// At most [`MAX_LIST`] entries, then one `… and N more`.
fn capped(mut entries: Vec<Entry>, total: usize) -> Vec<Entry> {
    entries.truncate(MAX_LIST);
    let shown = entries.len();
    if total > shown {
        entries.push(Entry::line(format!("… and {} more", total - shown)));
    }
    entries
}

/// The sections, reasons first.
pub fn sections(summary: &RunSummary) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut why = Vec::new();
    for stage in failed_with_reasons(summary) {
        why.push(Entry {
            line: stage.name.clone(),
            detail: Vec::new(),
            heading: true,
        });
        for reason in &stage.reasons {
            let mut lines = reason.lines();
            why.push(Entry {
                line: lines.next().unwrap_or_default().to_string(),
                detail: lines.map(|l| l.trim_start().to_string()).collect(),
                heading: false,
            });
        }
    }
    if !why.is_empty() {
        sections.push(Section {
            title: "Why it failed".into(),
            entries: why,
        });
    }
    if !summary.stages.is_empty() {
        let stages = summary
            .stages
            .iter()
            .map(stage_line)
            .map(Entry::line)
            .collect();
        sections.push(Section {
            title: "Stages".into(),
            entries: capped(stages, summary.stages.len()),
        });
    }
    if !summary.failed_tests.is_empty() {
        let tests = summary
            .failed_tests
            .iter()
            .take(MAX_LIST)
            .map(|t| {
                let name = if t.suite.is_empty() {
                    t.name.clone()
                } else {
                    format!("{}::{}", t.suite, t.name)
                };
                let message = t.message.lines().find(|l| !l.trim().is_empty());
                Entry::line(match message {
                    Some(message) => format!("{name}: {}", message.trim()),
                    None => name,
                })
            })
            .collect();
        sections.push(Section {
            title: format!("Failed tests ({})", summary.failed_tests.len()),
            entries: capped(tests, summary.failed_tests.len()),
        });
    }
    if !summary.flaky_tests.is_empty() {
        let flaky = summary
            .flaky_tests
            .iter()
            .take(MAX_LIST)
            .map(|name| Entry::line(format!("{name} (failed, then passed on retry)")))
            .collect();
        sections.push(Section {
            title: format!("Flaky tests ({})", summary.flaky_tests.len()),
            entries: capped(flaky, summary.flaky_tests.len()),
        });
    }
    if !summary.blocking_findings.is_empty() {
        let (listed, more) = listed_findings(&summary.blocking_findings);
        let total = listed.len().saturating_add(more);
        let findings = listed
            .iter()
            .take(MAX_LIST)
            .map(finding_line)
            .map(Entry::line)
            .collect();
        sections.push(Section {
            title: format!("Blocking findings ({total})"),
            entries: capped(findings, total),
        });
    }
    if !summary.policy_denials.is_empty() {
        let denials = summary
            .policy_denials
            .iter()
            .take(MAX_LIST)
            .map(|d| Entry::line(d.clone()))
            .collect();
        sections.push(Section {
            title: format!("Policy denials ({})", summary.policy_denials.len()),
            entries: capped(denials, summary.policy_denials.len()),
        });
    }
    sections
}

fn stage_line(stage: &StageSummary) -> String {
    let status = match stage.status {
        StageStatus::Success => "passed",
        StageStatus::Failure => "FAILED",
        StageStatus::Errored => "ERRORED",
        StageStatus::Skipped => "skipped",
        StageStatus::Cancelled => "cancelled",
    };
    let mut line = format!("{} {status}, {}", stage.name, duration(stage.duration_ms));
    if stage.attempts > 1 {
        line.push_str(&format!(", {} attempts", stage.attempts));
    }
    if let Some(summary) = stage.summary.lines().find(|l| !l.trim().is_empty()) {
        line.push_str(&format!(": {}", summary.trim()));
    }
    line
}

fn finding_line(finding: &Finding) -> String {
    let mut line = format!("{} {}", finding.severity.as_str(), finding.rule);
    if let Some(path) = &finding.path {
        match finding.line {
            Some(number) => line.push_str(&format!(" {path}:{number}")),
            None => line.push_str(&format!(" {path}")),
        }
    }
    if let Some(fixed) = &finding.fixed_version {
        line.push_str(&format!(", fixed in {fixed}"));
    }
    line
}

/// The plain-text body.
pub fn text(sections: &[Section], summary: &RunSummary) -> String {
    let mut out = format!("{}\n", overview(summary));
    if !summary.url.is_empty() {
        out.push_str(&format!("View run {}: {}\n", summary.run_id, summary.url));
    }
    for section in sections {
        out.push_str(&format!("\n{}\n", section.title));
        for entry in &section.entries {
            if entry.heading {
                out.push_str(&format!("  {}:\n", entry.line));
                continue;
            }
            out.push_str(&format!("  - {}\n", entry.line));
            for detail in &entry.detail {
                out.push_str(&format!("      {detail}\n"));
            }
        }
    }
    out
}

bosun_sdk::export_notifier!(Email, name = "email");

#[cfg(test)]
mod tests;
