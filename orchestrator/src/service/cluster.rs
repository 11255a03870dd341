//! Several orchestrators over one store and one bus (`cluster:` in the settings).
//!
//! Each repository's runs have one owner: the orchestrator holding its lease. Any of
//! them accepts webhooks, API calls and dead letters; what it receives for a repository
//! another owns is handed over through the store (the owner's inbox, `store/inbox.rs`)
//! and a request waits there for the owner's answer. Every orchestrator reads the agents'
//! replies and the dead letters in consumer groups of its own, so nothing waits on a dead
//! orchestrator's partitions: a stage result or policy answer is applied by the one
//! driving its run, a notifier's answer and a dead letter by the one that claims it
//! first in the store. Every lease
//! period's quarter, an orchestrator renews its leases, releases repositories with
//! nothing in flight, and takes over repositories whose owner stopped renewing (their
//! runs resume from the store; what was in flight is sent again and a duplicate result
//! is ignored by the attempt settled once).

use super::command::Command;
use super::worker::Worker;
use crate::model::RunTrigger;
use crate::scheduler::{
    Accepted, Decided, RerunRefused, RerunRequest, RerunStarted, SchedulerError, StageDecision,
};
use crate::settings::ClusterSettings;
use crate::store::{LeaseClaim, Store, StoreError};
use bosun_bus::messages::{self, AgentReply, DeadLetter, TaskMessage};
use bosun_bus::{GateRequestId, TaskId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// This orchestrator's part in a cluster.
pub(super) struct Cluster {
    pub(super) settings: ClusterSettings,
    pub(super) owner: String,
    /// A store connection of its own, on which handed-over requests wait for their
    /// answers off the owner task.
    pub(super) waiter: Arc<Mutex<Store>>,
}

/// An input handed to the owner of its repository.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(super) enum Forwarded {
    DeadLetter {
        letter: DeadLetter,
    },
    Trigger {
        trigger: RunTrigger,
        delivery: Option<(String, String)>,
    },
    Cancel {
        run_id: String,
        reason: String,
    },
    Approve {
        run_id: String,
        approver: String,
    },
    Decide {
        run_id: String,
        stage: String,
        decision: StageDecision,
    },
    Rerun {
        request: RerunRequest,
    },
}

impl Forwarded {
    fn kind(&self) -> &'static str {
        match self {
            Forwarded::DeadLetter { .. } => "dead-letter",
            Forwarded::Trigger { .. } => "trigger",
            Forwarded::Cancel { .. } => "cancel",
            Forwarded::Approve { .. } => "approve",
            Forwarded::Decide { .. } => "decide",
            Forwarded::Rerun { .. } => "rerun",
        }
    }
}

/// Where an input is applied.
pub(super) enum Route {
    /// Here: this orchestrator holds (or just took) the repository's lease.
    Here,
    /// The owner of this lease key, through its inbox.
    Owner(String),
}

/// The run an agent reply is about, when its owner must apply it (notifications of
/// finished runs and inventories are applied wherever they arrive).
pub(super) fn reply_run(reply: &AgentReply) -> Option<String> {
    match reply {
        AgentReply::Stage(message) => message
            .result
            .task_id
            .parse::<TaskId>()
            .ok()
            .map(|t| t.run_id),
        AgentReply::Policy(message) => message
            .request_id
            .parse::<GateRequestId>()
            .ok()
            .map(|g| g.run_id),
        AgentReply::Notify(_) | AgentReply::Inventory(_) => None,
    }
}

/// The run a dead-lettered task belonged to.
pub(super) fn letter_run(letter: &DeadLetter) -> Option<String> {
    let task: TaskMessage = messages::decode(letter.payload.as_bytes()).ok()?;
    Some(task.task.task_id().run_id)
}

