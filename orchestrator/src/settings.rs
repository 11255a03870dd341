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
    /// Stages whose tools may use the network when the stage asks for it
    /// (`network: true` in `.bosun.yml`); a stage not listed here never gets it.
    #[serde(default)]
    pub network_stages: Vec<String>,
    /// How pull requests run: from forks, and whether they get the network.
    #[serde(default)]
    pub pull_requests: PullRequestSettings,
    /// Hosts webhooks may name in clone URLs (e.g. `github.com`); empty: any host the
    /// server's `clone_schemes` reach.
    #[serde(default)]
    pub clone_hosts: Vec<String>,
    /// The image repository prefix this tenant's builds push under; default
    /// `<owner>/`, lower-cased. A build may push only `<prefix><repository name>`.
    #[serde(default)]
    pub image_prefix: Option<String>,
    /// Which agent secrets (`${{ secrets.NAME }}`) this tenant's stages may resolve.
    #[serde(default)]
    pub secrets: Vec<SecretGrant>,
    /// The token the orchestrator reads this tenant's private repositories with over
    /// HTTP(S) (a GitHub App installation token or a personal token); agents hold
    /// their own (`bosun agent --clone-token TENANT=VAR`), so it never crosses the bus.
    #[serde(default)]
    pub clone_token: Secret,
    /// A bearer token for this tenant's own API calls (approving fork runs,
    /// triggering and cancelling its runs); it never acts on another tenant's runs.
    #[serde(default)]
    pub api_token: Secret,
}

impl TenantSettings {
    /// The image repository a build of `repository` (`owner/name`) may push to, or
    /// `None` for a name this tenant's prefix cannot hold.
    pub fn push_repository(&self, repository: &str) -> Option<String> {
        let name = repository.rsplit_once('/').map_or(repository, |(_, n)| n);
        let prefix = match &self.image_prefix {
            Some(prefix) => prefix.clone(),
            None => format!("{}/", self.owner),
        };
        let image = format!("{prefix}{name}").to_ascii_lowercase();
        (!name.is_empty()).then_some(image)
    }

    /// The secrets a stage may resolve, used as `used` says.
    pub fn granted_secrets(&self, used: &SecretUse<'_>) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|g| g.applies(used))
            .map(|g| g.name.clone())
            .collect()
    }
}

/// What a fork's pull request does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForkRuns {
    /// Waits until a tenant member approves it (`POST /api/runs/{id}/approve`).
    #[default]
    Approve,
    /// Runs at once, with a pull request's reduced trust.
    Run,
    /// Never runs.
    Ignore,
}

/// How a tenant's pull requests run. A pull request never resolves secrets, never
/// pushes images and never runs deploy stages, whatever is set here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequestSettings {
    /// Pull requests whose head is in another repository (a fork).
    #[serde(default)]
    pub from_forks: ForkRuns,
    /// Whether pull-request runs get the network in the stages `network_stages` lists.
    #[serde(default)]
    pub network: bool,
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
    /// Events whose runs may resolve it (empty: `push` and `manual`); a
    /// `pull_request` run never resolves a secret, even when listed.
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
    /// The run's event (`push`, `pull_request`, `manual`).
    pub event: &'a str,
    /// The stage's deploy environment, if any.
    pub environment: Option<&'a str>,
    /// Whether the run is on the repository's default branch.
    pub on_default_branch: bool,
}

