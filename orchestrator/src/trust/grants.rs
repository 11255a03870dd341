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
mod tests {
    use super::*;
    use crate::settings::{PullRequestSettings, SecretGrant};

    const PIPELINE: &str = "
pipeline:
  stages:
    - name: build
      network: true
    - name: test
    - name: deploy
      environment: production
      network: true
";

    fn trigger(event: &str) -> RunTrigger {
        RunTrigger {
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            clone_url: "https://github.com/acme/shop.git".into(),
            default_branch: "main".into(),
            commit: "a".repeat(40),
            branch: "main".into(),
            event: event.into(),
            changed_paths: None,
            pull_request: (event == "pull_request").then_some(7),
            sender: "dev".into(),
            message: None,
            fork: false,
        }
    }

    fn tenant(network_stages: &[&str]) -> TenantSettings {
        TenantSettings {
            owner: "acme".into(),
            network_stages: network_stages.iter().map(|s| s.to_string()).collect(),
            secrets: vec![SecretGrant {
                name: "KUBE_TOKEN".into(),
                stages: vec!["deploy".into()],
                events: Vec::new(),
                environments: Vec::new(),
                default_branch_only: false,
            }],
            ..TenantSettings::default()
        }
    }

    fn config() -> PipelineConfig {
        crate::config::parse(".bosun.yml", PIPELINE).unwrap()
    }

    #[test]
    fn network_needs_the_ask_and_the_grant() {
        let config = config();
        let build = config.stage("build").unwrap();
        let test = config.stage("test").unwrap();
        let push = trigger("push");
        let granted = tenant(&["build", "test", "deploy"]);
        assert!(grants(build, &push, Some(&granted)).network);
        assert!(
            !grants(test, &push, Some(&granted)).network,
            "test did not ask"
        );
        let none = tenant(&[]);
        assert!(
            !grants(build, &push, Some(&none)).network,
            "asked, not granted"
        );
        assert!(!grants(build, &push, None).network);
    }

    #[test]
    fn an_ask_the_tenant_does_not_grant_is_a_config_error_naming_the_setting() {
        let err = check_plan(&config(), &trigger("push"), Some(&tenant(&[]))).unwrap_err();
        assert!(
            err.contains("stage `build`") && err.contains("`network_stages`"),
            "{err}"
        );
        let err = check_plan(&config(), &trigger("push"), None).unwrap_err();
        assert!(err.contains("tenant acme has no settings"), "{err}");
        assert_eq!(
            check_plan(
                &config(),
                &trigger("push"),
                Some(&tenant(&["build", "deploy"]))
            ),
            Ok(())
        );
    }

    #[test]
    fn pull_requests_get_network_only_where_the_tenant_opts_in() {
        let config = config();
        let build = config.stage("build").unwrap();
        let pr = trigger("pull_request");
        let mut granted = tenant(&["build"]);
        let err = check_plan(&config, &pr, Some(&granted)).unwrap_err();
        assert!(err.contains("`pull_requests: { network: true }`"), "{err}");
        assert!(!grants(build, &pr, Some(&granted)).network);
        granted.pull_requests = PullRequestSettings {
            network: true,
            ..PullRequestSettings::default()
        };
        // The deploy stage asks too, but never runs for a pull request.
        assert_eq!(check_plan(&config, &pr, Some(&granted)), Ok(()));
        assert!(grants(build, &pr, Some(&granted)).network);
    }

