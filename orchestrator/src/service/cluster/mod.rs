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

//!
//! The code is split by concern: routing an input to its repository's owner (here),
//! handing inputs over through the inbox (`handover`), waiting for a handed-over
//! request's answer (`answer`), and keeping the leases (`leases`).

mod answer;
mod handover;
mod leases;

pub(super) use handover::Forwarded;

use super::worker::Worker;
use crate::settings::ClusterSettings;
use crate::store::{LeaseClaim, Store};
use bosun_bus::messages::{self, AgentReply, DeadLetter, TaskMessage};
use bosun_bus::{GateRequestId, TaskId};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// This orchestrator's part in a cluster.
pub(in crate::service) struct Cluster {
    pub(in crate::service) settings: ClusterSettings,
    pub(in crate::service) owner: String,
    /// A store connection of its own, on which handed-over requests wait for their
    /// answers off the owner task.
    pub(in crate::service) waiter: Arc<Mutex<Store>>,
}

/// Where an input is applied.
pub(in crate::service) enum Route {
    /// Here: this orchestrator holds (or just took) the repository's lease.
    Here,
    /// The owner of this lease key, through its inbox.
    Owner(String),
}

/// The run an agent reply is about, when its owner must apply it (notifications of
/// finished runs and inventories are applied wherever they arrive).
pub(in crate::service) fn reply_run(reply: &AgentReply) -> Option<String> {
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
pub(in crate::service) fn letter_run(letter: &DeadLetter) -> Option<String> {
    let task: TaskMessage = messages::decode(letter.payload.as_bytes()).ok()?;
    Some(task.task.task_id().run_id)
}
impl Worker {
    /// Whether this orchestrator acts on a reply every orchestrator reads (alone: always).
    /// A stage result or policy answer: when it drives the run (its owner; a result that
    /// reached no live owner is made again when the new owner sends the task again). A
    /// notifier's answer: when it claims it first. An inventory: everywhere (an upsert).
    pub(in crate::service) fn applies_here(&self, reply: &AgentReply) -> bool {
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
    pub(in crate::service) fn claimed(&self, key: &str) -> bool {
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
    pub(in crate::service) async fn route_key(&mut self, key: &str) -> Route {
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
    pub(super) async fn take(&mut self, key: &str) -> bool {
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
    pub(in crate::service) async fn route_run(&mut self, run_id: &str) -> Route {
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
    pub(in crate::service) async fn adopt(
        &mut self,
        lease: crate::store::Lease,
        took_over: Option<String>,
    ) {
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
}
