//! A tenant's settings: its secrets and tokens, email, policy gates, what its stages may ask
//! for (network, secrets, an image to push), how its pull requests run, its schedules'
//! time zone, and who its members and teams are (for stage approvals).

use super::{EmailSettings, ScheduleSettings, Secret, SecretGrant, SecretUse};
use bosun_bus::policy::PolicyPhase;
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// Email run reports over SMTP (STARTTLS), by the same `notify` rules as Slack.
    #[serde(default)]
    pub email: Option<EmailSettings>,
    /// The token for commit statuses (and, with the next two, check runs and pull
    /// request comments).
    #[serde(default)]
    pub github_token: Secret,
    /// Also one check run per stage through the Checks API, with a summary and
    /// annotations on the findings' lines (the token must be a GitHub App
    /// installation's, with `checks: write`).
    #[serde(default)]
    pub github_checks: bool,
    /// Keep one summary comment on each pull request, edited on every push (the token
    /// needs `pull_requests: write`).
    #[serde(default)]
    pub pull_request_comments: bool,
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
    /// The IANA time zone its schedules' cron patterns are read in (default `UTC`).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Runs the clock starts: a repository's branch at the times a cron pattern gives.
    #[serde(default)]
    pub schedules: Vec<ScheduleSettings>,
    /// Personal API tokens by login: a call with one acts for this tenant, as that
    /// person, so a stage's `approval.from` can name them.
    #[serde(default)]
    pub members: BTreeMap<String, Secret>,
    /// Who is in a team an `approval.from` names (`"@acme/release": [alice, bob]`):
    /// Bosun does not ask GitHub, so a team not listed here approves nothing.
    #[serde(default)]
    pub teams: BTreeMap<String, Vec<String>>,
    /// Days a finished run is kept, with its attempts, logs, audit log and kept files;
    /// older ones are pruned in the background (none: kept for ever).
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// MiB of stage logs kept for the tenant; past it, the logs of its oldest finished
    /// attempts are dropped (none: no budget).
    #[serde(default)]
    pub log_budget_mib: Option<u64>,
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

    /// Why a stage used as `used` may not resolve the secret `name`, naming the
    /// condition that failed and the setting (none: it may).
    pub fn secret_denial(&self, name: &str, used: &SecretUse<'_>) -> Option<String> {
        let mut grants = self.secrets.iter().filter(|g| g.name == name).peekable();
        if grants.peek().is_none() {
            return Some(format!(
                "tenant: {} has no grant for it (the operator lists it under the tenant's `secrets` in the server settings)",
                self.owner
            ));
        }
        let mut first = None;
        for grant in grants {
            match grant.denial(used) {
                None => return None,
                Some(why) => {
                    first.get_or_insert(why);
                }
            }
        }
        first.map(|why| format!("{why}, in tenant {}'s `secrets`", self.owner))
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
    /// Who may decide a pull request's stage approvals (logins or `@org/team`s; empty:
    /// any member with a token of their own). The pull request's own `approval.from`
    /// never counts: its author wrote it.
    #[serde(default)]
    pub approvers: Vec<String>,
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
