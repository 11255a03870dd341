//! One scheduling step on one run: dispatch what is ready, apply a result, retry with
//! backoff, gate on policies, wait for a person's approval, roll back a failed deploy, halt, finish. One file per
//! action, each with its own `impl Step`; this one holds the step itself and what the
//! actions share.
//!
//! A step only changes the in-memory run and buffers writes and effects; the scheduler
//! commits the writes, then releases the effects. So a crash between the two re-sends
//! at most what was committed as sent (the agents' results for it are idempotent).

mod advance;
mod approval;
mod artifacts;
mod concurrency;
mod dispatch;
mod finish;
mod gate;
mod matrix;
mod result;
mod rollback;
mod tick;

use super::event::Event;
use super::journal::Journal;
use super::{ActiveRun, CheckPhase, Effect, Scheduler, StatusState, StatusUpdate};
use crate::config::{PipelineConfig, StageSpec};
use crate::metrics::OrchestratorMetrics;
use crate::model::RunRecord;
use crate::settings::{ServerSettings, TenantSettings};
use bosun_bus::{StageFailure, StageFailureKind, StageResult, TaskId};

pub use approval::APPROVAL_PHASE;

/// Suffix of the task stage name a rollback runs under.
pub const ROLLBACK_SUFFIX: &str = "-rollback";

/// Everything a step needs besides the run.
pub struct Step<'a> {
    /// The run.
    pub run: &'a mut RunRecord,
    /// Its pipeline.
    pub config: &'a PipelineConfig,
    /// Its tenant's settings, if the tenant is configured.
    pub tenant: Option<&'a TenantSettings>,
    /// Server settings.
    pub settings: &'a ServerSettings,
    /// Counters and histograms.
    pub metrics: &'a OrchestratorMetrics,
    /// Now, ms since the epoch.
    pub now: u64,
    /// Buffered writes.
    pub journal: &'a mut Journal,
    /// Buffered effects.
    pub effects: &'a mut Vec<Effect>,
    /// Other runs' use of concurrency groups (empty when this run's config has none).
    pub groups: Vec<super::groups::GroupUse>,
    /// Signs the tasks' artifact tokens.
    pub artifact_key: &'a [u8],
}

/// What one input's steps buffered: the writes to commit, then the effects to hand out.
#[derive(Debug, Default)]
pub struct StepOutput {
    /// Writes, committed in one transaction.
    pub journal: Journal,
    /// Effects, released once the writes are committed.
    pub effects: Vec<Effect>,
}

impl StepOutput {
    /// Nothing was buffered: there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.journal.writes.is_empty() && self.effects.is_empty()
    }
}

impl Scheduler {
    /// A step on `run` at `now`, buffering into `out`; `None` while the run has no
    /// pipeline config yet (there is nothing to schedule).
    pub(super) fn step<'a>(
        &'a self,
        run: &'a mut ActiveRun,
        now: u64,
        out: &'a mut StepOutput,
    ) -> Option<Step<'a>> {
        let ActiveRun { record, config } = run;
        let config = config.as_deref()?;
        let groups = if config.stages.iter().any(|s| s.concurrency.is_some()) {
            super::groups::group_uses(&self.active)
        } else {
            Vec::new()
        };
        Some(Step {
            groups,
            tenant: self.settings.tenant(&record.trigger.tenant),
            run: record,
            config,
            settings: &self.settings,
            metrics: &self.metrics,
            now,
            journal: &mut out.journal,
            effects: &mut out.effects,
            artifact_key: &self.artifact_key,
        })
    }
}

/// A failure the orchestrator itself observed (lost agent, dead letter).
pub fn synthetic_failure(task_id: &TaskId, kind: StageFailureKind, message: String) -> StageResult {
    StageResult {
        task_id: task_id.to_string(),
        plugin: None,
        report: None,
        failure: Some(StageFailure { kind, message }),
        logs: Vec::new(),
        logs_dropped_bytes: 0,
        duration_ms: 0,
    }
}

/// One line for people about a result.
pub fn result_summary(result: &StageResult) -> String {
    match (&result.report, &result.failure) {
        (Some(report), _) => report.summary.clone(),
        (None, Some(failure)) => format!("{}: {}", kind_name(failure.kind), failure.message),
        (None, None) => "no report".into(),
    }
}

fn kind_name(kind: StageFailureKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "error".into())
}

impl Step<'_> {
    /// Append `event` to the run's audit log, now.
    fn record(&mut self, event: Event) {
        self.journal.event(&self.run.id, self.now, event);
    }

    /// Post a commit status, when the tenant has a GitHub token to post it with.
    fn status(&mut self, context: &str, state: StatusState, description: String) {
        let Some(tenant) = self.tenant else { return };
        if tenant.github_token.resolve().is_none() {
            return;
        }
        self.effects.push(Effect::Status {
            run_id: self.run.id.clone(),
            tenant: self.run.trigger.tenant.clone(),
            repository: self.run.trigger.repository.clone(),
            commit: self.run.trigger.commit.clone(),
            update: StatusUpdate {
                state,
                context: context.to_string(),
                description,
                target_url: format!("{}/runs/{}", self.settings.base_url(), self.run.id),
            },
        });
    }

    /// Start or complete the stage's check run, when the tenant wants check runs and
    /// has a GitHub token.
    fn check(&mut self, stage: &str, phase: CheckPhase) {
        let Some(tenant) = self.tenant else { return };
        if !tenant.github_checks || tenant.github_token.resolve().is_none() {
            return;
        }
        self.effects.push(Effect::Check {
            run_id: self.run.id.clone(),
            tenant: self.run.trigger.tenant.clone(),
            repository: self.run.trigger.repository.clone(),
            commit: self.run.trigger.commit.clone(),
            stage: stage.to_string(),
            phase,
        });
    }

    fn save(&mut self) {
        self.journal.save_run(self.run);
    }

    fn stage_spec(&self, name: &str) -> Option<&StageSpec> {
        self.config.stage(name)
    }
}
