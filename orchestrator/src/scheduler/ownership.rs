//! Which runs this scheduler may drive when several orchestrators share the store: the
//! runs of the repositories whose lease it holds. Every write about a run goes through
//! the repository's fence (`Store::write_fenced`), so once another orchestrator took a
//! repository over, a write from this one is refused whole and the repository's runs
//! leave its memory; nothing stale is applied.
//!
//! Without `cluster:` in the settings there is no lease: this scheduler owns every run.

use super::event::{Event, EventKind};
use super::step::StepOutput;
use super::{ActiveRun, Effect, Scheduler, SchedulerError};
use crate::model::{RunRecord, RunStatus, RunTrigger};
use crate::store::{Fence, Lease, StoreError, Writer, repository_key};
use std::collections::HashMap;

/// The leases this scheduler holds, by key.
#[derive(Debug, Default)]
pub(super) struct Ownership {
    owner: String,
    fences: HashMap<String, Fence>,
}

/// What taking a repository over asks of the service.
#[derive(Debug, Default)]
pub struct Adopted {
    /// Tasks and gate requests in flight, sent again (a duplicate result is ignored).
    pub effects: Vec<Effect>,
    /// Runs still waiting for their config, to read it for.
    pub queued: Vec<(String, RunTrigger)>,
    /// How many runs came with the repository.
    pub runs: usize,
}

/// The lease key of a run.
pub(super) fn run_key(record: &RunRecord) -> String {
    repository_key(&record.trigger.tenant, &record.trigger.repository)
}

impl Ownership {
    pub(super) fn new(owner: String) -> Ownership {
        Ownership {
            owner,
            fences: HashMap::new(),
        }
    }
}

impl Scheduler {
    /// This orchestrator's owner name, when several share the store.
    pub fn owner_id(&self) -> Option<&str> {
        self.ownership.as_ref().map(|o| o.owner.as_str())
    }

    /// Whether this scheduler may drive the runs of `key` (always, alone).
    pub fn holds(&self, key: &str) -> bool {
        self.ownership
            .as_ref()
            .is_none_or(|o| o.fences.contains_key(key))
    }

    /// Whether the run is in this scheduler's memory (in flight and owned here).
    pub fn drives(&self, run_id: &str) -> bool {
        self.active.contains_key(run_id)
    }

    /// What a new run's log says of its owner (`None` alone).
    pub(super) fn owner_note(&self, key: &str) -> Option<String> {
        let ownership = self.ownership.as_ref()?;
        let token = ownership.fences.get(key).map_or(0, |f| f.token);
        Some(format!(
            "owned by orchestrator {} (lease token {token})",
            ownership.owner
        ))
    }

