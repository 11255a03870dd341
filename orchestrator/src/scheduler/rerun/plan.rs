//! Which stages of a finished run a re-run runs again, which it reuses, and what each
//! re-run stage is pinned to: a plain function of the original run, its config, its
//! attempts and the grants it was sent with, so the rules are tested without a store.
//!
//! - Every stage that did not pass runs again (a failure, an error, a cancellation, a
//!   stage blocked by one), or, when one stage is named, that stage, plus whatever the
//!   original never finished (cancelled or blocked stages: they are scheduled again and
//!   blocked again if what they need still failed).
//! - What depends on a re-run stage, through `needs`, runs again too.
//! - Everything else keeps its original result: passed stages (reused), and in a named
//!   re-run the other stages that failed (the run stays honest: it still fails).
//! - A re-run stage is pinned to the plugin digest its original attempt reported (or,
//!   if it never ran, to the digest its plugin had elsewhere in the run) and to the
//!   grants its original attempt was sent with.

use crate::config::PipelineConfig;
use crate::model::{RunRecord, StagePin, StageRecord, StageState};
use crate::store::AttemptRow;
use crate::trust::StageGrants;
use bosun_bus::PluginId;

/// Why a re-run was refused; nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum RerunRefused {
    /// No run has this id.
    #[error("no run {0}")]
    NoRun(String),
    /// The run has not finished.
    #[error("run {0} is still in flight: re-run it once it has finished, or cancel it first")]
    InFlight(String),
    /// The run never had a usable config (it ended with a config error or before one).
    #[error("run {0} has no pipeline config to re-run: it ended before one was read or admitted")]
    NoConfig(String),
    /// Every stage passed.
    #[error("every stage of run {0} passed: there is nothing to re-run")]
    NothingFailed(String),
    /// The stage asked for is not in the run.
    #[error("run {run} has no stage {stage} (its stages: {known})")]
    UnknownStage {
        /// The run.
        run: String,
        /// The name asked for.
        stage: String,
        /// The run's stages, comma-separated.
        known: String,
    },
    /// The stage asked for passed.
    #[error("stage {stage} passed in run {run}: a re-run runs what did not pass")]
    StagePassed {
        /// The run.
        run: String,
        /// The stage.
        stage: String,
    },
    /// A pinned plugin is no longer loaded by any agent.
    #[error(
        "plugin {plugin} at digest {digest}, which stage {stage} of run {run} ran with, is no longer loaded by any agent (loaded now: {loaded}): a re-run runs exactly the plugins of the run it repeats; start a new run to use the plugins loaded now"
    )]
    PluginGone {
        /// The run.
        run: String,
        /// The stage pinned to it.
        stage: String,
        /// `name@version`.
        plugin: String,
        /// Its `sha256:` digest.
        digest: String,
        /// The plugins of that name the agents have now, or `none`.
        loaded: String,
    },
    /// The config is no longer admitted (its tenant grants less now, or no agent here
    /// serves one of its stages).
    #[error("the config of run {run} is no longer admitted: {why}")]
    ConfigRefused {
        /// The run.
        run: String,
        /// Why the re-run is refused, said to the caller.
        why: String,
    },
}

/// What a re-run does with each stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The new run's stages in config order: pending for those that run again, the
    /// original's record (marked reused) for the others.
    pub stages: Vec<StageRecord>,
    /// The stages that run again, with what they are pinned to.
    pub pins: Vec<StagePin>,
    /// The stages whose original result is kept, by name.
    pub reused: Vec<String>,
}

impl Plan {
    /// The stages that run again, by name.
    pub fn rerun(&self) -> Vec<&str> {
        self.pins.iter().map(|p| p.stage.as_str()).collect()
    }

    /// Refuse when a pinned plugin is not among `loaded` (by name and digest).
    pub fn check_loaded(&self, run: &str, loaded: &[PluginId]) -> Result<(), RerunRefused> {
        for pin in &self.pins {
            let Some(plugin) = &pin.plugin else { continue };
            if loaded
                .iter()
                .any(|l| l.name == plugin.name && l.digest == plugin.digest)
            {
                continue;
            }
            let mut same_name: Vec<String> = loaded
                .iter()
                .filter(|l| l.name == plugin.name)
                .map(|l| format!("{}@{} at {}", l.name, l.version, l.digest))
                .collect();
            same_name.sort();
            same_name.dedup();
            return Err(RerunRefused::PluginGone {
                run: run.to_string(),
                stage: pin.stage.clone(),
                plugin: format!("{}@{}", plugin.name, plugin.version),
                digest: plugin.digest.clone(),
                loaded: if same_name.is_empty() {
                    format!("no plugin named {}", plugin.name)
                } else {
                    same_name.join(", ")
                },
            });
        }
        Ok(())
    }
}

