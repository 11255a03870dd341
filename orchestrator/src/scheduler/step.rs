//! One scheduling step on one run: dispatch what is ready, apply a result, retry with
//! backoff, gate on policies, roll back a failed deploy, halt, finish.
//!
//! A step only changes the in-memory run and buffers writes and effects; the scheduler
//! commits the writes, then releases the effects. So a crash between the two re-sends
//! at most what was committed as sent (the agents' results for it are idempotent).

use super::journal::{Journal, Write};
use super::{Effect, StatusState, StatusUpdate};
use crate::config::{PipelineConfig, StageSpec};
use crate::metrics::{OrchestratorMetrics, StageLabels, StatusLabels};
use crate::model::{PendingGate, RunRecord, RunStatus, StageState};
use crate::settings::{ServerSettings, TenantSettings};
use bosun_bus::messages::{self, MESSAGE_VERSION, TaskMessage};
use bosun_bus::policy::{PolicyInput, PolicyPhase, PolicyRef, PolicyTaskMessage};
use bosun_bus::{Outcome, StageFailureKind, StageReport, StageResult, Task, topics};

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
}

/// What a stage attempt's result means for the schedule.
enum Verdict {
    Passed,
    /// Failed; `retryable` says whether another attempt could plausibly pass.
    Failed {
        retryable: bool,
        errored: bool,
    },
}

fn classify(result: &StageResult) -> Verdict {
    match (&result.report, &result.failure) {
        (Some(report), _) => match report.outcome {
            Outcome::Success | Outcome::Skipped => Verdict::Passed,
            // Failing tests may be flaky: another attempt can tell. Findings of a
            // linter or scanner are deterministic: retrying them wastes the agent.
            Outcome::Failure => Verdict::Failed {
                retryable: has_test_failures(report),
                errored: false,
            },
        },
        (None, Some(failure)) => Verdict::Failed {
            retryable: failure.kind.is_retryable(),
            errored: true,
        },
        (None, None) => Verdict::Failed {
            retryable: true,
            errored: true,
        },
    }
}

fn has_test_failures(report: &StageReport) -> bool {
    !report.test_failures.is_empty()
        || report
            .tests
            .map(|t| t.failed + t.errors > 0)
            .unwrap_or(false)
}

/// A failure the orchestrator itself observed (lost agent, dead letter).
pub fn synthetic_failure(task_id: &str, kind: StageFailureKind, message: String) -> StageResult {
    StageResult {
        task_id: task_id.to_string(),
        plugin: None,
        report: None,
        failure: Some(bosun_bus::StageFailure { kind, message }),
        logs: Vec::new(),
        logs_dropped_bytes: 0,
        duration_ms: 0,
    }
}

