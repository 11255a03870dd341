//! Sending a stage attempt to its agents: the before-stage gate first when a policy
//! applies, the task message with what the tenant grants, and re-sending what was in
//! flight after a restart.

use super::Step;
use crate::config::StageSpec;
use crate::model::StageState;
use crate::scheduler::StatusState;
use crate::scheduler::event::{Event, EventKind};
use crate::scheduler::journal::Write;
use crate::scheduler::{CheckPhase, Effect};
use bosun_bus::messages::{self, MESSAGE_VERSION, TaskMessage};
use bosun_bus::policy::PolicyPhase;
use bosun_bus::{Task, topics};

impl Step<'_> {
    /// Ask the before-stage gate, or dispatch at once when no policy applies.
    pub(super) fn begin_attempt(&mut self, spec: &StageSpec, attempt: u32) {
        let policies = self.policies(&spec.name, PolicyPhase::BeforeStage);
        if policies.is_empty() {
            self.dispatch(spec, attempt);
        } else {
            self.request_gate(spec, attempt, PolicyPhase::BeforeStage, policies, None);
        }
    }

    /// Send an attempt to the stage's agents.
    pub(super) fn dispatch(&mut self, spec: &StageSpec, attempt: u32) {
        let config = self.builtin_build_config(spec);
        let (message, deadline_ms) =
            self.task_message(spec, &spec.name, attempt, &spec.plugin, config);
        let topic = topics::stage_topic(&spec.agent);
        if let Some(stage) = self.run.stage_mut(&spec.name) {
            stage.state = StageState::Running;
            stage.attempt = attempt;
            stage.started_ms.get_or_insert(self.now);
            stage.deadline_ms = Some(deadline_ms);
            stage.next_attempt_ms = None;
            stage.gate = None;
        }
        self.journal.writes.push(Write::Dispatched {
            run_id: self.run.id.clone(),
            stage: spec.name.clone(),
            attempt,
            at_ms: self.now,
            deadline_ms,
        });
        let sent = format!(
            "{} attempt {attempt} sent to {topic} (plugin {})",
            spec.name, spec.plugin
        );
        // The grants it was sent with: a re-run of this run never gets more.
        let grants = crate::trust::StageGrants {
            network: message.network_allowed,
            secrets: message.secrets_granted.clone(),
            push_repository: message.push_repository.clone(),
            image_repository: message.image_repository.clone(),
        };
        let data = serde_json::json!({
            "topic": topic, "plugin": spec.plugin, "deadline_ms": deadline_ms,
            "grants": grants, "plugin_digest": message.plugin_digest,
        });
        self.record(
            Event::new(EventKind::StageDispatched, sent)
                .stage(&spec.name)
                .attempt(attempt)
                .data(data),
        );
        if attempt == 1 {
            self.status(
                &format!("bosun/{}", spec.name),
                StatusState::Pending,
                format!("{} is running", spec.name),
            );
            self.check(&spec.name, CheckPhase::Started { at_ms: self.now });
        }
        self.effects.push(Effect::Publish {
            topic,
            key: task_key(&self.run.id, &spec.name),
            payload: messages::encode(&message),
        });
    }

    pub(super) fn task_message(
        &self,
        spec: &StageSpec,
        stage_name: &str,
        attempt: u32,
        plugin: &str,
        config: Vec<(String, String)>,
    ) -> (TaskMessage, u64) {
        let deadline_ms = self.now + spec.timeout.as_millis() as u64;
        let trigger = &self.run.trigger;
        // The stage asks and the tenant grants; a pull request gets less (trust.rs).
        let grants = self.stage_grants(spec);
        // A re-run stage runs only with the plugin file its original attempt ran.
        let plugin_digest = (stage_name == spec.name)
            .then(|| self.run.rerun_of.as_ref()?.pin(stage_name)?.plugin.as_ref())
            .flatten()
            .map(|p| p.digest.clone());
        let message = TaskMessage {
            version: MESSAGE_VERSION,
            task: Task {
                run_id: self.run.id.clone(),
                stage: stage_name.to_string(),
                attempt,
                tenant: trigger.tenant.clone(),
                repository: trigger.repository.clone(),
                commit: trigger.commit.clone(),
                branch: trigger.branch.clone(),
                event: trigger.event.clone(),
                commit_message: bosun_bus::types::task_commit_message(
                    trigger.message.as_deref().unwrap_or_default(),
                ),
                config,
            },
            plugin: Some(plugin.to_string()),
            clone_url: trigger.clone_url.clone(),
            deadline_unix_ms: deadline_ms,
            network_allowed: grants.network,
            secrets_granted: grants.secrets,
            secrets_withheld: crate::trust::withheld_secrets(spec, trigger, self.tenant),
            push_repository: grants.push_repository,
            image_repository: grants.image_repository,
            plugin_digest,
            artifacts: self.task_artifacts(spec, stage_name, attempt),
        };
        (message, deadline_ms)
    }

    /// What the stage may use: the rules' grants for this run's trigger and tenant, in a
    /// re-run narrowed to what the original attempt was sent with.
    fn stage_grants(&self, spec: &StageSpec) -> crate::trust::StageGrants {
        let now = crate::trust::grants(spec, &self.run.trigger, self.tenant);
        let original = (self.run.rerun_of.as_ref())
            .and_then(|r| r.pin(&spec.name))
            .and_then(|p| p.grants.as_ref());
        crate::trust::rerun_grants(now, original)
    }

    /// The stage's config; for the built-in `build` plugin, the image name and whether
    /// it pushes are the operator's, set over whatever `with:` says: its Kaniko builder
    /// pushes from inside a tool container, where the host's push check cannot see.
    fn builtin_build_config(&self, spec: &StageSpec) -> Vec<(String, String)> {
        if spec.plugin != "build" {
            return Self::stage_config(spec, &[]);
        }
        let grants = self.stage_grants(spec);
        let mut extra = Vec::new();
        if let Some(image) = &grants.image_repository {
            extra.push(("repository", image.as_str()));
        }
        if grants.push_repository.is_none() {
            extra.push(("push", "false"));
        }
        Self::stage_config(spec, &extra)
    }

    pub(super) fn stage_config(spec: &StageSpec, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut config = spec.with.clone();
        if let Some(step) = &spec.step {
            config.push((crate::config::STEP_KEY.to_string(), step.to_json()));
        }
        if let Some(env) = &spec.environment
            && !config.iter().any(|(k, _)| k == "environment")
        {
            config.push(("environment".into(), env.clone()));
        }
        for (k, v) in extra {
            config.retain(|(key, _)| key != k);
            config.push((k.to_string(), v.to_string()));
        }
        config
    }

    /// Re-send what was committed as sent but may not have left (after a restart).
    pub fn republish(&mut self) {
        for index in 0..self.run.stages.len() {
            let stage = self.run.stages[index].clone();
            let Some(spec) = self.stage_spec(&stage.name).cloned() else {
                continue;
            };
            if stage.state == StageState::Running {
                let config = self.builtin_build_config(&spec);
                let (mut message, _) =
                    self.task_message(&spec, &spec.name, stage.attempt, &spec.plugin, config);
                message.deadline_unix_ms = stage.deadline_ms.unwrap_or(message.deadline_unix_ms);
                let again = format!(
                    "{} attempt {} sent again after an orchestrator restart",
                    stage.name, stage.attempt
                );
                self.record(
                    Event::new(EventKind::StageRedispatched, again)
                        .stage(&stage.name)
                        .attempt(stage.attempt),
                );
                self.effects.push(Effect::Publish {
                    topic: topics::stage_topic(&spec.agent),
                    key: task_key(&self.run.id, &spec.name),
                    payload: messages::encode(&message),
                });
            }
            if stage.state == StageState::Gating
                && let Some(gate) = &stage.gate
            {
                // Ask again under the same request id; the first answer wins.
                let policies = self.policies(&stage.name, gate.phase);
                let phase = gate.phase;
                let report = None;
                self.request_gate(&spec, stage.attempt, phase, policies, report);
            }
            if stage.rollback == Some(StageState::Running) {
                self.dispatch_rollback(&spec);
            }
        }
        self.save();
    }
}

/// The bus key of a stage's tasks: its run and its name. Records with one key are
/// handed out one at a time (a Kafka partition, the in-memory bus's key lock), so a key
/// per run would queue a run's parallel stages on one pool (command steps, a matrix's
/// instances) behind each other; per stage, only a stage's own attempts keep their order.
pub(crate) fn task_key(run_id: &str, stage: &str) -> String {
    format!("{run_id}/{stage}")
}
