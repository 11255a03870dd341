//! Re-running what failed: a new run of a finished one that reuses every stage that
//! passed (their attempts copied, marked as reused) and runs again only what did not
//! pass and what depends on it, with the original's trigger, config text and plugin
//! digests pinned.
//!
//! Nothing is read again from the repository: the config is the text the original
//! ran, so a re-run repeats the original even when the branch's config moved on. Each
//! re-run stage's task carries the digest its original attempt's plugin had, and the
//! re-run is refused up front when no agent has that file loaded any more. A re-run
//! never widens: the same tenant and trigger (event, fork flag, branch, commit), grants
//! no wider than the original attempts had, and it supersedes no other run.

mod plan;

pub use plan::{Plan, RerunRefused};

use super::event::{Event, EventKind};
use super::step::StepOutput;
use super::{ActiveRun, Effect, Scheduler, SchedulerError};
use crate::model::{Rerun, RunRecord, RunStatus};
use crate::scheduler::journal::Write;
use bosun_bus::PluginId;

/// An agent not heard from for this long (four heartbeats) no longer counts as having
/// its plugins loaded.
pub const AGENT_SILENT_AFTER_MS: u64 = 120_000;

/// What a re-run asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RerunRequest {
    /// The finished run to re-run.
    pub run_id: String,
    /// One stage (or matrix stage) to re-run; `None`: every stage that did not pass.
    pub stage: Option<String>,
    /// Who asks, for the audit log.
    pub by: String,
}

/// A re-run that was started.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RerunStarted {
    /// The new run's id.
    pub run_id: String,
    /// The stages that run again.
    pub rerun: Vec<String>,
    /// The stages whose original result is reused.
    pub reused: Vec<String>,
}

