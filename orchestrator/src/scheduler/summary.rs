//! The run summary a notifier formats: stages (each failed one with why it failed,
//! from [`why`], the same lines `bosun run` prints), failed and flaky tests, blocking
//! findings and policy denials, gathered from the run and its stored attempts.
//!
//! Blocking findings are cut to [`MAX_BLOCKING`], worst first (critical, high, …; stage
//! order within a severity), so a long list from an early stage cannot push a later
//! stage's critical vulnerability out. When some are cut, the list ends in one more
//! finding that says how many ([`MORE_FINDINGS_RULE`], tool `bosun`): the WIT
//! `run-summary` has no count field, and a finding is what every notifier already
//! shows, so a notifier that knows nothing of it still prints "… and N more".

use crate::model::{RunRecord, RunStatus, StageState};
use crate::store::AttemptRow;
use bosun_bus::notify::{RunStatus as SummaryStatus, RunSummary, StageStatus, StageSummary};
use bosun_bus::{Finding, Severity, TestFailure};
use std::collections::BTreeSet;

pub mod checks;
pub mod why;

/// Most findings listed as blocking (the "… and N more" finding comes on top).
pub const MAX_BLOCKING: usize = 20;

/// The rule of the last blocking finding when some were cut; its message is
/// `… and N more blocking findings`. Notifiers recognise it by this rule and
/// the tool [`MORE_FINDINGS_TOOL`] (`bosun_sdk::notify::listed_findings`).
pub const MORE_FINDINGS_RULE: &str = "bosun/more-findings";

/// The tool credited with the "… and N more" finding.
pub const MORE_FINDINGS_TOOL: &str = "bosun";

fn test_name(failure: &TestFailure) -> String {
    if failure.suite.is_empty() {
        failure.name.clone()
    } else {
        format!("{}::{}", failure.suite, failure.name)
    }
}

/// Tests that failed in an earlier attempt of a stage whose last attempt passed them.
pub fn flaky_tests(attempts: &[AttemptRow], stage: &str) -> Vec<String> {
    let mut mine: Vec<&AttemptRow> = attempts.iter().filter(|a| a.stage == stage).collect();
    mine.sort_by_key(|a| a.attempt);
    let Some(last) = mine.last() else {
        return Vec::new();
    };
    if last.outcome.as_deref() != Some("success") {
        return Vec::new();
    }
    let still_failing: BTreeSet<String> = last
        .report
        .iter()
        .flat_map(|r| r.test_failures.iter().map(test_name))
        .collect();
    let mut flaky = BTreeSet::new();
    for earlier in &mine[..mine.len() - 1] {
        for failure in earlier.report.iter().flat_map(|r| r.test_failures.iter()) {
            let name = test_name(failure);
            if !still_failing.contains(&name) {
                flaky.insert(name);
            }
        }
    }
    flaky.into_iter().collect()
}

fn last_attempt<'a>(attempts: &'a [AttemptRow], stage: &str) -> Option<&'a AttemptRow> {
    attempts
        .iter()
        .filter(|a| a.stage == stage)
        .max_by_key(|a| a.attempt)
}

/// Findings that blocked the run: high and critical ones from failed stages (or, when a
/// failed stage has none that serious, its first few), worst first and stage order
/// within a severity, at most [`MAX_BLOCKING`] of them, then the "… and N more"
/// finding when some were cut.
pub fn blocking_findings(run: &RunRecord, attempts: &[AttemptRow]) -> Vec<Finding> {
    let mut blocking = Vec::new();
    for stage in run.stages.iter().filter(|s| s.state == StageState::Failure) {
        let Some(report) = last_attempt(attempts, &stage.name).and_then(|a| a.report.as_ref())
        else {
            continue;
        };
        let serious: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::High)
            .collect();
        if serious.is_empty() {
            blocking.extend(report.findings.iter().take(5).cloned());
        } else {
            blocking.extend(serious.into_iter().cloned());
        }
    }
    // Stable: findings of one severity keep the stages' order, then each report's own.
    blocking.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let cut: Vec<Finding> = blocking.split_off(blocking.len().min(MAX_BLOCKING));
    if let Some(worst) = cut.first() {
        blocking.push(more_findings(cut.len(), worst.severity));
    }
    blocking
}

/// The finding that stands for `count` cut findings, the worst of them `severity`.
fn more_findings(count: usize, severity: Severity) -> Finding {
    let noun = if count == 1 { "finding" } else { "findings" };
    Finding {
        rule: MORE_FINDINGS_RULE.to_string(),
        severity,
        message: format!("… and {count} more blocking {noun}"),
        path: None,
        line: None,
        column: None,
        tool: MORE_FINDINGS_TOOL.to_string(),
        fixed_version: None,
    }
}

fn stage_status(state: StageState) -> StageStatus {
    match state {
        StageState::Success => StageStatus::Success,
        StageState::Failure => StageStatus::Failure,
        StageState::Errored => StageStatus::Errored,
        StageState::Cancelled => StageStatus::Cancelled,
        _ => StageStatus::Skipped,
    }
}

/// Build the summary of a finished run.
pub fn run_summary(run: &RunRecord, attempts: &[AttemptRow], base_url: &str) -> RunSummary {
    // The stages' settings (`min_coverage`) for the reasons; a run without its config
    // text (it never started) has no failed stage to explain.
    let config = run
        .config_source
        .as_deref()
        .and_then(|text| crate::config::parse(".bosun.yml", text).ok());
    let status = match run.status {
        RunStatus::Success => SummaryStatus::Success,
        RunStatus::Halted => SummaryStatus::Halted,
        RunStatus::Cancelled => SummaryStatus::Cancelled,
        _ => SummaryStatus::Failure,
    };
    let stages = run
        .stages
        .iter()
        .map(|s| StageSummary {
            name: s.name.clone(),
            status: stage_status(s.state),
            duration_ms: match (s.started_ms, s.finished_ms) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => 0,
            },
            attempts: s.attempt,
            summary: s.summary.clone(),
            reasons: why::stage_reasons(
                s,
                config.as_ref().and_then(|c| c.stage(&s.name)),
                attempts,
            ),
        })
        .collect();
    let failed_tests = run
        .stages
        .iter()
        .filter(|s| s.state == StageState::Failure)
        .filter_map(|s| last_attempt(attempts, &s.name))
        .filter_map(|a| a.report.as_ref())
        .flat_map(|r| r.test_failures.iter().cloned())
        .collect();
    let flaky_tests = run
        .stages
        .iter()
        .filter(|s| s.state == StageState::Success && s.attempt > 1)
        .flat_map(|s| flaky_tests(attempts, &s.name))
        .collect();
    RunSummary {
        run_id: run.id.clone(),
        tenant: run.trigger.tenant.clone(),
        repository: run.trigger.repository.clone(),
        branch: run.trigger.branch.clone(),
        commit: run.trigger.commit.clone(),
        status,
        url: format!("{base_url}/runs/{}", run.id),
        duration_ms: run
            .finished_ms
            .map(|f| f.saturating_sub(run.created_ms))
            .unwrap_or(0),
        stages,
        failed_tests,
        flaky_tests,
        blocking_findings: blocking_findings(run, attempts),
        policy_denials: run.denials.clone(),
    }
}

#[cfg(test)]
mod tests;