impl SecretGrant {
    /// Whether a stage used as `used` says may resolve this secret.
    pub fn applies(&self, used: &SecretUse<'_>) -> bool {
        let event_ok = if used.event == "pull_request" {
            false
        } else if self.events.is_empty() {
            matches!(used.event, "push" | "manual")
        } else {
            self.events.iter().any(|e| e == used.event)
        };
        let stage_ok = self.stages.is_empty() || self.stages.iter().any(|s| s == used.stage);
        let environment_ok = self.environments.is_empty()
            || used.environment.is_some_and(|env| {
                self.environments
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(env))
            });
        event_ok
            && stage_ok
            && environment_ok
            && (!self.default_branch_only || used.on_default_branch)
    }
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
fn default_webhook_body_budget() -> u32 {
    64
}
fn default_read_timeout() -> u64 {
    10
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

    /// Whether an `api_token` is configured (inline or by variable), set or not.
    pub fn api_token_configured(&self) -> bool {
        self.api_token.value.is_some() || self.api_token.env.is_some()
    }

    /// A warning when the server answers other machines with no token asked: the API,
    /// the dashboard and manual runs are open to whoever reaches the address.
    pub fn open_listener_warning(&self) -> Option<String> {
        let listen = &self.listen;
        let loopback = match listen.parse::<std::net::SocketAddr>() {
            Ok(address) => address.ip().is_loopback(),
            Err(_) => listen.starts_with("localhost:"),
        };
        (!loopback && !self.api_token_configured()).then(|| {
            format!(
                "listening on {listen} with no api_token: anyone who reaches it can read every run and start runs; set api_token in the settings or listen on 127.0.0.1"
            )
        })
    }

    /// What will not work as the operator probably meant, to say at start-up: a
    /// tenant whose webhook secret is unset (every delivery of it would be refused),
    /// an `api_token` whose variable is unset (every API call is refused), an open API
    /// beyond loopback.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.api_token_configured() && self.api_token.resolve().is_none() {
            warnings.push(
                "api_token is configured but empty or its variable unset: every API call and dashboard page is refused until it is set".to_string(),
            );
        }
        warnings.extend(self.open_listener_warning());
        for tenant in &self.tenants {
            if tenant.webhook_secret.resolve().is_none() {
                // A tenant without any `webhook_secret` takes no webhooks on purpose
                // (its runs come from the API, or from `bosun run`); a configured one
                // that resolves to nothing is the mistake to say.
                let source = match (&tenant.webhook_secret.value, &tenant.webhook_secret.env) {
                    (_, Some(env)) => format!("environment variable {env} is unset or empty"),
                    (Some(_), None) => "its `webhook_secret.value` is empty".to_string(),
                    (None, None) => continue,
                };
                warnings.push(format!(
                    "tenant {}: {source}, so every webhook delivery of it is refused",
                    tenant.owner
                ));
            }
        }
        warnings
    }

    /// How long request headers, and a webhook's body, may take to arrive.
    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_secs.max(1))
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
    fn a_tenant_whose_webhook_secret_is_unset_is_warned_about_by_name() {
        let s = ServerSettings::parse(
            Path::new("s.yaml"),
            "tenants:\n  - owner: acme\n    webhook_secret: { env: BOSUN_TEST_SURELY_UNSET_SECRET }\n  - owner: bravo\n  - owner: carol\n    webhook_secret: { value: s3cret }\n",
        )
        .unwrap();
        // bravo configures no secret at all: it takes no webhooks, on purpose.
        let warnings = s.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("acme") && warnings[0].contains("BOSUN_TEST_SURELY_UNSET_SECRET")
        );
    }

    #[test]
    fn a_production_secret_reaches_only_production_deploys_from_the_default_branch() {
        let grant = SecretGrant {
            name: "KUBE_PROD".into(),
            stages: vec![],
            events: vec![],
            environments: vec!["production".into()],
            default_branch_only: true,
        };
        let used = |environment, on_default_branch| SecretUse {
            stage: "deploy",
            event: "push",
            environment,
            on_default_branch,
        };
        assert!(grant.applies(&used(Some("Production"), true)));
        assert!(
            !grant.applies(&used(Some("production"), false)),
            "a feature branch"
        );
        assert!(
            !grant.applies(&used(Some("staging"), true)),
            "another environment"
        );
        assert!(
            !grant.applies(&used(None, true)),
            "a stage that deploys nowhere"
        );
    }

    #[test]
    fn an_open_api_beyond_loopback_and_an_unset_api_token_are_warned_about() {
        let parse = |text: &str| ServerSettings::parse(Path::new("s.yaml"), text).unwrap();
        assert!(parse("listen: 127.0.0.1:8080\n").warnings().is_empty());
        assert!(parse("listen: '[::1]:8080'\n").warnings().is_empty());
        assert!(parse("listen: localhost:8080\n").warnings().is_empty());
        let open = parse("listen: 0.0.0.0:8080\n").warnings();
        assert!(
            open.len() == 1 && open[0].contains("no api_token"),
            "{open:?}"
        );
        let unset =
            parse("listen: 0.0.0.0:8080\napi_token: { env: BOSUN_TEST_SURELY_UNSET_TOKEN }\n")
                .warnings();
        assert!(
            unset.len() == 1 && unset[0].contains("refused"),
            "{unset:?}"
        );
    }

    #[test]
    fn trust_settings_parse_and_default_to_the_narrowest() {
        let s = ServerSettings::parse(
            Path::new("s.yaml"),
            "clone_schemes: [https, ssh]\ntenants:\n  - owner: Acme\n    network_stages: [build]\n    pull_requests: { from_forks: ignore, network: true }\n    clone_hosts: [github.com]\n    image_prefix: registry/acme/\n    secrets:\n      - { name: KUBE, stages: [deploy] }\n  - owner: bravo\n",
        )
        .unwrap();
        assert_eq!(s.clone_schemes, [CloneScheme::Https, CloneScheme::Ssh]);
        let acme = s.tenant("acme").unwrap();
        assert_eq!(acme.pull_requests.from_forks, ForkRuns::Ignore);
        assert_eq!(
            acme.push_repository("Acme/Shop").as_deref(),
            Some("registry/acme/shop")
        );
        let used = |stage, event| SecretUse {
            stage,
            event,
            environment: None,
            on_default_branch: true,
        };
        assert_eq!(acme.granted_secrets(&used("deploy", "push")), ["KUBE"]);
        assert!(
            acme.granted_secrets(&used("deploy", "pull_request"))
                .is_empty()
        );
        assert!(acme.granted_secrets(&used("test", "push")).is_empty());
        let bravo = s.tenant("bravo").unwrap();
        assert_eq!(bravo.pull_requests.from_forks, ForkRuns::Approve);
        assert!(!bravo.pull_requests.network);
        assert_eq!(
            bravo.push_repository("bravo/app").as_deref(),
            Some("bravo/app")
        );
        let defaults = ServerSettings::parse(Path::new("s.yaml"), "{}").unwrap();
        assert_eq!(defaults.clone_schemes, [CloneScheme::Https]);
        let err = ServerSettings::parse(Path::new("s.yaml"), "clone_schemes: [file]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("file"), "{err}");
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
