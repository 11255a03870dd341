//! Time-driven work: retries whose backoff ended, attempts and rollbacks past their
//! deadline (a lost agent), gates with no answer in time (they fail closed), approvals
//! nobody decided in time (rejected).

use super::{ROLLBACK_SUFFIX, Step, synthetic_failure};
use crate::model::StageState;
use crate::scheduler::event::{Event, EventKind};
use bosun_bus::{StageFailureKind, TaskId};

impl Step<'_> {
    /// Time-driven work: retries whose backoff ended, attempts and gates past deadline.
    pub fn on_tick(&mut self) {
        if self.run.status.is_final() {
            return;
        }
        let mut changed = false;
        for index in 0..self.run.stages.len() {
            let stage = self.run.stages[index].clone();
            let Some(spec) = self.stage_spec(&stage.name).cloned() else {
                continue;
            };
            match stage.state {
                StageState::RetryWait if stage.next_attempt_ms.is_some_and(|t| t <= self.now) => {
                    self.begin_attempt(&spec, stage.attempt + 1);
                    changed = true;
                }
                StageState::Running if stage.deadline_ms.is_some_and(|t| t <= self.now) => {
                    let task_id = TaskId::new(&self.run.id, &stage.name, stage.attempt);
                    let failure = synthetic_failure(
                        &task_id,
                        StageFailureKind::Infrastructure,
                        format!(
                            "no result for {} attempt {} within its timeout of {} s (agent lost or overloaded)",
                            stage.name,
                            stage.attempt,
                            spec.timeout.as_secs()
                        ),
                    );
                    let late = format!(
                        "{} attempt {} passed its deadline",
                        stage.name, stage.attempt
                    );
                    self.record(
                        Event::new(EventKind::StageDeadline, late)
                            .stage(&stage.name)
                            .attempt(stage.attempt),
                    );
                    self.apply_result("orchestrator", &stage.name, stage.attempt, failure, true);
                    changed = true;
                }
                StageState::Gating
                    if stage
                        .gate
                        .as_ref()
                        .is_some_and(|g| g.deadline_ms <= self.now) =>
                {
                    let request = stage
                        .gate
                        .as_ref()
                        .map(|g| g.request_id.clone())
                        .unwrap_or_default();
                    let reason = format!(
                        "no policy answer for {} within {} s (gates fail closed)",
                        stage.name,
                        self.settings.gate_timeout().as_secs()
                    );
                    self.apply_gate(
                        &stage.name,
                        &request,
                        vec![reason],
                        vec![],
                        serde_json::json!({"timeout": true}),
                    );
                    changed = true;
                }
                StageState::AwaitingApproval
                    if stage
                        .approval
                        .as_ref()
                        .is_some_and(|a| a.deadline_ms <= self.now) =>
                {
                    self.approval_timed_out(&spec);
                    changed = true;
                }
                _ => {}
            }
            if stage.rollback == Some(StageState::Running)
                && stage.state.is_settled()
                && stage.deadline_ms.is_some_and(|t| t <= self.now)
            {
                let rollback = format!("{}{ROLLBACK_SUFFIX}", stage.name);
                let failure = synthetic_failure(
                    &TaskId::new(&self.run.id, rollback, 1),
                    StageFailureKind::Infrastructure,
                    format!(
                        "no result for the rollback of {} within its timeout",
                        stage.name
                    ),
                );
                self.apply_rollback_result("orchestrator", &stage.name, 1, failure);
                changed = true;
            }
        }
        let waits_for_group = self
            .run
            .stages
            .iter()
            .any(|s| s.state == StageState::Pending && s.group_wait_ms.is_some());
        if changed || waits_for_group {
            self.advance();
        }
    }
}
