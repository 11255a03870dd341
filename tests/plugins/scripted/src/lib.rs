//! Test fixture: the stage plugin `scripted`, whose report is written by its config, so
//! orchestrator tests can stage any outcome, retry or error without running a tool.
//!
//! Settings: `outcome` (`success` or `failure`), `fail_attempts` (attempts up to N fail),
//! `tests` (total; 0: no totals), `failing_tests` (`suite::name,...`, failed on failing
//! attempts), `findings` (`severity:rule:path[:fixed_version];...`, on every attempt),
//! `coverage` (`covered/total`), `error` (a stage-error kind such as `tool-failed`,
//! returned instead of a report on failing attempts), `summary` (default: generated),
//! `sleep_ms` (how long the stage takes, for tests of what overlaps).

use bosun_sdk::prelude::*;

/// The stage; public so native builds, which do not export it, still use it.
pub struct Scripted;

impl Stage for Scripted {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let sleep_ms = task.config_u64("sleep_ms", 0)?;
        if sleep_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(sleep_ms.min(60_000)));
        }
        let always_fails = match task.config("outcome").map(str::trim) {
            None | Some("success") => false,
            Some("failure") => true,
            Some(other) => return Err(invalid(task, "outcome", other)),
        };
        let failing =
            always_fails || u64::from(task.attempt) <= task.config_u64("fail_attempts", 0)?;
        let error = task.config("error").map(|kind| stage_error(task, kind));
        let error = error.transpose()?;
        let findings = findings(task)?;
        let coverage = coverage(task)?;
        let total = u32::try_from(task.config_u64("tests", 0)?).unwrap_or(u32::MAX);
        if let (true, Some(error)) = (failing, error) {
            return Err(error);
        }
        let failures: Vec<TestFailure> = (task.config_list("failing_tests").iter())
            .filter(|_| failing)
            .map(|t| failure(t, task.attempt))
            .collect();
        let failed = u32::try_from(failures.len()).unwrap_or(u32::MAX);
        let passed = total.saturating_sub(failed);
        let mut report = StageReport::success("").with_findings(findings);
        if failing {
            report.outcome = Outcome::Failure;
        }
        report.tests = (total > 0).then_some(TestTotals {
            total,
            passed,
            failed,
            errors: 0,
            skipped: 0,
            duration_ms: 0,
        });
        report.test_failures = failures;
        report.coverage = coverage;
        report.summary = match task.config("summary") {
            Some(summary) => summary.to_string(),
            None => summary(&report, failing, task.attempt),
        };
        log::info(&format!("stage {}: {}", task.stage, report.summary));
        Ok(report)
    }
}

/// `failed on attempt 1, 9 passed, 1 failed, 2 findings, 80/100 lines covered`.
fn summary(report: &StageReport, failing: bool, attempt: u32) -> String {
    let verb = if failing { "failed" } else { "passed" };
    let mut parts = vec![format!("{verb} on attempt {attempt}")];
    if let Some(t) = &report.tests {
        parts.push(format!("{} passed, {} failed", t.passed, t.failed));
    }
    if !report.findings.is_empty() {
        parts.push(format!("{} findings", report.findings.len()));
    }
    if let Some(c) = &report.coverage {
        let (covered, total) = (c.lines_covered, c.lines_total);
        parts.push(format!("{covered}/{total} lines covered"));
    }
    parts.join(", ")
}

fn invalid(task: &Task, key: &str, got: &str) -> StageError {
    StageError::InvalidConfig(format!(
        "stage {}: `{key}` has an invalid value {got:?} (see the `scripted` fixture's docs)",
        task.stage
    ))
}

/// `Ok`: the error of the kind `error` names; `Err`: that kind does not exist.
fn stage_error(task: &Task, kind: &str) -> Result<StageError, StageError> {
    let make: fn(String) -> StageError = match kind.trim() {
        "invalid-config" => StageError::InvalidConfig,
        "tool-failed" => StageError::ToolFailed,
        "bad-tool-output" => StageError::BadToolOutput,
        "io" => StageError::Io,
        "other" => StageError::Other,
        _ => return Err(invalid(task, "error", kind)),
    };
    let (stage, attempt) = (&task.stage, task.attempt);
    Ok(make(format!(
        "stage {stage}: scripted {kind} on attempt {attempt}"
    )))
}

/// `suite::name` (the last `::` splits them) failed on `attempt`.
fn failure(test: &str, attempt: u32) -> TestFailure {
    let (suite, name) = test.rsplit_once("::").unwrap_or(("", test));
    TestFailure {
        suite: suite.to_string(),
        name: name.to_string(),
        message: format!("assertion failed on attempt {attempt}"),
        path: None,
        line: None,
    }
}

fn findings(task: &Task) -> Result<Vec<Finding>, StageError> {
    let raw = task.config("findings").unwrap_or("");
    let entries = raw.split(';').map(str::trim).filter(|e| !e.is_empty());
    let finding = |entry: &str| {
        let mut fields = entry.splitn(4, ':');
        let severity = fields.next().and_then(Severity::parse);
        let (Some(severity), Some(rule), Some(path)) = (severity, fields.next(), fields.next())
        else {
            return Err(invalid(task, "findings", entry));
        };
        let message = format!("{rule} in {path}");
        let mut finding = Finding::new("scripted", rule, severity, message).at(path, None, None);
        finding.fixed_version = fields.next().map(str::to_string);
        Ok(finding)
    };
    entries.map(finding).collect()
}

fn coverage(task: &Task) -> Result<Option<Coverage>, StageError> {
    let Some(raw) = task.config("coverage") else {
        return Ok(None);
    };
    let number = |text: &str| {
        text.trim()
            .parse()
            .map_err(|_| invalid(task, "coverage", raw))
    };
    let (covered, total) = raw.split_once('/').unwrap_or((raw, ""));
    Ok(Some(Coverage {
        lines_covered: number(covered)?,
        lines_total: number(total)?,
    }))
}

bosun_sdk::export_stage!(Scripted, name = "scripted");
