//! Rollbacks: a failed stage with a `rollback` runs it once, as `<stage>-rollback`
//! attempt 1, and the run waits for it before it finishes.

use super::{ROLLBACK_SUFFIX, Step, result_summary};
use crate::config::StageSpec;
use crate::model::StageState;
use crate::scheduler::Effect;
use crate::scheduler::event::{Event, EventKind};
use crate::scheduler::journal::Write;
use bosun_bus::messages;
use bosun_bus::{StageResult, topics};

impl Step<'_> {
    /// Send the failed stage's rollback, as `<stage>-rollback` attempt 1.
    pub(super) fn dispatch_rollback(&mut self, spec: &StageSpec) {
        let Some(rollback) = &spec.rollback else {
            return;
        };
        let mut config = Self::stage_config(spec, &[]);
        for (k, v) in &rollback.with {
            config.retain(|(key, _)| key != k);
            config.push((k.clone(), v.clone()));
        }
        let name = format!("{}{ROLLBACK_SUFFIX}", spec.name);
        let (message, deadline_ms) = self.task_message(spec, &name, 1, &rollback.plugin, config);
        let topic = topics::stage_topic(&spec.agent);
        if let Some(stage) = self.run.stage_mut(&spec.name) {
            stage.rollback = Some(StageState::Running);
            stage.deadline_ms = Some(deadline_ms);
        }
        self.journal.writes.push(Write::Dispatched {
            run_id: self.run.id.clone(),
            stage: name.clone(),
            attempt: 1,
            at_ms: self.now,
            deadline_ms,
        });
        let sent = format!(
            "{} failed: rollback sent to {topic} (plugin {})",
            spec.name, rollback.plugin
        );
        self.record(
            Event::new(EventKind::RollbackDispatched, sent)
                .stage(&spec.name)
                .attempt(1),
        );
        self.effects.push(Effect::Publish {
            topic,
            key: self.run.id.clone(),
            payload: messages::encode(&message),
        });
    }

    /// Apply the rollback's result (or its timeout); `false` when none is running.
    pub(super) fn apply_rollback_result(
        &mut self,
        agent_id: &str,
        base: &str,
        attempt: u32,
        result: StageResult,
    ) -> bool {
        let Some(stage) = self.run.stage(base) else {
            return false;
        };
        if stage.rollback != Some(StageState::Running) {
            return false;
        }
        let passed = result.passed();
        let summary = result_summary(&result);
        self.journal.writes.push(Write::Settled {
            run_id: self.run.id.clone(),
            stage: format!("{base}{ROLLBACK_SUFFIX}"),
            attempt,
            agent_id: agent_id.to_string(),
            result: Box::new(result),
            at_ms: self.now,
        });
        if let Some(stage) = self.run.stage_mut(base) {
            stage.rollback = Some(if passed {
                StageState::Success
            } else {
                StageState::Errored
            });
            stage.deadline_ms = None;
        }
        let kind = if passed {
            EventKind::RollbackPassed
        } else {
            EventKind::RollbackFailed
        };
        let settled = format!("rollback of {base} from {agent_id}: {summary}");
        self.record(Event::new(kind, settled).stage(base).attempt(attempt));
        self.advance();
        true
    }
}