impl Scheduler {
    /// Start a re-run of a finished run, or say why not (nothing is recorded then).
    pub fn rerun(
        &mut self,
        request: &RerunRequest,
        now: u64,
    ) -> Result<Result<(RerunStarted, Vec<Effect>), RerunRefused>, SchedulerError> {
        let original_id = request.run_id.as_str();
        if self.active.contains_key(original_id) {
            return Ok(Err(RerunRefused::InFlight(original_id.to_string())));
        }
        let Some(original) = self.store.run(original_id)? else {
            return Ok(Err(RerunRefused::NoRun(original_id.to_string())));
        };
        if !original.status.is_final() {
            return Ok(Err(RerunRefused::InFlight(original.id)));
        }
        let text = match (&original.config_source, original.status) {
            (Some(text), status) if status != RunStatus::ConfigError => text.clone(),
            _ => return Ok(Err(RerunRefused::NoConfig(original.id))),
        };
        let origin = original
            .config_origin
            .clone()
            .unwrap_or_else(|| crate::config::CONFIG_FILE.to_string());
        // The same admission as any run: the tenant's grants and the agents here today.
        let probe = ActiveRun {
            record: original.clone(),
            config: None,
        };
        let config = match self.admit_config(&probe, &text, &origin) {
            Ok(config) => config,
            Err(why) => {
                return Ok(Err(RerunRefused::ConfigRefused {
                    run: original.id,
                    why,
                }));
            }
        };
        let attempts = self.store.attempts(&original.id)?;
        let grants = self.store.dispatched_grants(&original.id)?;
        let plan = match plan::plan(
            &original,
            &config,
            &attempts,
            &grants,
            request.stage.as_deref(),
        ) {
            Ok(plan) => plan,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Err(refused) = plan.check_loaded(&original.id, &self.loaded_plugins(now)?) {
            return Ok(Err(refused));
        }
        Ok(Ok(self.start_rerun(&original, request, plan, config, now)?))
    }

    /// The plugins loaded now: this process's agent when the orchestrator knows it,
    /// otherwise what agents heard from recently announced.
    fn loaded_plugins(&self, now: u64) -> Result<Vec<PluginId>, SchedulerError> {
        if let Some(known) = &self.known {
            return Ok((known.plugins)());
        }
        Ok(self
            .store
            .agents()?
            .into_iter()
            .filter(|agent| now.saturating_sub(agent.last_seen_ms) <= AGENT_SILENT_AFTER_MS)
            .flat_map(|agent| agent.plugins)
            .map(|p| PluginId {
                name: p.name,
                version: p.version,
                digest: p.digest,
            })
            .collect())
    }

    /// Record the re-run (its events, the reused attempts, a note in the original's
    /// log) and start it.
    fn start_rerun(
        &mut self,
        original: &RunRecord,
        request: &RerunRequest,
        plan: Plan,
        config: std::sync::Arc<crate::config::PipelineConfig>,
        now: u64,
    ) -> Result<(RerunStarted, Vec<Effect>), SchedulerError> {
        let run_id = super::intake::new_run_id(now);
        let started = RerunStarted {
            run_id: run_id.clone(),
            rerun: plan.rerun().iter().map(|s| s.to_string()).collect(),
            reused: plan.reused.clone(),
        };
        let record = RunRecord {
            id: run_id.clone(),
            // Verbatim: tenant, repository, event, fork flag, branch, commit, sender.
            trigger: original.trigger.clone(),
            status: RunStatus::Queued,
            created_ms: now,
            finished_ms: None,
            config_source: original.config_source.clone(),
            config_origin: original.config_origin.clone(),
            error: None,
            failures: 0,
            stages: plan.stages,
            denials: Vec::new(),
            warnings: Vec::new(),
            notified: false,
            paths_budget_spent: 0,
            rerun_of: Some(Rerun {
                run_id: original.id.clone(),
                stage: request.stage.clone(),
                by: request.by.clone(),
                pins: plan.pins,
            }),
        };
        let mut output = StepOutput::default();
        let journal = &mut output.journal;
        journal.save_run(&record);
        let t = &record.trigger;
        let created = format!(
            "{} {} of {} at {} by {}",
            t.event, t.branch, t.repository, t.commit, t.sender
        );
        journal.event(&run_id, now, Event::new(EventKind::RunCreated, created));
        // As for a pushed run: the audit log names who drives it (several orchestrators).
        if let Some(owned) = self.owner_note(&super::ownership::run_key(&record)) {
            journal.event(&run_id, now, Event::new(EventKind::RunOwner, owned));
        }
        let what = match &request.stage {
            Some(stage) => format!("stage {stage}"),
            None => "every stage that did not pass".to_string(),
        };
        let pins: Vec<String> = (record.rerun_of.iter())
            .flat_map(|r| &r.pins)
            .map(|pin| match &pin.plugin {
                Some(p) => format!("{} → {}@{} {}", pin.stage, p.name, p.version, p.digest),
                None => format!(
                    "{} → no digest (its plugin never ran in the original)",
                    pin.stage
                ),
            })
            .collect();
        let message = format!(
            "re-run of run {} ({what}) asked by {}: {} run again with config {} and plugin digests pinned ({}); reused: {}",
            original.id,
            request.by,
            started.rerun.join(", "),
            record
                .config_origin
                .as_deref()
                .unwrap_or(crate::config::CONFIG_FILE),
            pins.join("; "),
            if started.reused.is_empty() {
                "none".to_string()
            } else {
                started.reused.join(", ")
            }
        );
        let data = serde_json::json!({ "of": original.id, "stage": request.stage, "by": request.by, "pins": record.rerun_of.as_ref().map(|r| &r.pins) });
        journal.event(
            &run_id,
            now,
            Event::new(EventKind::RunRerun, message).data(data),
        );
        for stage in record.stages.iter().filter(|s| s.reused_from.is_some()) {
            journal.writes.push(Write::ReuseAttempts {
                from: original.id.clone(),
                to: run_id.clone(),
                stage: stage.name.clone(),
            });
            let from = stage.reused_from.as_deref().unwrap_or(&original.id);
            let reused = format!("{} reused from run {from}: {}", stage.name, stage.summary);
            journal.event(
                &run_id,
                now,
                Event::new(EventKind::StageReused, reused).stage(&stage.name),
            );
        }
        let note = format!(
            "re-run as run {run_id} by {} ({}: {})",
            request.by,
            what,
            started.rerun.join(", ")
        );
        journal.event(
            &original.id,
            now,
            Event::new(EventKind::RunRerunStarted, note).data(serde_json::json!({ "run": run_id })),
        );
        let mut active = ActiveRun {
            record,
            config: Some(config),
        };
        // Starting it supersedes nothing: a re-run of an older commit must not cancel
        // a newer push's run.
        if let Some(mut step) = self.step(&mut active, now, &mut output) {
            step.start();
        }
        self.active.insert(run_id.clone(), active);
        let effects = self.commit(output, &[run_id.as_str()], now)?;
        Ok((started, effects))
    }
}
