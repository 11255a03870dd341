//! The agent worker: consume a task, run it, publish the reply on `agent.results`, and
//! only then acknowledge the task. Three kinds of task share that loop: stage tasks
//! (fetch the workspace, run the stage's plugin), policy requests and notification
//! requests (see [`gates`]). A command step's artifacts are read before its plugin
//! runs and kept after it (see `artifacts.rs`).

mod artifacts;
mod finished_runs;
pub mod gates;
pub mod inventory;
pub mod live_logs;
pub mod metrics;
pub mod pinned;
pub mod workspace;

use crate::registry::PluginRegistry;
use crate::runtime::StageCall;
use bosun_bus::messages::{self, AgentReply, MESSAGE_VERSION, ResultMessage, TaskMessage};
use bosun_bus::notify::NotifyTaskMessage;
use bosun_bus::policy::PolicyTaskMessage;
use bosun_bus::{
    Bus, BusError, DeadLetterRule, Delivery, Screened, StageFailure, StageFailureKind, StageResult,
    Subscription, topics,
};
use metrics::{AgentMetrics, StageLabels, TaskLabels};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use workspace::WorkspaceCache;

/// The stage name that makes an agent serve policy requests on `agent.policy`.
pub const POLICY_STAGE: &str = "policy";
/// The stage name that makes an agent serve notification requests on `agent.notify`.
pub const NOTIFY_STAGE: &str = "notify";

/// How an agent is set up.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// This agent's id (results name it; container labels scope the orphan sweep).
    pub agent_id: String,
    /// Stages this agent serves (`lint`, `test`, …); [`POLICY_STAGE`] and
    /// [`NOTIFY_STAGE`] serve policy and notification requests.
    pub stages: Vec<String>,
    /// Tasks run at once, per stage.
    pub concurrency: usize,
    /// How long a shutdown waits for tasks in flight before releasing them.
    pub shutdown_grace: Duration,
    /// The dead-letter rule.
    pub dead_letter: DeadLetterRule,
    /// Named secrets: masked in logs and tool output, available to tools as
    /// `${{ secrets.NAME }}` in their environment.
    pub secrets: Vec<(String, String)>,
    /// The orchestrator's base URL (`http://HOST:PORT`), where command steps' artifacts
    /// are uploaded and downloaded; none: a task with artifacts fails on this agent.
    pub orchestrator_url: Option<String>,
}

/// A running agent's shared parts.
pub struct Agent {
    settings: AgentSettings,
    bus: Arc<dyn Bus>,
    registry: Arc<PluginRegistry>,
    workspaces: Arc<WorkspaceCache>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<AgentMetrics>,
    /// Runs with a stage task in flight here, and how many (see `finished_runs`).
    running: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    /// Runs and stages announced ended lately: a task of one is not started.
    ended: std::sync::Mutex<finished_runs::RecentlyEnded>,
    /// Artifact transfers to the orchestrator, when its URL is known.
    artifacts: Option<crate::artifacts::ArtifactClient>,
}

/// The kinds of task an agent consumes, by the stage name that selects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskKind {
    /// A stage task on `agent.<stage>`.
    Stage,
    /// A policy request on `agent.policy`.
    Policy,
    /// A notification request on `agent.notify`.
    Notify,
}

impl TaskKind {
    fn of(stage: &str) -> TaskKind {
        match stage {
            POLICY_STAGE => TaskKind::Policy,
            NOTIFY_STAGE => TaskKind::Notify,
            _ => TaskKind::Stage,
        }
    }

    /// The topic this kind is consumed from.
    fn topic(self, stage: &str) -> String {
        match self {
            TaskKind::Stage => topics::stage_topic(stage),
            TaskKind::Policy => topics::AGENT_POLICY.to_string(),
            TaskKind::Notify => topics::AGENT_NOTIFY.to_string(),
        }
    }

    /// Decode a payload of this kind.
    fn decode(self, payload: &[u8]) -> Result<Job, messages::DecodeError> {
        Ok(match self {
            TaskKind::Stage => Job::Stage(messages::decode(payload)?),
            TaskKind::Policy => Job::Policy(messages::decode(payload)?),
            TaskKind::Notify => Job::Notify(messages::decode(payload)?),
        })
    }
}

/// A decoded task.
enum Job {
    Stage(TaskMessage),
    Policy(PolicyTaskMessage),
    Notify(NotifyTaskMessage),
}

