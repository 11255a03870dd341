//! What one stage of one run may do: network, secrets and image pushes. The stage
//! asks (`network: true`, `${{ secrets.NAME }}`, `push`), the tenant's settings grant,
//! and a pull request's run gets less; an ask nothing grants is a config error that
//! names the setting that would grant it.

use crate::config::{PathsBudget, PipelineConfig, StageSpec};
use crate::model::RunTrigger;
use crate::settings::{SecretUse, TenantSettings};

/// What a stage's tools may use, as the orchestrator puts it on the task.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StageGrants {
    /// The stage asked for the network and its tenant grants it for this event.
    pub network: bool,
    /// Agent secrets the stage's tools may resolve by name.
    pub secrets: Vec<String>,
    /// The only image repository a build may push (none: builds do not push).
    pub push_repository: Option<String>,
    /// The only image repository a build may tag, pushed or not: the operator's name.
    pub image_repository: Option<String>,
}

/// Why a stage never runs for a pull request, when it is a deploy: one with an
/// `environment`, a rollback, or the deploy plugin or agent pool.
pub fn withheld_from_pull_request(spec: &StageSpec, trigger: &RunTrigger) -> Option<String> {
    let deploys = spec.environment.is_some()
        || spec.rollback.is_some()
        || spec.plugin == "deploy"
        || spec.agent == "deploy";
    (trigger.is_pull_request() && deploys)
        .then(|| "skipped: deploy stages never run for pull requests".to_string())
}

/// The grants for `spec` in a run of `trigger` by `tenant` (none when the tenant has
/// no settings on this server).
pub fn grants(
    spec: &StageSpec,
    trigger: &RunTrigger,
    tenant: Option<&TenantSettings>,
) -> StageGrants {
    let Some(tenant) = tenant else {
        return StageGrants::default();
    };
    let pull_request = trigger.is_pull_request();
    let image = tenant.push_repository(&trigger.repository);
    StageGrants {
        network: spec.network && network_denial(spec, trigger, tenant).is_none(),
        secrets: if pull_request {
            Vec::new()
        } else {
            tenant.granted_secrets(&secret_use(spec, trigger))
        },
        push_repository: if pull_request { None } else { image.clone() },
        image_repository: image,
    }
}

/// How `spec` would use a secret in a run of `trigger`.
fn secret_use<'a>(spec: &'a StageSpec, trigger: &'a RunTrigger) -> SecretUse<'a> {
    SecretUse {
        stage: &spec.name,
        event: &trigger.event,
        environment: spec.environment.as_deref(),
        on_default_branch: trigger.branch == trigger.default_branch,
    }
}

/// The secrets the tenant names in its grants that `spec` may not resolve in this run,
/// each with the condition that failed: the agent says it when a tool asks for one.
pub fn withheld_secrets(
    spec: &StageSpec,
    trigger: &RunTrigger,
    tenant: Option<&TenantSettings>,
) -> Vec<(String, String)> {
    let Some(tenant) = tenant else {
        return Vec::new();
    };
    let used = secret_use(spec, trigger);
    let mut withheld: Vec<(String, String)> = Vec::new();
    for grant in &tenant.secrets {
        if withheld.iter().any(|(name, _)| name == &grant.name) {
            continue;
        }
        if let Some(why) = tenant.secret_denial(&grant.name, &used) {
            withheld.push((grant.name.clone(), why));
        }
    }
    withheld
}

/// The built-in deploy plugin's setting that names the agent secret holding a
/// kubeconfig (the plugin turns it into a `${{ secrets.NAME }}` reference).
const DEPLOY_SECRET_SETTING: &str = "kubeconfig_secret";

