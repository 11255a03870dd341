//! The scheduler: turns triggers, agent replies, dead letters and the passing of time
//! into store writes and effects (tasks to publish, commit statuses, notifications).
//!
//! It is synchronous and single-owner: the service feeds it one input at a time, so a
//! run's transitions never race. Every input commits its writes in one transaction
//! before its effects are handed out; after a restart, [`Scheduler::open`] reloads the
//! unfinished runs and [`Scheduler::resume`] re-sends what was in flight.

mod journal;
mod step;
pub mod summary;

pub use step::ROLLBACK_SUFFIX;

use crate::config::{self, PipelineConfig};
use crate::known::KnownAgents;
use crate::metrics::OrchestratorMetrics;
use crate::model::{RunRecord, RunStatus, RunTrigger, StageRecord};
use crate::settings::{ForkRuns, ServerSettings};
use crate::store::{Store, StoreError};
use bosun_bus::messages::{self, AgentReply, DeadLetter, MESSAGE_VERSION, TaskMessage};
use bosun_bus::notify::ReportTaskMessage;
use bosun_bus::policy::Decision;
use bosun_bus::{StageFailureKind, topics};
use journal::{Journal, Write};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use step::Step;

/// A commit status state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    /// Running.
    Pending,
    /// Passed.
    Success,
    /// The code failed the stage.
    Failure,
    /// The stage could not run.
    Error,
}

/// A commit status to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// State.
    pub state: StatusState,
    /// `bosun/<stage>`, or `bosun` for the run.
    pub context: String,
    /// One line.
    pub description: String,
    /// The run on the dashboard.
    pub target_url: String,
}

/// Something the service must do once the step's writes are committed.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Publish a message.
    Publish {
        /// Topic.
        topic: String,
        /// Key (the run id).
        key: String,
        /// JSON payload.
        payload: Vec<u8>,
    },
    /// Post a commit status.
    Status {
        /// The run.
        run_id: String,
        /// Its tenant.
        tenant: String,
        /// `owner/name`.
        repository: String,
        /// Commit sha.
        commit: String,
        /// The status.
        update: StatusUpdate,
    },
    /// Post a formatted notification to the tenant's Slack webhook.
    Notify {
        /// The run.
        run_id: String,
        /// Its tenant.
        tenant: String,
        /// The message body.
        body: String,
    },
    /// A run finished (handled inside the scheduler; never returned).
    Finished {
        /// The run.
        run_id: String,
    },
}

/// Why a scheduler input failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The run store failed; the step was not applied.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of a trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A new run, queued for its config.
    Queued {
        /// Its id.
        run_id: String,
    },
    /// A new run from a fork's pull request, waiting for a tenant member's approval
    /// before anything of it is read.
    AwaitingApproval {
        /// Its id.
        run_id: String,
    },
    /// The delivery id was seen before: nothing new.
    Duplicate {
        /// The run it started then, if any.
        run_id: Option<String>,
    },
}

/// A run the scheduler is driving.
struct ActiveRun {
    record: RunRecord,
    config: Option<Arc<PipelineConfig>>,
}

static RUN_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A fresh run id: time-ordered, unique across restarts and processes.
fn new_run_id(now_ms: u64) -> String {
    let seq = RUN_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{now_ms:011x}-{:x}-{seq:x}", std::process::id())
}

/// The scheduler (see the module docs).
pub struct Scheduler {
    store: Store,
    metrics: Arc<OrchestratorMetrics>,
    settings: Arc<ServerSettings>,
    active: HashMap<String, ActiveRun>,
    configs: HashMap<String, Arc<PipelineConfig>>,
    /// What the agents can run, when the orchestrator knows it.
    known: Option<KnownAgents>,
}

/// Split a task id `run/stage/attempt`.
fn split_task_id(task_id: &str) -> Option<(&str, &str, u32)> {
    let mut parts = task_id.rsplitn(3, '/');
    let attempt = parts.next()?.parse().ok()?;
    let stage = parts.next()?;
    let run = parts.next()?;
    Some((run, stage, attempt))
}

/// Split a gate request id `run/stage/attempt/phase` into run and stage.
fn split_request_id(request_id: &str) -> Option<(&str, &str)> {
    let mut parts = request_id.rsplitn(4, '/');
    let _phase = parts.next()?;
    let _attempt = parts.next()?;
    let stage = parts.next()?;
    let run = parts.next()?;
    Some((run, stage))
}

