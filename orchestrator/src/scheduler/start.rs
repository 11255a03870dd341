//! A run's pipeline config arrives: a config that cannot be read or is refused ends the
//! run with a config error; otherwise its stages are laid out, older runs it supersedes
//! are cancelled, and it starts.

use super::event::{Event, EventKind};
use super::journal::Journal;
use super::{ActiveRun, Effect, Scheduler, SchedulerError, StatusState, StatusUpdate, StepOutput};
use crate::config::PipelineConfig;
use crate::model::{LoadedConfig, RunStatus, StageRecord};
use std::sync::Arc;

impl Scheduler {
    /// The run's pipeline config arrived (`Ok((text, origin))`) or could not be loaded.
    pub fn config_loaded(
        &mut self,
        run_id: &str,
        loaded: Result<LoadedConfig, String>,
        now: u64,
    ) -> Result<Vec<Effect>, SchedulerError> {
        let Some(mut active) = self.active.remove(run_id) else {
            return Ok(Vec::new());
        };
        if active.record.status != RunStatus::Queued {
            self.active.insert(run_id.to_string(), active);
            return Ok(Vec::new());
        }
        let parsed = match loaded {
            Ok(LoadedConfig {
                text,
                origin,
                parsed,
            }) => {
                active.record.config_origin = Some(origin.clone());
                let parsed = match parsed {
                    Some(Err(error)) => Err(error),
                    Some(Ok(config)) => {
                        // Kept for a later parse of the same text (a resume, a re-run).
                        self.remember_config(&text, &config);
                        self.admit_parsed(&active, config, &origin)
                    }
                    None => self.admit_config(&active, &text, &origin),
                };
                active.record.config_source = Some(text);
                parsed
            }
            Err(why) => Err(why),
        };
        let config = match parsed {
            Ok(config) => config,
            Err(message) => return self.refuse_config(active, message, now),
        };
        active.record.stages = config
            .stages
            .iter()
            .map(|s| StageRecord::pending(&s.name))
            .collect();
        active.config = Some(Arc::clone(&config));
        let mut output = StepOutput::default();
        // A newer push to the branch supersedes runs still in flight on it.
        let mut touched = vec![run_id.to_string()];
        if config.cancel_superseded {
            let reason = format!(
                "superseded by run {run_id} (commit {})",
                active.record.trigger.commit
            );
            for old in self.superseded_by(&active) {
                let Some(mut other) = self.active.remove(&old) else {
                    continue;
                };
                if let Some(mut step) = self.step(&mut other, now, &mut output) {
                    step.cancel(reason.clone());
                    touched.push(old.clone());
                }
                self.active.insert(old, other);
            }
        }
        if let Some(mut step) = self.step(&mut active, now, &mut output) {
            step.start();
        }
        self.active.insert(run_id.to_string(), active);
        let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
        self.commit(output, &touched, now)
    }

    /// Parse the run's config and check it against what its tenant grants and what the
    /// agents here can run; `Err` is the message the run ends with.
    pub(super) fn admit_config(
        &mut self,
        active: &ActiveRun,
        text: &str,
        origin: &str,
    ) -> Result<Arc<PipelineConfig>, String> {
        let config = self
            .parse_config(&active.record, text)
            .map_err(|e| e.to_string())?;
        self.admit_parsed(active, config, origin)
    }

    /// Check a parsed config against what its tenant grants and what the agents here
    /// can run; `Err` is the message the run ends with.
    fn admit_parsed(
        &self,
        active: &ActiveRun,
        config: Arc<PipelineConfig>,
        origin: &str,
    ) -> Result<Arc<PipelineConfig>, String> {
        // A repository's config only chooses among what its tenant grants.
        let tenant = self.settings.tenant(&active.record.trigger.tenant);
        crate::trust::check_plan(&config, &active.record.trigger, tenant)
            .and_then(|()| match &self.known {
                Some(known) => known.check(&config),
                None => Ok(()),
            })
            .map(|()| config)
            .map_err(|denied| format!("{origin}: {denied}"))
    }

    /// End the run with a config error: its event, its record, and an error commit status
    /// when the tenant can post one. The run leaves memory.
    fn refuse_config(
        &mut self,
        mut active: ActiveRun,
        message: String,
        now: u64,
    ) -> Result<Vec<Effect>, SchedulerError> {
        let record = &mut active.record;
        let run_id = record.id.clone();
        record.status = RunStatus::ConfigError;
        self.metrics
            .runs
            .get_or_create(&crate::metrics::StatusLabels {
                status: RunStatus::ConfigError.as_str().into(),
            })
            .inc();
        record.finished_ms = Some(now);
        record.error = Some(message.clone());
        let mut journal = Journal::default();
        let refused = Event::new(EventKind::RunConfigError, message.clone());
        journal.event(&run_id, now, refused);
        journal.save_run(record);
        let mut effects = Vec::new();
        if let Some(tenant) = self.settings.tenant(&record.trigger.tenant)
            && tenant.github_token.resolve().is_some()
        {
            let first_line = message.lines().next().unwrap_or_default().to_string();
            effects.push(Effect::Status {
                run_id: run_id.clone(),
                tenant: record.trigger.tenant.clone(),
                repository: record.trigger.repository.clone(),
                commit: record.trigger.commit.clone(),
                update: StatusUpdate {
                    state: StatusState::Error,
                    context: "bosun".into(),
                    description: format!("pipeline config error: {first_line}"),
                    target_url: format!("{}/runs/{run_id}", self.settings.base_url()),
                },
            });
        }
        let key = super::ownership::run_key(record);
        self.write_under(Some(&key), |w| journal.apply(w))?;
        Ok(effects)
    }

    /// The runs in flight that `active` supersedes: older ones of the same tenant,
    /// repository, event, pull request and branch.
    fn superseded_by(&self, active: &ActiveRun) -> Vec<String> {
        let trigger = &active.record.trigger;
        self.active
            .values()
            .filter(|r| {
                // Only the same tenant's runs of the same repository, event and pull
                // request: a pull request's head branch named `main` must not
                // cancel a push to `main`.
                let other = &r.record.trigger;
                other.tenant.eq_ignore_ascii_case(&trigger.tenant)
                    && other.repository.eq_ignore_ascii_case(&trigger.repository)
                    && other.event == trigger.event
                    && other.pull_request == trigger.pull_request
                    && other.branch == trigger.branch
                    && r.record.created_ms <= active.record.created_ms
                    && !r.record.status.is_final()
                    // A deploy under way finishes unless its stage says it may be cut.
                    && !super::groups::protected_from_superseding(r)
            })
            .map(|r| r.record.id.clone())
            .collect()
    }
}
