//! What GitHub shows of a run: a stage's check run (its conclusion, a markdown summary
//! that leads with why it failed, then tests, coverage and findings, and annotations on
//! the findings' and failed tests' lines) and the pull request's summary comment.

use super::why::stage_reasons;
use super::{last_attempt, test_name};
use crate::config::{PipelineConfig, StageSpec};
use crate::model::{RunRecord, RunStatus, StageRecord, StageState};
use crate::notify::{Annotation, AnnotationLevel, COMMENT_MARKER, CheckConclusion, CheckOutput};
use crate::store::AttemptRow;
use bosun_bus::{Finding, Severity, StageReport};

/// Most annotations sent for one check run (20 requests of 50); the summary says how
/// many more there were.
pub const MAX_ANNOTATIONS: usize = 1_000;
/// GitHub's limit on an annotation's title, in characters.
const MAX_TITLE_CHARS: usize = 255;
/// An annotation's message may be 64 KB; kept well under, in bytes.
const MAX_MESSAGE_BYTES: usize = 60_000;

/// The conclusion GitHub shows for a settled stage: a failure a stage may have
/// (`allow_failure`) is `neutral`, a stage stopped at its deadline `timed_out`.
pub fn conclusion(
    stage: &StageRecord,
    spec: Option<&StageSpec>,
    attempts: &[AttemptRow],
) -> CheckConclusion {
    let allowed = spec.is_some_and(|s| s.allow_failure);
    match stage.state {
        StageState::Success => CheckConclusion::Success,
        StageState::Cancelled => CheckConclusion::Cancelled,
        StageState::Skipped => CheckConclusion::Skipped,
        StageState::Failure | StageState::Errored if allowed => CheckConclusion::Neutral,
        StageState::Errored
            if last_attempt(attempts, &stage.name)
                .and_then(|a| a.failure_kind.as_deref())
                .is_some_and(|kind| kind.contains("deadline")) =>
        {
            CheckConclusion::TimedOut
        }
        _ => CheckConclusion::Failure,
    }
}

/// A settled stage's check-run output.
pub fn check_output(
    stage: &StageRecord,
    spec: Option<&StageSpec>,
    attempts: &[AttemptRow],
    run_url: &str,
) -> CheckOutput {
    let report = last_attempt(attempts, &stage.name).and_then(|a| a.report.as_ref());
    let mut summary = String::new();
    let reasons = stage_reasons(stage, spec, attempts);
    if !reasons.is_empty() {
        summary.push_str("### Why it failed\n\n");
        for reason in &reasons {
            summary.push_str(&reason_item(reason));
        }
        summary.push('\n');
    }
    if let Some(report) = report {
        summary.push_str(&report_lines(report, spec));
    } else if reasons.is_empty() && !stage.summary.is_empty() {
        summary.push_str(&format!("{}\n\n", plain(&stage.summary)));
    }
    let (annotations, left_out) = report.map(annotations).unwrap_or_default();
    if left_out > 0 {
        summary.push_str(&format!(
            "{left_out} more annotations were left out (at most {MAX_ANNOTATIONS} are sent).\n\n"
        ));
    }
    summary.push_str(&format!("[The run on Bosun]({run_url})\n"));
    let title = match &stage.state {
        StageState::Success => format!("{} passed", stage.name),
        _ => reasons
            .first()
            .and_then(|r| r.lines().next())
            .map(|first| format!("{}: {first}", stage.name))
            .unwrap_or_else(|| format!("{}: {}", stage.name, stage.summary)),
    };
    CheckOutput {
        title: title.chars().take(MAX_TITLE_CHARS).collect(),
        summary,
        annotations,
    }
}

/// One reason as a list item; the lines a reason goes on with (a command's output)
/// stay under it as quoted lines.
fn reason_item(reason: &str) -> String {
    let mut lines = reason.lines();
    let mut item = format!("- {}\n", plain(lines.next().unwrap_or_default()));
    for line in lines {
        let line = line.trim_start().trim_start_matches('|').trim_start();
        item.push_str(&format!("  > {}\n", plain(line)));
    }
    item
}