impl Scheduler {
    /// A scheduler over `store`, reloading every unfinished run.
    pub fn open(store: Store, settings: Arc<ServerSettings>) -> Result<Scheduler, SchedulerError> {
        let mut scheduler = Scheduler {
            store,
            metrics: Arc::new(OrchestratorMetrics::default()),
            settings,
            active: HashMap::new(),
            configs: HashMap::new(),
            known: None,
        };
        for record in scheduler.store.unfinished_runs()? {
            let config = record
                .config_source
                .as_deref()
                .and_then(|text| scheduler.parse_config(&record, text).ok());
            scheduler
                .active
                .insert(record.id.clone(), ActiveRun { record, config });
        }
        Ok(scheduler)
    }

    /// Refuse configs whose stages no agent here can run (the embedded default).
    pub fn with_known_agents(mut self, known: Option<KnownAgents>) -> Scheduler {
        self.known = known;
        self
    }

    /// What the scheduler counts (shared with the HTTP side for `/metrics`).
    pub fn metrics(&self) -> Arc<OrchestratorMetrics> {
        Arc::clone(&self.metrics)
    }

    /// The store (for reads by the service and tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs in flight.
    pub fn active_runs(&self) -> usize {
        self.active.len()
    }

    /// Runs waiting for their pipeline config, with their triggers.
    pub fn queued_runs(&self) -> Vec<(String, RunTrigger)> {
        self.active
            .values()
            .filter(|r| r.record.status == RunStatus::Queued)
            .map(|r| (r.record.id.clone(), r.record.trigger.clone()))
            .collect()
    }

    fn parse_config(
        &mut self,
        record: &RunRecord,
        text: &str,
    ) -> Result<Arc<PipelineConfig>, config::ConfigError> {
        if let Some(config) = self.configs.get(text) {
            return Ok(Arc::clone(config));
        }
        let origin = record
            .config_origin
            .as_deref()
            .unwrap_or(config::CONFIG_FILE);
        let config = Arc::new(config::parse(origin, text)?);
        // Runs of one repository share their parsed pipeline; keep the cache bounded.
        if self.configs.len() >= 1024 {
            self.configs.clear();
        }
        self.configs.insert(text.to_string(), Arc::clone(&config));
        Ok(config)
    }

    /// Commit the journal, then hand out the effects (finished runs are wrapped up here).
    fn commit(
        &mut self,
        journal: Journal,
        effects: Vec<Effect>,
        runs: &[&str],
        now: u64,
    ) -> Result<Vec<Effect>, SchedulerError> {
        if let Err(e) = self.store.write(|w| journal.apply(w)) {
            // The in-memory runs moved ahead of the store: reload them from it.
            for id in runs {
                self.reload(id);
            }
            return Err(e.into());
        }
        let mut out = Vec::with_capacity(effects.len());
        for effect in effects {
            match effect {
                Effect::Finished { run_id } => out.extend(self.wrap_up(&run_id, now)?),
                other => out.push(other),
            }
        }
        // After wrap-up, which drops finished runs.
        self.metrics.active_runs.set(self.active.len() as i64);
        Ok(out)
    }

    fn reload(&mut self, id: &str) {
        self.active.remove(id);
        if let Ok(Some(record)) = self.store.run(id)
            && !record.status.is_final()
        {
            let config = record
                .config_source
                .clone()
                .and_then(|text| self.parse_config(&record, &text).ok());
            self.active
                .insert(id.to_string(), ActiveRun { record, config });
        }
    }

