//! The run page's detail sections: each stage's attempts (who ran them, with which
//! plugin, and their logs), test failures with the flaky ones marked, lint findings,
//! vulnerabilities, policy decisions, notifications and the audit log.

use super::html::{Esc, Seg, badge, duration, short_digest, time};
use super::run::RunView;
use crate::scheduler::ROLLBACK_SUFFIX;
use crate::store::AttemptRow;
use bosun_bus::notify::RunSummary;
use bosun_bus::policy::{Decision, PolicyVerdict};
use bosun_bus::{Finding, TestFailure};
use std::fmt::Write as _;

/// `suite::name`, as the run summary names tests (so flaky names match).
pub fn test_name(failure: &TestFailure) -> String {
    if failure.suite.is_empty() {
        failure.name.clone()
    } else {
        format!("{}::{}", failure.suite, failure.name)
    }
}

/// The link to one attempt's logs.
pub fn logs_href(run_id: &str, attempt: &AttemptRow) -> String {
    format!(
        "/runs/{}/stages/{}/attempts/{}/logs",
        Seg(run_id),
        Seg(&attempt.stage),
        attempt.attempt
    )
}

fn location(path: Option<&str>, line: Option<u32>) -> String {
    match (path, line) {
        (Some(path), Some(line)) => format!("{}:{line}", Esc(path)),
        (Some(path), None) => Esc(path).to_string(),
        _ => String::new(),
    }
}