/// Tests, coverage and findings, a line each.
fn report_lines(report: &StageReport, spec: Option<&StageSpec>) -> String {
    let mut text = String::new();
    if let Some(t) = report.tests {
        text.push_str(&format!(
            "**Tests:** {} passed, {} failed, {} errors, {} skipped of {}\n\n",
            t.passed, t.failed, t.errors, t.skipped, t.total
        ));
    }
    if let Some(coverage) = report.coverage {
        let bar = spec
            .and_then(|s| s.with.iter().find(|(k, _)| k == "min_coverage"))
            .map(|(_, v)| format!(" (min_coverage {})", plain(v)))
            .unwrap_or_default();
        text.push_str(&format!(
            "**Coverage:** {:.1}% of {} lines{bar}\n\n",
            coverage.percent(),
            coverage.lines_total
        ));
    }
    if !report.findings.is_empty() {
        let mut counts: Vec<(Severity, usize)> = Vec::new();
        for finding in &report.findings {
            match counts.iter_mut().find(|(s, _)| *s == finding.severity) {
                Some((_, n)) => *n += 1,
                None => counts.push((finding.severity, 1)),
            }
        }
        counts.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
        let counts: Vec<String> = counts
            .iter()
            .map(|(s, n)| format!("{n} {}", severity_word(*s)))
            .collect();
        text.push_str(&format!(
            "**Findings:** {} ({})\n\n",
            report.findings.len(),
            counts.join(", ")
        ));
    }
    if !report.summary.is_empty() {
        text.push_str(&format!("{}\n\n", plain(&report.summary)));
    }
    text
}

/// Annotations for the findings and failed tests that name a file and line, worst
/// first, at most [`MAX_ANNOTATIONS`]; and how many were left out.
fn annotations(report: &StageReport) -> (Vec<Annotation>, usize) {
    let mut all: Vec<Annotation> = report
        .findings
        .iter()
        .filter_map(finding_annotation)
        .collect();
    all.extend(report.test_failures.iter().filter_map(|t| {
        Some(Annotation {
            path: usable_path(t.path.as_deref()?)?,
            start_line: t.line.filter(|l| *l > 0)?,
            end_line: t.line?,
            annotation_level: AnnotationLevel::Failure,
            message: cut_bytes(&t.message, MAX_MESSAGE_BYTES),
            title: Some(cut_chars(&format!("test failed: {}", test_name(t)))),
        })
    }));
    // Stable: one level keeps the report's order.
    all.sort_by_key(|a| std::cmp::Reverse(a.annotation_level));
    let left_out = all.len().saturating_sub(MAX_ANNOTATIONS);
    all.truncate(MAX_ANNOTATIONS);
    (all, left_out)
}

fn finding_annotation(finding: &Finding) -> Option<Annotation> {
    let line = finding.line.filter(|l| *l > 0)?;
    let message = if finding.message.trim().is_empty() {
        finding.rule.clone()
    } else {
        finding.message.clone()
    };
    Some(Annotation {
        path: usable_path(finding.path.as_deref()?)?,
        start_line: line,
        end_line: line,
        annotation_level: level(finding.severity),
        message: cut_bytes(&message, MAX_MESSAGE_BYTES),
        title: Some(cut_chars(&format!(
            "{} {} ({})",
            severity_word(finding.severity).to_uppercase(),
            finding.rule,
            finding.tool
        ))),
    })
}

/// GitHub's levels: high and critical findings fail, medium ones warn, the rest note.
pub fn level(severity: Severity) -> AnnotationLevel {
    match severity {
        Severity::Critical | Severity::High => AnnotationLevel::Failure,
        Severity::Medium => AnnotationLevel::Warning,
        Severity::Low | Severity::Info => AnnotationLevel::Notice,
    }
}

