//! A person's decision on a stage that waits for an approval: checked against who may
//! decide it (`trust::may_decide`, from the run's config and its tenant's settings),
//! then applied, or refused and the refusal recorded in the audit log. A decision on a
//! matrix stage by the name it is written under (`deploy` for `deploy-eu`, `deploy-us`)
//! is one decision for every instance of it that waits: one approval, not one per
//! instance.

use super::{Effect, Scheduler, SchedulerError};
use crate::model::StageState;
use crate::trust::{Approvers, Decider, may_decide};

/// Someone's decision on a waiting stage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StageDecision {
    /// Approve (the stage runs) or reject (it fails, and what needs it does not run).
    pub approve: bool,
    /// Who asks, as their token told.
    pub decider: Decider,
    /// Why, in their words.
    pub reason: String,
}

/// What became of a decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Decided {
    /// Applied; `by` is how the audit log names the decider.
    Done {
        /// Approved or rejected.
        approved: bool,
        /// Who decided.
        by: String,
    },
    /// The run is not in flight (finished, or unknown to the scheduler).
    NotInFlight,
    /// The run has no stage of that name.
    NoSuchStage,
    /// The stage does not wait for an approval (why, for people).
    NotWaiting(String),
    /// The decider may not decide this stage (the rule, for people); recorded.
    Refused(String),
}

/// The instances of matrix stage `of` in `active` that wait for an approval.
fn waiting_instances(active: &super::ActiveRun, of: &str) -> Vec<String> {
    let Some(config) = active.config.as_ref() else {
        return Vec::new();
    };
    config
        .stages
        .iter()
        .filter(|s| s.matrix.as_ref().is_some_and(|m| m.of == of))
        .filter(|s| {
            active
                .record
                .stage(&s.name)
                .is_some_and(|r| r.state == StageState::AwaitingApproval)
        })
        .map(|s| s.name.clone())
        .collect()
}

impl Scheduler {
    /// One decision for each of `instances`: all applied, or none when the decider may
    /// not decide them (the instances share one `approval`, so one rule answers).
    fn decide_instances(
        &mut self,
        run_id: &str,
        instances: &[String],
        decision: StageDecision,
        now: u64,
    ) -> Result<(Decided, Vec<Effect>), SchedulerError> {
        let mut effects = Vec::new();
        let mut outcome = Decided::NoSuchStage;
        for instance in instances {
            let (decided, more) = self.decide(run_id, instance, decision.clone(), now)?;
            effects.extend(more);
            let stop = matches!(decided, Decided::Refused(_));
            outcome = decided;
            if stop {
                break;
            }
        }
        Ok((outcome, effects))
    }

    /// Apply `decision` on `stage` of run `run_id`, if its decider may make it.
    pub fn decide(
        &mut self,
        run_id: &str,
        stage: &str,
        decision: StageDecision,
        now: u64,
    ) -> Result<(Decided, Vec<Effect>), SchedulerError> {
        let Some(active) = self.active.get(run_id) else {
            return Ok((Decided::NotInFlight, Vec::new()));
        };
        let Some(record) = active.record.stage(stage) else {
            let waiting = waiting_instances(active, stage);
            if waiting.is_empty() {
                return Ok((Decided::NoSuchStage, Vec::new()));
            }
            return self.decide_instances(run_id, &waiting, decision, now);
        };
        let approval = active
            .config
            .as_ref()
            .and_then(|c| c.stage(stage))
            .and_then(|s| s.approval.clone());
        let Some(approval) = approval.filter(|_| record.state == StageState::AwaitingApproval)
        else {
            let state = serde_json::to_value(record.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Ok((
                Decided::NotWaiting(format!(
                    "{stage} of run {run_id} does not wait for an approval (it is {state})"
                )),
                Vec::new(),
            ));
        };
        let trigger = active.record.trigger.clone();
        let tenant = self.settings.tenant(&trigger.tenant);
        let approvers = Approvers::of(&approval, &trigger, tenant);
        let by = decision.decider.describe();
        match may_decide(&approvers, stage, &trigger, tenant, &decision.decider) {
            Err(why) => {
                let effects =
                    self.with_run(run_id, now, |step| step.refuse_approval(stage, &by, &why))?;
                Ok((Decided::Refused(why), effects))
            }
            Ok(()) => {
                let approved = decision.approve;
                let reason = decision.reason;
                let effects = self.with_run(run_id, now, |step| {
                    step.decide_approval(stage, approved, &by, &reason);
                })?;
                Ok((Decided::Done { approved, by }, effects))
            }
        }
    }
}