/// One finding as a table row: severity, id, where, fixed version, message.
pub fn finding_row(body: &mut String, finding: &Finding) {
    let severity = serde_json::to_value(finding.severity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default();
    let _ = write!(
        body,
        "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
         <td>{} <span class=\"muted\">({})</span></td></tr>",
        badge(&severity),
        Esc(&finding.rule),
        location(finding.path.as_deref(), finding.line),
        Esc(finding.fixed_version.as_deref().unwrap_or("")),
        Esc(&finding.message),
        Esc(&finding.tool),
    );
}

/// The last attempt of each stage (rollbacks included), in stage order.
fn last_attempts(view: &RunView) -> Vec<&AttemptRow> {
    let mut names: Vec<&str> = Vec::new();
    for attempt in &view.attempts {
        if !names.contains(&attempt.stage.as_str()) {
            names.push(&attempt.stage);
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            view.attempts
                .iter()
                .filter(|a| a.stage == name)
                .max_by_key(|a| a.attempt)
        })
        .collect()
}

/// Per stage: its attempts table and what its last report says.
pub fn stages(body: &mut String, view: &RunView, now_ms: u64) {
    let run = &view.run;
    let mut names: Vec<String> = run.stages.iter().map(|s| s.name.clone()).collect();
    for stage in &run.stages {
        let rollback = format!("{}{ROLLBACK_SUFFIX}", stage.name);
        if view.attempts.iter().any(|a| a.stage == rollback) {
            names.push(rollback);
        }
    }
    for name in names {
        let attempts: Vec<&AttemptRow> = view.attempts.iter().filter(|a| a.stage == name).collect();
        let _ = write!(
            body,
            "<h3 id=\"stage-{}\">Stage {}</h3>",
            Seg(&name),
            Esc(&name)
        );
        if attempts.is_empty() {
            body.push_str("<p class=\"muted\">Never dispatched.</p>");
            continue;
        }
        body.push_str(
            "<table class=\"attempts\"><tr><th>Attempt</th><th>Outcome</th><th>Failure</th>\
             <th>Duration</th><th>Dispatched</th><th>Agent</th><th>Plugin</th><th>Digest</th>\
             <th>Logs</th></tr>",
        );
        for attempt in &attempts {
            let outcome = attempt.outcome.as_deref().unwrap_or("running");
            let took = match (attempt.duration_ms, attempt.settled_ms) {
                (Some(ms), _) => duration(ms),
                (None, Some(settled)) => duration(settled.saturating_sub(attempt.dispatched_ms)),
                (None, None) => format!(
                    "{} so far",
                    duration(now_ms.saturating_sub(attempt.dispatched_ms))
                ),
            };
            let failure = match (&attempt.failure_kind, &attempt.failure_message) {
                (Some(kind), message) => format!(
                    "<strong>{}</strong> {}",
                    Esc(kind),
                    Esc(message.as_deref().unwrap_or(""))
                ),
                (None, _) => String::new(),
            };
            let plugin = match (&attempt.plugin_name, &attempt.plugin_version) {
                (Some(name), Some(version)) => format!("{}@{}", Esc(name), Esc(version)),
                (Some(name), None) => Esc(name).to_string(),
                _ => String::new(),
            };
            let digest = attempt
                .plugin_digest
                .as_deref()
                .map(|d| {
                    format!(
                        "<span class=\"mono\" title=\"{}\">{}</span>",
                        Esc(d),
                        Esc(&short_digest(d))
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{failure}</td><td>{took}</td><td>{}</td>\
                 <td class=\"mono\">{}</td><td class=\"mono\">{plugin}</td><td>{digest}</td>\
                 <td><a href=\"{}\">logs</a></td></tr>",
                attempt.attempt,
                badge(outcome),
                time(attempt.dispatched_ms),
                Esc(attempt.agent_id.as_deref().unwrap_or("")),
                logs_href(&run.id, attempt),
            );
        }
        body.push_str("</table>");
        let Some(report) = attempts
            .iter()
            .max_by_key(|a| a.attempt)
            .and_then(|a| a.report.as_ref())
        else {
            continue;
        };
        let mut facts = vec![Esc(&report.summary).to_string()];
        if let Some(t) = report.tests {
            facts.push(format!(
                "tests: {} passed, {} failed, {} errors, {} skipped of {}",
                t.passed, t.failed, t.errors, t.skipped, t.total
            ));
        }
        if let Some(coverage) = report.coverage {
            facts.push(format!("coverage {:.1}%", coverage.percent()));
        }
        for artifact in &report.artifacts {
            facts.push(format!(
                "{} <span class=\"mono\">{}</span> {}",
                Esc(&artifact.kind),
                Esc(&artifact.reference),
                artifact
                    .digest
                    .as_deref()
                    .map(|d| format!("<span class=\"mono\">{}</span>", Esc(d)))
                    .unwrap_or_default()
            ));
        }
        for metric in &report.metrics {
            facts.push(format!(
                "{} = {} {}",
                Esc(&metric.name),
                metric.value,
                Esc(&metric.unit)
            ));
        }
        if report.truncated {
            facts.push("<em>the report was cut at the agent's size caps</em>".into());
        }
        let _ = write!(body, "<p class=\"muted wrap\">{}</p>", facts.join(" · "));
    }
}

/// Every failed test of every attempt, with the ones that later passed marked flaky.
pub fn tests(body: &mut String, view: &RunView, summary: &RunSummary) {
    let failures: Vec<(&AttemptRow, &TestFailure)> = view
        .attempts
        .iter()
        .flat_map(|a| {
            a.report
                .iter()
                .flat_map(move |r| r.test_failures.iter().map(move |f| (a, f)))
        })
        .collect();
    if failures.is_empty() {
        return;
    }
    body.push_str(
        "<h2 id=\"tests\">Test failures</h2><table><tr><th>Stage</th><th>Attempt</th><th>Test</th>\
         <th>Message</th><th>Where</th><th></th></tr>",
    );
    for (attempt, failure) in failures {
        let name = test_name(failure);
        let flaky = if summary.flaky_tests.contains(&name) {
            badge("flaky")
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td><a href=\"{}\">{}</a></td><td class=\"mono\">{}</td>\
             <td><pre>{}</pre></td><td class=\"mono\">{}</td><td>{flaky}</td></tr>",
            Esc(&attempt.stage),
            logs_href(&view.run.id, attempt),
            attempt.attempt,
            Esc(&name),
            Esc(&failure.message),
            location(failure.path.as_deref(), failure.line),
        );
    }
    body.push_str("</table>");
}

/// Security stages report vulnerabilities; a finding with a fixed version is one too,
/// whichever stage found it. Everything else is a lint-style finding.
fn is_vulnerability(stage: &str, finding: &Finding) -> bool {
    stage.contains("security") || finding.fixed_version.is_some()
}

/// Findings of each stage's last attempt: lint findings, then vulnerabilities.
pub fn findings(body: &mut String, view: &RunView) {
    let mut lint = Vec::new();
    let mut vulnerabilities = Vec::new();
    for attempt in last_attempts(view) {
        for finding in attempt.report.iter().flat_map(|r| r.findings.iter()) {
            if is_vulnerability(&attempt.stage, finding) {
                vulnerabilities.push(finding);
            } else {
                lint.push((attempt.stage.as_str(), finding));
            }
        }
    }
    if !lint.is_empty() {
        body.push_str(
            "<h2 id=\"findings\">Findings</h2><table><tr><th>Stage</th><th>Severity</th><th>Rule</th>\
             <th>Where</th><th>Message</th></tr>",
        );
        for (stage, finding) in lint {
            let severity = serde_json::to_value(finding.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
                 <td>{} <span class=\"muted\">({})</span></td></tr>",
                Esc(stage),
                badge(&severity),
                Esc(&finding.rule),
                location(finding.path.as_deref(), finding.line),
                Esc(&finding.message),
                Esc(&finding.tool),
            );
        }
        body.push_str("</table>");
    }
    if !vulnerabilities.is_empty() {
        vulnerabilities.sort_by_key(|f| std::cmp::Reverse(f.severity));
        body.push_str(
            "<h2 id=\"vulnerabilities\">Vulnerabilities</h2><table><tr><th>Severity</th><th>Id</th>\
             <th>Package or file</th><th>Fixed in</th><th>Message</th></tr>",
        );
        for finding in vulnerabilities {
            finding_row(body, finding);
        }
        body.push_str("</table>");
    }
}

/// Policy gates: who was asked, when, and each policy's verdict with its reasons; a
/// stage's approval, with who decided and why.
pub fn gates(body: &mut String, view: &RunView) {
    if view.gates.is_empty() && view.run.warnings.is_empty() {
        return;
    }
    body.push_str("<h2 id=\"policy\">Policy decisions</h2>");
    if !view.gates.is_empty() {
        body.push_str(
            "<table><tr><th>Stage</th><th>Phase</th><th>Asked</th><th>Policy</th>\
             <th>Verdict</th><th>Reasons</th><th>Digest</th></tr>",
        );
    }
    for gate in &view.gates {
        if gate.phase == crate::scheduler::APPROVAL_PHASE {
            super::approvals::gate_row(body, gate);
            continue;
        }
        let verdicts: Vec<PolicyVerdict> = gate
            .verdicts
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let asked = time(gate.requested_ms);
        if verdicts.is_empty() {
            let pending = if gate.answered_ms.is_some() {
                "no policy answered"
            } else {
                "waiting for an answer"
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{asked}</td><td colspan=\"4\" class=\"muted\">{pending}</td></tr>",
                Esc(&gate.stage),
                Esc(&gate.phase)
            );
        }
        for verdict in verdicts {
            let (word, reasons) = match &verdict.decision {
                Decision::Allow => ("allow", Vec::new()),
                Decision::Deny(reasons) => ("deny", reasons.clone()),
                Decision::Warn(reasons) => ("warn", reasons.clone()),
            };
            let reasons: Vec<String> = reasons.iter().map(|r| Esc(r).to_string()).collect();
            let digest = verdict
                .digest
                .as_deref()
                .map(|d| {
                    format!(
                        "<span class=\"mono\" title=\"{}\">{}</span>",
                        Esc(d),
                        Esc(&short_digest(d))
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{asked}</td><td class=\"mono\">{}</td><td>{}</td>\
                 <td>{}</td><td>{digest}</td></tr>",
                Esc(&gate.stage),
                Esc(&gate.phase),
                Esc(&verdict.policy),
                badge(word),
                reasons.join("<br>"),
            );
        }
    }
    if !view.gates.is_empty() {
        body.push_str("</table>");
    }
    if !view.run.warnings.is_empty() {
        body.push_str("<p>Warnings:</p><ul>");
        for warning in &view.run.warnings {
            let _ = write!(body, "<li>{}</li>", Esc(warning));
        }
        body.push_str("</ul>");
    }
}

/// Slack messages and commit statuses sent (or not) for the run.
pub fn notifications(body: &mut String, view: &RunView) {
    if view.notifications.is_empty() {
        return;
    }
    body.push_str(
        "<h2 id=\"notifications\">Notifications</h2><table><tr><th>When</th><th>Channel</th>\
         <th>Status</th><th>HTTP attempts</th><th>Detail</th></tr>",
    );
    for n in &view.notifications {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(n.at_ms),
            Esc(&n.channel),
            badge(&n.status),
            n.attempts,
            Esc(&n.detail)
        );
    }
    body.push_str("</table>");
}

/// The audit log: every step the orchestrator took, in order.
pub fn events(body: &mut String, view: &RunView) {
    body.push_str(
        "<h2 id=\"events\">Event log</h2><table><tr><th>When</th><th>+</th><th>Event</th>\
         <th>Stage</th><th>Attempt</th><th>Message</th></tr>",
    );
    for event in &view.events {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"muted\">{}</td><td class=\"mono\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            time(event.at_ms),
            duration(event.at_ms.saturating_sub(view.run.created_ms)),
            Esc(&event.kind),
            Esc(event.stage.as_deref().unwrap_or("")),
            event.attempt.map(|a| a.to_string()).unwrap_or_default(),
            Esc(&event.message),
        );
    }
    body.push_str("</table>");
}
