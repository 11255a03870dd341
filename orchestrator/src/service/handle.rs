//! The handle to the running orchestrator: start it, then ask it to trigger, record,
//! approve, decide a stage's approval or cancel; every request goes to the one task that owns the scheduler.

use super::command::{Command, Reply};
use super::worker::Worker;
use super::{CommandError, ServiceError, ServiceOptions};
use crate::model::RunTrigger;
use crate::notify::{EmailClient, GitHubStatuses, SlackClient};
use crate::schedule::Schedules;
use crate::scheduler::{
    Accepted, Decided, RerunRefused, RerunRequest, RerunStarted, Scheduler, StageDecision,
};
use crate::settings::ServerSettings;
use crate::source::ConfigSource;
use crate::store::Store;
use bosun_bus::{Bus, topics};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// A handle to the running orchestrator (cheap to clone).
#[derive(Clone)]
pub struct Orchestrator {
    commands: mpsc::Sender<Command>,
    settings: Arc<ServerSettings>,
    metrics: Arc<crate::metrics::OrchestratorMetrics>,
    /// Turns true when the service is shutting down.
    stopping: watch::Receiver<bool>,
}

/// The GitHub delivery a trigger came with: a redelivery of the same id starts nothing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookDelivery {
    /// The `X-GitHub-Delivery` header.
    pub id: String,
    /// The `X-GitHub-Event` header.
    pub event: String,
}

