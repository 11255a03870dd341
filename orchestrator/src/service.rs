//! The running orchestrator: one task owns the scheduler and feeds it triggers, agent
//! replies, dead letters and clock ticks; effects go out in order after each commit.
//! Commit statuses and Slack posts run on their own tasks so a slow receiver never
//! holds up scheduling.

use crate::model::RunTrigger;
use crate::notify::RetrySettings;
use crate::notify::SlackClient;
use crate::notify::{CommitStatus, GitHubStatuses, StatusState as GitHubState};
use crate::scheduler::{Accepted, Effect, Scheduler, SchedulerError, StatusState};
use crate::settings::ServerSettings;
use crate::source::ConfigSource;
use crate::store::Store;
use bosun_bus::messages::{AgentReply, DeadLetter};
use bosun_bus::{Bus, BusError, Delivery, Subscription, topics};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why the orchestrator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The scheduler or its store failed.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The orchestrator has stopped.
    #[error("the orchestrator has stopped")]
    Stopped,
}

// Commands are few and short-lived; boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    Trigger {
        trigger: RunTrigger,
        delivery: Option<(String, String)>,
        reply: oneshot::Sender<Result<Accepted, String>>,
    },
    Delivery {
        delivery_id: String,
        tenant: String,
        event: String,
        outcome: String,
        reply: oneshot::Sender<Result<bool, String>>,
    },
    ConfigLoaded {
        run_id: String,
        loaded: Result<(String, String), String>,
    },
    NotificationDone {
        run_id: String,
        channel: &'static str,
        sent: bool,
        attempts: u32,
        detail: String,
    },
    Cancel {
        run_id: String,
        reason: String,
        reply: oneshot::Sender<Result<bool, String>>,
    },
    Approve {
        run_id: String,
        approver: String,
        reply: oneshot::Sender<Result<Result<(), String>, String>>,
    },
}

/// A handle to the running orchestrator (cheap to clone).
#[derive(Clone)]
pub struct Orchestrator {
    commands: mpsc::Sender<Command>,
    settings: Arc<ServerSettings>,
    metrics: Arc<crate::metrics::OrchestratorMetrics>,
    /// Turns true when the service is shutting down.
    stopping: watch::Receiver<bool>,
}

/// Knobs for tests and benchmarks.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// How often deadlines and retries are checked.
    pub tick: Duration,
    /// Retries for Slack and GitHub posts.
    pub http_retry: RetrySettings,
    /// What the agents can run, when this process knows it (the embedded default).
    pub known_agents: Option<crate::known::KnownAgents>,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            tick: Duration::from_millis(25),
            http_retry: RetrySettings::default(),
            known_agents: None,
        }
    }
}

struct Worker {
    scheduler: Scheduler,
    bus: Arc<dyn Bus>,
    settings: Arc<ServerSettings>,
    source: Arc<ConfigSource>,
    commands_tx: mpsc::Sender<Command>,
    slack: Arc<SlackClient>,
    github: Arc<GitHubStatuses>,
}

