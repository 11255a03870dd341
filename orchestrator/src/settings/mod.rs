//! The orchestrator's own settings (a YAML file): where it listens, the bus, the run
//! store, the tenants with their secrets, notification targets and policies, and
//! per-repository fallback pipelines.
//!
//! One file per part: `tenant.rs` (a tenant, its policies and pull requests),
//! `secrets.rs` (secrets and secret grants), `email.rs` (email notifications), `schedule.rs` (a tenant's schedules and
//! their checks), `warnings.rs` (what start-up warns about).

mod artifacts;
mod cluster;
mod email;
mod retention;
mod schedule;
mod secrets;
mod tenant;
mod warnings;

#[cfg(test)]
mod tests;

pub use artifacts::ArtifactSettings;
pub use cluster::ClusterSettings;
pub(crate) use cluster::process_nonce;
pub use email::EmailSettings;
pub use retention::RetentionSettings;
pub use schedule::{CheckedSchedule, ScheduleSettings, is_branch_name};
pub use secrets::{Secret, SecretGrant, SecretUse};
pub use tenant::{ForkRuns, PolicySettings, PullRequestSettings, TenantSettings};

pub use crate::store::StoreLocation;
use serde::Deserialize;
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

/// URL schemes a webhook's clone URL may use. `file://` is never one of them: only
/// the local CLI (`bosun run`) builds from a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloneScheme {
    /// `https://HOST/OWNER/NAME.git`.
    Https,
    /// `ssh://git@HOST/OWNER/NAME.git` or `git@HOST:OWNER/NAME.git`.
    Ssh,
    /// Plain `http://`: only for a git server on a private network (and the tests).
    Http,
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
fn default_store() -> StoreLocation {
    StoreLocation::Sqlite(PathBuf::from(".bosun/bosun.db"))
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
fn default_webhook_body_budget() -> u32 {
    64
}
fn default_read_timeout() -> u64 {
    10
}
fn default_queue_metrics_every() -> u64 {
    15
}
fn default_clone_schemes() -> Vec<CloneScheme> {
    vec![CloneScheme::Https]
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
    /// The run store: a SQLite file (the default, `.bosun/bosun.db`) or a PostgreSQL
    /// database, `postgres://user:password@host:port/database`.
    #[serde(default = "default_store")]
    pub store: StoreLocation,
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
    /// The tenants this orchestrator serves; a webhook from anyone else is refused.
    #[serde(default)]
    pub tenants: Vec<TenantSettings>,
    /// Repositories with settings of their own.
    #[serde(default)]
    pub repositories: Vec<RepositorySettings>,
    /// Schemes a webhook's clone URL may use (default: `https` only).
    #[serde(default = "default_clone_schemes")]
    pub clone_schemes: Vec<CloneScheme>,
    /// MiB of webhook bodies read at once, counted by each delivery's announced
    /// length (25 MiB when it announces none); a delivery that does not fit is answered
    /// 503 with `Retry-After` (GitHub redelivers). Bounds what unsigned senders hold.
    #[serde(default = "default_webhook_body_budget")]
    pub webhook_body_budget_mib: u32,
    /// Seconds a request's headers may take to arrive (else the connection is closed),
    /// and a webhook's body (else the delivery is answered 408).
    #[serde(default = "default_read_timeout")]
    pub read_timeout_secs: u64,
    /// Where command steps' kept files are stored, and how much a run may keep.
    #[serde(default)]
    pub artifacts: ArtifactSettings,
    /// How often and in what batches old runs and logs are pruned (each tenant's
    /// `retention_days` and `log_budget_mib` say what goes).
    #[serde(default)]
    pub retention: RetentionSettings,
    /// Seconds between measurements of the agent pools' queues (lag and oldest task on
    /// `/metrics`); 0 turns them off.
    #[serde(default = "default_queue_metrics_every")]
    pub queue_metrics_every_secs: u64,
    /// Agent pools measured from start-up besides the built-in ones, so that a custom
    /// pool's series exist before its first task or agent (others are learnt then).
    #[serde(default)]
    pub queue_pools: Vec<String>,
    /// Several orchestrators over one store and bus (see [`ClusterSettings`]); none:
    /// this process owns every run.
    #[serde(default)]
    pub cluster: Option<ClusterSettings>,
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
            clone_schemes: default_clone_schemes(),
            webhook_body_budget_mib: default_webhook_body_budget(),
            read_timeout_secs: default_read_timeout(),
            artifacts: ArtifactSettings::default(),
            retention: RetentionSettings::default(),
            queue_metrics_every_secs: default_queue_metrics_every(),
            queue_pools: Vec::new(),
            cluster: None,
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
            if let Some(email) = &tenant.email {
                email.check().map_err(|detail| SettingsError::Invalid {
                    path: path.to_path_buf(),
                    detail: format!("tenant {}: {detail}", tenant.owner),
                })?;
            }
        }
        settings
            .schedules()
            .map_err(|detail| SettingsError::Invalid {
                path: path.to_path_buf(),
                detail,
            })?;
        Ok(settings)
    }

    /// Every tenant's schedules, checked; the first problem, naming its tenant,
    /// schedule and setting.
    pub fn schedules(&self) -> Result<Vec<CheckedSchedule>, String> {
        let mut all = Vec::new();
        for tenant in &self.tenants {
            all.extend(tenant.checked_schedules(&self.clone_schemes)?);
        }
        Ok(all)
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

    /// Whether an `api_token` is configured (inline or by variable), set or not.
    pub fn api_token_configured(&self) -> bool {
        self.api_token.value.is_some() || self.api_token.env.is_some()
    }

    /// How long request headers, and a webhook's body, may take to arrive.
    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_secs.max(1))
    }

    /// How long a gate may go unanswered.
    pub fn gate_timeout(&self) -> Duration {
        Duration::from_secs(self.gate_timeout_secs.max(1))
    }

    /// The folder kept files are stored in.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.artifacts
            .dir
            .clone()
            .unwrap_or_else(|| self.work_dir.join("artifacts"))
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