impl Worker {
    /// Whether this orchestrator acts on a reply every orchestrator reads (alone: always).
    /// A stage result or policy answer: when it drives the run (its owner; a result that
    /// reached no live owner is made again when the new owner sends the task again). A
    /// notifier's answer: when it claims it first. An inventory: everywhere (an upsert).
    pub(super) fn applies_here(&self, reply: &AgentReply) -> bool {
        if self.cluster.is_none() {
            return true;
        }
        match reply {
            AgentReply::Stage(_) | AgentReply::Policy(_) => {
                reply_run(reply).is_none_or(|run_id| self.scheduler.drives(&run_id))
            }
            // By the request, not the record: an agent's duplicate answer is not sent twice.
            AgentReply::Notify(message) => self.claimed(&format!("notify:{}", message.request_id)),
            AgentReply::Inventory(_) => true,
        }
    }

    /// Whether this orchestrator is the one to act on `key` (alone: always). A store
    /// that cannot answer says no: another orchestrator, or this one after the message
    /// comes again, acts on it.
    pub(super) fn claimed(&self, key: &str) -> bool {
        let Some(cluster) = &self.cluster else {
            return true;
        };
        match self
            .scheduler
            .store()
            .claim(key, &cluster.owner, self.clock.now_ms())
        {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!(%key, error = %e, "could not claim a message; left to the others");
                false
            }
        }
    }

    /// Where inputs about `key`'s runs go: here when this orchestrator holds the lease
    /// or can take it now (no owner, or an expired one); otherwise to the owner.
    pub(super) async fn route_key(&mut self, key: &str) -> Route {
        if self.cluster.is_none() || self.scheduler.holds(key) {
            return Route::Here;
        }
        if self.take(key).await {
            Route::Here
        } else {
            Route::Owner(key.to_string())
        }
    }

    /// Take `key` if nobody holds it live (free, released or expired): acquire its
    /// lease and adopt its runs. `true` when this orchestrator holds it afterwards.
    async fn take(&mut self, key: &str) -> bool {
        let Some(cluster) = &self.cluster else {
            return true;
        };
        let owner = cluster.owner.clone();
        let ttl = cluster.settings.lease().as_millis() as u64;
        let now = self.clock.now_ms();
        let store = self.scheduler.store();
        let previous = store.lease(key).ok().flatten().map(|l| l.owner);
        match store.acquire_lease(key, &owner, now, ttl) {
            Ok(LeaseClaim::Acquired(lease)) => {
                let took_over = previous.filter(|p| p != &owner);
                self.adopt(lease, took_over).await;
                self.scheduler.holds(key)
            }
            Ok(LeaseClaim::HeldBy(_)) => false,
            Err(e) => {
                // The inbox is the store too; if it is down the hand-over fails loudly.
                tracing::warn!(%key, error = %e, "could not ask for a repository's lease");
                false
            }
        }
    }

    /// Where inputs about run `run_id` go (here for runs in memory, unknown or finished).
    pub(super) async fn route_run(&mut self, run_id: &str) -> Route {
        if self.cluster.is_none() || self.scheduler.drives(run_id) {
            return Route::Here;
        }
        match self.scheduler.store().run_lease_key(run_id) {
            Ok(Some((key, false))) => self.route_key(&key).await,
            Ok(_) => Route::Here,
            Err(e) => {
                tracing::warn!(run = %run_id, error = %e, "could not read a run's repository");
                Route::Here
            }
        }
    }

    /// Take `lease`'s repository: load its runs, send again what was in flight, read the
    /// configs of runs still waiting for one.
    pub(super) async fn adopt(&mut self, lease: crate::store::Lease, took_over: Option<String>) {
        let key = lease.key.clone();
        let started = Instant::now();
        match self
            .scheduler
            .adopt(lease, took_over.as_deref(), self.clock.now_ms())
        {
            Ok(adopted) => {
                if let Some(previous) = &took_over {
                    tracing::info!(%key, from = %previous, runs = adopted.runs, took_ms = started.elapsed().as_millis() as u64, "took a repository's runs over");
                }
                for (run_id, trigger) in adopted.queued {
                    self.load_config(run_id, trigger);
                }
                self.execute(adopted.effects).await;
            }
            Err(e) => tracing::error!(%key, error = %e, "could not take a repository's runs over"),
        }
    }

    /// Hand `input` to the owner of `key`; the inbox row's id, or `None` when the store
    /// refused it (logged).
    pub(super) fn forward(&self, key: &str, input: &Forwarded) -> Option<i64> {
        let cluster = self.cluster.as_ref()?;
        let payload = serde_json::to_string(input).ok()?;
        let now = self.clock.now_ms();
        match self
            .scheduler
            .store()
            .post_to_owner(key, input.kind(), &payload, &cluster.owner, now)
        {
            Ok(id) => {
                self.scheduler.metrics().inbox_forwarded.inc();
                Some(id)
            }
            Err(e) => {
                tracing::error!(%key, kind = input.kind(), error = %e, "could not hand an input to its repository's owner");
                None
            }
        }
    }

    /// Hand a request to the owner of `key` and answer the caller when the owner has.
    pub(super) fn forward_request(&self, key: &str, command: Command) {
        let (input, reply) = match command {
            Command::Trigger {
                trigger,
                delivery,
                reply,
            } => {
                let delivery = delivery.map(|d| (d.id, d.event));
                let input = Forwarded::Trigger { trigger, delivery };
                (input, Waiting::Accepted(reply))
            }
            Command::Cancel {
                run_id,
                reason,
                reply,
            } => (Forwarded::Cancel { run_id, reason }, Waiting::Bool(reply)),
            Command::Approve {
                run_id,
                approver,
                reply,
            } => (
                Forwarded::Approve { run_id, approver },
                Waiting::Approved(reply),
            ),
            Command::Decide {
                run_id,
                stage,
                decision,
                reply,
            } => (
                Forwarded::Decide {
                    run_id,
                    stage,
                    decision,
                },
                Waiting::Decided(reply),
            ),
            Command::Rerun { request, reply } => {
                (Forwarded::Rerun { request }, Waiting::Rerun(reply))
            }
            // Nothing else is routed.
            _ => return,
        };
        let Some(cluster) = &self.cluster else {
            return;
        };
        let Some(id) = self.forward(key, &input) else {
            reply.fail(SchedulerError::Elsewhere(format!(
                "the runs of {key} belong to another orchestrator, and the request could not be handed to it through the store"
            )));
            return;
        };
        let waiter = Arc::clone(&cluster.waiter);
        let wait = cluster.settings.forward_wait();
        let key = key.to_string();
        tokio::spawn(async move {
            let answer = await_answer(waiter, id, wait).await;
            match answer {
                Ok(answer) => reply.answer(&answer),
                Err(why) => reply.fail(SchedulerError::Elsewhere(format!(
                    "the runs of {key} belong to another orchestrator, which {why}"
                ))),
            }
        });
    }

    /// Apply what other orchestrators handed this one, for the repositories it holds.
    pub(super) async fn drain_inbox(&mut self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let owner = cluster.owner.clone();
        let items = match self.scheduler.store().owner_inbox(&owner, 64) {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the inbox");
                return;
            }
        };
        for item in items {
            if !self.scheduler.holds(&item.key) {
                // Lost meanwhile: the new owner reads it.
                continue;
            }
            let settled = match serde_json::from_str::<Forwarded>(&item.payload) {
                Ok(input) => self.apply_forwarded(input).await,
                Err(e) => {
                    tracing::warn!(id = item.id, kind = %item.kind, error = %e, "an unreadable inbox item dropped");
                    Settled::Done(None)
                }
            };
            if let Settled::Done(answer) = settled {
                let now = self.clock.now_ms();
                if let Err(e) =
                    self.scheduler
                        .store()
                        .settle_inbox_item(item.id, answer.as_deref(), now)
                {
                    tracing::warn!(id = item.id, error = %e, "could not settle an inbox item (it will be applied again, harmlessly)");
                }
            }
        }
    }

    async fn apply_forwarded(&mut self, input: Forwarded) -> Settled {
        let now = self.clock.now_ms();
        match input {
            Forwarded::DeadLetter { letter } => match self.scheduler.on_dead_letter(letter, now) {
                Ok(effects) => {
                    self.execute(effects).await;
                    Settled::Done(None)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a handed-over dead letter was not applied; kept for the owner");
                    Settled::Kept
                }
            },
            Forwarded::Trigger { trigger, delivery } => {
                let delivery = delivery.map(|(id, event)| super::WebhookDelivery { id, event });
                self.request_here(|reply| Command::Trigger {
                    trigger,
                    delivery,
                    reply,
                })
                .await
            }
            Forwarded::Cancel { run_id, reason } => {
                self.request_here(|reply| Command::Cancel {
                    run_id,
                    reason,
                    reply,
                })
                .await
            }
            Forwarded::Approve { run_id, approver } => {
                self.request_here(|reply| Command::Approve {
                    run_id,
                    approver,
                    reply,
                })
                .await
            }
            Forwarded::Decide {
                run_id,
                stage,
                decision,
            } => {
                self.request_here(|reply| Command::Decide {
                    run_id,
                    stage,
                    decision,
                    reply,
                })
                .await
            }
            Forwarded::Rerun { request } => {
                self.request_here(|reply| Command::Rerun { request, reply })
                    .await
            }
        }
    }

    /// Carry a handed-over request out here and settle it with its answer.
    async fn request_here<T: Serialize>(
        &mut self,
        command: impl FnOnce(super::command::Reply<T>) -> Command,
    ) -> Settled {
        let (tx, rx) = oneshot::channel();
        self.command_here(command(tx)).await;
        answered(rx)
    }

    /// Renew the leases held, release the repositories with nothing in flight, take
    /// over those whose owner stopped renewing, and drop answers nobody came for.
    pub(super) async fn maintain_leases(&mut self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let ttl = cluster.settings.lease().as_millis() as u64;
        let now = self.clock.now_ms();
        for fence in self.scheduler.held_fences() {
            match self.scheduler.store().renew_lease(&fence, now, ttl) {
                Ok(_) => {}
                Err(StoreError::LeaseLost { holder, .. }) => {
                    let runs = self.scheduler.disown(&fence.key);
                    tracing::warn!(key = %fence.key, ?holder, runs, "lease taken over by another orchestrator; its runs left this one");
                }
                Err(e) => tracing::warn!(key = %fence.key, error = %e, "could not renew a lease"),
            }
        }
        for fence in self.scheduler.idle_keys() {
            let store = self.scheduler.store();
            if matches!(store.key_has_work(&fence.key), Ok(false)) {
                if let Err(e) = store.release_lease(&fence) {
                    tracing::warn!(key = %fence.key, error = %e, "could not release a lease");
                    continue;
                }
                self.scheduler.forget_key(&fence.key);
            }
        }
        let orphaned = match self.scheduler.store().keys_without_owner(now, 32) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for repositories without an owner");
                Vec::new()
            }
        };
        for key in orphaned {
            self.take(&key).await;
        }
        let stale = now.saturating_sub(10 * 60 * 1000);
        let _ = self.scheduler.store().prune_inbox_answers(stale);
        // A claim outlives any redelivery of its message by far after a day.
        let _ = self
            .scheduler
            .store()
            .prune_claims(now.saturating_sub(24 * 3600 * 1000));
    }

    /// Give every lease up (a graceful shutdown): the others take the runs over at once.
    pub(super) fn release_all(&mut self) {
        for fence in self.scheduler.held_fences() {
            if let Err(e) = self.scheduler.store().release_lease(&fence) {
                tracing::warn!(key = %fence.key, error = %e, "could not release a lease at shutdown");
            }
            self.scheduler.forget_key(&fence.key);
        }
    }
}

