//! The task that owns the scheduler: it feeds it the handle's requests, agent replies,
//! dead letters and clock ticks (which also fire due schedules), and sends each step's
//! effects out after its commit.

use super::Clock;
use super::command::Command;
use crate::model::RunTrigger;
use crate::notify::{EmailClient, GitHubStatuses, SlackClient};
use crate::schedule::Schedules;
use crate::scheduler::{Accepted, Scheduler};
use crate::settings::ServerSettings;
use crate::source::ConfigSource;
use bosun_bus::messages::{AgentReply, DeadLetter};
use bosun_bus::{Bus, BusError, Delivery, Subscription};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The scheduler's owner and what its effects go out through.
pub(super) struct Worker {
    pub(super) scheduler: Scheduler,
    pub(super) bus: Arc<dyn Bus>,
    pub(super) settings: Arc<ServerSettings>,
    pub(super) source: Arc<ConfigSource>,
    pub(super) commands_tx: mpsc::Sender<Command>,
    pub(super) slack: Arc<SlackClient>,
    pub(super) email: Arc<EmailClient>,
    pub(super) github: Arc<GitHubStatuses>,
    pub(super) github_lanes: super::github_lanes::GitHubLanes,
    pub(super) schedules: Schedules,
    pub(super) clock: Clock,
    /// The agent pools whose queues are measured: tasks sent and stages announced add to it.
    pub(super) pools: Arc<super::queues::QueuePools>,
    /// Several orchestrators share the store and bus (`cluster:`); `None`: alone.
    pub(super) cluster: Option<super::cluster::Cluster>,
}