/// Tells long-lived responses (the dashboard's event streams) that the service is
/// shutting down, so a graceful HTTP shutdown is not held open by a browser tab.
#[derive(Clone)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// Resolves once the service is shutting down.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut stopping = self.0.clone();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    }
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
        let schedules = settings.schedules().map_err(ServiceError::Settings)?;
        let store = Store::open(&settings.store)?;
        let cluster = match &settings.cluster {
            Some(cluster) => Some(super::cluster::Cluster {
                settings: cluster.clone(),
                owner: cluster.owner_id(),
                waiter: Arc::new(std::sync::Mutex::new(Store::open(&settings.store)?)),
            }),
            None => None,
        };
        let scheduler = match &cluster {
            Some(cluster) => {
                tracing::info!(owner = %cluster.owner, lease_ms = cluster.settings.lease().as_millis() as u64, "sharing the store with other orchestrators");
                Scheduler::open_shared(store, Arc::clone(&settings), cluster.owner.clone())?
            }
            None => Scheduler::open(store, Arc::clone(&settings))?,
        }
        .with_known_agents(options.known_agents.clone());
        let schedules = Schedules::new(schedules, &scheduler.schedule_marks()?);
        let metrics = scheduler.metrics();
        let mut all_topics: Vec<String> = vec![
            topics::AGENT_RESULTS.into(),
            topics::PIPELINE_EVENTS.into(),
            topics::AGENT_POLICY.into(),
            topics::AGENT_NOTIFY.into(),
            topics::DEAD_LETTER.into(),
            topics::AGENT_LOGS.into(),
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
        let known_pools =
            (options.known_agents.iter().flat_map(|k| &k.stages)).chain(&settings.queue_pools);
        let pools = Arc::new(super::queues::QueuePools::new(known_pools));
        if settings.queue_metrics_every_secs > 0 {
            tokio::spawn(super::queues::refresh(
                Arc::clone(&bus),
                Arc::clone(&pools),
                Arc::clone(&metrics),
                std::time::Duration::from_secs(settings.queue_metrics_every_secs),
                shutdown.clone(),
            ));
        }
        // Alone, one group. Several orchestrators: each reads every reply and dead letter in
        // a group of its own (the run's owner applies a result; a claim in the store picks
        // the one that acts on a notifier's answer or a dead letter), so nothing waits on
        // the partitions of an orchestrator that died.
        let own = |group: &str| match &cluster {
            Some(cluster) => format!("{group}-{}", cluster.owner),
            None => group.to_string(),
        };
        let results = bus
            .subscribe(
                &own("bosun-orchestrator"),
                &[topics::AGENT_RESULTS.to_string()],
            )
            .await?;
        let dead = bus
            .subscribe(
                &own("bosun-orchestrator-dead-letters"),
                &[topics::DEAD_LETTER.to_string()],
            )
            .await?;
        // Live logs go to the store on a task and connection of their own.
        let chunks = bus
            .subscribe("bosun-orchestrator-logs", &[topics::AGENT_LOGS.to_string()])
            .await?;
        tokio::spawn(super::live_logs::store_chunks(
            Store::open(&settings.store)?,
            chunks,
            shutdown.clone(),
        ));
        let (tx, rx) = mpsc::channel(1024);
        let github = Arc::new(GitHubStatuses::new(
            &settings.github_api,
            None,
            options.http_retry,
        ));
        let worker = Worker {
            scheduler,
            bus,
            source: Arc::new(ConfigSource::new(settings.work_dir.join("mirrors"))),
            settings: Arc::clone(&settings),
            commands_tx: tx.clone(),
            slack: Arc::new(SlackClient::new(options.http_retry)),
            github_lanes: super::github_lanes::GitHubLanes::new(
                Arc::clone(&github),
                tx.clone(),
                options.http_retry.max_wait,
            ),
            github,
            email: Arc::new(EmailClient::new(options.http_retry)),
            schedules,
            clock: options.clock.clone(),
            pools,
            cluster,
        };
        let stopping = shutdown.clone();
        // Pruning runs beside the owner task, on a connection of its own; it ends with
        // the service.
        let _retention = super::retention::spawn(
            Arc::clone(&settings),
            options.clock.clone(),
            shutdown.clone(),
        );
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
        self.shutdown_signal().stopped()
    }

    /// What [`Orchestrator::stopped`] waits on, for state that outlives this handle.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        ShutdownSignal(self.stopping.clone())
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
        delivery: Option<WebhookDelivery>,
    ) -> Result<Accepted, CommandError> {
        self.ask(|reply| Command::Trigger {
            trigger,
            delivery,
            reply,
        })
        .await
    }

    /// Record a delivery that starts no run; `false` if it was seen before.
    pub async fn record_delivery(
        &self,
        delivery_id: &str,
        tenant: &str,
        event: &str,
        outcome: &str,
    ) -> Result<bool, CommandError> {
        self.ask(|reply| Command::Delivery {
            delivery_id: delivery_id.into(),
            tenant: tenant.into(),
            event: event.into(),
            outcome: outcome.into(),
            reply,
        })
        .await
    }

    /// Approve a fork's run that waits for a tenant member: `Ok(Err(why))` when the
    /// run does not wait for an approval.
    pub async fn approve(
        &self,
        run_id: &str,
        approver: &str,
    ) -> Result<Result<(), String>, CommandError> {
        self.ask(|reply| Command::Approve {
            run_id: run_id.into(),
            approver: approver.into(),
            reply,
        })
        .await
    }

    /// Re-run what did not pass in a finished run (or one stage of it), with its
    /// config and plugin digests pinned: `Ok(Err(why))` when it is refused.
    pub async fn rerun(
        &self,
        request: RerunRequest,
    ) -> Result<Result<RerunStarted, RerunRefused>, CommandError> {
        self.ask(|reply| Command::Rerun { request, reply }).await
    }

    /// Approve or reject a stage that waits for an approval, if the decider may.
    pub async fn decide_stage(
        &self,
        run_id: &str,
        stage: &str,
        decision: StageDecision,
    ) -> Result<Decided, CommandError> {
        self.ask(|reply| Command::Decide {
            run_id: run_id.into(),
            stage: stage.into(),
            decision,
            reply,
        })
        .await
    }

    /// Cancel a run; `false` if it is not in flight.
    pub async fn cancel(&self, run_id: &str, reason: &str) -> Result<bool, CommandError> {
        self.ask(|reply| Command::Cancel {
            run_id: run_id.into(),
            reason: reason.into(),
            reply,
        })
        .await
    }

    /// Send a request to the owner task and wait for its answer.
    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| CommandError::Stopped)?;
        Ok(answer.await.map_err(|_| CommandError::Stopped)??)
    }
}