/// Every secret a stage's config names: `${{ secrets.NAME }}` in its `with:` values,
/// its rollback's and its command step (commands, environment, services), and the
/// built-in deploy plugin's `kubeconfig_secret`.
fn secret_references(spec: &StageSpec) -> Vec<String> {
    let mut texts: Vec<String> = spec.with.iter().map(|(_, v)| v.clone()).collect();
    let mut named: Vec<String> = Vec::new();
    let mut deploy_secret = |plugin: &str, with: &[(String, String)]| {
        if plugin == "deploy" {
            named.extend(
                with.iter()
                    .filter(|(k, _)| k == DEPLOY_SECRET_SETTING)
                    .map(|(_, v)| v.trim().to_string()),
            );
        }
    };
    deploy_secret(&spec.plugin, &spec.with);
    if let Some(rollback) = &spec.rollback {
        texts.extend(rollback.with.iter().map(|(_, v)| v.clone()));
        deploy_secret(&rollback.plugin, &rollback.with);
    }
    if let Some(step) = &spec.step {
        texts.push(step.to_json());
    }
    let mut names: Vec<String> = Vec::new();
    let referenced = texts
        .iter()
        .flat_map(|t| crate::config::secret_references(t));
    for name in named.into_iter().chain(referenced) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Why `spec` may not use a secret it names, in a run of `trigger`: the first
/// reference its tenant does not grant it, with the condition that failed.
fn secret_denial(
    spec: &StageSpec,
    trigger: &RunTrigger,
    tenant: Option<&TenantSettings>,
) -> Option<String> {
    for name in secret_references(spec) {
        let why = match tenant {
            None => Some(format!(
                "tenant: {} has no settings on this server, so nothing grants it",
                trigger.tenant
            )),
            Some(tenant) => tenant.secret_denial(&name, &secret_use(spec, trigger)),
        };
        if let Some(why) = why {
            return Some(format!(
                "stage `{}` refers to secret `{name}` (`${{{{ secrets.{name} }}}}`), which it is not granted for this run: {why}",
                spec.name
            ));
        }
    }
    None
}

/// Why the tenant does not grant `spec` the network it asks for, naming the setting.
fn network_denial(
    spec: &StageSpec,
    trigger: &RunTrigger,
    tenant: &TenantSettings,
) -> Option<String> {
    if !tenant.network_stages.iter().any(|s| s == &spec.name) {
        return Some(format!(
            "stage `{}` asks for `network: true`, which tenant {} does not grant: the operator lists the stage in the tenant's `network_stages` in the server settings",
            spec.name, tenant.owner
        ));
    }
    if trigger.is_pull_request() && !tenant.pull_requests.network {
        return Some(format!(
            "stage `{}` asks for `network: true`, and pull-request runs of tenant {} get no network: the operator sets `pull_requests: {{ network: true }}` for the tenant in the server settings",
            spec.name, tenant.owner
        ));
    }
    None
}

/// Refuse a pipeline that asks for more than its tenant grants this run: each stage
/// that would run and asks for the network must be granted it, and each secret a
/// stage that would run names must be granted to that stage for this run.
pub fn check_plan(
    config: &PipelineConfig,
    trigger: &RunTrigger,
    tenant: Option<&TenantSettings>,
) -> Result<(), String> {
    for spec in config.stages.iter().filter(|s| s.network) {
        if withheld_from_pull_request(spec, trigger).is_some() {
            continue;
        }
        let denial = match tenant {
            None => Some(format!(
                "stage `{}` asks for `network: true`, but tenant {} has no settings on this server, so nothing grants it",
                spec.name, trigger.tenant
            )),
            Some(tenant) => network_denial(spec, trigger, tenant),
        };
        if let Some(denial) = denial {
            return Err(denial);
        }
    }
    // A stage its `when` skips for this branch and event never resolves its secrets;
    // unknown changed paths count as matching.
    let runs = |spec: &&StageSpec| {
        withheld_from_pull_request(spec, trigger).is_none()
            // With paths unknown, nothing is drawn from this budget.
            && spec
                .when
                .matches(&trigger.branch, &trigger.event, None, &mut PathsBudget::per_run(0))
    };
    for spec in config.stages.iter().filter(runs) {
        if let Some(denial) = secret_denial(spec, trigger, tenant) {
            return Err(denial);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