impl Step<'_> {
    fn event(
        &mut self,
        kind: &'static str,
        stage: Option<&str>,
        attempt: Option<u32>,
        message: String,
    ) {
        self.journal
            .event(&self.run.id, self.now, kind, stage, attempt, message, None);
    }

    fn event_with(
        &mut self,
        kind: &'static str,
        stage: Option<&str>,
        attempt: Option<u32>,
        message: String,
        data: serde_json::Value,
    ) {
        self.journal.event(
            &self.run.id,
            self.now,
            kind,
            stage,
            attempt,
            message,
            Some(data),
        );
    }

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

    fn save(&mut self) {
        self.journal
            .writes
            .push(Write::SaveRun(Box::new(self.run.clone())));
    }

    fn stage_spec(&self, name: &str) -> Option<&StageSpec> {
        self.config.stage(name)
    }

    /// Start the run: mark it running and dispatch what is ready.
    pub fn start(&mut self) {
        self.run.status = RunStatus::Running;
        let waves: Vec<String> = self.config.waves().iter().map(|w| w.join(", ")).collect();
        self.event_with(
            "run.started",
            None,
            None,
            format!(
                "pipeline with {} stages: {}",
                self.config.stages.len(),
                waves.join(" → ")
            ),
            serde_json::json!({ "origin": self.run.config_origin }),
        );
        self.advance();
    }

    /// Dispatch every stage whose needs are met; skip those that cannot run; finish the
    /// run when nothing is left.
    pub fn advance(&mut self) {
        if self.run.status.is_final() {
            self.save();
            return;
        }
        // Settling one stage can unblock or block others: repeat until nothing changes.
        loop {
            let mut changed = false;
            for index in 0..self.run.stages.len() {
                if self.run.stages[index].state != StageState::Pending {
                    continue;
                }
                let name = self.run.stages[index].name.clone();
                let Some(spec) = self.stage_spec(&name).cloned() else {
                    continue;
                };
                match self.needs_status(&spec) {
                    NeedsStatus::Waiting => {}
                    NeedsStatus::Blocked(by) => {
                        let stage = &mut self.run.stages[index];
                        stage.state = StageState::Skipped;
                        stage.blocked = true;
                        stage.finished_ms = Some(self.now);
                        stage.summary = format!("not run: {by} did not pass");
                        self.event(
                            "stage.skipped",
                            Some(&name),
                            None,
                            format!("{name} not run: {by} did not pass"),
                        );
                        changed = true;
                    }
                    NeedsStatus::Ready => {
                        let t = &self.run.trigger;
                        let changed_paths = t.changed_paths.as_deref();
                        if let Some(why) = crate::trust::withheld_from_pull_request(&spec, t) {
                            let stage = &mut self.run.stages[index];
                            stage.state = StageState::Skipped;
                            stage.finished_ms = Some(self.now);
                            stage.summary = why.clone();
                            self.event("stage.skipped", Some(&name), None, format!("{name} {why}"));
                        } else if !spec.when.matches(&t.branch, &t.event, changed_paths) {
                            let stage = &mut self.run.stages[index];
                            stage.state = StageState::Skipped;
                            stage.finished_ms = Some(self.now);
                            stage.summary = "skipped: its `when` does not match".into();
                            self.event(
                                "stage.skipped",
                                Some(&name),
                                None,
                                format!(
                                    "{name} skipped: `when` does not match branch {}, event {}",
                                    t.branch, t.event
                                ),
                            );
                        } else {
                            self.begin_attempt(&spec, 1);
                        }
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let busy = self
            .run
            .stages
            .iter()
            .any(|s| !s.state.is_settled() || matches!(s.rollback, Some(StageState::Running)));
        if !busy {
            self.finish();
        }
        self.save();
    }

    fn needs_status(&self, spec: &StageSpec) -> NeedsStatus {
        let mut waiting = false;
        for need in &spec.needs {
            let Some(stage) = self.run.stage(need) else {
                continue;
            };
            let allow_failure = self
                .stage_spec(need)
                .map(|s| s.allow_failure)
                .unwrap_or(false);
            match stage.state {
                StageState::Success => {}
                StageState::Skipped if !stage.blocked => {}
                StageState::Failure | StageState::Errored if allow_failure => {}
                StageState::Failure
                | StageState::Errored
                | StageState::Skipped
                | StageState::Cancelled => return NeedsStatus::Blocked(need.clone()),
                _ => waiting = true,
            }
        }
        if waiting {
            NeedsStatus::Waiting
        } else {
            NeedsStatus::Ready
        }
    }

    fn policies(&self, stage: &str, phase: PolicyPhase) -> Vec<PolicyRef> {
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

    /// Ask the before-stage gate, or dispatch at once when no policy applies.
    fn begin_attempt(&mut self, spec: &StageSpec, attempt: u32) {
        let policies = self.policies(&spec.name, PolicyPhase::BeforeStage);
        if policies.is_empty() {
            self.dispatch(spec, attempt);
        } else {
            self.request_gate(spec, attempt, PolicyPhase::BeforeStage, policies, None);
        }
    }

    fn request_gate(
        &mut self,
        spec: &StageSpec,
        attempt: u32,
        phase: PolicyPhase,
        policies: Vec<PolicyRef>,
        report: Option<StageReport>,
    ) {
        let request_id = format!("{}/{}/{attempt}/{}", self.run.id, spec.name, phase.as_str());
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
        self.event("gate.requested", Some(&spec.name), Some(attempt), message);
        self.effects.push(Effect::Publish {
            topic: topics::AGENT_POLICY.to_string(),
            key: self.run.id.clone(),
            payload: messages::encode(&task),
        });
    }

    fn task_message(
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
        let grants = crate::trust::grants(spec, trigger, self.tenant);
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
                config,
            },
            plugin: Some(plugin.to_string()),
            clone_url: trigger.clone_url.clone(),
            deadline_unix_ms: deadline_ms,
            network_allowed: grants.network,
            secrets_granted: grants.secrets,
            push_repository: grants.push_repository,
            image_repository: grants.image_repository,
        };
        (message, deadline_ms)
    }

    /// The stage's config; for the built-in `build` plugin, the image name and whether
    /// it pushes are the operator's, set over whatever `with:` says: its Kaniko builder
    /// pushes from inside a tool container, where the host's push check cannot see.
    fn builtin_build_config(&self, spec: &StageSpec) -> Vec<(String, String)> {
        if spec.plugin != "build" {
            return Self::stage_config(spec, &[]);
        }
        let grants = crate::trust::grants(spec, &self.run.trigger, self.tenant);
        let mut extra = Vec::new();
        if let Some(image) = &grants.image_repository {
            extra.push(("repository", image.as_str()));
        }
        if grants.push_repository.is_none() {
            extra.push(("push", "false"));
        }
        Self::stage_config(spec, &extra)
    }

    fn stage_config(spec: &StageSpec, extra: &[(&str, &str)]) -> Vec<(String, String)> {
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

    /// Send an attempt to the stage's agents.
    fn dispatch(&mut self, spec: &StageSpec, attempt: u32) {
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
        self.event_with(
            "stage.dispatched",
            Some(&spec.name),
            Some(attempt),
            format!("{} attempt {attempt} sent to {topic} (plugin {})", spec.name, spec.plugin),
            serde_json::json!({ "topic": topic, "plugin": spec.plugin, "deadline_ms": deadline_ms }),
        );
        if attempt == 1 {
            self.status(
                &format!("bosun/{}", spec.name),
                StatusState::Pending,
                format!("{} is running", spec.name),
            );
        }
        self.effects.push(Effect::Publish {
            topic,
            key: self.run.id.clone(),
            payload: messages::encode(&message),
        });
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
                self.event(
                    "stage.redispatched",
                    Some(&stage.name),
                    Some(stage.attempt),
                    format!(
                        "{} attempt {} sent again after an orchestrator restart",
                        stage.name, stage.attempt
                    ),
                );
                self.effects.push(Effect::Publish {
                    topic: topics::stage_topic(&spec.agent),
                    key: self.run.id.clone(),
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

    /// Apply an attempt's result; `false` when it is stale or a duplicate.
    pub fn apply_result(
        &mut self,
        agent_id: &str,
        stage_name: &str,
        attempt: u32,
        result: StageResult,
        retry_allowed: bool,
    ) -> bool {
        if let Some(base) = stage_name.strip_suffix(ROLLBACK_SUFFIX)
            && self.run.stage(stage_name).is_none()
        {
            return self.apply_rollback_result(agent_id, base, attempt, result);
        }
        let Some(stage) = self.run.stage(stage_name) else {
            return false;
        };
        if stage.state != StageState::Running
            || stage.attempt != attempt
            || self.run.status.is_final()
        {
            self.event(
                "result.ignored",
                Some(stage_name),
                Some(attempt),
                format!("result for {stage_name} attempt {attempt} from {agent_id} ignored: the attempt is already settled or superseded"),
            );
            return false;
        }
        let Some(spec) = self.stage_spec(stage_name).cloned() else {
            return false;
        };
        if agent_id != "orchestrator"
            && agent_id != "dead-letter"
            && let Some(deadline) = self.run.stage(stage_name).and_then(|s| s.deadline_ms)
        {
            let dispatched = deadline.saturating_sub(spec.timeout.as_millis() as u64);
            let waited = self
                .now
                .saturating_sub(dispatched)
                .saturating_sub(result.duration_ms);
            self.metrics
                .task_wait_seconds
                .get_or_create(&StageLabels {
                    stage: stage_name.to_string(),
                })
                .observe(waited as f64 / 1000.0);
        }
        let verdict = classify(&result);
        let summary = result_summary(&result);
        let plugin = result
            .plugin
            .as_ref()
            .map(|p| format!("{}@{} ({})", p.name, p.version, p.digest));
        self.event_with(
            "stage.result",
            Some(stage_name),
            Some(attempt),
            format!("{stage_name} attempt {attempt} from {agent_id}: {summary}"),
            serde_json::json!({ "agent": agent_id, "plugin": plugin, "duration_ms": result.duration_ms }),
        );
        let report = result.report.clone();
        self.journal.writes.push(Write::Settled {
            run_id: self.run.id.clone(),
            stage: stage_name.to_string(),
            attempt,
            agent_id: agent_id.to_string(),
            result: Box::new(result),
            at_ms: self.now,
        });
        if let Some(stage) = self.run.stage_mut(stage_name) {
            stage.summary = summary.clone();
            stage.deadline_ms = None;
        }
        match verdict {
            Verdict::Passed => {
                let policies = self.policies(stage_name, PolicyPhase::AfterStage);
                if policies.is_empty() {
                    self.settle(stage_name, StageState::Success, summary);
                } else {
                    self.request_gate(&spec, attempt, PolicyPhase::AfterStage, policies, report);
                }
            }
            Verdict::Failed { retryable, errored } => {
                self.run.failures += 1;
                let state = if errored {
                    StageState::Errored
                } else {
                    StageState::Failure
                };
                if let Some(max) = self.config.max_failures
                    && self.run.failures >= max
                {
                    self.settle(stage_name, state, summary);
                    self.halt(format!(
                        "halted after {} failed attempts (max_failures: {max}); last: {stage_name}",
                        self.run.failures
                    ));
                } else if retryable && retry_allowed && attempt <= spec.retries {
                    let delay = spec.backoff.delay(attempt);
                    let at = self.now + delay.as_millis() as u64;
                    if let Some(stage) = self.run.stage_mut(stage_name) {
                        stage.state = StageState::RetryWait;
                        stage.next_attempt_ms = Some(at);
                    }
                    self.metrics
                        .retries
                        .get_or_create(&StageLabels {
                            stage: stage_name.to_string(),
                        })
                        .inc();
                    self.event_with(
                        "stage.retry-scheduled",
                        Some(stage_name),
                        Some(attempt + 1),
                        format!(
                            "{stage_name} attempt {} in {} ms (retry {attempt} of {})",
                            attempt + 1,
                            delay.as_millis(),
                            spec.retries
                        ),
                        serde_json::json!({ "delay_ms": delay.as_millis() as u64 }),
                    );
                } else {
                    self.settle(stage_name, state, summary);
                    if spec.rollback.is_some() {
                        self.dispatch_rollback(&spec);
                    }
                }
            }
        }
        self.advance();
        true
    }

    fn settle(&mut self, stage_name: &str, state: StageState, summary: String) {
        if let Some(started) = self.run.stage(stage_name).and_then(|s| s.started_ms) {
            self.metrics
                .stage_seconds
                .get_or_create(&StageLabels {
                    stage: stage_name.to_string(),
                })
                .observe(self.now.saturating_sub(started) as f64 / 1000.0);
        }
        if let Some(stage) = self.run.stage_mut(stage_name) {
            stage.state = state;
            stage.finished_ms = Some(self.now);
            stage.gate = None;
            stage.deadline_ms = None;
            stage.summary = summary.clone();
        }
        let (kind, status) = match state {
            StageState::Success => ("stage.passed", StatusState::Success),
            StageState::Failure => ("stage.failed", StatusState::Failure),
            _ => ("stage.errored", StatusState::Error),
        };
        self.event(
            kind,
            Some(stage_name),
            None,
            format!("{stage_name}: {summary}"),
        );
        self.status(&format!("bosun/{stage_name}"), status, summary);
    }

    fn dispatch_rollback(&mut self, spec: &StageSpec) {
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
        self.event(
            "rollback.dispatched",
            Some(&spec.name),
            Some(1),
            format!(
                "{} failed: rollback sent to {topic} (plugin {})",
                spec.name, rollback.plugin
            ),
        );
        self.effects.push(Effect::Publish {
            topic,
            key: self.run.id.clone(),
            payload: messages::encode(&message),
        });
    }

    fn apply_rollback_result(
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
            "rollback.passed"
        } else {
            "rollback.failed"
        };
        self.event(
            kind,
            Some(base),
            Some(attempt),
            format!("rollback of {base} from {agent_id}: {summary}"),
        );
        self.advance();
        true
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
            self.event(
                "gate.warned",
                Some(stage_name),
                Some(attempt),
                warnings.join("; "),
            );
        }
        if !denials.is_empty() {
            self.event(
                "gate.denied",
                Some(stage_name),
                Some(attempt),
                denials.join("; "),
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
        self.event(
            "gate.allowed",
            Some(stage_name),
            Some(attempt),
            format!("{} gate for {stage_name} allowed", gate.phase.as_str()),
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
                    let task_id = format!("{}/{}/{}", self.run.id, stage.name, stage.attempt);
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
                    self.event(
                        "stage.deadline",
                        Some(&stage.name),
                        Some(stage.attempt),
                        format!(
                            "{} attempt {} passed its deadline",
                            stage.name, stage.attempt
                        ),
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
                _ => {}
            }
            if stage.rollback == Some(StageState::Running)
                && stage.state.is_settled()
                && stage.deadline_ms.is_some_and(|t| t <= self.now)
            {
                let failure = synthetic_failure(
                    &format!("{}/{}{ROLLBACK_SUFFIX}/1", self.run.id, stage.name),
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
        if changed {
            self.advance();
        }
    }

    /// Stop the run: stages in flight are cancelled, pending ones not run.
    pub fn halt(&mut self, reason: String) {
        self.stop(RunStatus::Halted, "run.halted", reason);
    }

    /// Cancel the run (a newer push, or an operator).
    pub fn cancel(&mut self, reason: String) {
        self.stop(RunStatus::Cancelled, "run.cancelled", reason);
        self.save();
    }

    fn stop(&mut self, status: RunStatus, kind: &'static str, reason: String) {
        if self.run.status.is_final() {
            return;
        }
        for stage in &mut self.run.stages {
            match stage.state {
                StageState::Running | StageState::Gating | StageState::RetryWait => {
                    stage.state = StageState::Cancelled;
                    stage.finished_ms = Some(self.now);
                    stage.gate = None;
                    stage.deadline_ms = None;
                    stage.summary = format!("cancelled: {reason}");
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
        self.run.error = Some(reason.clone());
        self.event(kind, None, None, reason.clone());
        self.conclude(status);
    }

    fn finish(&mut self) {
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
            self.event("run.passed", None, None, "every stage passed".into());
            self.conclude(RunStatus::Success);
        } else {
            let reason = format!("{} did not pass", failed.join(", "));
            self.run.error = Some(reason.clone());
            self.event("run.failed", None, None, reason);
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

enum NeedsStatus {
    Waiting,
    Ready,
    Blocked(String),
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
