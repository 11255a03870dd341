//! The resolved plan: stage lookup, parallel waves and the human-readable summary that
//! `bosun validate` prints.

use super::duration::format_duration;
use super::{PipelineConfig, StageSpec};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;

/// The resolved plan as data (its JSON form): the waves, then the whole config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedPlan<'a> {
    /// Stage names in parallel waves, as [`PipelineConfig::waves`] gives them.
    pub waves: Vec<Vec<&'a str>>,
    /// The config with every default resolved.
    pub pipeline: &'a PipelineConfig,
}

impl PipelineConfig {
    /// The stages in topological layers: wave 1 holds the stages that need nothing, each
    /// later wave the stages whose needs all lie in earlier waves (so a wave's stages can
    /// run in parallel). Stages keep file order within a wave. A stage that can never
    /// start (a cycle or unknown need, possible only in a config not made by
    /// [`super::parse`]) is left out.
    pub fn waves(&self) -> Vec<Vec<&str>> {
        let index: HashMap<&str, usize> = self
            .stages
            .iter()
            .enumerate()
            .map(|(i, stage)| (stage.name.as_str(), i))
            .collect();
        let mut wave_of: Vec<Option<usize>> = vec![None; self.stages.len()];
        let mut progress = true;
        while progress {
            progress = false;
            for (i, stage) in self.stages.iter().enumerate() {
                if wave_of.get(i).copied().flatten().is_some() {
                    continue;
                }
                let mut wave = Some(0);
                for need in &stage.needs {
                    let need_wave = index
                        .get(need.as_str())
                        .and_then(|n| wave_of.get(*n).copied().flatten());
                    wave = match (wave, need_wave) {
                        (Some(w), Some(n)) => Some(w.max(n + 1)),
                        _ => None,
                    };
                }
                if let (Some(wave), Some(slot)) = (wave, wave_of.get_mut(i)) {
                    *slot = Some(wave);
                    progress = true;
                }
            }
        }
        let count = wave_of.iter().flatten().max().map_or(0, |last| last + 1);
        let mut waves: Vec<Vec<&str>> = vec![Vec::new(); count];
        for (stage, wave) in self.stages.iter().zip(&wave_of) {
            if let Some(slot) = wave.and_then(|w| waves.get_mut(w)) {
                slot.push(stage.name.as_str());
            }
        }
        waves
    }

    /// The resolved plan as data, for JSON.
    pub fn plan(&self) -> ResolvedPlan<'_> {
        ResolvedPlan {
            waves: self.waves(),
            pipeline: self,
        }
    }

    /// The resolved plan as people read it: waves, run-wide rules, then every stage
    /// with all its defaults filled in.
    pub fn plan_text(&self) -> String {
        let waves = self.waves();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "pipeline: {} in {}",
            plural(self.stages.len(), "stage"),
            plural(waves.len(), "wave")
        );
        for (i, wave) in waves.iter().enumerate() {
            let _ = writeln!(out, "  wave {}: {}", i + 1, wave.join(", "));
        }
        let _ = writeln!(
            out,
            "failures: {}",
            match self.max_failures {
                Some(n) => format!(
                    "halt the run after {}",
                    plural(n as usize, "failed attempt")
                ),
                None => "no run-wide limit".into(),
            }
        );
        let _ = writeln!(
            out,
            "superseded runs: {}",
            if self.cancel_superseded {
                "cancelled"
            } else {
                "kept running"
            }
        );
        let _ = writeln!(out, "notify: {}", self.notify_text());
        for stage in &self.stages {
            out.push('\n');
            stage_text(&mut out, stage);
        }
        out
    }

    fn notify_text(&self) -> String {
        let notify = &self.notify;
        let when = match (notify.on_failure, notify.on_success) {
            (true, true) => "on failure and on success",
            (true, false) => "on failure",
            (false, true) => "on success",
            (false, false) => return "never".into(),
        };
        let with = if notify.with.is_empty() {
            String::new()
        } else {
            format!(" ({})", pairs_text(&notify.with))
        };
        format!("{}{with} {when}", notify.notifier)
    }
}

fn stage_text(out: &mut String, stage: &StageSpec) {
    let _ = writeln!(out, "stage {}", stage.name);
    let mut row = |label: &str, value: String| {
        let _ = writeln!(out, "  {label:<13}{value}");
    };
    row("plugin", stage.plugin.clone());
    if let Some(step) = &stage.step {
        row("image", step.image.clone());
        for (index, command) in step.commands.iter().enumerate() {
            let line = command.lines().next().unwrap_or_default();
            let more = if command.trim_end().lines().count() > 1 {
                " …"
            } else {
                ""
            };
            row(
                if index == 0 { "commands" } else { "" },
                format!("{}. {line}{more}", index + 1),
            );
        }
        if !step.cache.paths.is_empty() {
            let keyed = if step.cache.key.is_empty() {
                String::new()
            } else {
                format!(" (key: {})", step.cache.key.join(", "))
            };
            row("cache", format!("{}{keyed}", step.cache.paths.join(", ")));
        }
        for (kind, paths) in &step.reports {
            row("reports", format!("{kind}: {}", paths.join(", ")));
        }
        if !step.artifacts.is_empty() {
            row(
                "artifacts",
                format!(
                    "{} (read by later steps at /artifacts/{}/)",
                    step.artifacts.join(", "),
                    stage.name
                ),
            );
        }
    }
    if !stage.with.is_empty() {
        row("with", pairs_text(&stage.with));
    }
    row(
        "agent",
        format!("{} (topic agent.{})", stage.agent, stage.agent),
    );
    row(
        "needs",
        if stage.needs.is_empty() {
            "nothing: starts at once".into()
        } else {
            stage.needs.join(", ")
        },
    );
    let backoff = &stage.backoff;
    row(
        "retries",
        if stage.retries == 0 {
            "none".into()
        } else {
            format!(
                "{}, backoff {} then x{} up to {}",
                stage.retries,
                format_duration(backoff.initial),
                backoff.factor,
                format_duration(backoff.max)
            )
        },
    );
    row("timeout", format_duration(stage.timeout));
    row("when", stage.when.describe());
    if let Some(environment) = &stage.environment {
        row("environment", environment.clone());
    }
    row(
        "rollback",
        match &stage.rollback {
            None => "none".into(),
            Some(rollback) if rollback.with.is_empty() => rollback.plugin.clone(),
            Some(rollback) => format!("{} with {}", rollback.plugin, pairs_text(&rollback.with)),
        },
    );
    if stage.allow_failure {
        row("on failure", "the run goes on (allow_failure)".into());
    }
    if stage.network {
        row("network", "yes".into());
    }
}

fn pairs_text(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
