//! The step's verdict: the commands' exit status, the tests, the coverage bar and the
//! findings, in one report whose summary leads with why it failed.

use crate::reports::Read;
use crate::spec::StepSpec;
use bosun_sdk::ContainerOutput;
use bosun_sdk::containers::{StepOutput, with_output};
use bosun_sdk::prelude::*;

/// The stage's bar, from its `with:` settings.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Bar {
    pub min_coverage: Option<f64>,
    pub fail_on: Option<Severity>,
}

impl Bar {
    pub fn from_task(task: &Task) -> Result<Bar, String> {
        let min_coverage = match task.config("min_coverage").map(str::trim) {
            None => None,
            Some(raw) => match raw.trim_end_matches('%').parse::<f64>() {
                Ok(value) if (0.0..=100.0).contains(&value) => Some(value),
                _ => {
                    return Err(format!(
                        "`min_coverage` must be a percentage from 0 to 100, got {raw:?}"
                    ));
                }
            },
        };
        let fail_on = match task.config("fail_on") {
            None => None,
            Some(raw) => Some(Severity::parse(raw).ok_or_else(|| {
                format!("`fail_on` must be one of info, low, medium, high, critical, got {raw:?}")
            })?),
        };
        Ok(Bar {
            min_coverage,
            fail_on,
        })
    }
}

/// The stage report; `Err` when the commands passed but a declared report is missing,
/// empty or unreadable.
pub fn report(
    spec: &StepSpec,
    output: &StepOutput,
    read: Read,
    bar: &Bar,
) -> Result<StageReport, StageError> {
    let commands_failed = output.exit_code != 0;
    if !commands_failed && !read.problems.is_empty() {
        return Err(StageError::BadToolOutput(format!(
            "the commands passed, but {}",
            read.problems.join("; ")
        )));
    }
    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    let mut findings = read.findings;
    if commands_failed {
        let (what, command) = match output
            .failed_command
            .and_then(|i| spec.commands.get(i as usize).map(|c| (i, c)))
        {
            Some((index, command)) => (format!("command {}", index + 1), first_line(command)),
            None => ("the commands".to_string(), String::new()),
        };
        let headline = if command.is_empty() {
            format!("{what} failed (exit status {})", output.exit_code)
        } else {
            format!(
                "{what} failed (exit status {}): {command}",
                output.exit_code
            )
        };
        let printed = ContainerOutput {
            exit_code: output.exit_code,
            stdout: output.stdout.clone(),
            stderr: output.stderr.clone(),
            truncated: output.truncated,
            duration_ms: output.duration_ms,
        };
        let detailed = with_output(headline.clone(), &printed);
        findings.insert(
            0,
            Finding::new("commands", "exit-status", Severity::High, detailed),
        );
        reasons.push(headline);
        notes.extend(read.problems);
    }
    if let Some(tests) = &read.tests {
        let broken = tests.failed + tests.errors;
        let counted = tests_summary(tests);
        if broken > 0 {
            reasons.push(counted);
        } else {
            notes.push(counted);
        }
    }
    if let Some(coverage) = &read.coverage {
        let percent = if coverage.lines_total == 0 {
            100.0
        } else {
            coverage.lines_covered as f64 * 100.0 / coverage.lines_total as f64
        };
        match bar.min_coverage {
            Some(min) if percent < min => {
                reasons.push(format!("coverage {percent:.1}% is below {min}%"))
            }
            _ => notes.push(format!("coverage {percent:.1}%")),
        }
    }
    let reported: Vec<&Finding> = findings.iter().filter(|f| f.tool != "commands").collect();
    if !reported.is_empty() {
        let worst = reported.iter().map(|f| f.severity).max_by_key(|s| s.rank());
        let counted = format!("{} finding(s)", reported.len());
        match (bar.fail_on, worst) {
            (Some(bar), Some(worst)) if worst.rank() >= bar.rank() => reasons.push(format!(
                "{counted}, worst {} (fail_on: {})",
                worst.as_str(),
                bar.as_str().to_ascii_lowercase()
            )),
            _ => notes.push(counted),
        }
    }
    let failed = !reasons.is_empty();
    let summary = match (failed, notes.is_empty()) {
        (true, true) => reasons.join("; "),
        (true, false) => format!("{}; {}", reasons.join("; "), notes.join("; ")),
        (false, true) => format!("{} command(s) passed", spec.commands.len()),
        (false, false) => notes.join("; "),
    };
    let mut report = if failed {
        StageReport::failure(summary)
    } else {
        StageReport::success(summary)
    };
    report.tests = read.tests;
    report.test_failures = read.failures;
    report.coverage = read.coverage;
    report.findings = findings;
    let mut report = report.with_metric("step-seconds", output.duration_ms as f64 / 1000.0, "s");
    if let Some(bytes) = output.cache_restored {
        report = report.with_metric("cache-restored-bytes", bytes as f64, "bytes");
    }
    Ok(report)
}

fn tests_summary(tests: &TestTotals) -> String {
    if tests.total == 0 {
        return "no test cases in the JUnit reports".into();
    }
    let mut parts = vec![
        format!("{} passed", tests.passed),
        format!("{} failed", tests.failed),
    ];
    if tests.errors > 0 {
        parts.push(format!("{} errors", tests.errors));
    }
    if tests.skipped > 0 {
        parts.push(format!("{} skipped", tests.skipped));
    }
    parts.join(", ")
}

/// A command as one short line for summaries.
fn first_line(command: &str) -> String {
    let line = command
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut short: String = line.chars().take(80).collect();
    if short.len() < line.len() || command.trim().lines().count() > 1 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests;