/// A task's reply, ready to publish.
struct Done {
    /// The partitioning key: the run id.
    key: String,
    reply: AgentReply,
    /// For stage tasks, the labels counted once the task is settled.
    settled: Option<TaskLabels>,
}

/// What happened to one delivery.
enum Handled {
    /// Result published and the task acknowledged.
    Settled,
    /// Sent to the dead-letter topic.
    DeadLettered,
    /// Released for redelivery.
    Released,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Agent {
    /// An agent over `bus`, running plugins from `registry`, with workspaces in `workspaces`.
    pub fn new(
        settings: AgentSettings,
        bus: Arc<dyn Bus>,
        registry: Arc<PluginRegistry>,
        workspaces: WorkspaceCache,
    ) -> Arc<Agent> {
        Agent::with_metrics(
            settings,
            bus,
            registry,
            workspaces,
            Arc::new(AgentMetrics::default()),
        )
    }

    /// [`Agent::new`] counting into `metrics`, made before the plugin runtime so that
    /// its container runner can be wrapped with [`AgentMetrics::timed_runner`].
    pub fn with_metrics(
        settings: AgentSettings,
        bus: Arc<dyn Bus>,
        registry: Arc<PluginRegistry>,
        workspaces: WorkspaceCache,
        metrics: Arc<AgentMetrics>,
    ) -> Arc<Agent> {
        let artifacts = settings.orchestrator_url.as_deref().and_then(|url| {
            crate::artifacts::ArtifactClient::new(url)
                .inspect_err(|why| tracing::error!(%why, "artifacts are off on this agent"))
                .ok()
        });
        Arc::new(Agent {
            artifacts,
            settings,
            bus,
            registry,
            workspaces: Arc::new(workspaces),
            metrics,
            running: Default::default(),
            ended: Default::default(),
        })
    }

    /// The topics this agent reads and writes; created at start-up.
    pub fn topics(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .settings
            .stages
            .iter()
            .map(|s| TaskKind::of(s).topic(s))
            .collect();
        all.push(topics::AGENT_RESULTS.to_string());
        all.push(self.settings.dead_letter.topic.clone());
        if self.runs_stages() {
            all.push(topics::PIPELINE_EVENTS.to_string());
            all.push(topics::AGENT_LOGS.to_string());
        }
        all
    }

    /// Whether this agent runs stage tasks (and so tools to stop when a run ends).
    fn runs_stages(&self) -> bool {
        self.settings
            .stages
            .iter()
            .any(|s| TaskKind::of(s) == TaskKind::Stage)
    }

    /// Serve until `shutdown` turns true; then stop taking tasks, let tasks in flight
    /// finish within the grace period, and release the rest for redelivery.
    pub async fn run(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Result<(), BusError> {
        self.bus.ensure_topics(&self.topics()).await?;
        let announcer = tokio::spawn(Arc::clone(self).announce(shutdown.clone()));
        let watcher = self.runs_stages().then(|| {
            let agent = Arc::clone(self);
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                if let Err(e) = agent.watch_finished_runs(shutdown).await {
                    tracing::warn!(error = %e, "stopped watching for finished runs");
                }
            })
        });
        let mut workers = tokio::task::JoinSet::new();
        for stage in &self.settings.stages {
            let kind = TaskKind::of(stage);
            let topic = vec![kind.topic(stage)];
            let group = format!("bosun-agent-{stage}");
            for slot in 0..self.settings.concurrency.max(1) {
                let subscription = self.bus.subscribe(&group, &topic).await?;
                let agent = Arc::clone(self);
                let shutdown = shutdown.clone();
                tracing::info!(%stage, slot, %group, "consuming");
                workers.spawn(async move { agent.consume(kind, subscription, shutdown).await });
            }
        }
        while let Some(done) = workers.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::error!(error = %e, "a consumer stopped");
            }
        }
        announcer.abort();
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        Ok(())
    }

    async fn consume(
        self: Arc<Self>,
        kind: TaskKind,
        mut subscription: Box<dyn Subscription>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), BusError> {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let delivery = tokio::select! {
                next = subscription.next() => next?,
                _ = shutdown.changed() => return Ok(()),
            };
            // The work borrows the subscription; scope it so a release can follow.
            let outcome = {
                let work = self.handle(kind, subscription.as_mut(), &delivery);
                tokio::pin!(work);
                tokio::select! {
                    outcome = &mut work => Some(outcome),
                    _ = shutdown.changed() => {
                        // Finish within the grace period, or give the task back.
                        tokio::time::timeout(self.settings.shutdown_grace, &mut work).await.ok()
                    }
                }
            };
            let Some(outcome) = outcome else {
                tracing::warn!(position = %delivery.position, "shutdown: releasing a task in flight");
                self.metrics.released.inc();
                subscription.release(&delivery).await?;
                return Ok(());
            };
            match outcome {
                Ok(Handled::Settled) => {}
                Ok(Handled::DeadLettered) => {
                    self.metrics.dead_lettered.inc();
                }
                Ok(Handled::Released) => {
                    self.metrics.released.inc();
                }
                Err(e) => {
                    // Publishing or committing failed: leave the delivery to come back.
                    tracing::error!(error = %e, position = %delivery.position, "could not settle a task");
                    self.metrics.released.inc();
                    let _ = subscription.release(&delivery).await;
                }
            }
        }
    }

    /// Decode, screen, run, then publish the reply and acknowledge: the same for every
    /// kind of task.
    async fn handle(
        &self,
        kind: TaskKind,
        subscription: &mut dyn Subscription,
        delivery: &Delivery,
    ) -> Result<Handled, BusError> {
        let rule = &self.settings.dead_letter;
        let job = match kind.decode(&delivery.record.payload) {
            Ok(job) => job,
            Err(why) => {
                // It will never decode: no point in redelivering it.
                rule.dead_letter(
                    self.bus.as_ref(),
                    subscription,
                    delivery,
                    &format!("undecodable task on {}: {why}", delivery.record.topic),
                )
                .await?;
                return Ok(Handled::DeadLettered);
            }
        };
        if rule
            .screen(self.bus.as_ref(), subscription, delivery)
            .await?
            == Screened::DeadLettered
        {
            return Ok(Handled::DeadLettered);
        }
        self.metrics.in_flight.inc();
        let done = match &job {
            Job::Stage(message) => self.run_stage_task(message, delivery).await,
            Job::Policy(request) => Ok(Done {
                key: request.input.run_id.clone(),
                reply: AgentReply::Policy(self.evaluate_policies(request).await),
                settled: None,
            }),
            Job::Notify(request) => Ok(Done {
                key: request.summary.run_id.clone(),
                reply: AgentReply::Notify(self.format_notification(request).await),
                settled: None,
            }),
        };
        self.metrics.in_flight.dec();
        let done = match done {
            Ok(done) => done,
            Err(reason) => {
                // The agent could not even try (workspace fetch failed): redeliver.
                return Ok(
                    match rule
                        .fail(self.bus.as_ref(), subscription, delivery, &reason)
                        .await?
                    {
                        bosun_bus::Failed::Released => Handled::Released,
                        bosun_bus::Failed::DeadLettered => Handled::DeadLettered,
                    },
                );
            }
        };
        // Publish first, acknowledge second: a crash in between redelivers the task and
        // the orchestrator ignores the duplicate reply for a settled request.
        self.bus
            .publish(
                topics::AGENT_RESULTS,
                &done.key,
                messages::encode(&done.reply),
            )
            .await?;
        subscription.ack(delivery).await?;
        if let Some(labels) = done.settled {
            self.metrics.tasks.get_or_create(&labels).inc();
        }
        Ok(Handled::Settled)
    }

    /// Run a stage task and build its reply; `Err` means the agent could not start it.
    async fn run_stage_task(
        &self,
        message: &TaskMessage,
        delivery: &Delivery,
    ) -> Result<Done, String> {
        let task = &message.task;
        tracing::info!(task = %task.id(), position = %delivery.position, "task started");
        let started = Instant::now();
        let result = self.execute(message).await.inspect_err(|reason| {
            tracing::warn!(%reason, task = %task.id(), "task could not be started");
        })?;
        let outcome = match (&result.report, &result.failure) {
            (Some(report), _) => format!("{:?}", report.outcome).to_lowercase(),
            (None, Some(failure)) => format!("{:?}", failure.kind),
            (None, None) => "unknown".into(),
        };
        let stage = StageLabels {
            stage: task.stage.clone(),
        };
        self.metrics
            .task_seconds
            .get_or_create(&stage)
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .plugin_seconds
            .get_or_create(&stage)
            .observe(result.duration_ms as f64 / 1000.0);
        Ok(Done {
            key: task.run_id.clone(),
            reply: AgentReply::Stage(ResultMessage {
                version: MESSAGE_VERSION,
                agent_id: self.settings.agent_id.clone(),
                result,
            }),
            settled: Some(TaskLabels {
                stage: task.stage.clone(),
                outcome,
            }),
        })
    }

    /// Run one task; `Err` means the agent could not start it (retry elsewhere).
    async fn execute(&self, message: &TaskMessage) -> Result<StageResult, String> {
        let task = &message.task;
        let failed = |kind, text: String| StageResult {
            task_id: task.id(),
            plugin: None,
            report: None,
            failure: Some(StageFailure {
                kind,
                message: text,
            }),
            logs: Vec::new(),
            logs_dropped_bytes: 0,
            duration_ms: 0,
        };
        if message.deadline_unix_ms != 0 && now_unix_ms() >= message.deadline_unix_ms {
            return Ok(failed(
                StageFailureKind::DeadlineExceeded,
                format!(
                    "task {} reached its deadline before an agent picked it up",
                    task.id()
                ),
            ));
        }
        let plugin_name = message.plugin.clone().unwrap_or_else(|| task.stage.clone());
        let Some(plugin) = self.registry.get(&plugin_name) else {
            return Ok(failed(
                StageFailureKind::PluginUnavailable,
                format!(
                    "agent {} has no plugin named {plugin_name}",
                    self.settings.agent_id
                ),
            ));
        };
        // A re-run pins its original attempt's plugin: another build is refused here.
        let pinned = message.plugin_digest.as_deref();
        if let Err(refused) = pinned::check_pinned(&plugin.id, pinned, &self.settings.agent_id) {
            tracing::warn!(task = %task.id(), reason = %refused.message, "pinned plugin digest differs");
            return Ok(failed(refused.kind, refused.message));
        }
        let workspace = self
            .workspaces
            .prepare_for(&task.tenant, &message.clone_url, &task.commit, &task.id())
            .await
            .map_err(|e| e.to_string())?;
        // While the plugin runs, a finished-run announcement stops its tools.
        let _running = self.track(&task.run_id);
        let artifacts = match self.prepare_artifacts(message, &workspace).await {
            Ok(artifacts) => artifacts,
            Err(failure) => return Ok(failed(failure.kind, failure.message)),
        };
        // Queued behind other work while its run ended or its stage was cancelled
        // (a matrix sibling's `fail_fast`): its result would be ignored, its tools
        // would only take the place of live work.
        if let Some(why) = self.ended_before_start(&task.run_id, &task.stage) {
            tracing::info!(task = %task.id(), %why, "task not started");
            return Ok(failed(StageFailureKind::Infrastructure, why));
        }
        let call = StageCall {
            workspace: workspace.source.clone(),
            out: workspace.out.clone(),
            network_allowed: message.network_allowed,
            secrets: self.settings.secrets.clone(),
            secrets_granted: message.secrets_granted.clone(),
            secrets_withheld: message.secrets_withheld.clone(),
            push_repository: message.push_repository.clone(),
            image_repository: message.image_repository.clone(),
        };
        // The stage's timeout, as the orchestrator counts it, ends the call here too, a
        // second early: the result then says what timed out before the orchestrator
        // gives the attempt up as lost.
        let until = (message.deadline_unix_ms != 0).then(|| {
            let left = message
                .deadline_unix_ms
                .saturating_sub(now_unix_ms())
                .saturating_sub(1_000);
            std::time::Instant::now() + std::time::Duration::from_millis(left)
        });
        // The attempt's log goes out live while the plugin runs (see `live_logs`).
        let (tap, live) =
            live_logs::LiveLog::start(Arc::clone(&self.bus), &self.settings.agent_id, task);
        let mut result = self
            .registry
            .runtime()
            .run_stage_streamed(&plugin, task, &call, until, artifacts.clone(), tap)
            .await;
        live.finish().await;
        if let Some(artifacts) = &artifacts {
            self.upload_artifacts(message, artifacts, &mut result).await;
        }
        drop(workspace);
        Ok(result)
    }
}