    #[test]
    fn pull_requests_get_no_secrets_no_pushes_and_no_deploys() {
        let config = config();
        let deploy = config.stage("deploy").unwrap();
        let build = config.stage("build").unwrap();
        let granted = tenant(&["build", "deploy"]);
        let push = grants(deploy, &trigger("push"), Some(&granted));
        assert_eq!(push.secrets, ["KUBE_TOKEN"]);
        assert_eq!(push.push_repository.as_deref(), Some("acme/shop"));
        assert!(
            grants(build, &trigger("push"), Some(&granted))
                .secrets
                .is_empty()
        );
        let pr = grants(deploy, &trigger("pull_request"), Some(&granted));
        assert!(pr.secrets.is_empty() && pr.push_repository.is_none());
        // It still builds under the operator's name only, without pushing.
        assert_eq!(pr.image_repository.as_deref(), Some("acme/shop"));
        assert!(withheld_from_pull_request(deploy, &trigger("pull_request")).is_some());
        assert!(withheld_from_pull_request(deploy, &trigger("push")).is_none());
        assert!(withheld_from_pull_request(build, &trigger("pull_request")).is_none());
    }

    const USES_SECRETS: &str = "
pipeline:
  stages:
    - name: test
      with: { token: '${{ secrets.KUBE_TOKEN }}' }
    - name: deploy
      environment: production
      with: { kubeconfig: '${{ secrets.KUBE_TOKEN }}' }
";

    fn branch(event: &str, branch: &str) -> RunTrigger {
        RunTrigger {
            branch: branch.into(),
            ..trigger(event)
        }
    }

    #[test]
    fn a_secret_reference_the_stage_is_not_granted_is_a_config_error_naming_the_condition() {
        let config = crate::config::parse(".bosun.yml", USES_SECRETS).unwrap();
        let granted = tenant(&[]);
        let err = check_plan(&config, &trigger("push"), Some(&granted)).unwrap_err();
        assert!(
            err.contains("stage `test`")
                && err.contains("secret `KUBE_TOKEN`")
                && err.contains("stage: `test` is not among the grant's `stages` (deploy)")
                && err.contains("tenant acme's `secrets`"),
            "{err}"
        );
        // Granted to the stage that names it: admitted.
        let only_deploy = "pipeline:\n  stages:\n    - name: deploy\n      environment: production\n      with: { kubeconfig: '${{ secrets.KUBE_TOKEN }}' }\n";
        let deploy_only = crate::config::parse(".bosun.yml", only_deploy).unwrap();
        assert_eq!(
            check_plan(&deploy_only, &trigger("push"), Some(&granted)),
            Ok(())
        );
        // A secret the tenant has no grant for at all, or a tenant without settings.
        let other = "pipeline:\n  stages:\n    - name: deploy\n      with: { k: '${{ secrets.AWS_KEY }}' }\n";
        let other = crate::config::parse(".bosun.yml", other).unwrap();
        let err = check_plan(&other, &trigger("push"), Some(&granted)).unwrap_err();
        assert!(
            err.contains("secret `AWS_KEY`") && err.contains("tenant: acme has no grant for it"),
            "{err}"
        );
        let err = check_plan(&other, &trigger("push"), None).unwrap_err();
        assert!(err.contains("tenant: acme has no settings"), "{err}");
        // The environment and default-branch conditions are named when they fail.
        let mut strict = tenant(&[]);
        strict.secrets[0].environments = vec!["staging".into()];
        let err = check_plan(&deploy_only, &trigger("push"), Some(&strict)).unwrap_err();
        assert!(
            err.contains(
                "environment: `production` is not among the grant's `environments` (staging)"
            ),
            "{err}"
        );
        strict.secrets[0].environments.clear();
        strict.secrets[0].default_branch_only = true;
        let err = check_plan(&deploy_only, &branch("push", "feature"), Some(&strict)).unwrap_err();
        assert!(err.contains("default branch:"), "{err}");
        assert_eq!(
            check_plan(&deploy_only, &trigger("push"), Some(&strict)),
            Ok(())
        );
        let err = check_plan(&deploy_only, &trigger("manual"), Some(&strict));
        assert_eq!(err, Ok(()), "manual is among the default events");
        strict.secrets[0].events = vec!["push".into()];
        let err = check_plan(&deploy_only, &trigger("schedule"), Some(&strict)).unwrap_err();
        assert!(
            err.contains("event: `schedule` is not among the grant's `events` (push)"),
            "{err}"
        );
    }