/// A path relative to the repository root, as GitHub wants it; `None` for one that
/// is not (absolute, or climbing out).
fn usable_path(path: &str) -> Option<String> {
    let path = path.trim().trim_start_matches("./");
    let climbs = path.split(['/', '\\']).any(|part| part == "..");
    (!path.is_empty() && !path.starts_with('/') && !climbs && !path.contains(':'))
        .then(|| path.to_owned())
}

fn state_word(state: StageState) -> &'static str {
    match state {
        StageState::Pending => "pending",
        StageState::AwaitingApproval => "awaiting approval",
        StageState::Gating => "gating",
        StageState::Running => "running",
        StageState::RetryWait => "waiting to retry",
        StageState::Success => "passed",
        StageState::Failure => "**failed**",
        StageState::Errored => "**errored**",
        StageState::Skipped => "skipped",
        StageState::Cancelled => "cancelled",
    }
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Info => "info",
    }
}

fn cut_chars(text: &str) -> String {
    text.chars().take(MAX_TITLE_CHARS).collect()
}

fn cut_bytes(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// User data inside markdown: HTML-like text shown as text, one line.
fn plain(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\r', '\n'], " ")
}

/// The pull request's summary comment for a finished run: its result, each stage's
/// line, and why the stages that failed did.
pub fn pull_request_comment(
    run: &RunRecord,
    config: Option<&PipelineConfig>,
    attempts: &[AttemptRow],
    run_url: &str,
) -> String {
    let verdict = match run.status {
        RunStatus::Success => "passed",
        RunStatus::Cancelled => "was cancelled",
        RunStatus::Halted => "was halted",
        _ => "failed",
    };
    let short: String = run.trigger.commit.chars().take(12).collect();
    let mut body = format!("{COMMENT_MARKER}\n### Bosun: the pipeline {verdict} on `{short}`\n\n");
    if let Some(error) = run
        .error
        .as_deref()
        .filter(|_| run.status != RunStatus::Success)
    {
        body.push_str(&format!("{}\n\n", plain(error)));
    }
    body.push_str("| stage | result | summary |\n|---|---|---|\n");
    for stage in &run.stages {
        let summary: String = plain(&stage.summary).chars().take(200).collect();
        body.push_str(&format!(
            "| {} | {} | {} |\n",
            plain(&stage.name),
            state_word(stage.state),
            summary.replace('|', "\\|")
        ));
    }
    body.push('\n');
    for stage in &run.stages {
        let spec = config.and_then(|c| c.stage(&stage.name));
        let reasons = stage_reasons(stage, spec, attempts);
        if reasons.is_empty() {
            continue;
        }
        body.push_str(&format!("**Why {} failed**\n\n", plain(&stage.name)));
        for reason in &reasons {
            body.push_str(&reason_item(reason));
        }
        body.push('\n');
    }
    body.push_str(&format!(
        "[The run on Bosun]({run_url}) · this comment is updated on each push\n"
    ));
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_map_to_githubs_three_levels() {
        assert_eq!(level(Severity::Critical), AnnotationLevel::Failure);
        assert_eq!(level(Severity::High), AnnotationLevel::Failure);
        assert_eq!(level(Severity::Medium), AnnotationLevel::Warning);
        assert_eq!(level(Severity::Low), AnnotationLevel::Notice);
        assert_eq!(level(Severity::Info), AnnotationLevel::Notice);
    }

    #[test]
    fn only_repository_relative_paths_are_annotated() {
        assert_eq!(usable_path("./src/app.py").as_deref(), Some("src/app.py"));
        for bad in ["/etc/passwd", "../x.py", "src/../../x", "", "C:\\x.py"] {
            assert_eq!(usable_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn bytes_are_cut_on_a_character_boundary() {
        assert_eq!(cut_bytes("abc", 3), "abc");
        let cut = cut_bytes(&"é".repeat(10), 8);
        assert!(cut.len() <= 8 && cut.ends_with('…'), "{cut}");
    }

    #[test]
    fn user_text_cannot_open_html() {
        assert_eq!(
            plain("<script>a</script>\nb"),
            "&lt;script&gt;a&lt;/script&gt; b"
        );
    }
}
