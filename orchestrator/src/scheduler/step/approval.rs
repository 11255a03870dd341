//! A stage that waits for a person (`approval` in its config): it waits in
//! `AwaitingApproval` once its needs are met, until someone allowed approves (it goes
//! back to pending and on to its dispatch) or rejects it, or its timeout rejects it (it
//! fails, and what needs it does not run). Each decision is a policy verdict: a
//! `gate.allowed` or `gate.denied` event with who, when and why, and a row in the gates
//! table. Who may decide is `trust::may_decide`'s to say, before a decision gets here.

use super::Step;
use crate::config::StageSpec;
use crate::model::{ApprovalDecision, ApprovalState, StageState};
use crate::scheduler::StatusState;
use crate::scheduler::event::{Event, EventKind};
use crate::scheduler::journal::Write;
use crate::trust::Approvers;
use serde_json::json;
use std::time::Duration;

/// The gates table's phase for an approval.
pub const APPROVAL_PHASE: &str = "approval";

/// The gates table's id of `stage`'s approval in `run_id` (one per stage: a retry
/// does not ask again).
pub fn approval_request_id(run_id: &str, stage: &str) -> String {
    format!("{run_id}/{stage}/{APPROVAL_PHASE}")
}

/// `24h`, `90m`, `45s`: a timeout as the config writes it.
pub(crate) fn short_duration(duration: Duration) -> String {
    match duration.as_secs() {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl Step<'_> {
    /// Hold `spec` for a person's decision when it has an `approval` not yet granted;
    /// `true` while it waits (the caller does not begin it).
    pub(super) fn hold_for_approval(&mut self, spec: &StageSpec) -> bool {
        let Some(approval) = &spec.approval else {
            return false;
        };
        let Some(stage) = self.run.stage(&spec.name) else {
            return false;
        };
        if stage
            .approval
            .as_ref()
            .and_then(|a| a.decision.as_ref())
            .is_some_and(|d| d.approved)
        {
            return false;
        }
        let approvers = Approvers::of(approval, &self.run.trigger, self.tenant).describe();
        let deadline_ms = self.now + approval.timeout.as_millis() as u64;
        if let Some(stage) = self.run.stage_mut(&spec.name) {
            stage.state = StageState::AwaitingApproval;
            stage.summary = format!("waiting for an approval by {}", approvers.join(", "));
            stage.approval = Some(ApprovalState {
                requested_ms: self.now,
                deadline_ms,
                approvers: approvers.clone(),
                decision: None,
            });
        }
        self.journal.writes.push(Write::GateRequested {
            request_id: approval_request_id(&self.run.id, &spec.name),
            run_id: self.run.id.clone(),
            stage: spec.name.clone(),
            phase: APPROVAL_PHASE,
            at_ms: self.now,
        });
        let message = format!(
            "{} waits for an approval by {} (rejected if nobody decides within {})",
            spec.name,
            approvers.join(", "),
            short_duration(approval.timeout)
        );
        let data = json!({ "approval": { "approvers": approvers, "deadline_ms": deadline_ms } });
        self.record(
            Event::new(EventKind::GateRequested, message)
                .stage(&spec.name)
                .data(data),
        );
        self.status(
            &format!("bosun/{}", spec.name),
            StatusState::Pending,
            format!("{} waits for an approval", spec.name),
        );
        true
    }

    /// Apply an allowed person's decision on `stage_name` (or the timeout's, `by`
    /// naming it): approved, it goes on to its dispatch; rejected, it fails with the
    /// reason and what needs it does not run. `false` when it does not wait.
    pub fn decide_approval(
        &mut self,
        stage_name: &str,
        approved: bool,
        by: &str,
        reason: &str,
    ) -> bool {
        let Some(stage) = self.run.stage_mut(stage_name) else {
            return false;
        };
        if stage.state != StageState::AwaitingApproval {
            return false;
        }
        let decision = ApprovalDecision {
            approved,
            by: by.to_string(),
            reason: reason.to_string(),
            at_ms: self.now,
        };
        if let Some(waiting) = stage.approval.as_mut() {
            waiting.decision = Some(decision);
        }
        let word = if approved { "approved" } else { "rejected" };
        let summary = format!("{word} by {by}: {reason}");
        let verdict = if approved {
            json!({ "verdict": "allow" })
        } else {
            json!({ "verdict": "deny", "reasons": [reason] })
        };
        self.journal.writes.push(Write::GateAnswered {
            request_id: approval_request_id(&self.run.id, stage_name),
            verdicts: json!([{
                "policy": APPROVAL_PHASE,
                "digest": null,
                "decision": verdict,
                "approved": approved,
                "by": by,
                "reason": reason,
            }]),
            at_ms: self.now,
        });
        let kind = if approved {
            EventKind::GateAllowed
        } else {
            EventKind::GateDenied
        };
        let data = json!({ "approval": { "approved": approved, "by": by, "reason": reason, "at_ms": self.now } });
        self.record(
            Event::new(kind, format!("{stage_name} {summary}"))
                .stage(stage_name)
                .data(data),
        );
        if approved {
            if let Some(stage) = self.run.stage_mut(stage_name) {
                // Back to pending: the next pass begins it as if its needs just passed.
                stage.state = StageState::Pending;
                stage.summary = summary;
            }
        } else {
            self.run
                .denials
                .push(format!("approval of {stage_name}: {summary}"));
            self.settle(stage_name, StageState::Failure, summary);
        }
        self.advance();
        true
    }

    /// Reject `stage_name` whose approval nobody decided in time.
    pub(super) fn approval_timed_out(&mut self, spec: &StageSpec) {
        let within = spec
            .approval
            .as_ref()
            .map(|a| short_duration(a.timeout))
            .unwrap_or_default();
        let reason = format!("nobody decided within {within}");
        self.decide_approval(&spec.name, false, "the timeout", &reason);
    }

    /// Record that someone who may not decide `stage_name` asked to, and why not.
    pub fn refuse_approval(&mut self, stage_name: &str, by: &str, why: &str) {
        let data = json!({ "approval": { "by": by, "refused": why } });
        self.record(
            Event::new(
                EventKind::ApprovalRefused,
                format!("approval of {stage_name} refused: {why}"),
            )
            .stage(stage_name)
            .data(data),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_the_config_writes_them() {
        assert_eq!(short_duration(Duration::from_secs(24 * 3600)), "24h");
        assert_eq!(short_duration(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(short_duration(Duration::from_secs(61)), "61s");
    }
}