    /// A finished run leaves memory; its notification goes out if the rules ask for it.
    fn wrap_up(&mut self, run_id: &str, now: u64) -> Result<Vec<Effect>, SchedulerError> {
        let Some(active) = self.active.remove(run_id) else {
            return Ok(Vec::new());
        };
        let mut record = active.record;
        let mut effects = vec![Effect::Publish {
            topic: topics::PIPELINE_EVENTS.to_string(),
            key: record.id.clone(),
            payload: serde_json::to_vec(&serde_json::json!({
                "version": MESSAGE_VERSION,
                "kind": "run.finished",
                "run_id": record.id,
                "status": record.status.as_str(),
                "at_ms": now,
            }))
            .unwrap_or_default(),
        }];
        let Some(config) = active.config else {
            return Ok(effects);
        };
        let wanted = if record.status == RunStatus::Success {
            config.notify.on_success
        } else {
            config.notify.on_failure
        };
        let has_target = self
            .settings
            .tenant(&record.trigger.tenant)
            .and_then(|t| t.slack_webhook.resolve())
            .is_some();
        if !wanted || !has_target || record.notified {
            return Ok(effects);
        }
        let attempts = self.store.attempts(run_id)?;
        let summary = summary::run_summary(&record, &attempts, &self.settings.base_url());
        let task = ReportTaskMessage {
            version: MESSAGE_VERSION,
            request_id: format!("{run_id}/report/1"),
            notifier: config.notify.notifier.clone(),
            config: config.notify.with.clone(),
            summary,
            deadline_unix_ms: now + self.settings.gate_timeout().as_millis() as u64,
        };
        record.notified = true;
        let mut journal = Journal::default();
        journal.event(
            run_id,
            now,
            "notify.requested",
            None,
            None,
            format!("report asked of notifier {}", config.notify.notifier),
            None,
        );
        journal.writes.push(Write::SaveRun(Box::new(record)));
        self.store.write(|w| journal.apply(w))?;
        effects.push(Effect::Publish {
            topic: topics::AGENT_REPORT.to_string(),
            key: run_id.to_string(),
            payload: messages::encode(&task),
        });
        Ok(effects)
    }

    /// Record a trigger: deduplicate its delivery id, queue a run for its config.
    pub fn accept(
        &mut self,
        trigger: RunTrigger,
        delivery: Option<(&str, &str)>,
        now: u64,
    ) -> Result<Accepted, SchedulerError> {
        let run_id = new_run_id(now);
        if let Some((delivery_id, event)) = delivery {
            let seen = self.store.write(|w| {
                w.record_delivery(
                    delivery_id,
                    &trigger.tenant,
                    event,
                    "run",
                    Some(&run_id),
                    now,
                )
            })?;
            if let Some(seen) = seen {
                return Ok(Accepted::Duplicate {
                    run_id: seen.run_id,
                });
            }
        }
        let waits = trigger.fork
            && self
                .settings
                .tenant(&trigger.tenant)
                .is_none_or(|t| t.pull_requests.from_forks == ForkRuns::Approve);
        let record = RunRecord {
            id: run_id.clone(),
            trigger,
            status: if waits {
                RunStatus::AwaitingApproval
            } else {
                RunStatus::Queued
            },
            created_ms: now,
            finished_ms: None,
            config_source: None,
            config_origin: None,
            error: None,
            failures: 0,
            stages: Vec::new(),
            denials: Vec::new(),
            warnings: Vec::new(),
            notified: false,
        };
        let mut journal = Journal::default();
        journal.event(
            &run_id,
            now,
            "run.created",
            None,
            None,
            format!(
                "{} {} of {} at {} by {}",
                record.trigger.event,
                record.trigger.branch,
                record.trigger.repository,
                record.trigger.commit,
                record.trigger.sender
            ),
            None,
        );
        if waits {
            journal.event(
                &run_id,
                now,
                "run.awaiting-approval",
                None,
                None,
                format!(
                    "pull request from a fork: it runs once a member of tenant {} approves it (POST /api/runs/{run_id}/approve)",
                    record.trigger.tenant
                ),
                None,
            );
        }
        journal
            .writes
            .push(Write::SaveRun(Box::new(record.clone())));
        self.store.write(|w| journal.apply(w))?;
        self.active.insert(
            run_id.clone(),
            ActiveRun {
                record,
                config: None,
            },
        );
        Ok(if waits {
            Accepted::AwaitingApproval { run_id }
        } else {
            Accepted::Queued { run_id }
        })
    }

    /// A tenant member approved a fork's run: it is queued for its config, whose
    /// trigger is returned. Refused when the run does not wait for an approval.
    pub fn approve(
        &mut self,
        run_id: &str,
        approver: &str,
        now: u64,
    ) -> Result<Result<RunTrigger, String>, SchedulerError> {
        let Some(active) = self.active.get_mut(run_id) else {
            return Ok(Err(format!("run {run_id} is not in flight")));
        };
        if active.record.status != RunStatus::AwaitingApproval {
            return Ok(Err(format!(
                "run {run_id} does not wait for an approval (it is {})",
                active.record.status.as_str()
            )));
        }
        active.record.status = RunStatus::Queued;
        let mut journal = Journal::default();
        journal.event(
            run_id,
            now,
            "run.approved",
            None,
            None,
            format!("approved by {approver}"),
            None,
        );
        journal
            .writes
            .push(Write::SaveRun(Box::new(active.record.clone())));
        let trigger = active.record.trigger.clone();
        if let Err(e) = self.store.write(|w| journal.apply(w)) {
            self.reload(run_id);
            return Err(e.into());
        }
        Ok(Ok(trigger))
    }

