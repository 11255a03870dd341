//! The durable shape of a run: what triggered it, its stages and their attempts' state.
//!
//! A run's state is one small JSON document in the run store, rewritten in the same
//! transaction as the events that change it, so a restarted orchestrator resumes from
//! exactly what was committed. Reports, logs and events live in their own tables.

use crate::config::PipelineConfig;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A run's pipeline config as loaded: its text and where it came from
/// (`.bosun.yml@<short commit>`, or the server's fallback pipeline for the repository),
/// and, when the loader parsed it already, the outcome.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The YAML text.
    pub text: String,
    /// Where it was read, as the run page and messages name it.
    pub origin: String,
    /// The text parsed off the scheduler's task (the parse error as text when it does
    /// not parse), so a large or hostile config never holds the scheduler; `None` when
    /// the scheduler is to parse it.
    pub parsed: Option<Result<Arc<PipelineConfig>, String>>,
}

impl LoadedConfig {
    /// A config `text` read from `origin`, not parsed yet.
    pub fn new(text: impl Into<String>, origin: impl Into<String>) -> LoadedConfig {
        LoadedConfig {
            text: text.into(),
            origin: origin.into(),
            parsed: None,
        }
    }

    /// Parse the text (blocking: call it off the async threads and the scheduler).
    pub fn parse(mut self) -> LoadedConfig {
        self.parsed = Some(
            crate::config::parse(&self.origin, &self.text)
                .map(Arc::new)
                .map_err(|e| e.to_string()),
        );
        self
    }
}

/// What started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTrigger {
    /// Tenant: the repository owner.
    pub tenant: String,
    /// `owner/name`.
    pub repository: String,
    /// Where agents fetch the code.
    pub clone_url: String,
    /// The repository's default branch.
    pub default_branch: String,
    /// Commit sha.
    pub commit: String,
    /// The branch that was pushed (a pull request's head branch).
    pub branch: String,
    /// `push`, `pull_request`, `manual` or `schedule`.
    pub event: String,
    /// Files the push changed, when known (for `when: paths`).
    #[serde(default)]
    pub changed_paths: Option<Vec<String>>,
    /// Pull request number.
    #[serde(default)]
    pub pull_request: Option<u64>,
    /// Who pushed or asked.
    #[serde(default)]
    pub sender: String,
    /// Head commit message or PR title.
    #[serde(default)]
    pub message: Option<String>,
    /// A pull request from a fork (its head is in another repository).
    #[serde(default)]
    pub fork: bool,
}

impl RunTrigger {
    /// Whether the run builds a pull request: it gets less than a push (no secrets, no
    /// pushes, no deploys, network only where the tenant opts in).
    pub fn is_pull_request(&self) -> bool {
        self.event == "pull_request"
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// A fork's pull request, waiting for a member of its tenant to approve it; nothing
    /// of it (not even its config) is read before.
    AwaitingApproval,
    /// Recorded; its config is being loaded.
    Queued,
    /// Stages are being dispatched.
    Running,
    /// Every stage passed (or was allowed to fail, or skipped by `when`).
    Success,
    /// A stage failed; its dependents did not run.
    Failure,
    /// Stopped by a policy deny or by `max_failures`.
    Halted,
    /// Superseded by a newer push, or cancelled by an operator.
    Cancelled,
    /// The pipeline config could not be loaded or is invalid.
    ConfigError,
}

impl RunStatus {
    /// The run is over.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunStatus::AwaitingApproval | RunStatus::Queued | RunStatus::Running
        )
    }

    /// The name used in the store and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::AwaitingApproval => "awaiting-approval",
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::Halted => "halted",
            RunStatus::Cancelled => "cancelled",
            RunStatus::ConfigError => "config-error",
        }
    }
}

/// Where a stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageState {
    /// Waiting for its needs.
    Pending,
    /// Waiting for a person to approve or reject it (`approval` in its config).
    AwaitingApproval,
    /// Waiting for a policy gate's answer (before or after the stage).
    Gating,
    /// An attempt is out with an agent.
    Running,
    /// Waiting for its backoff before the next attempt.
    RetryWait,
    /// The attempt passed and any after-stage gate allowed it.
    Success,
    /// The code did not meet the stage's bar.
    Failure,
    /// The stage could not run (tool, plugin, agent or deadline).
    Errored,
    /// Not run: `when` did not match, or a stage it needs did not pass.
    Skipped,
    /// The run was cancelled or halted while it waited or ran.
    Cancelled,
}

impl StageState {
    /// The stage will not change any more.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            StageState::Success
                | StageState::Failure
                | StageState::Errored
                | StageState::Skipped
                | StageState::Cancelled
        )
    }
}

/// A policy question in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingGate {
    /// `run/stage/attempt/phase`.
    pub request_id: String,
    /// Before or after the stage.
    pub phase: bosun_bus::policy::PolicyPhase,
    /// When an unanswered gate is denied (fail closed).
    pub deadline_ms: u64,
}

/// A stage's `approval`: who may decide, until when, and what was decided. Kept in the
/// run document, so a restarted orchestrator still waits and still times out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalState {
    /// When the stage began to wait.
    pub requested_ms: u64,
    /// When, with no decision, the stage is rejected.
    pub deadline_ms: u64,
    /// Who may decide, as people read it: logins, `@org/team`s, or "any member of …".
    pub approvers: Vec<String>,
    /// The decision, once made (or the timeout's).
    #[serde(default)]
    pub decision: Option<ApprovalDecision>,
}

