//! The command step as the orchestrator hands it over: the stage's `image`, `commands`,
//! `env`, `network`, `cache` and `reports`, as one JSON document in the task's reserved
//! `bosun.step` setting (the stage's own `with:` keeps only its verdict settings).

use serde::Deserialize;

/// The reserved setting that carries the step.
pub const STEP_KEY: &str = "bosun.step";

/// The report formats a step may declare, in the order they are read.
pub const REPORT_KINDS: &[&str] = &[
    "junit", "coverage", "sarif", "pylint", "eslint", "bandit", "trivy",
];

/// One command step.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub image: String,
    pub commands: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    #[serde(default)]
    pub network: bool,
    #[serde(default)]
    pub cache: CacheSpec,
    /// Report kind → workspace-relative paths or globs.
    #[serde(default)]
    pub reports: Vec<(String, Vec<String>)>,
    /// Containers started before the commands, reachable by name.
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    /// Files kept with the attempt: the agent keeps and uploads them, not the plugin.
    #[serde(default)]
    pub artifacts: Vec<String>,
}

/// A service container the commands talk to.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    pub image: String,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// The argv; empty keeps the image's own command.
    #[serde(default)]
    pub command: Vec<String>,
    pub ready: ReadySpec,
}

/// How the host tells that a service is ready.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    #[serde(default)]
    pub tcp: Option<u16>,
    #[serde(default)]
    pub command: Option<String>,
    pub timeout_ms: u64,
}

/// What the step keeps between runs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// Workspace files whose contents select the cache (lockfiles).
    #[serde(default)]
    pub key: Vec<String>,
    /// Folders kept: under `~/`, under `/tmp/`, or relative to the workspace.
    #[serde(default)]
    pub paths: Vec<String>,
}

impl ServiceSpec {
    /// The host's form of this service.
    pub fn request(&self) -> bosun_sdk::containers::StepService {
        bosun_sdk::containers::StepService {
            name: self.name.clone(),
            image: self.image.clone(),
            env: self.env.clone(),
            command: self.command.clone(),
            ready_tcp: self.ready.tcp,
            ready_command: self.ready.command.clone(),
            ready_timeout_ms: u32::try_from(self.ready.timeout_ms).unwrap_or(u32::MAX),
        }
    }
}

impl StepSpec {
    /// The step in `config`, or why it cannot be read.
    pub fn from_config(config: &[(String, String)]) -> Result<StepSpec, String> {
        let raw = bosun_sdk::settings::value(config, STEP_KEY).ok_or_else(|| {
            "this stage has no `commands`: the commands plugin runs stages that list their own commands in .bosun.yml".to_string()
        })?;
        let spec: StepSpec = serde_json::from_str(raw)
            .map_err(|e| format!("the step's description is not readable: {e}"))?;
        if spec.image.trim().is_empty() {
            return Err("the stage names no `image` for its commands".into());
        }
        if spec.commands.is_empty() {
            return Err("the stage's `commands` list is empty".into());
        }
        if let Some((kind, _)) = spec
            .reports
            .iter()
            .find(|(kind, _)| !REPORT_KINDS.contains(&kind.as_str()))
        {
            return Err(format!(
                "unknown report kind `{kind}` (known: {})",
                REPORT_KINDS.join(", ")
            ));
        }
        Ok(spec)
    }

    /// Every report pattern, for the host to collect.
    pub fn report_patterns(&self) -> Vec<String> {
        let mut patterns: Vec<String> = self
            .reports
            .iter()
            .flat_map(|(_, paths)| paths.iter().cloned())
            .collect();
        patterns.sort();
        patterns.dedup();
        patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Vec<(String, String)> {
        vec![(STEP_KEY.to_string(), json.to_string())]
    }

    #[test]
    fn a_step_reads_from_its_reserved_setting() {
        let spec = StepSpec::from_config(&config(
            r#"{"image":"bosun/node:18","commands":["npm ci"],"network":true,
               "cache":{"key":["package-lock.json"],"paths":["~/.npm"]},
               "reports":[["junit",["reports/*.xml"]],["eslint",["reports/eslint.json"]]]}"#,
        ))
        .unwrap();
        assert_eq!(spec.image, "bosun/node:18");
        assert!(spec.network);
        assert_eq!(spec.cache.paths, vec!["~/.npm"]);
        assert_eq!(
            spec.report_patterns(),
            vec!["reports/*.xml", "reports/eslint.json"]
        );
    }

    #[test]
    fn missing_or_odd_steps_are_refused_with_the_reason() {
        assert!(
            StepSpec::from_config(&[])
                .unwrap_err()
                .contains("no `commands`")
        );
        let odd = StepSpec::from_config(&config(
            r#"{"image":"x","commands":["true"],"reports":[["xunit",["a.xml"]]]}"#,
        ));
        assert!(odd.unwrap_err().contains("unknown report kind `xunit`"));
        let empty = StepSpec::from_config(&config(r#"{"image":"x","commands":[]}"#));
        assert!(empty.unwrap_err().contains("empty"));
    }
}