    /// Record a delivery that starts no run (ping, ignored event); `false` if seen before.
    pub fn record_delivery(
        &mut self,
        delivery_id: &str,
        tenant: &str,
        event: &str,
        outcome: &str,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        let seen = self
            .store
            .write(|w| w.record_delivery(delivery_id, tenant, event, outcome, None, now))?;
        Ok(seen.is_none())
    }

    /// The run's pipeline config arrived (`Ok((text, origin))`) or could not be loaded.
    pub fn config_loaded(
        &mut self,
        run_id: &str,
        loaded: Result<(String, String), String>,
        now: u64,
    ) -> Result<Vec<Effect>, SchedulerError> {
        let Some(mut active) = self.active.remove(run_id) else {
            return Ok(Vec::new());
        };
        if active.record.status != RunStatus::Queued {
            self.active.insert(run_id.to_string(), active);
            return Ok(Vec::new());
        }
        let mut journal = Journal::default();
        let mut effects = Vec::new();
        let parsed = match loaded {
            Ok((text, origin)) => {
                active.record.config_origin = Some(origin.clone());
                let parsed = self
                    .parse_config(&active.record, &text)
                    .map_err(|e| e.to_string())
                    .and_then(|config| {
                        // A repository's config only chooses among what its tenant grants.
                        let tenant = self.settings.tenant(&active.record.trigger.tenant);
                        crate::trust::check_plan(&config, &active.record.trigger, tenant)
                            .and_then(|()| match &self.known {
                                Some(known) => known.check(&config),
                                None => Ok(()),
                            })
                            .map(|()| config)
                            .map_err(|denied| format!("{origin}: {denied}"))
                    });
                active.record.config_source = Some(text);
                parsed
            }
            Err(why) => Err(why),
        };
        let config = match parsed {
            Ok(config) => config,
            Err(message) => {
                let record = &mut active.record;
                record.status = RunStatus::ConfigError;
                self.metrics
                    .runs
                    .get_or_create(&crate::metrics::StatusLabels {
                        status: RunStatus::ConfigError.as_str().into(),
                    })
                    .inc();
                record.finished_ms = Some(now);
                record.error = Some(message.clone());
                journal.event(
                    run_id,
                    now,
                    "run.config-error",
                    None,
                    None,
                    message.clone(),
                    None,
                );
                journal
                    .writes
                    .push(Write::SaveRun(Box::new(record.clone())));
                if let Some(tenant) = self.settings.tenant(&record.trigger.tenant)
                    && tenant.github_token.resolve().is_some()
                {
                    let first_line = message.lines().next().unwrap_or_default().to_string();
                    effects.push(Effect::Status {
                        run_id: run_id.to_string(),
                        tenant: record.trigger.tenant.clone(),
                        repository: record.trigger.repository.clone(),
                        commit: record.trigger.commit.clone(),
                        update: StatusUpdate {
                            state: StatusState::Error,
                            context: "bosun".into(),
                            description: format!("pipeline config error: {first_line}"),
                            target_url: format!("{}/runs/{run_id}", self.settings.base_url()),
                        },
                    });
                }
                self.store.write(|w| journal.apply(w))?;
                return Ok(effects);
            }
        };
        active.record.stages = config
            .stages
            .iter()
            .map(|s| StageRecord::pending(&s.name))
            .collect();
        active.config = Some(Arc::clone(&config));
        // A newer push to the branch supersedes runs still in flight on it.
        let mut touched = vec![run_id.to_string()];
        if config.cancel_superseded {
            let trigger = &active.record.trigger;
            let superseded: Vec<String> = self
                .active
                .values()
                .filter(|r| {
                    // Only the same tenant's runs of the same repository, event and pull
                    // request: a pull request's head branch named `main` must not
                    // cancel a push to `main`.
                    let other = &r.record.trigger;
                    other.tenant.eq_ignore_ascii_case(&trigger.tenant)
                        && other.repository.eq_ignore_ascii_case(&trigger.repository)
                        && other.event == trigger.event
                        && other.pull_request == trigger.pull_request
                        && other.branch == trigger.branch
                        && r.record.created_ms <= active.record.created_ms
                        && !r.record.status.is_final()
                })
                .map(|r| r.record.id.clone())
                .collect();
            for old in superseded {
                if let Some(other) = self.active.get_mut(&old)
                    && let Some(other_config) = other.config.clone()
                {
                    let tenant = self.settings.tenant(&other.record.trigger.tenant);
                    let mut step = Step {
                        run: &mut other.record,
                        config: &other_config,
                        tenant,
                        settings: &self.settings,
                        metrics: &self.metrics,
                        now,
                        journal: &mut journal,
                        effects: &mut effects,
                    };
                    step.cancel(format!(
                        "superseded by run {run_id} (commit {})",
                        active.record.trigger.commit
                    ));
                    touched.push(old);
                }
            }
        }
        {
            let tenant = self.settings.tenant(&active.record.trigger.tenant);
            let mut step = Step {
                run: &mut active.record,
                config: &config,
                tenant,
                settings: &self.settings,
                metrics: &self.metrics,
                now,
                journal: &mut journal,
                effects: &mut effects,
            };
            step.start();
        }
        self.active.insert(run_id.to_string(), active);
        let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
        self.commit(journal, effects, &touched, now)
    }