impl Worker {
    pub(super) async fn run(
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
        match self.scheduler.resume(self.clock.now_ms()) {
            Ok(effects) => self.execute(effects).await,
            Err(e) => tracing::error!(error = %e, "could not resume runs"),
        }
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Alone, these never fire.
        let (inbox_every, leases_every) = match &self.cluster {
            Some(cluster) => (cluster.settings.inbox_poll(), cluster.settings.lease() / 4),
            None => (Duration::from_secs(3600), Duration::from_secs(3600)),
        };
        let mut inbox = tokio::time::interval(inbox_every);
        inbox.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leases = tokio::time::interval(leases_every);
        leases.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let clustered = self.cluster.is_some();
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    // A dropped sender stops the service too (else `changed` would
                    // answer at once forever and this loop would spin).
                    if changed.is_err() || *shutdown.borrow() {
                        self.release_all();
                        return;
                    }
                }
                _ = inbox.tick(), if clustered => self.drain_inbox().await,
                _ = leases.tick(), if clustered => self.maintain_leases().await,
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
                    let now = self.clock.now_ms();
                    match self.scheduler.tick(now) {
                        Ok(effects) => self.execute(effects).await,
                        Err(e) => tracing::error!(error = %e, "scheduling tick failed"),
                    }
                    self.fire_schedules(now);
                }
            }
        }
    }

    pub(super) fn load_config(&self, run_id: String, trigger: RunTrigger) {
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
            let loaded = match source
                .load(&trigger, fallback.as_deref(), token.as_deref())
                .await
            {
                // Parsed here, off the scheduler's task: a config at the size caps takes
                // its time on a blocking thread, not the owner task's.
                Ok(loaded) => tokio::task::spawn_blocking(move || loaded.parse())
                    .await
                    .map_err(|e| format!("the pipeline config could not be parsed: {e}")),
                Err(e) => Err(e.to_string()),
            };
            let _ = tx.send(Command::ConfigLoaded { run_id, loaded }).await;
        });
    }

    async fn command(&mut self, command: Command) {
        if self.cluster.is_some() {
            let route = match &command {
                Command::Trigger { trigger, .. } => {
                    let key = crate::store::repository_key(&trigger.tenant, &trigger.repository);
                    Some(self.route_key(&key).await)
                }
                Command::Cancel { run_id, .. }
                | Command::Approve { run_id, .. }
                | Command::Decide { run_id, .. } => Some(self.route_run(run_id).await),
                Command::Rerun { request, .. } => {
                    // The re-run is a new run of the same repository: its owner starts it.
                    let run_id = request.run_id.clone();
                    Some(self.route_finished_run(&run_id).await)
                }
                _ => None,
            };
            if let Some(super::cluster::Route::Owner(key)) = route {
                self.forward_request(&key, command);
                return;
            }
        }
        self.command_here(command).await
    }

    /// Carry a request out here (the run's repository is this orchestrator's, or there is
    /// only one).
    pub(super) async fn command_here(&mut self, command: Command) {
        let now = self.clock.now_ms();
        match command {
            Command::Trigger {
                trigger,
                delivery,
                reply,
            } => {
                let accepted = self.scheduler.accept(
                    trigger.clone(),
                    delivery.as_ref().map(|d| (d.id.as_str(), d.event.as_str())),
                    now,
                );
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
                let recorded =
                    self.scheduler
                        .record_delivery(&delivery_id, &tenant, &event, &outcome, now);
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
            Command::GitHubObject {
                run_id,
                kind,
                key,
                id,
            } => {
                if let Err(e) = self.scheduler.remember_github_object(kind, &key, id, now) {
                    tracing::error!(run = %run_id, error = %e, "could not remember a GitHub id");
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
                    Err(e) => Err(e),
                };
                let _ = reply.send(approved);
            }
            Command::Rerun { request, reply } => match self.scheduler.rerun(&request, now) {
                Ok(Ok((started, effects))) => {
                    self.execute(effects).await;
                    let _ = reply.send(Ok(Ok(started)));
                }
                Ok(Err(refused)) => {
                    let _ = reply.send(Ok(Err(refused)));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::ScheduleSettled { due, outcome } => {
                self.schedule_settled(due, outcome, now);
            }
            Command::Decide {
                run_id,
                stage,
                decision,
                reply,
            } => match self.scheduler.decide(&run_id, &stage, decision, now) {
                Ok((decided, effects)) => {
                    self.execute(effects).await;
                    let _ = reply.send(Ok(decided));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
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
                    let _ = reply.send(Err(e));
                }
            },
        }
    }

    async fn result(&mut self, subscription: &mut dyn Subscription, delivery: Delivery) {
        match delivery.decode::<AgentReply>() {
            Ok(reply) => {
                if let AgentReply::Inventory(announced) = &reply {
                    self.pools.note_all(&announced.stages);
                }
                if !self.applies_here(&reply) {
                    let _ = subscription.ack(&delivery).await;
                    return;
                }
                match self.scheduler.on_reply(reply, self.clock.now_ms()) {
                    Ok(effects) => self.execute(effects).await,
                    Err(e) => {
                        // Not applied: give it back so it is applied after the store recovers.
                        tracing::error!(error = %e, position = %delivery.position, "could not apply a result");
                        let _ = subscription.release(&delivery).await;
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "undecodable message on agent.results skipped"),
        }
        if let Err(e) = subscription.ack(&delivery).await {
            tracing::warn!(error = %e, "could not commit a result (it may be applied again, harmlessly)");
        }
    }

    async fn dead_letter(&mut self, subscription: &mut dyn Subscription, delivery: Delivery) {
        if !self.claimed(&format!(
            "dead-letter:{}:{}",
            delivery.record.topic, delivery.position
        )) {
            let _ = subscription.ack(&delivery).await;
            return;
        }
        let decoded = delivery.decode::<DeadLetter>();
        if let Ok(letter) = &decoded
            && self.cluster.is_some()
            && let Some(run_id) = super::cluster::letter_run(letter)
            && let super::cluster::Route::Owner(key) = self.route_run(&run_id).await
        {
            let input = super::cluster::Forwarded::DeadLetter {
                letter: letter.clone(),
            };
            self.hand_over(subscription, &delivery, &key, input).await;
            return;
        }
        match decoded {
            Ok(letter) => match self.scheduler.on_dead_letter(letter, self.clock.now_ms()) {
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
}

impl Worker {
    /// Hand a received input to the owner of `key` through the store, then commit it on
    /// the bus; if the store refused, give it back to the bus to be read again.
    async fn hand_over(
        &mut self,
        subscription: &mut dyn Subscription,
        delivery: &Delivery,
        key: &str,
        input: super::cluster::Forwarded,
    ) {
        if self.forward(key, &input).is_some() {
            if let Err(e) = subscription.ack(delivery).await {
                tracing::warn!(error = %e, "could not commit a handed-over input (it may be handed over again, harmlessly)");
            }
        } else {
            let _ = subscription.release(delivery).await;
        }
    }

    /// Where a re-run of a finished run goes: the owner of its repository, or here.
    async fn route_finished_run(&mut self, run_id: &str) -> super::cluster::Route {
        match self.scheduler.store().run_lease_key(run_id) {
            Ok(Some((key, _))) => self.route_key(&key).await,
            _ => super::cluster::Route::Here,
        }
    }
}
