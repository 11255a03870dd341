//! Policy gates: asking the tenant's policies before or after a stage, and applying
//! their answer (warnings recorded, a denial halts the run, an allow moves on).

use super::Step;
use crate::config::StageSpec;
use crate::model::{PendingGate, StageState};
use crate::scheduler::Effect;
use crate::scheduler::event::{Event, EventKind};
use crate::scheduler::journal::Write;
use bosun_bus::messages::{self, MESSAGE_VERSION};
use bosun_bus::policy::{PolicyInput, PolicyPhase, PolicyRef, PolicyTaskMessage};
use bosun_bus::{GateRequestId, StageReport, topics};

impl Step<'_> {
    /// The tenant's policies that apply to `stage` at `phase`, with their settings.
    pub(super) fn policies(&self, stage: &str, phase: PolicyPhase) -> Vec<PolicyRef> {
        self.tenant
            .map(|t| {
                t.policies
                    .iter()
                    .filter(|p| p.applies(stage, phase))
                    .map(|p| PolicyRef {
                        plugin: p.plugin.clone(),
                        config: p.with.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ask `policies` about `spec`'s attempt `attempt` at `phase`; the stage waits in
    /// `Gating` until they answer or the gate times out.
    pub(super) fn request_gate(
        &mut self,
        spec: &StageSpec,
        attempt: u32,
        phase: PolicyPhase,
        policies: Vec<PolicyRef>,
        report: Option<StageReport>,
    ) {
        let request_id = GateRequestId::new(&self.run.id, &spec.name, attempt, phase).to_string();
        let deadline_ms = self.now + self.settings.gate_timeout().as_millis() as u64;
        let names: Vec<&str> = policies.iter().map(|p| p.plugin.as_str()).collect();
        let message = format!(
            "{} gate for {} asks {}",
            phase.as_str(),
            spec.name,
            names.join(", ")
        );
        let trigger = &self.run.trigger;
        let task = PolicyTaskMessage {
            version: MESSAGE_VERSION,
            request_id: request_id.clone(),
            policies,
            input: PolicyInput {
                tenant: trigger.tenant.clone(),
                run_id: self.run.id.clone(),
                repository: trigger.repository.clone(),
                stage: spec.name.clone(),
                phase,
                branch: trigger.branch.clone(),
                default_branch: trigger.default_branch.clone(),
                event: trigger.event.clone(),
                fork: trigger.fork,
                environment: spec.environment.clone(),
                report,
            },
            deadline_unix_ms: deadline_ms,
        };
        if let Some(stage) = self.run.stage_mut(&spec.name) {
            stage.state = StageState::Gating;
            stage.attempt = attempt;
            stage.gate = Some(PendingGate {
                request_id: request_id.clone(),
                phase,
                deadline_ms,
            });
        }
        self.journal.writes.push(Write::GateRequested {
            request_id,
            run_id: self.run.id.clone(),
            stage: spec.name.clone(),
            phase: phase.as_str(),
            at_ms: self.now,
        });
        self.record(
            Event::new(EventKind::GateRequested, message)
                .stage(&spec.name)
                .attempt(attempt),
        );
        self.effects.push(Effect::Publish {
            topic: topics::AGENT_POLICY.to_string(),
            key: self.run.id.clone(),
            payload: messages::encode(&task),
        });
    }

    /// A policy gate answered.
    pub fn apply_gate(
        &mut self,
        stage_name: &str,
        request_id: &str,
        denials: Vec<String>,
        warnings: Vec<String>,
        verdicts: serde_json::Value,
    ) -> bool {
        let Some(stage) = self.run.stage(stage_name) else {
            return false;
        };
        let Some(gate) = stage.gate.clone().filter(|g| g.request_id == request_id) else {
            return false;
        };
        if stage.state != StageState::Gating || self.run.status.is_final() {
            return false;
        }
        let attempt = stage.attempt;
        self.journal.writes.push(Write::GateAnswered {
            request_id: request_id.to_string(),
            verdicts,
            at_ms: self.now,
        });
        for warning in &warnings {
            self.run.warnings.push(warning.clone());
        }
        if !warnings.is_empty() {
            self.record(
                Event::new(EventKind::GateWarned, warnings.join("; "))
                    .stage(stage_name)
                    .attempt(attempt),
            );
        }
        if !denials.is_empty() {
            self.record(
                Event::new(EventKind::GateDenied, denials.join("; "))
                    .stage(stage_name)
                    .attempt(attempt),
            );
            self.run.denials.extend(denials.iter().cloned());
            self.settle(
                stage_name,
                StageState::Failure,
                format!("denied by policy: {}", denials.join("; ")),
            );
            self.halt(format!(
                "halted by policy at {stage_name}: {}",
                denials.join("; ")
            ));
            self.advance();
            return true;
        }
        let allowed = format!("{} gate for {stage_name} allowed", gate.phase.as_str());
        self.record(
            Event::new(EventKind::GateAllowed, allowed)
                .stage(stage_name)
                .attempt(attempt),
        );
        let Some(spec) = self.stage_spec(stage_name).cloned() else {
            return false;
        };
        match gate.phase {
            PolicyPhase::BeforeStage => self.dispatch(&spec, attempt),
            PolicyPhase::AfterStage => {
                let summary = self
                    .run
                    .stage(stage_name)
                    .map(|s| s.summary.clone())
                    .unwrap_or_default();
                self.settle(stage_name, StageState::Success, summary);
            }
        }
        self.advance();
        true
    }
}
