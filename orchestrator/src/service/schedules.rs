//! Due schedules become runs: the branch's head is read from the repository's mirror
//! off the owner task, then the run is triggered exactly as a webhook's is (a
//! `Command::Trigger` with a delivery id per schedule and tick, so a tick never starts
//! two runs), and the tick is marked in the run store.

use super::WebhookDelivery;
use super::command::Command;
use super::worker::Worker;
use crate::model::RunTrigger;
use crate::schedule::Due;
use crate::scheduler::Accepted;
use crate::source::BranchHead;
use std::sync::Arc;
use tokio::sync::oneshot;

/// The event name a scheduled run carries (`when: { events: [schedule] }`).
pub const SCHEDULE_EVENT: &str = "schedule";

/// How long a schedule that could not fire (repository unreachable, branch gone) waits
/// before it is tried again, for the latest tick then.
const RETRY_MS: u64 = 60_000;

/// The trigger of a scheduled run at `head`: a push-like run of the branch, never a
/// pull request and never a fork.
fn scheduled_trigger(due: &Due, head: BranchHead) -> Result<RunTrigger, String> {
    let schedule = &due.schedule;
    let default_branch = schedule
        .default_branch
        .clone()
        .or(head.default_branch)
        .ok_or_else(|| {
            format!(
                "cannot tell the default branch of {}: set `default_branch` on the schedule",
                schedule.repository
            )
        })?;
    Ok(RunTrigger {
        tenant: schedule.tenant.clone(),
        repository: schedule.repository.clone(),
        clone_url: schedule.clone_url.clone(),
        default_branch,
        commit: head.commit,
        branch: schedule.branch.clone(),
        event: SCHEDULE_EVENT.into(),
        changed_paths: None,
        pull_request: None,
        sender: SCHEDULE_EVENT.into(),
        message: Some(format!(
            "scheduled: {} ({})",
            schedule.timing.pattern(),
            schedule.timing.zone_name()
        )),
        fork: false,
    })
}

impl Worker {
    /// Mark schedules seen for the first time, and start a run for each one due.
    pub(super) fn fire_schedules(&mut self, now: u64) {
        if self.schedules.is_empty() {
            return;
        }
        let poll = self.schedules.poll(now);
        for mark in poll.first_seen {
            if let Err(e) = self.scheduler.mark_schedule(&mark, now) {
                tracing::warn!(schedule = %mark.key, error = %e, "could not record a new schedule");
            }
        }
        for due in poll.due {
            self.start_scheduled_run(due);
        }
    }

    /// Read the branch head and trigger the run on a task of its own, reporting back
    /// with `Command::ScheduleSettled`.
    fn start_scheduled_run(&self, due: Due) {
        let source = Arc::clone(&self.source);
        let tx = self.commands_tx.clone();
        let token = self
            .settings
            .tenant(&due.schedule.tenant)
            .and_then(|t| t.clone_token.resolve());
        tokio::spawn(async move {
            let outcome = async {
                let schedule = &due.schedule;
                let head = source
                    .branch_head(&schedule.clone_url, &schedule.branch, token.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                let trigger = scheduled_trigger(&due, head)?;
                let delivery = WebhookDelivery {
                    id: due.delivery_id(),
                    event: SCHEDULE_EVENT.into(),
                };
                let (reply, answer) = oneshot::channel();
                let stopped = || "the orchestrator has stopped".to_string();
                tx.send(Command::Trigger {
                    trigger,
                    delivery: Some(delivery),
                    reply,
                })
                .await
                .map_err(|_| stopped())?;
                match answer.await.map_err(|_| stopped())? {
                    Ok(Accepted::Queued { run_id } | Accepted::AwaitingApproval { run_id }) => {
                        Ok(Some(run_id))
                    }
                    // Started before a crash came between the run and the mark.
                    Ok(Accepted::Duplicate { run_id }) => Ok(run_id),
                    Err(e) => Err(e.to_string()),
                }
            }
            .await;
            let _ = tx.send(Command::ScheduleSettled { due, outcome }).await;
        });
    }

    /// A due schedule's run was recorded (`Ok`) or could not be started (`Err`).
    pub(super) fn schedule_settled(
        &mut self,
        due: Due,
        outcome: Result<Option<String>, String>,
        now: u64,
    ) {
        let schedule = &due.schedule;
        match outcome {
            Ok(run_id) => {
                tracing::info!(
                    tenant = %schedule.tenant,
                    repository = %schedule.repository,
                    branch = %schedule.branch,
                    run = run_id.as_deref().unwrap_or("-"),
                    "scheduled run started"
                );
                match self.scheduler.mark_schedule(&due.mark(run_id), now) {
                    Ok(()) => self.schedules.fired(&due.key, due.slot_ms),
                    // The delivery id keeps the retry from starting a second run.
                    Err(e) => {
                        tracing::error!(schedule = %due.key, error = %e, "could not record a schedule's tick");
                        self.schedules.retry(&due.key, now + RETRY_MS);
                    }
                }
            }
            Err(why) => {
                tracing::error!(
                    tenant = %schedule.tenant,
                    repository = %schedule.repository,
                    branch = %schedule.branch,
                    "scheduled run not started (tried again in {} s): {why}",
                    RETRY_MS / 1000
                );
                self.schedules.retry(&due.key, now + RETRY_MS);
            }
        }
    }
}
