//! Pipeline config (`.bosun.yml`): parsing, validation and the resolved plan.
//!
//! A repository describes its pipeline in `.bosun.yml` at its root. The short form names
//! the stages and a few switches:
//!
//! ```yaml
//! pipeline:
//!   stages: [lint, test, build, security, deploy]
//!   retry_on_failure: true
//!   notify_on_success: true
//!   deploy_environment: staging
//! ```
//!
//! Any entry of `stages` may instead be an object, and names and objects mix freely:
//!
//! ```yaml
//! pipeline:
//!   max_failures: 3
//!   cancel_superseded: true
//!   notify: { on_failure: true, notifier: slack, with: { channel: "#ci" } }
//!   stages:
//!     - lint
//!     - name: test
//!       needs: []
//!       retries: 1
//!       backoff: { initial: 2s, max: 30s, factor: 3 }
//!       timeout: 20m
//!     - name: deploy
//!       needs: [lint, test]
//!       plugin: helm
//!       agent: deployers
//!       with: { chart: ./chart, values: [a.yaml, b.yaml] }
//!       when: { branches: [main, "release/*"], events: [push], paths: ["src/**"] }
//!       environment: production
//!       network: true
//!       rollback: { plugin: helm, with: { action: rollback } }
//! ```
//!
//! # Meaning
//!
//! Pipeline keys (all under `pipeline:`):
//! - `stages` (required, not empty): stage names or stage objects, in file order.
//! - `retry_on_failure`: when true, stages retry twice by default; otherwise not at all.
//! - `notify_on_success`: the same as `notify.on_success` (give only one of them).
//! - `deploy_environment`: the `environment` of the stage named `deploy`, unless that
//!   stage sets its own; a config with this key must have a `deploy` stage.
//! - `max_failures`: halt the run after this many failed attempts (retries included),
//!   1 to 100; absent means no limit beyond each stage's retries.
//! - `notify`: `on_success` (default false), `on_failure` (default true), `notifier`
//!   (the notifier plugin, default `slack`) and `with` (its config).
//! - `cancel_superseded`: cancel a running pipeline of the same branch when a newer push
//!   arrives (default true).
//!
//! Stage keys:
//! - `name` (required): letters, digits, `-` and `_`; unique in the pipeline.
//! - `plugin`: the stage plugin to run; defaults to the stage name.
//! - `agent`: the agent pool; tasks go to bus topic `agent.<agent>`; defaults to the
//!   stage name. `results` is refused, as `agent.results` carries stage reports.
//! - `with`: plugin config, flattened to text pairs in file order: scalars as text,
//!   lists of scalars joined with `,`, nested mappings as dotted keys (`a.b`).
//! - `needs`: the stages that must finish first (a list, or one name). Stages form a DAG and independent
//!   stages run in parallel. A stage *without* `needs` waits for the stage listed just
//!   before it (the short form is therefore sequential); `needs: []` starts it at once.
//!   The resolved [`StageSpec::needs`] always holds the effective dependencies.
//! - `retries`: attempts after the first, 0 to 10; defaults from `retry_on_failure`.
//! - `backoff`: the delay before a retry: a duration (the first delay), or
//!   `{initial, max, factor}`. Defaults: initial 1s, factor 2, max 60s (or `initial`, if
//!   longer). Initial and max lie between 1ms and 1h, factor between 1 and 10.
//! - `timeout`: the longest one attempt may run, 1s to 24h; default 15m.
//! - `when`: `branches`, `events` and `paths`, each a pattern or a list of them; every
//!   given condition must match or the stage is skipped. Branch and path patterns are
//!   globs: `*` matches within one path segment (not across `/`), `**` as a whole segment
//!   matches any number of segments, `?` matches one character. Events match exactly:
//!   `push`, `pull_request`, `manual` (the API, `bosun run`) or `schedule` (a server
//!   schedule).
//!   `paths` matches when any changed path matches any pattern; when the changed paths
//!   are unknown, the `paths` condition counts as met. Matching has one budget per run
//!   (`RUN_MATCH_BUDGET` steps, shared by all its stages); once it is spent, every
//!   `paths` condition left counts as met and the run's events say so.
//! - `environment`: the environment a deploying stage targets.
//! - `allow_failure`: a failure of this stage does not fail the run (default false).
//! - `network`: the stage's containers get network access (default false).
//! - `rollback`: what to run when the stage fails. A stage named `deploy`, or with an
//!   `environment`, gets a default rollback: the same plugin with its `with` plus
//!   `action=rollback`. `rollback: false` disables it, `rollback: true` asks for the
//!   default on any stage, and `{plugin, with}` overrides either part (a missing
//!   `plugin` is the stage's; a missing `with` is the default one).
//!
//! Durations are written as numbers with units, `ms`, `s`, `m` or `h`, and may be
//! combined: `500ms`, `2s`, `1m30s`.
//!
//! # Problems
//!
//! [`parse`] reports every problem it finds, each as `file:line:col: message`, naming
//! the offending key, with a `help:` line when it has a suggestion (a misspelt key, a
//! stage name close to an unknown one, a duration without a unit).

