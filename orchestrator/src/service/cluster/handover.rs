//! Handing an input over to its repository's owner through the store (the owner's
//! inbox), and applying what other orchestrators handed this one.

use super::answer::{Waiting, await_answer};
use crate::model::RunTrigger;
use crate::scheduler::{RerunRequest, SchedulerError, StageDecision};
use crate::service::WebhookDelivery;
use crate::service::command::Command;
use crate::service::worker::Worker;
use bosun_bus::messages::DeadLetter;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::oneshot;

/// An input handed to the owner of its repository.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(in crate::service) enum Forwarded {
    DeadLetter {
        letter: DeadLetter,
    },
    Trigger {
        trigger: RunTrigger,
        delivery: Option<WebhookDelivery>,
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
impl Worker {
    /// Hand `input` to the owner of `key`; the inbox row's id, or `None` when the store
    /// refused it (logged).
    pub(in crate::service) fn forward(&self, key: &str, input: &Forwarded) -> Option<i64> {
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
    pub(in crate::service) fn forward_request(&self, key: &str, command: Command) {
        let (input, reply) = match command {
            Command::Trigger {
                trigger,
                delivery,
                reply,
            } => {
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
    pub(in crate::service) async fn drain_inbox(&mut self) {
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
        command: impl FnOnce(crate::service::command::Reply<T>) -> Command,
    ) -> Settled {
        let (tx, rx) = oneshot::channel();
        self.command_here(command(tx)).await;
        answered(rx)
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