    /// The fences held, to renew.
    pub fn held_fences(&self) -> Vec<Fence> {
        self.ownership
            .as_ref()
            .map(|o| o.fences.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Keys held with no run of them in memory: candidates to release.
    pub fn idle_keys(&self) -> Vec<Fence> {
        let busy: std::collections::HashSet<String> =
            self.active.values().map(|a| run_key(&a.record)).collect();
        self.held_fences()
            .into_iter()
            .filter(|f| !busy.contains(&f.key))
            .collect()
    }

    /// Forget a key released on purpose (its runs are all finished).
    pub fn forget_key(&mut self, key: &str) {
        if let Some(ownership) = &mut self.ownership {
            ownership.fences.remove(key);
            self.metrics.leases_held.set(ownership.fences.len() as i64);
        }
    }

    /// Another orchestrator took `key` over: its runs leave this scheduler's memory,
    /// and nothing more is written for them here. Returns how many runs left.
    pub fn disown(&mut self, key: &str) -> usize {
        let Some(ownership) = &mut self.ownership else {
            return 0;
        };
        if ownership.fences.remove(key).is_none() {
            return 0;
        }
        self.metrics.leases_lost.inc();
        self.metrics.leases_held.set(ownership.fences.len() as i64);
        let before = self.active.len();
        self.active
            .retain(|_, active| run_key(&active.record) != key);
        self.metrics.active_runs.set(self.active.len() as i64);
        before - self.active.len()
    }

    /// This scheduler acquired `lease`: load the repository's runs in flight from the
    /// store, note the new owner in each run's log, and send again what was in flight.
    /// `took_over` names the owner whose lease had expired, if any.
    pub fn adopt(
        &mut self,
        lease: Lease,
        took_over: Option<&str>,
        now: u64,
    ) -> Result<Adopted, SchedulerError> {
        let Some(ownership) = &mut self.ownership else {
            return Ok(Adopted::default());
        };
        let key = lease.key.clone();
        let owner = ownership.owner.clone();
        ownership.fences.insert(key.clone(), lease.fence());
        self.metrics.leases_held.set(ownership.fences.len() as i64);
        if took_over.is_some() {
            self.metrics.lease_takeovers.inc();
        }
        let runs = match self.store.unfinished_runs_of(&key) {
            Ok(runs) => runs,
            Err(e) => {
                self.forget_key(&key);
                return Err(e.into());
            }
        };
        let mut adopted = Adopted {
            runs: runs.len(),
            ..Adopted::default()
        };
        if runs.is_empty() {
            return Ok(adopted);
        }
        let mut output = StepOutput::default();
        let note = match took_over {
            Some(previous) => format!(
                "owned by orchestrator {owner} (lease token {}), taken over from {previous} whose lease expired",
                lease.token
            ),
            None => format!(
                "owned by orchestrator {owner} (lease token {})",
                lease.token
            ),
        };
        let mut running = Vec::new();
        for record in runs {
            output.journal.event(
                &record.id,
                now,
                Event::new(EventKind::RunOwner, note.clone()),
            );
            let config = record
                .config_source
                .clone()
                .and_then(|text| self.parse_config(&record, &text).ok());
            match record.status {
                RunStatus::Queued if config.is_none() => adopted
                    .queued
                    .push((record.id.clone(), record.trigger.clone())),
                _ => {}
            }
            if record.status == RunStatus::Running {
                running.push(record.id.clone());
            }
            self.active
                .insert(record.id.clone(), ActiveRun { record, config });
        }
        let journal = output.journal;
        self.write_under(Some(&key), |w| journal.apply(w))?;
        for id in running {
            adopted
                .effects
                .extend(self.with_run(&id, now, |step| step.republish())?);
        }
        self.metrics.active_runs.set(self.active.len() as i64);
        Ok(adopted)
    }

    /// The lease key of the runs a commit touches: from memory, else from the store.
    pub(super) fn key_of_runs(&self, runs: &[&str]) -> Option<String> {
        self.ownership.as_ref()?;
        runs.iter()
            .find_map(|id| self.active.get(*id).map(|a| run_key(&a.record)))
            .or_else(|| {
                let id = runs.first()?;
                self.store
                    .run_lease_key(id)
                    .ok()
                    .flatten()
                    .map(|(key, _)| key)
            })
    }

    /// A write about the runs of `key`: under its fence when several orchestrators share
    /// the store (refused, and the key's runs disowned, once another took it over); a
    /// plain transaction otherwise, or when `key` is `None` (writes about no run in
    /// flight: inventories, dead letters, notifications of finished runs).
    pub(super) fn write_under<T>(
        &mut self,
        key: Option<&str>,
        work: impl FnOnce(&Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (Some(ownership), Some(key)) = (&self.ownership, key) else {
            return self.store.write(work);
        };
        let Some(fence) = ownership.fences.get(key).cloned() else {
            // Not ours (any more): refuse before the store is touched.
            return Err(StoreError::LeaseLost {
                key: key.to_string(),
                owner: ownership.owner.clone(),
                token: 0,
                holder: None,
            });
        };
        let written = self.store.write_fenced(&fence, work);
        if matches!(written, Err(StoreError::LeaseLost { .. })) {
            let dropped = self.disown(key);
            tracing::warn!(%key, runs = dropped, "lease taken over by another orchestrator: the write was refused and the runs left this one");
        }
        written
    }
}
