//! The scheduler: turns triggers, agent replies, dead letters and the passing of time
//! into store writes and effects (tasks to publish, commit statuses, notifications).
//!
//! It is synchronous and single-owner: the service feeds it one input at a time, so a
//! run's transitions never race. Every input commits its writes in one transaction
//! before its effects are handed out; after a restart, [`Scheduler::open`] reloads the
//! unfinished runs and [`Scheduler::resume`] re-sends what was in flight.
//!
//! Each input has its own module: triggers in `intake`, a run's config in `start`,
//! agent replies and dead letters in `replies`, a finished run's notification in
//! `notify`, a person's decision on a stage that waits for an approval in `decide`; what an input does to one run is a `step`, one file per action.

mod decide;
mod effect;
pub(crate) mod event;
pub mod groups;
mod intake;
mod journal;
mod notify;
mod ownership;
mod replies;
pub mod rerun;
mod schedules;
mod start;
mod step;
pub mod summary;

pub use decide::{Decided, StageDecision};
pub use effect::{CheckPhase, Effect, StatusState, StatusUpdate};
pub use intake::Accepted;
pub use notify::EMAIL_CHANNEL;
pub use ownership::Adopted;
pub use rerun::{RerunRefused, RerunRequest, RerunStarted};
pub use step::{APPROVAL_PHASE, ROLLBACK_SUFFIX};

use crate::config::{self, PipelineConfig};
use crate::known::KnownAgents;
use crate::metrics::OrchestratorMetrics;
use crate::model::{RunRecord, RunStatus, RunTrigger};
use crate::settings::ServerSettings;
use crate::store::{Store, StoreError};
use event::{Event, EventKind};
use std::collections::HashMap;
use std::sync::Arc;
use step::{Step, StepOutput};

/// Why a scheduler input failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The run store failed; the step was not applied.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request went to the orchestrator that owns the run's repository, and it did
    /// not carry it out (or did not answer in time).
    #[error("{0}")]
    Elsewhere(String),
}

impl SchedulerError {
    /// Another orchestrator owns the runs this input was about (it was not applied here).
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, SchedulerError::Store(StoreError::LeaseLost { .. }))
    }
}

/// A run the scheduler is driving.
struct ActiveRun {
    record: RunRecord,
    config: Option<Arc<PipelineConfig>>,
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
    /// Signs the tasks' artifact tokens (from the run store).
    artifact_key: Vec<u8>,
    /// The repositories this scheduler holds the lease of, when several orchestrators
    /// share the store; `None`: it owns every run.
    ownership: Option<ownership::Ownership>,
}

impl Scheduler {
    /// A scheduler over `store`, reloading every unfinished run.
    pub fn open(store: Store, settings: Arc<ServerSettings>) -> Result<Scheduler, SchedulerError> {
        Scheduler::open_as(store, settings, None)
    }

    /// A scheduler that shares `store` with other orchestrators as `owner`: it loads
    /// no run until it holds the lease of its repository ([`Scheduler::adopt`]).
    pub fn open_shared(
        store: Store,
        settings: Arc<ServerSettings>,
        owner: String,
    ) -> Result<Scheduler, SchedulerError> {
        Scheduler::open_as(store, settings, Some(owner))
    }

    fn open_as(
        store: Store,
        settings: Arc<ServerSettings>,
        owner: Option<String>,
    ) -> Result<Scheduler, SchedulerError> {
        let artifact_key = store.artifact_key()?;
        let shared = owner.is_some();
        let mut scheduler = Scheduler {
            store,
            metrics: Arc::new(OrchestratorMetrics::default()),
            settings,
            active: HashMap::new(),
            configs: HashMap::new(),
            known: None,
            artifact_key,
            ownership: owner.map(ownership::Ownership::new),
        };
        if shared {
            return Ok(scheduler);
        }
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
        self.remember_config(text, &config);
        Ok(config)
    }

