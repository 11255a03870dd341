//! Helpers for notifier plugins: the blocking findings to list and how many the
//! orchestrator cut, short commits and durations as people read them.

use crate::{Finding, RunSummary, StageSummary};

/// The rule of the finding the orchestrator ends a cut list of blocking findings with
/// (`… and N more blocking findings`, tool [`MORE_FINDINGS_TOOL`]): the run summary has
/// no count field, so the count travels as a finding.
pub const MORE_FINDINGS_RULE: &str = "bosun/more-findings";

/// The tool credited with the count finding.
pub const MORE_FINDINGS_TOOL: &str = "bosun";

/// The blocking findings to list, and how many more the orchestrator left out.
pub fn listed_findings(findings: &[Finding]) -> (&[Finding], usize) {
    if let Some((last, listed)) = findings.split_last()
        && last.rule == MORE_FINDINGS_RULE
        && last.tool == MORE_FINDINGS_TOOL
        && let Some(more) = more_count(&last.message)
    {
        return (listed, more);
    }
    (findings, 0)
}

/// N in `… and N more blocking findings`.
fn more_count(message: &str) -> Option<usize> {
    message
        .strip_prefix("… and ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The stages that carry reasons (those that failed), in pipeline order: what a
/// notification leads with.
pub fn failed_with_reasons(summary: &RunSummary) -> impl Iterator<Item = &StageSummary> {
    summary.stages.iter().filter(|s| !s.reasons.is_empty())
}

/// The first seven characters of a commit sha, as `git log --oneline` shows it.
pub fn short_commit(commit: &str) -> String {
    commit.chars().take(7).collect()
}

/// A duration as people read it: `850 ms`, `12.3 s`, `3m 12s`, `1h 5m`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{}.{} s", ms / 1000, (ms % 1000) / 100);
    }
    let seconds = ms / 1000;
    let (hours, minutes, seconds) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    if hours > 0 {
        format!("{hours}h {minutes}m")
    } else {
        format!("{minutes}m {seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(192_000), "3m 12s");
        assert_eq!(duration(3_900_000), "1h 5m");
    }

    #[test]
    fn only_the_orchestrators_count_finding_is_a_count() {
        let finding = |tool: &str| Finding {
            rule: MORE_FINDINGS_RULE.into(),
            severity: Severity::High,
            message: "… and 7 more blocking findings".into(),
            path: None,
            line: None,
            column: None,
            tool: tool.into(),
            fixed_version: None,
        };
        let counted = [finding("trivy"), finding(MORE_FINDINGS_TOOL)];
        let (listed, more) = listed_findings(&counted);
        assert_eq!((listed.len(), more), (1, 7));
        let tools_own = [finding("semgrep")];
        assert_eq!(listed_findings(&tools_own).1, 0);
    }
}
