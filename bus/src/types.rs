//! Versioned wire types for tasks and stage results (JSON, keyed by run id).

use crate::ids::TaskId;
use serde::{Deserialize, Serialize};

/// One unit of stage work; its id is `run_id/stage/attempt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The pipeline run.
    pub run_id: String,
    /// Stage name from the pipeline config.
    pub stage: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// Tenant (GitHub owner) the run belongs to.
    pub tenant: String,
    /// `owner/name`.
    pub repository: String,
    /// Commit sha.
    pub commit: String,
    /// Branch without `refs/heads/`.
    pub branch: String,
    /// `push`, `pull_request` or `manual`.
    pub event: String,
    /// The commit's message (a pull request's title), at most
    /// [`COMMIT_MESSAGE_MAX_BYTES`]; commands read it as `BOSUN_COMMIT_MESSAGE`, never
    /// spliced into a script. Empty when the trigger had none.
    #[serde(default)]
    pub commit_message: String,
    /// The stage's `with:` settings, flattened to strings, in config order.
    #[serde(default)]
    pub config: Vec<(String, String)>,
}

/// The most of a commit message a task carries. Linux refuses to start a process with
/// one environment string over 128 KiB (`MAX_ARG_STRLEN`), so a longer message would
/// keep every tool of the stage from starting; 64 KiB leaves room for the name.
pub const COMMIT_MESSAGE_MAX_BYTES: usize = 64 * 1024;

/// A commit message as a task carries it: NUL bytes (which no environment variable can
/// hold) removed, then cut to [`COMMIT_MESSAGE_MAX_BYTES`] at a character boundary.
pub fn task_commit_message(message: &str) -> String {
    let mut kept: String = message.chars().filter(|c| *c != '\0').collect();
    if kept.len() > COMMIT_MESSAGE_MAX_BYTES {
        let mut end = COMMIT_MESSAGE_MAX_BYTES;
        while !kept.is_char_boundary(end) {
            end -= 1;
        }
        kept.truncate(end);
    }
    kept
}

impl Task {
    /// The task id used for idempotence, as its text `run/stage/attempt`.
    pub fn id(&self) -> String {
        self.task_id().to_string()
    }

    /// The task id used for idempotence.
    pub fn task_id(&self) -> TaskId {
        TaskId::new(&self.run_id, &self.stage, self.attempt)
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information only: never blocks anything.
    Info,
    /// Worth fixing some day; `fail_on: low` blocks it.
    Low,
    /// Should be fixed; blocks under `fail_on: medium` or lower.
    Medium,
    /// Must be fixed before release; the seed pipeline halts on it.
    High,
    /// Exploitable as it stands; blocks under every `fail_on`.
    Critical,
}

/// Whether a stage that ran to completion passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The stage passed.
    Success,
    /// The code under test did not meet the stage's bar.
    Failure,
    /// The stage decided there was nothing to do.
    Skipped,
}

/// One problem a tool reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Rule or check id.
    pub rule: String,
    /// How serious it is, as the tool rated it (mapped onto five levels).
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// Path relative to the workspace, or a package name.
    pub path: Option<String>,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column.
    pub column: Option<u32>,
    /// The reporting tool.
    pub tool: String,
    /// Version that fixes it, for vulnerabilities.
    pub fixed_version: Option<String>,
}

/// Totals of a test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestTotals {
    /// All test cases.
    pub total: u32,
    /// Tests that passed.
    pub passed: u32,
    /// Failed assertions.
    pub failed: u32,
    /// Errored (crashed) tests.
    pub errors: u32,
    /// Tests the tool skipped (not counted as passed or failed).
    pub skipped: u32,
    /// Wall-clock time of the run.
    pub duration_ms: u64,
}

/// One failed test case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestFailure {
    /// Suite or class.
    pub suite: String,
    /// Test name.
    pub name: String,
    /// Failure message.
    pub message: String,
    /// Source file.
    pub path: Option<String>,
    /// Source line.
    pub line: Option<u32>,
}

/// Line coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Lines executed.
    pub lines_covered: u64,
    /// Lines measured.
    pub lines_total: u64,
}

impl Coverage {
    /// Covered share in percent; 100 when nothing was measured.
    pub fn percent(&self) -> f64 {
        if self.lines_total == 0 {
            100.0
        } else {
            self.lines_covered as f64 * 100.0 / self.lines_total as f64
        }
    }
}

/// Something a stage produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// `image`, `sarif`, `junit`, `file`, `release`.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Image reference or path.
    pub reference: String,
    /// Content digest.
    pub digest: Option<String>,
}

/// A named number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's name, e.g. `cache-restored-bytes`.
    pub name: String,
    /// Its value in `unit`.
    pub value: f64,
    /// The unit, e.g. `bytes`, `ms` or `count`.
    pub unit: String,
}

/// The report of a stage that ran to completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// Passed, failed or skipped.
    pub outcome: Outcome,
    /// One line for people.
    pub summary: String,
    /// Problems the stage found, blocking or not.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Test totals, for test stages.
    pub tests: Option<TestTotals>,
    /// Failed tests.
    #[serde(default)]
    pub test_failures: Vec<TestFailure>,
    /// Coverage, for test stages.
    pub coverage: Option<Coverage>,
    /// What the stage produced (images, files), with digests where known.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// Figures the stage measured (durations, sizes, counts).
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// True when the host cut the report at its size caps.
    #[serde(default)]
    pub truncated: bool,
}