    #[test]
    fn the_deploy_plugins_kubeconfig_secret_is_checked_as_a_reference() {
        let granted = tenant(&[]);
        let pipeline = "pipeline:\n  stages:\n    - name: release\n      plugin: deploy\n      with: { kubeconfig_secret: KUBE_TOKEN }\n";
        let config = crate::config::parse(".bosun.yml", pipeline).unwrap();
        let err = check_plan(&config, &trigger("push"), Some(&granted)).unwrap_err();
        assert!(
            err.contains("stage `release`")
                && err.contains("secret `KUBE_TOKEN`")
                && err.contains("stage: `release` is not among the grant's `stages` (deploy)"),
            "{err}"
        );
        let named = pipeline.replace("name: release", "name: deploy");
        let config = crate::config::parse(".bosun.yml", &named).unwrap();
        assert_eq!(
            check_plan(&config, &trigger("push"), Some(&granted)),
            Ok(())
        );
    }

    #[test]
    fn a_pull_requests_secret_reference_is_refused_and_a_skipped_stage_is_not_checked() {
        let granted = tenant(&[]);
        let config = crate::config::parse(".bosun.yml", USES_SECRETS).unwrap();
        // The deploy stage never runs for a pull request; the test stage does.
        let err = check_plan(&config, &trigger("pull_request"), Some(&granted)).unwrap_err();
        assert!(
            err.contains("stage `test`") && err.contains("pull-request runs never resolve secrets"),
            "{err}"
        );
        let when_main = "pipeline:\n  stages:\n    - name: deploy\n      when: { branches: [main] }\n      with: { k: '${{ secrets.KUBE_TOKEN }}' }\n    - name: lint\n";
        let config = crate::config::parse(".bosun.yml", when_main).unwrap();
        let mut strict = granted.clone();
        strict.secrets[0].default_branch_only = true;
        assert_eq!(
            check_plan(&config, &branch("push", "feature"), Some(&strict)),
            Ok(()),
            "the deploy stage does not run on a feature branch"
        );
    }

    #[test]
    fn withheld_secrets_say_which_condition_failed() {
        let config = config();
        let build = config.stage("build").unwrap();
        let deploy = config.stage("deploy").unwrap();
        let granted = tenant(&[]);
        assert!(withheld_secrets(deploy, &trigger("push"), Some(&granted)).is_empty());
        let withheld = withheld_secrets(build, &trigger("push"), Some(&granted));
        assert_eq!(withheld.len(), 1);
        assert_eq!(withheld[0].0, "KUBE_TOKEN");
        assert!(withheld[0].1.starts_with("stage: `build`"), "{withheld:?}");
        let withheld = withheld_secrets(deploy, &trigger("pull_request"), Some(&granted));
        assert!(
            withheld[0].1.starts_with("event: pull-request"),
            "{withheld:?}"
        );
        assert!(withheld_secrets(build, &trigger("push"), None).is_empty());
    }

    #[test]
    fn a_scheduled_run_is_trusted_as_a_push_to_its_branch() {
        let config = config();
        let deploy = config.stage("deploy").unwrap();
        let build = config.stage("build").unwrap();
        let granted = tenant(&["build", "deploy"]);
        let scheduled = trigger("schedule");
        assert!(!scheduled.is_pull_request() && !scheduled.fork);
        assert_eq!(
            grants(deploy, &scheduled, Some(&granted)),
            grants(deploy, &trigger("push"), Some(&granted))
        );
        let deploys = grants(deploy, &scheduled, Some(&granted));
        assert_eq!(deploys.secrets, ["KUBE_TOKEN"]);
        assert_eq!(deploys.push_repository.as_deref(), Some("acme/shop"));
        assert!(withheld_from_pull_request(deploy, &scheduled).is_none());
        // Network needs only the stage's grant, never the pull-request opt-in.
        assert!(grants(build, &scheduled, Some(&granted)).network);
        assert_eq!(check_plan(&config, &scheduled, Some(&granted)), Ok(()));
    }
}