    fn with_run(
        &mut self,
        run_id: &str,
        now: u64,
        work: impl FnOnce(&mut Step<'_>),
    ) -> Result<Vec<Effect>, SchedulerError> {
        let Some(active) = self.active.get_mut(run_id) else {
            return Ok(Vec::new());
        };
        let Some(config) = active.config.clone() else {
            return Ok(Vec::new());
        };
        let mut journal = Journal::default();
        let mut effects = Vec::new();
        {
            let tenant = self.settings.tenant(&active.record.trigger.tenant);
            let mut step = Step {
                run: &mut active.record,
                config: &config,
                tenant,
                settings: &self.settings,
                metrics: &self.metrics,
                now,
                journal: &mut journal,
                effects: &mut effects,
            };
            work(&mut step);
        }
        if journal.writes.is_empty() && effects.is_empty() {
            return Ok(effects);
        }
        self.commit(journal, effects, &[run_id], now)
    }

    /// Apply an agent's reply from `agent.results`.
    pub fn on_reply(&mut self, reply: AgentReply, now: u64) -> Result<Vec<Effect>, SchedulerError> {
        match reply {
            AgentReply::Stage(message) => {
                let Some((run_id, stage, attempt)) = split_task_id(&message.result.task_id) else {
                    tracing::warn!(task = %message.result.task_id, "result with a malformed task id ignored");
                    return Ok(Vec::new());
                };
                let (run_id, stage) = (run_id.to_string(), stage.to_string());
                let agent = message.agent_id.clone();
                self.with_run(&run_id, now, |step| {
                    step.apply_result(&agent, &stage, attempt, message.result, true);
                })
            }
            AgentReply::Policy(message) => {
                let Some((run_id, stage)) = split_request_id(&message.request_id) else {
                    return Ok(Vec::new());
                };
                let (run_id, stage) = (run_id.to_string(), stage.to_string());
                let denials = message.denials();
                let warnings: Vec<String> = message
                    .verdicts
                    .iter()
                    .filter_map(|v| match &v.decision {
                        Decision::Warn(reasons) => Some(
                            reasons
                                .iter()
                                .map(|r| format!("{}: {r}", v.policy))
                                .collect::<Vec<_>>(),
                        ),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                let verdicts = serde_json::to_value(&message.verdicts).unwrap_or_default();
                self.with_run(&run_id, now, |step| {
                    step.apply_gate(&stage, &message.request_id, denials, warnings, verdicts);
                })
            }
            AgentReply::Report(message) => {
                let Some(run) = self.store.run(&message.run_id)? else {
                    return Ok(Vec::new());
                };
                match (message.body, message.error) {
                    (Some(body), _) => Ok(vec![Effect::Notify {
                        run_id: run.id,
                        tenant: run.trigger.tenant,
                        body,
                    }]),
                    (None, error) => {
                        let detail =
                            error.unwrap_or_else(|| "the notifier returned nothing".into());
                        self.notification_done(&run.id, "slack", false, 0, &detail, now)?;
                        Ok(Vec::new())
                    }
                }
            }
            AgentReply::Inventory(message) => {
                tracing::debug!(agent = %message.agent_id, plugins = message.plugins.len(), "agent inventory");
                // Stored with the orchestrator's clock, not the agent's: last-seen times
                // are compared with each other and with now on the dashboard.
                self.store.write(|w| w.upsert_agent(&message, now))?;
                Ok(Vec::new())
            }
        }
    }

    /// Record what became of a notification or commit status.
    pub fn notification_done(
        &mut self,
        run_id: &str,
        channel: &str,
        sent: bool,
        attempts: u32,
        detail: &str,
        now: u64,
    ) -> Result<(), SchedulerError> {
        let status = if sent { "sent" } else { "failed" };
        let mut journal = Journal::default();
        journal.writes.push(Write::Notification {
            run_id: run_id.to_string(),
            channel: channel.to_string(),
            status: status.to_string(),
            attempts,
            detail: detail.to_string(),
            at_ms: now,
        });
        journal.event(
            run_id,
            now,
            if sent { "notify.sent" } else { "notify.failed" },
            None,
            None,
            format!("{channel}: {detail}"),
            None,
        );
        self.store.write(|w| journal.apply(w))?;
        Ok(())
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
        let task = task.task;
        let task_id = task.id();
        self.with_run(&task.run_id, now, |step| {
            let failure =
                step::synthetic_failure(&task_id, StageFailureKind::Infrastructure, reason);
            step.apply_result("dead-letter", &task.stage, task.attempt, failure, false);
        })
    }

    /// Time passes: retries, deadlines, gate timeouts.
    pub fn tick(&mut self, now: u64) -> Result<Vec<Effect>, SchedulerError> {
        let due: Vec<String> = self
            .active
            .values()
            .filter(|r| r.record.status == RunStatus::Running)
            .filter(|r| {
                r.record.stages.iter().any(|s| {
                    s.next_attempt_ms.is_some_and(|t| t <= now)
                        || s.deadline_ms.is_some_and(|t| t <= now)
                        || s.gate.as_ref().is_some_and(|g| g.deadline_ms <= now)
                })
            })
            .map(|r| r.record.id.clone())
            .collect();
        let mut effects = Vec::new();
        for run_id in due {
            effects.extend(self.with_run(&run_id, now, |step| step.on_tick())?);
        }
        Ok(effects)
    }

    /// Re-send everything in flight (after a restart).
    pub fn resume(&mut self, now: u64) -> Result<Vec<Effect>, SchedulerError> {
        let running: Vec<String> = self
            .active
            .values()
            .filter(|r| r.record.status == RunStatus::Running)
            .map(|r| r.record.id.clone())
            .collect();
        let mut effects = Vec::new();
        for run_id in running {
            effects.extend(self.with_run(&run_id, now, |step| step.republish())?);
        }
        Ok(effects)
    }

    /// Cancel a run on an operator's request; `false` if it is not in flight.
    pub fn cancel(
        &mut self,
        run_id: &str,
        reason: &str,
        now: u64,
    ) -> Result<(bool, Vec<Effect>), SchedulerError> {
        let Some(active) = self.active.get_mut(run_id) else {
            return Ok((false, Vec::new()));
        };
        if active.record.status == RunStatus::AwaitingApproval {
            // Nothing of it ran: it ends here, with no config and no stages.
            active.record.status = RunStatus::Cancelled;
            active.record.finished_ms = Some(now);
            active.record.error = Some(reason.to_string());
            let mut journal = Journal::default();
            journal.event(
                run_id,
                now,
                "run.cancelled",
                None,
                None,
                reason.to_string(),
                None,
            );
            journal
                .writes
                .push(Write::SaveRun(Box::new(active.record.clone())));
            let effects = vec![Effect::Finished {
                run_id: run_id.to_string(),
            }];
            return Ok((true, self.commit(journal, effects, &[run_id], now)?));
        }
        let effects = self.with_run(run_id, now, |step| step.cancel(reason.to_string()))?;
        Ok((true, effects))
    }
}

#[cfg(test)]
mod tests;
