//! Secrets in the settings (given inline or by environment variable), and the grants
//! that say which of a tenant's stages may resolve an agent's secret.

use serde::Deserialize;

/// A secret given inline or, better, by the name of an environment variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// The value itself (avoid in files under version control).
    #[serde(default)]
    pub value: Option<String>,
    /// The environment variable holding it.
    #[serde(default)]
    pub env: Option<String>,
}

impl Secret {
    /// The secret's value: the inline one, else the variable's.
    pub fn resolve(&self) -> Option<String> {
        self.value
            .clone()
            .or_else(|| self.env.as_ref().and_then(|name| std::env::var(name).ok()))
            .filter(|v| !v.is_empty())
    }
}

/// One agent secret a tenant's stages may resolve.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretGrant {
    /// The secret's name, as the agent knows it (`--secret-env NAME`).
    pub name: String,
    /// Stages that may resolve it (empty: all).
    #[serde(default)]
    pub stages: Vec<String>,
    /// Events whose runs may resolve it (empty: `push`, `manual` and `schedule`, the
    /// runs of a branch itself); a `pull_request` run never resolves a secret, even
    /// when listed.
    #[serde(default)]
    pub events: Vec<String>,
    /// Deploy environments whose stages may resolve it (compared without regard to
    /// case; empty: any stage, with an environment or without).
    #[serde(default)]
    pub environments: Vec<String>,
    /// Only runs on the repository's default branch may resolve it (a production
    /// kubeconfig never reaches a feature branch's deploy).
    #[serde(default)]
    pub default_branch_only: bool,
}

/// How a stage would use a secret: what a [`SecretGrant`] is checked against.
#[derive(Debug, Clone, Copy)]
pub struct SecretUse<'a> {
    /// The stage.
    pub stage: &'a str,
    /// The run's event (`push`, `pull_request`, `manual`, `schedule`).
    pub event: &'a str,
    /// The stage's deploy environment, if any.
    pub environment: Option<&'a str>,
    /// Whether the run is on the repository's default branch.
    pub on_default_branch: bool,
}

impl SecretGrant {
    /// Whether a stage used as `used` says may resolve this secret.
    pub fn applies(&self, used: &SecretUse<'_>) -> bool {
        self.denial(used).is_none()
    }

    /// The first condition of this grant that a stage used as `used` fails, in words
    /// that name the setting (none: the grant applies).
    pub fn denial(&self, used: &SecretUse<'_>) -> Option<String> {
        let name = &self.name;
        if used.event == "pull_request" {
            return Some(format!(
                "event: pull-request runs never resolve secrets, whatever grant `{name}` says"
            ));
        }
        let event_ok = if self.events.is_empty() {
            matches!(used.event, "push" | "manual" | "schedule")
        } else {
            self.events.iter().any(|e| e == used.event)
        };
        if !event_ok {
            let listed = if self.events.is_empty() {
                "push, manual, schedule (the default)".to_string()
            } else {
                self.events.join(", ")
            };
            return Some(format!(
                "event: `{}` is not among the grant's `events` ({listed})",
                used.event
            ));
        }
        if !(self.stages.is_empty() || self.stages.iter().any(|s| s == used.stage)) {
            return Some(format!(
                "stage: `{}` is not among the grant's `stages` ({})",
                used.stage,
                self.stages.join(", ")
            ));
        }
        let environment_ok = self.environments.is_empty()
            || used.environment.is_some_and(|env| {
                self.environments
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(env))
            });
        if !environment_ok {
            return Some(format!(
                "environment: {} is not among the grant's `environments` ({})",
                used.environment
                    .map_or("no environment".to_string(), |e| format!("`{e}`")),
                self.environments.join(", ")
            ));
        }
        if self.default_branch_only && !used.on_default_branch {
            return Some(
                "default branch: the grant has `default_branch_only: true` and this run is not on the repository's default branch"
                    .to_string(),
            );
        }
        None
    }
}