/// Why a stage produced no report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageFailureKind {
    /// The stage's settings are wrong (not retried).
    InvalidConfig,
    /// The tool could not run or crashed.
    ToolFailed,
    /// The tool's output could not be understood.
    BadToolOutput,
    /// Workspace or output I/O failed.
    Io,
    /// The plugin returned another error.
    PluginError,
    /// The plugin ran past its wall-clock deadline.
    DeadlineExceeded,
    /// The plugin went over its memory limit.
    MemoryLimit,
    /// The plugin overflowed its stack.
    StackOverflow,
    /// The plugin used up its fuel.
    FuelExhausted,
    /// The plugin panicked.
    Panicked,
    /// The plugin trapped for another reason.
    Trapped,
    /// The requested plugin is not loaded, or could not be instantiated.
    PluginUnavailable,
    /// The agent host itself failed (workspace, runtime).
    Infrastructure,
}

impl StageFailureKind {
    /// Whether retrying the same attempt could plausibly succeed: infrastructure and
    /// tool faults are retried; bad config and sandbox violations are not.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            StageFailureKind::ToolFailed
                | StageFailureKind::Io
                | StageFailureKind::PluginUnavailable
                | StageFailureKind::Infrastructure
                | StageFailureKind::DeadlineExceeded
        )
    }
}

/// A stage error with its classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageFailure {
    /// Why the attempt could not finish, which decides whether a retry may help.
    pub kind: StageFailureKind,
    /// What happened, naming the plugin, tool or file.
    pub message: String,
}

/// Which plugin ran a stage: the digest pins the exact file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PluginId {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// `sha256:<hex>` of the `.wasm` file.
    pub digest: String,
}

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Step-by-step detail, off unless asked for.
    Trace,
    /// Detail for whoever debugs the plugin.
    Debug,
    /// What the stage is doing.
    Info,
    /// Something looks wrong but the stage goes on.
    Warn,
    /// Something failed.
    Error,
}

/// One log line from a plugin (its `log` calls, stdout and stderr).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the attempt started.
    pub at_ms: u64,
    /// How loud the line is.
    pub level: LogLevel,
    /// `log`, `stdout` or `stderr`.
    pub source: String,
    /// The line, capped and with secrets masked.
    pub message: String,
}

/// What an agent publishes for one attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    /// `run/stage/attempt`.
    pub task_id: String,
    /// The plugin that ran.
    pub plugin: Option<PluginId>,
    /// The report, when the stage ran to completion.
    pub report: Option<StageReport>,
    /// The error, when it did not.
    pub failure: Option<StageFailure>,
    /// Plugin log lines, capped.
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// Log bytes dropped at the cap.
    #[serde(default)]
    pub logs_dropped_bytes: u64,
    /// Wall-clock time of the attempt.
    pub duration_ms: u64,
}

impl StageResult {
    /// True when the stage produced a passing (or skipped) report.
    pub fn passed(&self) -> bool {
        matches!(
            self.report.as_ref().map(|r| r.outcome),
            Some(Outcome::Success | Outcome::Skipped)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_joins_run_stage_attempt() {
        let task = Task {
            run_id: "r1".into(),
            stage: "lint".into(),
            attempt: 2,
            tenant: "acme".into(),
            repository: "acme/app".into(),
            commit: "abc".into(),
            branch: "main".into(),
            event: "push".into(),
            commit_message: "fix: it\n\n$(touch /tmp/x)".into(),
            config: vec![],
        };
        assert_eq!(task.id(), "r1/lint/2");
        let json = serde_json::to_string(&task).unwrap();
        let back: Task = serde_json::from_str(&json).unwrap();
        assert_eq!(back, task);
    }

    #[test]
    fn a_task_from_before_commit_messages_reads_as_an_empty_message() {
        let old = r#"{"run_id":"r","stage":"s","attempt":1,"tenant":"t","repository":"t/r",
            "commit":"c","branch":"b","event":"push"}"#;
        let task: Task = serde_json::from_str(old).unwrap();
        assert_eq!(task.commit_message, "");
    }

    #[test]
    fn a_commit_message_is_cut_at_the_cap_on_a_character_boundary() {
        assert_eq!(task_commit_message("a\0b\nc"), "ab\nc");
        let short = "é".repeat(COMMIT_MESSAGE_MAX_BYTES / 2);
        assert_eq!(task_commit_message(&short), short);
        // One byte over, with a two-byte character across the cap: cut before it.
        let long = format!("x{short}");
        let cut = task_commit_message(&long);
        assert_eq!(cut.len(), COMMIT_MESSAGE_MAX_BYTES - 1);
        assert!(long.starts_with(&cut));
    }

    #[test]
    fn severity_orders_from_info_to_critical() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!(serde_json::to_string(&Severity::High).unwrap(), "\"high\"");
    }

    #[test]
    fn retryable_kinds_exclude_sandbox_violations() {
        assert!(StageFailureKind::Infrastructure.is_retryable());
        assert!(!StageFailureKind::MemoryLimit.is_retryable());
        assert!(!StageFailureKind::InvalidConfig.is_retryable());
    }

    #[test]
    fn coverage_percent_handles_empty() {
        let c = Coverage {
            lines_covered: 0,
            lines_total: 0,
        };
        assert_eq!(c.percent(), 100.0);
        let c = Coverage {
            lines_covered: 3,
            lines_total: 4,
        };
        assert_eq!(c.percent(), 75.0);
    }
}
