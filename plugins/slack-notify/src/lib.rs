//! Built-in notifier plugin `slack`: a finished run as a Slack Block Kit message.
//!
//! The message has a header (outcome and repository), an overview (branch, short commit,
//! duration, link to the run), then why it failed (each failed stage's reasons: blocking
//! findings with severity, rule, file and line, failed tests by name, the coverage
//! shortfall, worst first, as `bosun run` prints them), one line per stage, then
//! sections for failed tests, flaky tests, blocking findings and policy denials when
//! there are any. Slack's limits are
//! kept (at most [`MAX_BLOCKS`] blocks, section text within 3000 characters, long lists
//! end in `… and N more`), and text from the run is escaped so a commit message or test
//! name cannot ping a channel or forge a link. The host posts the message.

mod text;

use bosun_sdk::notify::{duration, failed_with_reasons, listed_findings, short_commit};
use bosun_sdk::prelude::*;
use serde_json::{Value, json};
use text::{MAX_HEADER_CHARS, capped_section, clip, code, escape, first_line, plain};

/// Slack refuses a message with more blocks than this.
pub const MAX_BLOCKS: usize = 50;

/// Longest name (stage, test, rule, path, branch) kept in a line.
const MAX_NAME_CHARS: usize = 120;

/// Longest free text (stage summary, test message, denial reason) kept in a line.
const MAX_MESSAGE_CHARS: usize = 300;

/// The notifier; public so native builds, which do not export it, still use it.
pub struct Slack;

impl Notifier for Slack {
    fn format(summary: &RunSummary) -> Result<String, String> {
        serde_json::to_string(&message(summary)).map_err(|e| {
            format!(
                "slack: cannot encode the message for run {}: {e}",
                summary.run_id
            )
        })
    }
}

/// The Block Kit message (`{"text": fallback, "blocks": [...]}`) for a finished run.
pub fn message(summary: &RunSummary) -> Value {
    let mut blocks = vec![header(summary), section(overview(summary))];
    let why: Vec<String> = failed_with_reasons(summary).flat_map(why_lines).collect();
    if !why.is_empty() {
        // Each reason is already cut by the orchestrator ("… and N more" per stage);
        // the section cap only guards the total.
        blocks.push(section(capped_section("*Why it failed*", why.len(), why)));
    }
    if !summary.stages.is_empty() {
        let lines = summary.stages.iter().map(stage_line);
        blocks.push(section(capped_section(
            "*Stages*",
            summary.stages.len(),
            lines,
        )));
    }
    if !summary.failed_tests.is_empty() {
        let title = format!("*Failed tests* ({})", summary.failed_tests.len());
        let lines = summary.failed_tests.iter().map(failed_test_line);
        blocks.push(section(capped_section(
            &title,
            summary.failed_tests.len(),
            lines,
        )));
    }
    if !summary.flaky_tests.is_empty() {
        let title = format!(
            "*Flaky tests* ({}): failed, then passed on retry",
            summary.flaky_tests.len()
        );
        let lines = summary
            .flaky_tests
            .iter()
            .map(|name| format!("• {} (flaky)", code(name, MAX_NAME_CHARS)));
        blocks.push(section(capped_section(
            &title,
            summary.flaky_tests.len(),
            lines,
        )));
    }
    if !summary.blocking_findings.is_empty() {
        let (listed, more) = listed_findings(&summary.blocking_findings);
        let total = listed.len().saturating_add(more);
        let title = format!("*Blocking findings* ({total})");
        // Lines for the listed ones only: the section ends in "… and N more" for the
        // rest, those the orchestrator cut included.
        let lines = listed.iter().map(finding_line);
        blocks.push(section(capped_section(&title, total, lines)));
    }
    if !summary.policy_denials.is_empty() {
        let title = format!("*Policy denials* ({})", summary.policy_denials.len());
        let lines = summary
            .policy_denials
            .iter()
            .map(|reason| format!("• {}", plain(reason, MAX_MESSAGE_CHARS)));
        blocks.push(section(capped_section(
            &title,
            summary.policy_denials.len(),
            lines,
        )));
    }
    // Never more than a handful today; the cut keeps a future section from breaking posts.
    blocks.truncate(MAX_BLOCKS);
    json!({ "text": fallback(summary), "blocks": blocks })
}

/// The outcome as an emoji code and a word.
fn outcome(status: RunStatus) -> (&'static str, &'static str) {
    match status {
        RunStatus::Success => (":white_check_mark:", "Success"),
        RunStatus::Failure => (":x:", "Failure"),
        RunStatus::Halted => (":octagonal_sign:", "Halted"),
        RunStatus::Cancelled => (":no_entry_sign:", "Cancelled"),
    }
}