/// What became of an inbox item here.
enum Settled {
    /// Applied; a request's answer (JSON) to write back.
    Done(Option<String>),
    /// Not applied (the lease moved, or the store failed): left for the owner.
    Kept,
}

/// A request's answer from the owner task, as the inbox row keeps it; a request that
/// failed because the lease moved is left for the new owner.
fn answered<T: Serialize>(mut rx: oneshot::Receiver<Result<T, SchedulerError>>) -> Settled {
    match rx.try_recv() {
        Ok(Ok(value)) => Settled::Done(serde_json::to_string(&Ok::<T, String>(value)).ok()),
        Ok(Err(e)) if e.is_lease_lost() => Settled::Kept,
        Ok(Err(e)) => Settled::Done(serde_json::to_string(&Err::<T, String>(e.to_string())).ok()),
        // The owner task handed the request on (it lost the lease while applying it).
        Err(_) => Settled::Kept,
    }
}

/// Wait for row `id`'s answer, polling the store off the async threads.
async fn await_answer(
    waiter: Arc<Mutex<Store>>,
    id: i64,
    wait: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        let store = Arc::clone(&waiter);
        let read = tokio::task::spawn_blocking(move || match store.lock() {
            Ok(store) => store.take_inbox_answer(id).map_err(|e| e.to_string()),
            Err(_) => Err("the answer's store connection is unusable".to_string()),
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match read {
            Ok(Some(answer)) => return Ok(answer),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(id, error = %e, "could not read a handed-over request's answer")
            }
        }
        if Instant::now() >= deadline {
            let store = Arc::clone(&waiter);
            let withdrawn = tokio::task::spawn_blocking(move || {
                store.lock().ok().map(|s| s.withdraw_inbox_item(id))
            })
            .await;
            if let Ok(Some(Ok(false))) = withdrawn {
                // Answered in the last instant: take it.
                if let Ok(Ok(Some(answer))) = waiter.lock().map(|s| s.take_inbox_answer(id)) {
                    return Ok(answer);
                }
            }
            return Err(format!("did not answer within {} s", wait.as_secs()));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// A caller waiting for a handed-over request's answer.
enum Waiting {
    Accepted(super::command::Reply<Accepted>),
    Bool(super::command::Reply<bool>),
    Approved(super::command::Reply<Result<(), String>>),
    Decided(super::command::Reply<Decided>),
    Rerun(super::command::Reply<Result<RerunStarted, RerunRefused>>),
}

impl Waiting {
    fn answer(self, json: &str) {
        match self {
            Waiting::Accepted(reply) => send(reply, json),
            Waiting::Bool(reply) => send(reply, json),
            Waiting::Approved(reply) => send(reply, json),
            Waiting::Decided(reply) => send(reply, json),
            Waiting::Rerun(reply) => send(reply, json),
        }
    }

    fn fail(self, error: SchedulerError) {
        match self {
            Waiting::Accepted(reply) => drop(reply.send(Err(error))),
            Waiting::Bool(reply) => drop(reply.send(Err(error))),
            Waiting::Approved(reply) => drop(reply.send(Err(error))),
            Waiting::Decided(reply) => drop(reply.send(Err(error))),
            Waiting::Rerun(reply) => drop(reply.send(Err(error))),
        }
    }
}

fn send<T: DeserializeOwned>(reply: super::command::Reply<T>, json: &str) {
    let answer = match serde_json::from_str::<Result<T, String>>(json) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(why)) => Err(SchedulerError::Elsewhere(why)),
        Err(e) => Err(SchedulerError::Elsewhere(format!(
            "the owning orchestrator's answer could not be read: {e}"
        ))),
    };
    let _ = reply.send(answer);
}
