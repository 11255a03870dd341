//! Routing what comes back from the agents (stage results, policy verdicts, formatted
//! notifications, inventories) and dead-lettered tasks to the run they belong to.
//!
//! The run and stage come from the reply's typed id ([`TaskId`], [`GateRequestId`]); a
//! reply whose id does not read as one is dropped with a warning: it matches no run.

use super::journal::{Journal, Write};
use super::step::synthetic_failure;
use super::{Effect, Scheduler, SchedulerError};
use bosun_bus::messages::{self, AgentReply, DeadLetter, TaskMessage};
use bosun_bus::{GateRequestId, StageFailureKind, TaskId};

impl Scheduler {
    /// Apply an agent's reply from `agent.results`.
    pub fn on_reply(&mut self, reply: AgentReply, now: u64) -> Result<Vec<Effect>, SchedulerError> {
        match reply {
            AgentReply::Stage(message) => {
                let task = match message.result.task_id.parse::<TaskId>() {
                    Ok(task) => task,
                    Err(error) => {
                        tracing::warn!(%error, agent = %message.agent_id, "result with a malformed task id ignored");
                        return Ok(Vec::new());
                    }
                };
                let agent = message.agent_id.clone();
                self.with_run(&task.run_id, now, |step| {
                    step.apply_result(&agent, &task.stage, task.attempt, message.result, true);
                })
            }
            AgentReply::Policy(message) => {
                let gate = match message.request_id.parse::<GateRequestId>() {
                    Ok(gate) => gate,
                    Err(error) => {
                        tracing::warn!(%error, agent = %message.agent_id, "policy answer with a malformed request id ignored");
                        return Ok(Vec::new());
                    }
                };
                let denials = message.denials();
                let warnings = message.warnings();
                let verdicts = serde_json::to_value(&message.verdicts).unwrap_or_default();
                self.with_run(&gate.run_id, now, |step| {
                    step.apply_gate(
                        &gate.stage,
                        &message.request_id,
                        denials,
                        warnings,
                        verdicts,
                    );
                })
            }
            AgentReply::Notify(message) => self.on_notify_reply(message, now),
            AgentReply::Inventory(message) => {
                tracing::debug!(agent = %message.agent_id, plugins = message.plugins.len(), "agent inventory");
                // Stored with the orchestrator's clock, not the agent's: last-seen times
                // are compared with each other and with now on the dashboard.
                self.store.write(|w| w.upsert_agent(&message, now))?;
                Ok(Vec::new())
            }
        }
    }

    /// A task was dead-lettered: record it, and fail its attempt now rather than at its
    /// deadline (no retry: it already failed every delivery).
    pub fn on_dead_letter(
        &mut self,
        letter: DeadLetter,
        now: u64,
    ) -> Result<Vec<Effect>, SchedulerError> {
        let task: Option<TaskMessage> = messages::decode(letter.payload.as_bytes()).ok();
        let reason = format!(
            "task dead-lettered after {} deliveries: {}",
            letter.deliveries, letter.reason
        );
        let mut journal = Journal::default();
        journal
            .writes
            .push(Write::DeadLetter(Box::new(letter), now));
        self.store.write(|w| journal.apply(w))?;
        let Some(task) = task else {
            return Ok(Vec::new());
        };
        let task_id = task.task.task_id();
        self.with_run(&task_id.run_id, now, |step| {
            let failure = synthetic_failure(&task_id, StageFailureKind::Infrastructure, reason);
            step.apply_result(
                "dead-letter",
                &task_id.stage,
                task_id.attempt,
                failure,
                false,
            );
        })
    }
}
