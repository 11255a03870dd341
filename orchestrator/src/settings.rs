//! The orchestrator's own settings (a YAML file): where it listens, the bus, the run
//! store, the tenants with their secrets, notification targets and policies, and
//! per-repository fallback pipelines.

use bosun_bus::policy::PolicyPhase;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read orchestrator settings {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("orchestrator settings {path}: {detail}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column when known.
        detail: String,
    },
}

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

/// One policy a tenant applies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// The policy plugin's name.
    pub plugin: String,
    /// Its settings for this tenant.
    #[serde(default)]
    pub with: BTreeMap<String, String>,
    /// Stages it gates (empty: all).
    #[serde(default)]
    pub stages: Vec<String>,
    /// Phases it is asked in (empty: both).
    #[serde(default)]
    pub phases: Vec<PolicyPhase>,
}

impl PolicySettings {
    /// Whether this policy gates `stage` in `phase`.
    pub fn applies(&self, stage: &str, phase: PolicyPhase) -> bool {
        (self.stages.is_empty() || self.stages.iter().any(|s| s == stage))
            && (self.phases.is_empty() || self.phases.contains(&phase))
    }
}

/// One tenant: a GitHub owner or organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// The owner login.
    pub owner: String,
    /// The webhook secret GitHub signs deliveries with.
    #[serde(default)]
    pub webhook_secret: Secret,
    /// The Slack incoming-webhook URL for run reports.
    #[serde(default)]
    pub slack_webhook: Secret,
    /// The token for commit statuses.
    #[serde(default)]
    pub github_token: Secret,
    /// Policy gates.
    #[serde(default)]
    pub policies: Vec<PolicySettings>,
    /// Stages whose tools may use the network (e.g. `build`).
    #[serde(default)]
    pub network_stages: Vec<String>,
}

/// A repository's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySettings {
    /// `owner/name`.
    pub name: String,
    /// A pipeline used when the commit has no `.bosun.yml`.
    #[serde(default)]
    pub pipeline: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_bus() -> String {
    "memory://".into()
}
fn default_store() -> PathBuf {
    PathBuf::from(".bosun/bosun.db")
}
fn default_work_dir() -> PathBuf {
    PathBuf::from(".bosun/orchestrator")
}
fn default_github_api() -> String {
    "https://api.github.com".into()
}
fn default_gate_timeout() -> u64 {
    60
}

/// Everything the orchestrator is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the webhook, API and dashboard.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The base URL people reach the dashboard at (links in notifications).
    #[serde(default)]
    pub public_url: Option<String>,
    /// `memory://` or `kafka://HOST:PORT`.
    #[serde(default = "default_bus")]
    pub bus: String,
    /// The SQLite run store.
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// Where repository mirrors (for reading `.bosun.yml`) live.
    #[serde(default = "default_work_dir")]
    pub work_dir: PathBuf,
    /// GitHub's API base URL (GitHub Enterprise, or a local receiver in tests).
    #[serde(default = "default_github_api")]
    pub github_api: String,
    /// Seconds a policy gate may go unanswered before it denies.
    #[serde(default = "default_gate_timeout")]
    pub gate_timeout_secs: u64,
    /// A bearer token `POST /api/runs` requires (none: open, for local use).
    #[serde(default)]
    pub api_token: Secret,
    /// Build pushes of tags.
    #[serde(default)]
    pub build_tags: bool,
    /// Tenants.
    #[serde(default)]
    pub tenants: Vec<TenantSettings>,
    /// Repositories with settings of their own.
    #[serde(default)]
    pub repositories: Vec<RepositorySettings>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: default_listen(),
            public_url: None,
            bus: default_bus(),
            store: default_store(),
            work_dir: default_work_dir(),
            github_api: default_github_api(),
            gate_timeout_secs: default_gate_timeout(),
            api_token: Secret::default(),
            build_tags: false,
            tenants: Vec::new(),
            repositories: Vec::new(),
        }
    }
}

impl ServerSettings {
    /// Read settings from a YAML file.
    pub fn load(path: &Path) -> Result<ServerSettings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ServerSettings::parse(path, &text)
    }

    /// Parse settings text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ServerSettings, SettingsError> {
        let settings: ServerSettings =
            serde_yaml_ng::from_str(text).map_err(|e| SettingsError::Invalid {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        let mut seen = std::collections::HashSet::new();
        for tenant in &settings.tenants {
            if !seen.insert(tenant.owner.to_ascii_lowercase()) {
                return Err(SettingsError::Invalid {
                    path: path.to_path_buf(),
                    detail: format!("tenant {} is listed twice", tenant.owner),
                });
            }
        }
        Ok(settings)
    }

    /// The tenant for a repository owner (GitHub logins are case-insensitive).
    pub fn tenant(&self, owner: &str) -> Option<&TenantSettings> {
        self.tenants
            .iter()
            .find(|t| t.owner.eq_ignore_ascii_case(owner))
    }

    /// A repository's fallback pipeline.
    pub fn fallback_pipeline(&self, repository: &str) -> Option<&str> {
        self.repositories
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(repository))
            .and_then(|r| r.pipeline.as_deref())
    }

    /// How long a gate may go unanswered.
    pub fn gate_timeout(&self) -> Duration {
        Duration::from_secs(self.gate_timeout_secs.max(1))
    }

    /// The dashboard's base URL.
    pub fn base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_defaults_and_tenants() {
        let text = "
listen: 127.0.0.1:9000
tenants:
  - owner: Acme
    webhook_secret: { env: ACME_SECRET }
    slack_webhook: { value: http://127.0.0.1:1/hook }
    policies:
      - plugin: no-critical-vulns
        with: { threshold: high }
        phases: [after-stage]
repositories:
  - name: acme/shop
    pipeline: |
      pipeline:
        stages: [lint]
";
        let s = ServerSettings::parse(Path::new("bosun.yaml"), text).unwrap();
        assert_eq!(s.bus, "memory://");
        let tenant = s.tenant("acme").unwrap();
        assert_eq!(
            tenant.slack_webhook.resolve().as_deref(),
            Some("http://127.0.0.1:1/hook")
        );
        let policy = &tenant.policies[0];
        assert!(policy.applies("security", PolicyPhase::AfterStage));
        assert!(!policy.applies("security", PolicyPhase::BeforeStage));
        assert!(s.fallback_pipeline("ACME/shop").unwrap().contains("lint"));
        assert_eq!(s.base_url(), "http://127.0.0.1:9000");
    }

    #[test]
    fn unknown_keys_and_duplicate_tenants_are_named() {
        let err = ServerSettings::parse(Path::new("s.yaml"), "tenantz: []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("s.yaml") && err.contains("tenantz"), "{err}");
        let err = ServerSettings::parse(
            Path::new("s.yaml"),
            "tenants:\n  - owner: a\n  - owner: A\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("listed twice"), "{err}");
    }
}
