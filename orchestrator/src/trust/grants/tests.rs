//! Tests of what a stage is granted (network, secrets, pushes, deploys) by tenant, event
//! and pull request, and of the admission checks that refuse what a config asks beyond it.

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
    let other =
        "pipeline:\n  stages:\n    - name: deploy\n      with: { k: '${{ secrets.AWS_KEY }}' }\n";
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
        err.contains("environment: `production` is not among the grant's `environments` (staging)"),
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