impl Orchestrator {
    /// Open the store, resume unfinished runs, subscribe to results and dead letters,
    /// and start scheduling. The returned task ends when `shutdown` turns true.
    pub async fn start(
        settings: Arc<ServerSettings>,
        bus: Arc<dyn Bus>,
        options: ServiceOptions,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Orchestrator, tokio::task::JoinHandle<()>), ServiceError> {
        for warning in settings.warnings() {
            tracing::warn!("{warning}");
        }
        let store = Store::open(&settings.store)?;
        let scheduler = Scheduler::open(store, Arc::clone(&settings))?
            .with_known_agents(options.known_agents.clone());
        let metrics = scheduler.metrics();
        let mut all_topics: Vec<String> = vec![
            topics::AGENT_RESULTS.into(),
            topics::PIPELINE_EVENTS.into(),
            topics::AGENT_POLICY.into(),
            topics::AGENT_REPORT.into(),
            topics::DEAD_LETTER.into(),
        ];
        for stage in [
            "lint",
            "test",
            "build",
            "security",
            "deploy",
            crate::config::COMMANDS_POOL,
        ] {
            all_topics.push(topics::stage_topic(stage));
        }
        bus.ensure_topics(&all_topics).await?;
        let results = bus
            .subscribe("bosun-orchestrator", &[topics::AGENT_RESULTS.to_string()])
            .await?;
        let dead = bus
            .subscribe(
                "bosun-orchestrator-dead-letters",
                &[topics::DEAD_LETTER.to_string()],
            )
            .await?;
        let (tx, rx) = mpsc::channel(1024);
        let worker = Worker {
            scheduler,
            bus,
            source: Arc::new(ConfigSource::new(settings.work_dir.join("mirrors"))),
            settings: Arc::clone(&settings),
            commands_tx: tx.clone(),
            slack: Arc::new(SlackClient::new(options.http_retry)),
            github: Arc::new(GitHubStatuses::new(
                &settings.github_api,
                None,
                options.http_retry,
            )),
        };
        let stopping = shutdown.clone();
        let handle = tokio::spawn(worker.run(rx, results, dead, options.tick, shutdown));
        Ok((
            Orchestrator {
                commands: tx,
                settings,
                metrics,
                stopping,
            },
            handle,
        ))
    }

    /// Resolves once the service is shutting down: long-lived responses (the
    /// dashboard's event streams) end then, so a graceful HTTP shutdown is not held
    /// open by a browser tab.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping.clone();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    }

    /// What it counts, for `/metrics`.
    pub fn metrics(&self) -> &Arc<crate::metrics::OrchestratorMetrics> {
        &self.metrics
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Arc<ServerSettings> {
        &self.settings
    }

    /// Start a run (webhook or manual trigger); deduplicated by delivery id.
    pub async fn trigger(
        &self,
        trigger: RunTrigger,
        delivery: Option<(String, String)>,
    ) -> Result<Accepted, String> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Trigger {
                trigger,
                delivery,
                reply,
            })
            .await
            .map_err(|_| ServiceError::Stopped.to_string())?;
        rx.await.map_err(|_| ServiceError::Stopped.to_string())?
    }

    /// Record a delivery that starts no run; `false` if it was seen before.
    pub async fn record_delivery(
        &self,
        delivery_id: &str,
        tenant: &str,
        event: &str,
        outcome: &str,
    ) -> Result<bool, String> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Delivery {
                delivery_id: delivery_id.into(),
                tenant: tenant.into(),
                event: event.into(),
                outcome: outcome.into(),
                reply,
            })
            .await
            .map_err(|_| ServiceError::Stopped.to_string())?;
        rx.await.map_err(|_| ServiceError::Stopped.to_string())?
    }

    /// Approve a fork's run that waits for a tenant member: `Ok(Err(why))` when the
    /// run does not wait for an approval.
    pub async fn approve(
        &self,
        run_id: &str,
        approver: &str,
    ) -> Result<Result<(), String>, String> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Approve {
                run_id: run_id.into(),
                approver: approver.into(),
                reply,
            })
            .await
            .map_err(|_| ServiceError::Stopped.to_string())?;
        rx.await.map_err(|_| ServiceError::Stopped.to_string())?
    }

    /// Cancel a run; `false` if it is not in flight.
    pub async fn cancel(&self, run_id: &str, reason: &str) -> Result<bool, String> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Cancel {
                run_id: run_id.into(),
                reason: reason.into(),
                reply,
            })
            .await
            .map_err(|_| ServiceError::Stopped.to_string())?;
        rx.await.map_err(|_| ServiceError::Stopped.to_string())?
    }
}