/// A stage whose result a re-run keeps as it is.
fn passed(stage: &StageRecord) -> bool {
    stage.state == StageState::Success || (stage.state == StageState::Skipped && !stage.blocked)
}

/// A stage the original never finished: it was cancelled, or blocked (by a need that
/// did not pass, or by the run stopping).
fn unfinished(stage: &StageRecord) -> bool {
    stage.state == StageState::Cancelled || (stage.state == StageState::Skipped && stage.blocked)
}

/// Plan the re-run of `original` (finished, with `config`), of every stage that did
/// not pass, or of the stage `asked` (a stage, or a matrix stage's instances).
pub fn plan(
    original: &RunRecord,
    config: &PipelineConfig,
    attempts: &[AttemptRow],
    grants: &[(String, StageGrants)],
    asked: Option<&str>,
) -> Result<Plan, RerunRefused> {
    let state = |name: &str| original.stage(name);
    let not_passed = |name: &str| state(name).is_none_or(|s| !passed(s));
    let mut again: Vec<String> = match asked {
        None => config
            .stages
            .iter()
            .map(|s| s.name.clone())
            .filter(|n| not_passed(n))
            .collect(),
        Some(asked) => {
            let named: Vec<String> = config
                .stages
                .iter()
                .filter(|s| s.name == asked || s.matrix.as_ref().is_some_and(|m| m.of == asked))
                .map(|s| s.name.clone())
                .collect();
            if named.is_empty() {
                let known: Vec<&str> = config.stages.iter().map(|s| s.name.as_str()).collect();
                return Err(RerunRefused::UnknownStage {
                    run: original.id.clone(),
                    stage: asked.to_string(),
                    known: known.join(", "),
                });
            }
            let mut again: Vec<String> = named.into_iter().filter(|n| not_passed(n)).collect();
            if again.is_empty() {
                return Err(RerunRefused::StagePassed {
                    run: original.id.clone(),
                    stage: asked.to_string(),
                });
            }
            // What the original never finished is scheduled again (and blocked again
            // when what it needs still failed), so the verdict counts every stage.
            let unfinished: Vec<String> = config
                .stages
                .iter()
                .filter(|s| state(&s.name).is_some_and(unfinished))
                .map(|s| s.name.clone())
                .filter(|n| !again.contains(n))
                .collect();
            again.extend(unfinished);
            again
        }
    };
    if again.is_empty() {
        return Err(RerunRefused::NothingFailed(original.id.clone()));
    }
    // Whatever needs a stage that runs again runs again, transitively.
    loop {
        let more: Vec<String> = config
            .stages
            .iter()
            .filter(|s| !again.contains(&s.name) && s.needs.iter().any(|n| again.contains(n)))
            .map(|s| s.name.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        again.extend(more);
    }
    let mut plan = Plan {
        stages: Vec::with_capacity(config.stages.len()),
        pins: Vec::new(),
        reused: Vec::new(),
    };
    for spec in &config.stages {
        let kept = state(&spec.name).filter(|_| !again.contains(&spec.name));
        let Some(kept) = kept else {
            plan.stages.push(StageRecord::pending(&spec.name));
            plan.pins.push(StagePin {
                stage: spec.name.clone(),
                plugin: pinned_plugin(&spec.name, &spec.plugin, attempts),
                grants: (grants.iter())
                    .find(|(stage, _)| stage == &spec.name)
                    .map(|(_, g)| g.clone()),
            });
            continue;
        };
        let mut stage = kept.clone();
        // Settled in the original: nothing of it is in flight.
        stage.deadline_ms = None;
        stage.next_attempt_ms = None;
        stage.gate = None;
        stage.group_wait_ms = None;
        stage.reused_from = Some(kept.reused_from.clone().unwrap_or(original.id.clone()));
        plan.reused.push(spec.name.clone());
        plan.stages.push(stage);
    }
    Ok(plan)
}

/// The plugin the stage's last attempt ran; if it never ran, the plugin of that name
/// the run's latest attempt ran elsewhere; `None` when the run never ran it.
fn pinned_plugin(stage: &str, plugin: &str, attempts: &[AttemptRow]) -> Option<PluginId> {
    let id = |a: &AttemptRow| {
        Some(PluginId {
            name: a.plugin_name.clone()?,
            version: a.plugin_version.clone().unwrap_or_default(),
            digest: a.plugin_digest.clone()?,
        })
    };
    let own = attempts
        .iter()
        .filter(|a| a.stage == stage)
        .filter_map(|a| Some((a.attempt, id(a)?)))
        .max_by_key(|(attempt, _)| *attempt)
        .map(|(_, id)| id);
    own.or_else(|| {
        attempts
            .iter()
            .filter(|a| a.plugin_name.as_deref() == Some(plugin))
            .filter_map(|a| Some((a.settled_ms, id(a)?)))
            .max_by_key(|(settled, _)| *settled)
            .map(|(_, id)| id)
    })
}