/// A person's (or the timeout's) decision on a stage's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    /// Approved (the stage runs) or rejected (it fails, and what needs it does not run).
    pub approved: bool,
    /// Who decided, as the audit log names them.
    pub by: String,
    /// Why, in their words (or the timeout's).
    pub reason: String,
    /// When the decision was made (ms since the Unix epoch).
    pub at_ms: u64,
}

/// One stage of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Stage name.
    pub name: String,
    /// Where it is.
    pub state: StageState,
    /// The current (or last) attempt; 0 before the first.
    pub attempt: u32,
    /// When the first attempt was dispatched.
    pub started_ms: Option<u64>,
    /// When it settled.
    pub finished_ms: Option<u64>,
    /// When the current attempt must have answered.
    pub deadline_ms: Option<u64>,
    /// When the next attempt goes out (in `RetryWait`).
    pub next_attempt_ms: Option<u64>,
    /// A gate in flight.
    pub gate: Option<PendingGate>,
    /// One line for people.
    pub summary: String,
    /// For stages with a rollback: where the rollback is.
    #[serde(default)]
    pub rollback: Option<StageState>,
    /// Skipped because a stage it needs did not pass (as opposed to `when`).
    #[serde(default)]
    pub blocked: bool,
    /// Since when the stage waits for its concurrency group (ms); `None` when it does not.
    #[serde(default)]
    pub group_wait_ms: Option<u64>,
    /// In a re-run, the run whose result this stage reuses (it passed there and did not
    /// run again); its attempts are copied from that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
    /// For stages with an `approval`: the wait and its decision.
    #[serde(default)]
    pub approval: Option<ApprovalState>,
}

impl StageRecord {
    /// A stage not yet started.
    pub fn pending(name: &str) -> StageRecord {
        StageRecord {
            name: name.to_string(),
            state: StageState::Pending,
            attempt: 0,
            started_ms: None,
            finished_ms: None,
            deadline_ms: None,
            next_attempt_ms: None,
            gate: None,
            summary: String::new(),
            rollback: None,
            blocked: false,
            group_wait_ms: None,
            reused_from: None,
            approval: None,
        }
    }
}

/// The durable state of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub id: String,
    /// What started it.
    pub trigger: RunTrigger,
    /// Where it is.
    pub status: RunStatus,
    /// When it was recorded.
    pub created_ms: u64,
    /// When it settled.
    pub finished_ms: Option<u64>,
    /// The pipeline config text it runs (re-parsed on resume).
    pub config_source: Option<String>,
    /// Where the config came from (`.bosun.yml@<sha>` or the server's fallback).
    pub config_origin: Option<String>,
    /// Why it ended badly, for people.
    pub error: Option<String>,
    /// Failed attempts so far, against `max_failures`.
    pub failures: u32,
    /// Stages in pipeline order.
    pub stages: Vec<StageRecord>,
    /// Deny reasons from policy gates.
    #[serde(default)]
    pub denials: Vec<String>,
    /// Warn reasons from policy gates.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Whether the final notification was asked for.
    #[serde(default)]
    pub notified: bool,
    /// When the run re-runs an earlier one: which, and what it pins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<Rerun>,
    /// Units spent so far of the run's `when.paths` matching budget, which every
    /// stage's check shares (`bosun_config::RUN_MATCH_BUDGET`).
    #[serde(default)]
    pub paths_budget_spent: u64,
}

/// What a re-run repeats: the run, the stages asked for, and what is pinned. The
/// trigger and the config text are the original's (copied into the run), never read
/// again from the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rerun {
    /// The run it re-runs.
    pub run_id: String,
    /// The one stage asked for; `None`: every stage that did not pass.
    #[serde(default)]
    pub stage: Option<String>,
    /// Who asked, for the audit log.
    #[serde(default)]
    pub by: String,
    /// The stages that run again, each with what it is pinned to.
    #[serde(default)]
    pub pins: Vec<StagePin>,
}

impl Rerun {
    /// What the stage called `stage` is pinned to, when it runs again.
    pub fn pin(&self, stage: &str) -> Option<&StagePin> {
        self.pins.iter().find(|p| p.stage == stage)
    }
}

/// What one re-run stage runs with: the plugin its original attempt ran (by digest)
/// and the grants it had then, which the re-run never exceeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePin {
    /// Stage name.
    pub stage: String,
    /// The plugin that ran the stage (or its plugin elsewhere in the run) in the
    /// original; `None` when it never ran there, so nothing can be pinned.
    #[serde(default)]
    pub plugin: Option<bosun_bus::PluginId>,
    /// The grants its original attempt was sent with; `None` when it was never sent
    /// (or the original predates recorded grants).
    #[serde(default)]
    pub grants: Option<crate::trust::StageGrants>,
}

impl RunRecord {
    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&StageRecord> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The stage called `name`, to change it.
    pub fn stage_mut(&mut self, name: &str) -> Option<&mut StageRecord> {
        self.stages.iter_mut().find(|s| s.name == name)
    }
}