impl Worker {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut results: Box<dyn Subscription>,
        mut dead: Box<dyn Subscription>,
        tick: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        for (run_id, trigger) in self.scheduler.queued_runs() {
            self.load_config(run_id, trigger);
        }
        match self.scheduler.resume(now_ms()) {
            Ok(effects) => self.execute(effects).await,
            Err(e) => tracing::error!(error = %e, "could not resume runs"),
        }
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return; }
                }
                Some(command) = commands.recv() => self.command(command).await,
                delivery = results.next() => match delivery {
                    Ok(delivery) => self.result(results.as_mut(), delivery).await,
                    Err(BusError::Closed) => return,
                    Err(e) => {
                        tracing::error!(error = %e, "reading agent results failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
                delivery = dead.next() => match delivery {
                    Ok(delivery) => self.dead_letter(dead.as_mut(), delivery).await,
                    Err(BusError::Closed) => return,
                    Err(e) => {
                        tracing::error!(error = %e, "reading dead letters failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
                _ = ticker.tick() => {
                    match self.scheduler.tick(now_ms()) {
                        Ok(effects) => self.execute(effects).await,
                        Err(e) => tracing::error!(error = %e, "scheduling tick failed"),
                    }
                }
            }
        }
    }

    fn load_config(&self, run_id: String, trigger: RunTrigger) {
        let source = Arc::clone(&self.source);
        let tx = self.commands_tx.clone();
        let fallback = self
            .settings
            .fallback_pipeline(&trigger.repository)
            .map(str::to_string);
        let token = self
            .settings
            .tenant(&trigger.tenant)
            .and_then(|t| t.clone_token.resolve());
        tokio::spawn(async move {
            let loaded = source
                .load(&trigger, fallback.as_deref(), token.as_deref())
                .await
                .map_err(|e| e.to_string());
            let _ = tx.send(Command::ConfigLoaded { run_id, loaded }).await;
        });
    }

    async fn command(&mut self, command: Command) {
        let now = now_ms();
        match command {
            Command::Trigger {
                trigger,
                delivery,
                reply,
            } => {
                let accepted = self
                    .scheduler
                    .accept(
                        trigger.clone(),
                        delivery.as_ref().map(|(d, e)| (d.as_str(), e.as_str())),
                        now,
                    )
                    .map_err(|e| e.to_string());
                if let Ok(Accepted::Queued { run_id }) = &accepted {
                    self.load_config(run_id.clone(), trigger);
                }
                let _ = reply.send(accepted);
            }
            Command::Delivery {
                delivery_id,
                tenant,
                event,
                outcome,
                reply,
            } => {
                let recorded = self
                    .scheduler
                    .record_delivery(&delivery_id, &tenant, &event, &outcome, now)
                    .map_err(|e| e.to_string());
                let _ = reply.send(recorded);
            }
            Command::ConfigLoaded { run_id, loaded } => {
                match self.scheduler.config_loaded(&run_id, loaded, now) {
                    Ok(effects) => self.execute(effects).await,
                    Err(e) => tracing::error!(run = %run_id, error = %e, "could not start run"),
                }
            }
            Command::NotificationDone {
                run_id,
                channel,
                sent,
                attempts,
                detail,
            } => {
                if let Err(e) = self
                    .scheduler
                    .notification_done(&run_id, channel, sent, attempts, &detail, now)
                {
                    tracing::error!(run = %run_id, error = %e, "could not record a notification");
                }
            }
            Command::Approve {
                run_id,
                approver,
                reply,
            } => {
                let approved = match self.scheduler.approve(&run_id, &approver, now) {
                    Ok(Ok(trigger)) => {
                        self.load_config(run_id, trigger);
                        Ok(Ok(()))
                    }
                    Ok(Err(refused)) => Ok(Err(refused)),
                    Err(e) => Err(e.to_string()),
                };
                let _ = reply.send(approved);
            }
            Command::Cancel {
                run_id,
                reason,
                reply,
            } => match self.scheduler.cancel(&run_id, &reason, now) {
                Ok((found, effects)) => {
                    self.execute(effects).await;
                    let _ = reply.send(Ok(found));
                }
                Err(e) => {
                    let _ = reply.send(Err(e.to_string()));
                }
            },
        }
    }

    async fn result(&mut self, subscription: &mut dyn Subscription, delivery: Delivery) {
        match delivery.decode::<AgentReply>() {
            Ok(reply) => match self.scheduler.on_reply(reply, now_ms()) {
                Ok(effects) => self.execute(effects).await,
                Err(e) => {
                    // Not applied: give it back so it is applied after the store recovers.
                    tracing::error!(error = %e, position = %delivery.position, "could not apply a result");
                    let _ = subscription.release(&delivery).await;
                    return;
                }
            },
            Err(e) => tracing::warn!(error = %e, "undecodable message on agent.results skipped"),
        }
        if let Err(e) = subscription.ack(&delivery).await {
            tracing::warn!(error = %e, "could not commit a result (it may be applied again, harmlessly)");
        }
    }

    async fn dead_letter(&mut self, subscription: &mut dyn Subscription, delivery: Delivery) {
        match delivery.decode::<DeadLetter>() {
            Ok(letter) => match self.scheduler.on_dead_letter(letter, now_ms()) {
                Ok(effects) => self.execute(effects).await,
                Err(e) => {
                    tracing::error!(error = %e, "could not record a dead letter");
                    let _ = subscription.release(&delivery).await;
                    return;
                }
            },
            Err(e) => tracing::warn!(error = %e, "undecodable dead letter skipped"),
        }
        let _ = subscription.ack(&delivery).await;
    }

    async fn execute(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Publish {
                    topic,
                    key,
                    payload,
                } => {
                    if let Err(e) = self.bus.publish(&topic, &key, payload).await {
                        // The store says it went out; the reaper fails the attempt at its
                        // deadline and the retry rules take over.
                        tracing::error!(%topic, run = %key, error = %e, "publish failed");
                    }
                }
                Effect::Status {
                    run_id,
                    tenant,
                    repository,
                    commit,
                    update,
                } => {
                    let Some(token) = self
                        .settings
                        .tenant(&tenant)
                        .and_then(|t| t.github_token.resolve())
                    else {
                        continue;
                    };
                    let github = Arc::clone(&self.github);
                    let tx = self.commands_tx.clone();
                    tokio::spawn(async move {
                        let status = CommitStatus {
                            state: match update.state {
                                StatusState::Pending => GitHubState::Pending,
                                StatusState::Success => GitHubState::Success,
                                StatusState::Failure => GitHubState::Failure,
                                StatusState::Error => GitHubState::Error,
                            },
                            context: update.context.clone(),
                            description: update.description,
                            target_url: Some(update.target_url),
                        };
                        let outcome = github.set_as(&token, &repository, &commit, &status).await;
                        let (sent, attempts, detail) = match outcome {
                            Ok(d) => (
                                true,
                                d.attempts,
                                format!("{} {:?}", status.context, status.state),
                            ),
                            Err(e) => (false, 0, format!("{}: {e}", status.context)),
                        };
                        let _ = tx
                            .send(Command::NotificationDone {
                                run_id,
                                channel: "github",
                                sent,
                                attempts,
                                detail,
                            })
                            .await;
                    });
                }
                Effect::Notify {
                    run_id,
                    tenant,
                    body,
                } => {
                    let Some(url) = self
                        .settings
                        .tenant(&tenant)
                        .and_then(|t| t.slack_webhook.resolve())
                    else {
                        continue;
                    };
                    let slack = Arc::clone(&self.slack);
                    let tx = self.commands_tx.clone();
                    tokio::spawn(async move {
                        let (sent, attempts, detail) = match slack
                            .post(
                                &format!("the Slack webhook for tenant {tenant}"),
                                &url,
                                &body,
                            )
                            .await
                        {
                            Ok(d) => (true, d.attempts, format!("Slack answered {}", d.status)),
                            Err(e) => (false, 0, e.to_string()),
                        };
                        let _ = tx
                            .send(Command::NotificationDone {
                                run_id,
                                channel: "slack",
                                sent,
                                attempts,
                                detail,
                            })
                            .await;
                    });
                }
                Effect::Finished { .. } => {}
            }
        }
    }
}
