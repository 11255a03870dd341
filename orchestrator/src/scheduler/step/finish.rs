//! Ending a run: halting or cancelling it (stages in flight cancelled, pending ones not
//! run), or finishing it once every stage settled, with its metrics and commit status.

use super::Step;
use crate::metrics::StatusLabels;
use crate::model::{RunStatus, StageState};
use crate::scheduler::event::{Event, EventKind};
use crate::scheduler::{CheckPhase, Effect, StatusState};

impl Step<'_> {
    /// Stop the run: stages in flight are cancelled, pending ones not run.
    pub fn halt(&mut self, reason: String) {
        self.stop(RunStatus::Halted, EventKind::RunHalted, reason);
    }

    /// Cancel the run (a newer push, or an operator).
    pub fn cancel(&mut self, reason: String) {
        self.stop(RunStatus::Cancelled, EventKind::RunCancelled, reason);
        self.save();
    }

    fn stop(&mut self, status: RunStatus, kind: EventKind, reason: String) {
        if self.run.status.is_final() {
            return;
        }
        let mut stopped = Vec::new();
        for stage in &mut self.run.stages {
            match stage.state {
                StageState::Running
                | StageState::Gating
                | StageState::RetryWait
                | StageState::AwaitingApproval => {
                    stage.state = StageState::Cancelled;
                    stage.finished_ms = Some(self.now);
                    stage.gate = None;
                    stage.deadline_ms = None;
                    stage.summary = format!("cancelled: {reason}");
                    stopped.push(stage.name.clone());
                }
                StageState::Pending => {
                    stage.state = StageState::Skipped;
                    stage.blocked = true;
                    stage.finished_ms = Some(self.now);
                    stage.summary = "not run: the run stopped".into();
                }
                _ => {}
            }
        }
        for stage in stopped {
            self.check(&stage, CheckPhase::Completed { at_ms: self.now });
        }
        self.run.error = Some(reason.clone());
        self.record(Event::new(kind, reason.clone()));
        self.conclude(status);
    }

    /// Finish the run once every stage settled: passed, unless a stage that may not
    /// fail did.
    pub(super) fn finish(&mut self) {
        if self.run.status.is_final() {
            return;
        }
        let failed: Vec<String> = self
            .run
            .stages
            .iter()
            .filter(|s| matches!(s.state, StageState::Failure | StageState::Errored))
            .filter(|s| {
                !self
                    .stage_spec(&s.name)
                    .map(|spec| spec.allow_failure)
                    .unwrap_or(false)
            })
            .map(|s| s.name.clone())
            .collect();
        if failed.is_empty() {
            self.record(Event::new(
                EventKind::RunPassed,
                "every stage passed".into(),
            ));
            self.conclude(RunStatus::Success);
        } else {
            let reason = format!("{} did not pass", failed.join(", "));
            self.run.error = Some(reason.clone());
            self.record(Event::new(EventKind::RunFailed, reason));
            self.conclude(RunStatus::Failure);
        }
    }

    fn conclude(&mut self, status: RunStatus) {
        self.metrics
            .runs
            .get_or_create(&StatusLabels {
                status: status.as_str().to_string(),
            })
            .inc();
        if status == RunStatus::Halted {
            self.metrics.halts.inc();
        }
        self.run.status = status;
        self.run.finished_ms = Some(self.now);
        let (state, description) = match status {
            RunStatus::Success => (StatusState::Success, "pipeline passed".to_string()),
            RunStatus::Cancelled => (StatusState::Error, "pipeline cancelled".to_string()),
            _ => (
                StatusState::Failure,
                self.run
                    .error
                    .clone()
                    .unwrap_or_else(|| "pipeline failed".into()),
            ),
        };
        self.status("bosun", state, description);
        self.effects.push(Effect::Finished {
            run_id: self.run.id.clone(),
        });
    }
}
