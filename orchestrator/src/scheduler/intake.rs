//! Triggers coming in: a delivery is deduplicated, a run is queued for its config (or
//! waits for a tenant member's approval when it comes from a fork), and approved.

use super::event::{Event, EventKind};
use super::journal::Journal;
use super::{ActiveRun, Scheduler, SchedulerError};
use crate::model::{RunRecord, RunStatus, RunTrigger};
use crate::settings::ForkRuns;
use std::sync::atomic::{AtomicU64, Ordering};

/// What became of a trigger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

static RUN_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A random part of this process's run ids: orchestrators on different machines may
/// share a process id.
fn process_tag() -> u32 {
    static TAG: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *TAG.get_or_init(crate::settings::process_nonce)
}

/// A fresh run id: time-ordered, unique across restarts, processes and machines.
pub(super) fn new_run_id(now_ms: u64) -> String {
    let seq = RUN_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!(
        "{now_ms:011x}-{:x}{:04x}-{seq:x}",
        std::process::id(),
        process_tag() & 0xffff
    )
}

impl Scheduler {
    /// Record a trigger: deduplicate its delivery id, queue a run for its config.
    pub fn accept(
        &mut self,
        trigger: RunTrigger,
        delivery: Option<(&str, &str)>,
        now: u64,
    ) -> Result<Accepted, SchedulerError> {
        let run_id = new_run_id(now);
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
            paths_budget_spent: 0,
            rerun_of: None,
        };
        let mut journal = Journal::default();
        let created = format!(
            "{} {} of {} at {} by {}",
            record.trigger.event,
            record.trigger.branch,
            record.trigger.repository,
            record.trigger.commit,
            record.trigger.sender
        );
        journal.event(&run_id, now, Event::new(EventKind::RunCreated, created));
        if waits {
            let waiting = format!(
                "pull request from a fork: it runs once a member of tenant {} approves it (POST /api/runs/{run_id}/approve)",
                record.trigger.tenant
            );
            let event = Event::new(EventKind::RunAwaitingApproval, waiting);
            journal.event(&run_id, now, event);
        }
        journal.save_run(&record);
        // The delivery and the run in one transaction: a redelivery finds both or neither.
        let key = super::ownership::run_key(&record);
        if let Some(owned) = self.owner_note(&key) {
            journal.event(&run_id, now, Event::new(EventKind::RunOwner, owned));
        }
        let seen = self.write_under(Some(&key), |w| {
            if let Some((delivery_id, event)) = delivery {
                let tenant = &record.trigger.tenant;
                let seen =
                    w.record_delivery(delivery_id, tenant, event, "run", Some(&run_id), now)?;
                if seen.is_some() {
                    return Ok(seen);
                }
            }
            journal.apply(w)?;
            Ok(None)
        })?;
        if let Some(seen) = seen {
            return Ok(Accepted::Duplicate {
                run_id: seen.run_id,
            });
        }
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
        let approved = Event::new(EventKind::RunApproved, format!("approved by {approver}"));
        journal.event(run_id, now, approved);
        journal.save_run(&active.record);
        let trigger = active.record.trigger.clone();
        let key = super::ownership::run_key(&active.record);
        if let Err(e) = self.write_under(Some(&key), |w| journal.apply(w)) {
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
}