    /// Keep `config` as the parse of `text`: runs of one repository share their parsed
    /// pipeline, and a config parsed off this task is not parsed again here.
    fn remember_config(&mut self, text: &str, config: &Arc<PipelineConfig>) {
        // Keep the cache bounded.
        if self.configs.len() >= 1024 {
            self.configs.clear();
        }
        self.configs.insert(text.to_string(), Arc::clone(config));
    }

    /// Commit the buffered writes of `runs`, then hand out the effects (finished runs are
    /// wrapped up here).
    fn commit(
        &mut self,
        output: StepOutput,
        runs: &[&str],
        now: u64,
    ) -> Result<Vec<Effect>, SchedulerError> {
        let StepOutput { journal, effects } = output;
        let key = self.key_of_runs(runs);
        if let Err(e) = self.write_under(key.as_deref(), |w| journal.apply(w)) {
            // The in-memory runs moved ahead of the store: reload them from it (unless
            // another orchestrator owns them now: then they left this one's memory).
            if !matches!(e, StoreError::LeaseLost { .. }) {
                for id in runs {
                    self.reload(id);
                }
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

    /// Run `work` as one step on run `run_id` and commit it; nothing when the run is not
    /// in flight or has no config yet.
    fn with_run(
        &mut self,
        run_id: &str,
        now: u64,
        work: impl FnOnce(&mut Step<'_>),
    ) -> Result<Vec<Effect>, SchedulerError> {
        // Out of the map while the step borrows it and the scheduler's settings together.
        let Some(mut active) = self.active.remove(run_id) else {
            return Ok(Vec::new());
        };
        let mut output = StepOutput::default();
        if let Some(mut step) = self.step(&mut active, now, &mut output) {
            work(&mut step);
        }
        self.active.insert(run_id.to_string(), active);
        if output.is_empty() {
            return Ok(Vec::new());
        }
        self.commit(output, &[run_id], now)
    }

    /// Time passes: retries, deadlines, gate and approval timeouts.
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
                        // Waits for a concurrency group: it may be free now.
                        || s.group_wait_ms.is_some()
                        || s.approval
                            .as_ref()
                            .is_some_and(|a| a.decision.is_none() && a.deadline_ms <= now)
                })
            })
            .map(|r| r.record.id.clone())
            .collect();
        let mut effects = self.take_groups_in_progress(now)?;
        for run_id in due {
            effects.extend(self.with_run(&run_id, now, |step| step.on_tick())?);
        }
        Ok(effects)
    }

    /// A run waiting for a group whose stage says `cancel_in_progress` cancels the runs
    /// holding that group.
    fn take_groups_in_progress(&mut self, now: u64) -> Result<Vec<Effect>, SchedulerError> {
        let uses = groups::group_uses(&self.active);
        let mut cancels: Vec<(String, String)> = Vec::new();
        for waiting in uses.iter().filter(|u| u.cancel_in_progress && !u.holding) {
            for holder in uses
                .iter()
                .filter(|u| u.holding && u.key == waiting.key && u.run_id != waiting.run_id)
            {
                let group = waiting.key.rsplit('\0').next().unwrap_or_default();
                let reason = format!(
                    "cancelled: run {} takes concurrency group {group} (cancel_in_progress)",
                    waiting.run_id
                );
                if !cancels.iter().any(|(run, _)| run == &holder.run_id) {
                    cancels.push((holder.run_id.clone(), reason));
                }
            }
        }
        let mut effects = Vec::new();
        for (run_id, reason) in cancels {
            effects.extend(self.with_run(&run_id, now, |step| step.cancel(reason))?);
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
            let mut output = StepOutput::default();
            let cancelled = Event::new(EventKind::RunCancelled, reason.to_string());
            output.journal.event(run_id, now, cancelled);
            output.journal.save_run(&active.record);
            output.effects.push(Effect::Finished {
                run_id: run_id.to_string(),
            });
            return Ok((true, self.commit(output, &[run_id], now)?));
        }
        let effects = self.with_run(run_id, now, |step| step.cancel(reason.to_string()))?;
        Ok((true, effects))
    }
}

#[cfg(test)]
mod tests;
