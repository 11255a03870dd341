//! Notifications on the bus: the run summary the orchestrator sends on `agent.notify`,
//! and the formatted message an agent's notifier plugin returns on `agent.results`.
//! Mirrors the WIT `notifier-plugin` interface. The orchestrator posts the message, so
//! webhook URLs and tokens never reach an agent or a plugin.

use crate::types::{Finding, PluginId, TestFailure};
use serde::{Deserialize, Serialize};

/// How a stage ended, as the notification tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Every stage that must pass passed.
    Success,
    /// The code did not meet the stage's bar.
    Failure,
    /// The stage could not run (tool, plugin or infrastructure error).
    Errored,
    /// Not run (its `when` did not match, or the run halted before it).
    Skipped,
    /// Cancelled by a newer push or an operator.
    Cancelled,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every stage passed.
    Success,
    /// A stage failed.
    Failure,
    /// Halted: a policy denied, or `max_failures` was reached.
    Halted,
    /// A newer push or an operator cancelled the run.
    Cancelled,
}

/// One stage in a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Stage name.
    pub name: String,
    /// How it ended.
    pub status: StageStatus,
    /// Wall-clock time across attempts.
    pub duration_ms: u64,
    /// Attempts made.
    pub attempts: u32,
    /// One line for people.
    pub summary: String,
    /// Why it failed, most important first (blocking findings with rule, severity,
    /// file and line, worst first; failed tests by name; the coverage shortfall; or
    /// the error that stopped it), the last one `… and N more` when cut; empty when it
    /// did not fail. The same lines `bosun run` prints under its table.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// What a notifier formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run.
    pub run_id: String,
    /// The tenant (repository owner) the run belongs to.
    pub tenant: String,
    /// `owner/name`.
    pub repository: String,
    /// The branch that was pushed.
    pub branch: String,
    /// Commit sha.
    pub commit: String,
    /// How the run ended.
    pub status: RunStatus,
    /// Link to the run on the dashboard.
    pub url: String,
    /// Wall-clock time of the run.
    pub duration_ms: u64,
    /// Every stage, in pipeline order.
    pub stages: Vec<StageSummary>,
    /// Tests that failed in the last attempt of their stage.
    pub failed_tests: Vec<TestFailure>,
    /// Tests that failed and then passed on a retry.
    pub flaky_tests: Vec<String>,
    /// Findings that blocked the run (for example vulnerabilities at or above `fail_on`).
    pub blocking_findings: Vec<Finding>,
    /// Deny reasons from policy gates.
    pub policy_denials: Vec<String>,
}

/// A formatting request, published by the orchestrator on `agent.notify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyTaskMessage {
    /// Message format version.
    pub version: u32,
    /// `run/notify/<n>`: answers are matched on it.
    pub request_id: String,
    /// The notifier plugin to use.
    pub notifier: String,
    /// Its settings, in config order.
    #[serde(default)]
    pub config: Vec<(String, String)>,
    /// What to format.
    pub summary: RunSummary,
    /// Absolute deadline, milliseconds since the Unix epoch (0: none).
    #[serde(default)]
    pub deadline_unix_ms: u64,
}

/// An agent's answer to a [`NotifyTaskMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyReplyMessage {
    /// Message format version.
    pub version: u32,
    /// Which agent formatted it.
    pub agent_id: String,
    /// The request's id.
    pub request_id: String,
    /// The run.
    pub run_id: String,
    /// The notifier that ran.
    pub notifier: Option<PluginId>,
    /// The message body (Slack Block Kit JSON), when formatting worked.
    pub body: Option<String>,
    /// Why it did not, naming the plugin.
    pub error: Option<String>,
}