/// The notification text (shown where blocks are not, e.g. phone notifications).
fn fallback(summary: &RunSummary) -> String {
    let (_, word) = outcome(summary.status);
    escape(&format!(
        "{word}: {} on {} ({})",
        clip(&summary.repository, MAX_NAME_CHARS),
        clip(&summary.branch, MAX_NAME_CHARS),
        short_commit(&summary.commit)
    ))
}

fn header(summary: &RunSummary) -> Value {
    let (emoji, word) = outcome(summary.status);
    // Plain text is shown as written, so it is clipped but not escaped.
    let text = clip(
        &format!("{emoji} {word}: {}", summary.repository),
        MAX_HEADER_CHARS,
    );
    json!({ "type": "header", "text": { "type": "plain_text", "text": text, "emoji": true } })
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

fn overview(summary: &RunSummary) -> String {
    let mut text = format!(
        "*Branch* {} · *Commit* {} · *Duration* {}",
        code(&summary.branch, MAX_NAME_CHARS),
        code(&short_commit(&summary.commit), 7),
        duration(summary.duration_ms)
    );
    if !summary.url.is_empty() {
        // Inside `<url|label>` a `|` would end the address early.
        let url = escape(&clip(&summary.url, 1000)).replace('|', "%7C");
        text.push_str(&format!(
            "\n<{url}|View run {}>",
            plain(&summary.run_id, MAX_NAME_CHARS)
        ));
    }
    text
}

fn stage_line(stage: &StageSummary) -> String {
    let emoji = match stage.status {
        StageStatus::Success => ":white_check_mark:",
        StageStatus::Failure => ":x:",
        StageStatus::Errored => ":warning:",
        StageStatus::Skipped => ":fast_forward:",
        StageStatus::Cancelled => ":no_entry_sign:",
    };
    let mut line = format!(
        "{emoji} *{}* · {}",
        plain(&stage.name, MAX_NAME_CHARS),
        duration(stage.duration_ms)
    );
    if stage.attempts > 1 {
        line.push_str(&format!(" · {} attempts", stage.attempts));
    }
    if !stage.summary.is_empty() {
        line.push_str(&format!(
            " · {}",
            plain(first_line(&stage.summary), MAX_MESSAGE_CHARS)
        ));
    }
    line
}

fn failed_test_line(test: &TestFailure) -> String {
    let mut line = String::from("• ");
    if !test.suite.is_empty() {
        line.push_str(&code(&test.suite, MAX_NAME_CHARS));
        line.push(' ');
    }
    line.push_str(&format!("*{}*", plain(&test.name, MAX_NAME_CHARS)));
    let message = first_line(&test.message);
    if !message.is_empty() {
        line.push_str(&format!(": {}", plain(message, MAX_MESSAGE_CHARS)));
    }
    line
}

/// A failed stage's reasons as lines: the stage, then one bullet per reason (its first
/// line; a reason's further lines are a failed command's output, left to the run page).
fn why_lines(stage: &StageSummary) -> Vec<String> {
    let mut lines = vec![format!("*{}*", plain(&stage.name, MAX_NAME_CHARS))];
    lines.extend(
        stage
            .reasons
            .iter()
            .map(|reason| format!("• {}", plain(first_line(reason), MAX_MESSAGE_CHARS))),
    );
    lines
}

fn finding_line(finding: &Finding) -> String {
    let mut line = format!(
        "• *{}* {}",
        finding.severity.as_str(),
        code(&finding.rule, MAX_NAME_CHARS)
    );
    if let Some(path) = &finding.path {
        let place = match finding.line {
            Some(number) => format!("{path}:{number}"),
            None => path.clone(),
        };
        line.push_str(&format!(" in {}", code(&place, MAX_NAME_CHARS)));
    }
    if let Some(fixed) = &finding.fixed_version {
        line.push_str(&format!(", fixed in {}", code(fixed, MAX_NAME_CHARS)));
    }
    line
}

bosun_sdk::export_notifier!(Slack, name = "slack");

#[cfg(test)]
mod tests {
    use super::*;
    use text::MAX_SECTION_CHARS;

    fn stage(name: &str, status: StageStatus, attempts: u32, summary: &str) -> StageSummary {
        StageSummary {
            name: name.into(),
            status,
            duration_ms: 12_300,
            attempts,
            summary: summary.into(),
            reasons: Vec::new(),
        }
    }

    fn run(status: RunStatus) -> RunSummary {
        RunSummary {
            run_id: "run-42".into(),
            tenant: "acme".into(),
            repository: "acme/app".into(),
            branch: "main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            status,
            url: "https://bosun.example/runs/run-42".into(),
            duration_ms: 192_000,
            stages: vec![stage("lint", StageStatus::Success, 1, "0 errors")],
            failed_tests: Vec::new(),
            flaky_tests: Vec::new(),
            blocking_findings: Vec::new(),
            policy_denials: Vec::new(),
        }
    }

    fn vulnerability(rule: &str, severity: Severity) -> Finding {
        let mut finding =
            Finding::new("trivy", rule, severity, "vulnerable").at("openssl", None, None);
        finding.fixed_version = Some("3.0.8".into());
        finding
    }

    fn texts(message: &Value) -> Vec<String> {
        message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["text"]["text"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn successful_run_has_header_overview_and_stages_only() {
        let message = message(&run(RunStatus::Success));
        let texts = texts(&message);
        assert_eq!(texts.len(), 3);
        assert_eq!(message["blocks"][0]["type"], "header");
        assert_eq!(texts[0], ":white_check_mark: Success: acme/app");
        assert_eq!(
            texts[1],
            "*Branch* `main` · *Commit* `0123456` · *Duration* 3m 12s\n\
             <https://bosun.example/runs/run-42|View run run-42>"
        );
        assert_eq!(
            texts[2],
            "*Stages*\n:white_check_mark: *lint* · 12.3 s · 0 errors"
        );
        assert_eq!(message["text"], "Success: acme/app on main (0123456)");
    }

    #[test]
    fn halted_run_names_the_vulnerability_the_flaky_tests_and_the_retries() {
        let mut summary = run(RunStatus::Halted);
        summary.stages = vec![
            stage("test", StageStatus::Success, 2, "41 passed"),
            stage("security", StageStatus::Failure, 1, "1 HIGH vulnerability"),
            stage("deploy", StageStatus::Skipped, 0, ""),
        ];
        summary.flaky_tests = vec!["tests::cart::total".into(), "tests::db::connect".into()];
        summary.blocking_findings = vec![vulnerability("CVE-2023-0286", Severity::High)];
        summary.policy_denials = vec!["no-critical-vulns: CVE-2023-0286 is high".into()];
        let texts = texts(&message(&summary));
        assert_eq!(texts[0], ":octagonal_sign: Halted: acme/app");
        assert!(texts[2].contains(":white_check_mark: *test* · 12.3 s · 2 attempts · 41 passed"));
        assert!(texts[2].contains(":x: *security* · 12.3 s · 1 HIGH vulnerability"));
        assert!(texts[2].contains(":fast_forward: *deploy*"));
        let flaky = texts
            .iter()
            .find(|t| t.starts_with("*Flaky tests* (2)"))
            .unwrap();
        assert!(flaky.contains("• `tests::cart::total` (flaky)"));
        assert!(flaky.contains("• `tests::db::connect` (flaky)"));
        let findings = texts
            .iter()
            .find(|t| t.starts_with("*Blocking findings* (1)"))
            .unwrap();
        assert!(findings.ends_with("• *HIGH* `CVE-2023-0286` in `openssl`, fixed in `3.0.8`"));
        let denials = texts
            .iter()
            .find(|t| t.starts_with("*Policy denials* (1)"))
            .unwrap();
        assert!(denials.contains("CVE-2023-0286 is high"));
    }

    #[test]
    fn a_failed_run_leads_with_why_each_stage_failed_worst_first() {
        let mut summary = run(RunStatus::Failure);
        let mut security = stage("security", StageStatus::Failure, 1, "6 findings");
        security.reasons = vec![
            "HIGH B602 src/shop/app.py:12: subprocess call with shell=True".into(),
            "HIGH B605 src/shop/run.py:3: start process with a shell\n    | os.system(cmd)".into(),
            "… and 4 more".into(),
        ];
        let mut test = stage("test", StageStatus::Failure, 2, "2 failed");
        test.reasons = vec!["test failed: tests.test_cart::test_total: assert 3 == 4".into()];
        summary.stages = vec![
            stage("lint", StageStatus::Success, 1, "clean"),
            test,
            security,
        ];
        let texts = texts(&message(&summary));
        assert_eq!(
            texts[2],
            "*Why it failed*\n\
             *test*\n\
             • test failed: tests.test_cart::test_total: assert 3 == 4\n\
             *security*\n\
             • HIGH B602 src/shop/app.py:12: subprocess call with shell=True\n\
             • HIGH B605 src/shop/run.py:3: start process with a shell\n\
             • … and 4 more"
        );
        assert!(texts[3].starts_with("*Stages*"), "{}", texts[3]);
    }

    #[test]
    fn a_passed_run_has_no_why_section() {
        let texts = texts(&message(&run(RunStatus::Success)));
        assert!(texts.iter().all(|t| !t.starts_with("*Why it failed*")));
    }

    #[test]
    fn failed_tests_show_suite_name_and_first_message_line() {
        let mut summary = run(RunStatus::Failure);
        summary.failed_tests = vec![TestFailure {
            suite: "tests.test_cart".into(),
            name: "test_total".into(),
            message: "\nassert 3 == 4\n  at line 12".into(),
            path: None,
            line: None,
        }];
        let texts = texts(&message(&summary));
        assert_eq!(
            texts[3],
            "*Failed tests* (1)\n• `tests.test_cart` *test_total*: assert 3 == 4"
        );
    }

    #[test]
    fn ten_thousand_findings_stay_within_slack_limits_and_count_the_rest() {
        let mut summary = run(RunStatus::Failure);
        summary.blocking_findings = (0..10_000)
            .map(|i| vulnerability(&format!("CVE-2024-{i:05}"), Severity::Critical))
            .collect();
        summary.stages = (0..500)
            .map(|i| {
                stage(
                    &format!("stage-{i}"),
                    StageStatus::Failure,
                    3,
                    &"s".repeat(5000),
                )
            })
            .collect();
        let message = message(&summary);
        let blocks = message["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        for text in texts(&message) {
            assert!(
                text.chars().count() <= MAX_SECTION_CHARS,
                "{} chars",
                text.len()
            );
        }
        let findings = texts(&message)
            .into_iter()
            .find(|t| t.starts_with("*Blocking findings* (10000)"))
            .unwrap();
        let shown = findings.lines().filter(|l| l.starts_with("• ")).count();
        assert!(shown > 10, "only {shown} findings shown");
        assert!(findings.ends_with(&format!("… and {} more", 10_000 - shown)));
        let stages = texts(&message)
            .into_iter()
            .find(|t| t.starts_with("*Stages*"))
            .unwrap();
        assert!(stages.contains("more"));
    }

    #[test]
    fn run_text_is_escaped_so_it_cannot_ping_or_link() {
        let mut summary = run(RunStatus::Failure);
        summary.branch = "fix/<!channel>".into();
        summary.stages = vec![stage(
            "lint",
            StageStatus::Failure,
            1,
            "a & b <https://evil|x>",
        )];
        summary.policy_denials = vec!["<!here> deploy denied".into()];
        let message = message(&summary);
        let texts = texts(&message);
        assert!(texts[1].contains("`fix/&lt;!channel&gt;`"));
        assert!(texts[2].contains("a &amp; b &lt;https://evil|x&gt;"));
        assert!(texts[3].contains("&lt;!here&gt; deploy denied"));
        assert_eq!(
            message["text"],
            "Failure: acme/app on fix/&lt;!channel&gt; (0123456)"
        );
        let json = message.to_string();
        for raw in ["<!channel>", "<!here>", "<https://evil"] {
            assert!(!json.contains(raw), "{raw} left unescaped");
        }
    }

    #[test]
    fn format_returns_block_kit_json() {
        let json = Slack::format(&run(RunStatus::Cancelled)).unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value["blocks"][0]["text"]["text"],
            ":no_entry_sign: Cancelled: acme/app"
        );
        assert!(value["text"].is_string());
    }

    #[test]
    fn findings_the_orchestrator_cut_are_counted_not_listed() {
        let mut summary = run(RunStatus::Failure);
        summary.blocking_findings = (0..20)
            .map(|i| vulnerability(&format!("CVE-2024-{i:04}"), Severity::High))
            .collect();
        let mut more = Finding::new(
            "bosun",
            "bosun/more-findings",
            Severity::High,
            "… and 7 more blocking findings",
        );
        more.path = None;
        summary.blocking_findings.push(more);
        let message = message(&summary);
        let findings = texts(&message)
            .into_iter()
            .find(|t| t.starts_with("*Blocking findings* (27)"))
            .unwrap();
        assert_eq!(findings.lines().filter(|l| l.starts_with("• ")).count(), 20);
        assert!(!findings.contains("bosun/more-findings"), "{findings}");
        assert!(findings.ends_with("… and 7 more"), "{findings}");
    }

    #[test]
    fn a_finding_that_only_looks_like_the_count_is_listed() {
        let mut summary = run(RunStatus::Failure);
        // A tool's own rule of that name is not the orchestrator's count.
        summary.blocking_findings = vec![Finding::new(
            "semgrep",
            "bosun/more-findings",
            Severity::High,
            "… and 7 more blocking findings",
        )];
        let findings = texts(&message(&summary))
            .into_iter()
            .find(|t| t.starts_with("*Blocking findings* (1)"))
            .unwrap();
        assert!(findings.contains("`bosun/more-findings`"), "{findings}");
    }
}
