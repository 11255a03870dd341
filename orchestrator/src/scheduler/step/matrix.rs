//! A matrix stage's instances as a group: `max_parallel` holds back instances while
//! enough of their siblings are out, and `fail_fast` stops the siblings of an instance
//! that failed.

use super::Step;
use crate::config::StageSpec;
use crate::model::StageState;
use crate::scheduler::effect::Effect;
use crate::scheduler::event::{Event, EventKind};
use crate::scheduler::{CheckPhase, StatusState};
use bosun_bus::messages::MESSAGE_VERSION;
use bosun_bus::topics;

impl Step<'_> {
    /// Whether `spec` may begin now: always, unless it is a matrix instance and
    /// `max_parallel` of its siblings are already begun and not settled.
    pub(super) fn matrix_has_room(&self, spec: &StageSpec) -> bool {
        let Some(limit) = spec.matrix.as_ref().and_then(|m| m.max_parallel) else {
            return true;
        };
        let out = self
            .siblings(spec)
            .filter(|name| {
                self.run
                    .stage(name)
                    .is_some_and(|s| crate::scheduler::groups::under_way(s.state))
            })
            .count();
        out < limit as usize
    }

    /// After `failed` settled as failed: with `fail_fast` (and a failure that counts),
    /// its siblings still waiting or running are cancelled, each with its commit status;
    /// for one whose attempt is out, a `stage.cancelled` announcement on
    /// `pipeline.events` tells the agent running it to stop its tools now.
    pub(super) fn matrix_fail_fast(&mut self, failed: &str) {
        let Some(spec) = self.stage_spec(failed).cloned() else {
            return;
        };
        if spec.allow_failure || !spec.matrix.as_ref().is_some_and(|m| m.fail_fast) {
            return;
        }
        let siblings: Vec<String> = self.siblings(&spec).collect();
        for name in siblings {
            let Some(stage) = self.run.stage_mut(&name) else {
                continue;
            };
            if stage.state.is_settled() {
                continue;
            }
            let summary = format!("cancelled: {failed} failed (fail_fast)");
            let out_with_an_agent = stage.state == StageState::Running;
            stage.state = StageState::Cancelled;
            stage.finished_ms = Some(self.now);
            stage.gate = None;
            stage.deadline_ms = None;
            stage.next_attempt_ms = None;
            stage.summary = summary.clone();
            self.record(
                Event::new(EventKind::StageCancelled, format!("{name} {summary}")).stage(&name),
            );
            self.status(&format!("bosun/{name}"), StatusState::Error, summary);
            self.check(&name, CheckPhase::Completed { at_ms: self.now });
            if out_with_an_agent {
                self.announce_stage_cancelled(&name);
            }
        }
    }

    /// Tell the agents (they read `pipeline.events` in groups of their own) that
    /// `stage`'s attempt out with one of them is cancelled while its run goes on.
    fn announce_stage_cancelled(&mut self, stage: &str) {
        self.effects.push(Effect::Publish {
            topic: topics::PIPELINE_EVENTS.to_string(),
            key: self.run.id.clone(),
            payload: serde_json::to_vec(&serde_json::json!({
                "version": MESSAGE_VERSION,
                "kind": "stage.cancelled",
                "run_id": self.run.id,
                "stage": stage,
                "at_ms": self.now,
            }))
            .unwrap_or_default(),
        });
    }

    /// The other instances of `spec`'s matrix stage, by name.
    fn siblings<'s>(&'s self, spec: &'s StageSpec) -> impl Iterator<Item = String> + 's {
        let of = spec.matrix.as_ref().map(|m| m.of.as_str());
        self.config
            .stages
            .iter()
            .filter(move |s| {
                s.name != spec.name
                    && of.is_some()
                    && s.matrix.as_ref().map(|m| m.of.as_str()) == of
            })
            .map(|s| s.name.clone())
    }
}