mod artifacts;
mod command_step;
mod duration;
mod error;
mod expr;
mod flatten;
mod glob;
mod hold;
mod matrix;
mod parse;
pub use parse::MAX_CONFIG_BYTES;
mod plan;
mod positions;
mod reader;
mod scan;
mod services;
mod stage;
mod stage_rules;
mod validate;
mod when;

#[cfg(test)]
mod problem_tests;
#[cfg(test)]
mod tests;

pub use artifacts::check_pattern as check_artifact_pattern;
pub use command_step::{
    COMMANDS_PLUGIN, COMMANDS_POOL, CacheSpec, CommandStep, REPORT_KINDS, STEP_KEY,
};
pub use error::{ConfigError, Problem};
pub use expr::secret_references;
pub use glob::{PathsBudget, RUN_MATCH_BUDGET, glob_matches};
pub use hold::{Approval, Concurrency, DEFAULT_APPROVAL_TIMEOUT};
pub use parse::parse;
pub use plan::ResolvedPlan;
pub use services::{DEFAULT_READY_TIMEOUT, Readiness, ServiceSpec};

use serde::Serialize;
use std::time::Duration;

/// The pipeline config file, at a repository's root.
pub const CONFIG_FILE: &str = ".bosun.yml";

/// A validated pipeline with every default resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineConfig {
    /// The stages, in file order.
    pub stages: Vec<StageSpec>,
    /// Halt the run after this many failed attempts; `None` for no limit.
    pub max_failures: Option<u32>,
    /// When and how to notify about the run's outcome.
    pub notify: NotifyRules,
    /// Cancel a running pipeline of the same branch when a newer push arrives.
    pub cancel_superseded: bool,
}

/// When and how a run's outcome is announced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotifyRules {
    /// Notify when the run succeeds.
    pub on_success: bool,
    /// Notify when the run fails.
    pub on_failure: bool,
    /// The notifier plugin.
    pub notifier: String,
    /// The notifier's config, flattened like a stage's `with`.
    pub with: Vec<(String, String)>,
}

/// One stage with every default resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSpec {
    /// The stage name, unique in the pipeline.
    pub name: String,
    /// The agent pool; tasks go to topic `agent.<agent>`.
    pub agent: String,
    /// The stage plugin.
    pub plugin: String,
    /// Plugin config as text pairs, in file order.
    pub with: Vec<(String, String)>,
    /// The stages that must finish first (explicit, or the previous stage).
    pub needs: Vec<String>,
    /// Attempts after the first.
    pub retries: u32,
    /// The delay before each retry.
    pub backoff: Backoff,
    /// The longest one attempt may run.
    #[serde(serialize_with = "duration::serialize")]
    pub timeout: Duration,
    /// Conditions for the stage to run at all.
    pub when: When,
    /// The environment the stage deploys to.
    pub environment: Option<String>,
    /// A failure of this stage does not fail the run.
    pub allow_failure: bool,
    /// The stage's containers get network access.
    pub network: bool,
    /// What to run when the stage fails.
    pub rollback: Option<RollbackSpec>,
    /// The stage's own commands, when it lists them (run by the `commands` plugin).
    pub step: Option<CommandStep>,
    /// Set on each instance of a `matrix` stage.
    pub matrix: Option<MatrixInstance>,
    /// A person must let the stage run.
    pub approval: Option<Approval>,
    /// One run at a time through the stage, per group.
    pub concurrency: Option<Concurrency>,
}

/// One instance of a `matrix` stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixInstance {
    /// The stage as written, whose instances these are.
    pub of: String,
    /// This instance's value of each matrix key, in file order.
    pub values: Vec<(String, String)>,
    /// One failed instance cancels the others still waiting or running.
    pub fail_fast: bool,
    /// At most this many instances of the stage run at once.
    pub max_parallel: Option<u32>,
}

/// Exponential backoff between retries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backoff {
    /// The delay before the first retry.
    #[serde(serialize_with = "duration::serialize")]
    pub initial: Duration,
    /// The longest delay.
    #[serde(serialize_with = "duration::serialize")]
    pub max: Duration,
    /// Each retry's delay is the previous one times this.
    pub factor: f64,
}

/// The plugin run to undo a failed stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackSpec {
    /// The plugin to run.
    pub plugin: String,
    /// Its config.
    pub with: Vec<(String, String)>,
}

/// Conditions for a stage to run; an empty list places no condition.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct When {
    /// Branch globs; one must match the pushed branch.
    pub branches: Vec<String>,
    /// Event names; one must equal the event.
    pub events: Vec<String>,
    /// Path globs; one must match one changed path.
    pub paths: Vec<String>,
}

impl PipelineConfig {
    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&StageSpec> {
        self.stages.iter().find(|stage| stage.name == name)
    }
}
