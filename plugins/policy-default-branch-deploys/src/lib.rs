//! Built-in policy plugin `production-only-from-default-branch`: before a deploy to the
//! protected environment, deny it unless the run is on the repository's default branch.
//!
//! A pull request never deploys there, whatever its head branch is called, nor a manual
//! run, which may name any commit: only a push to the default branch does. A pull request
//! from a fork is denied first and says so: its code comes from outside the repository.
//!
//! Tenant settings: `environment` (the protected environment, compared without regard to
//! case; default `production`). When the default branch is unknown, deploys to that
//! environment are denied. A malformed or unknown setting denies in either phase with a
//! reason naming the key: the policy fails closed.

use bosun_sdk::prelude::*;

/// The settings this policy reads; any other key is a mistake the tenant must fix.
const KNOWN_SETTINGS: &[&str] = &["environment"];

/// The protected environment when the tenant names none.
const DEFAULT_ENVIRONMENT: &str = "production";

/// The policy; public so native builds, which do not export it, still use it.
pub struct DefaultBranchDeploys;

impl Policy for DefaultBranchDeploys {
    fn evaluate(input: &PolicyInput) -> Decision {
        let decision = decide(input);
        if let Decision::Deny(reasons) = &decision {
            log::warn(&format!("stage {}: {}", input.stage, reasons.join("; ")));
        }
        decision
    }
}

/// The protected environment from this tenant's settings.
fn protected_environment(input: &PolicyInput) -> Result<&str, String> {
    input.check_settings(KNOWN_SETTINGS)?;
    match input.setting("environment") {
        None => Ok(DEFAULT_ENVIRONMENT),
        Some("") => Err("setting `environment` must name an environment; it is empty".to_string()),
        Some(name) => Ok(name),
    }
}

/// The verdict for one evaluation.
pub fn decide(input: &PolicyInput) -> Decision {
    let protected = match protected_environment(input) {
        Ok(environment) => environment,
        Err(reason) => return Decision::Deny(vec![reason]),
    };
    if !matches!(input.phase, Phase::BeforeStage) {
        return Decision::Allow;
    }
    // Case-insensitive so that `Production` cannot slip past a `production` gate.
    let Some(environment) = input
        .environment
        .as_deref()
        .filter(|e| e.trim().eq_ignore_ascii_case(protected))
    else {
        return Decision::Allow;
    };
    if input.default_branch.is_empty() {
        return Decision::Deny(vec![format!(
            "stage {}: {environment} deploys come only from the default branch, and the \
             default branch of {} is unknown",
            input.stage, input.repository
        )]);
    }
    // Checked before the event: a fork's head is someone else's repository, and the
    // reason should say that rather than only that this is not a push.
    if input.fork {
        return Decision::Deny(vec![format!(
            "stage {}: {environment} deploys never come from a fork; this pull request's \
             head ({}) is in another repository than {}",
            input.stage, input.branch, input.repository
        )]);
    }
    // A pull request's head branch may carry any name, `main` included, and a manual
    // run may name any commit: only a push is the default branch's own history.
    if input.event != "push" {
        return Decision::Deny(vec![format!(
            "stage {}: {environment} deploys come only from a push to the default branch {}; this run is a {} of branch {}",
            input.stage, input.default_branch, input.event, input.branch
        )]);
    }
    if input.branch == input.default_branch {
        return Decision::Allow;
    }
    Decision::Deny(vec![format!(
        "stage {}: {environment} deploys come only from the default branch {}; this run is \
         on branch {}",
        input.stage, input.default_branch, input.branch
    )])
}

bosun_sdk::export_policy!(
    DefaultBranchDeploys,
    name = "production-only-from-default-branch"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn input(branch: &str, environment: Option<&str>, config: &[(&str, &str)]) -> PolicyInput {
        PolicyInput {
            tenant: "acme".into(),
            run_id: "run-42".into(),
            repository: "acme/app".into(),
            stage: "deploy".into(),
            phase: Phase::BeforeStage,
            branch: branch.into(),
            default_branch: "main".into(),
            event: "push".into(),
            fork: false,
            environment: environment.map(str::to_string),
            report: None,
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn reasons(decision: Decision) -> Vec<String> {
        match decision {
            Decision::Deny(reasons) => reasons,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn production_deploy_from_another_branch_is_denied_naming_both_branches() {
        let reasons = reasons(decide(&input("feature/x", Some("production"), &[])));
        assert_eq!(
            reasons,
            [
                "stage deploy: production deploys come only from the default branch main; \
              this run is on branch feature/x"
            ]
        );
    }

    #[test]
    fn default_branch_and_other_environments_are_allowed() {
        let decision = decide(&input("main", Some("production"), &[]));
        assert!(matches!(decision, Decision::Allow));
        let decision = decide(&input("feature/x", Some("staging"), &[]));
        assert!(matches!(decision, Decision::Allow));
        let decision = decide(&input("feature/x", None, &[]));
        assert!(matches!(decision, Decision::Allow));
    }

    #[test]
    fn configured_environment_is_protected_whatever_its_case() {
        let config = [("environment", "staging")];
        let reasons = reasons(decide(&input("feature/x", Some("Staging"), &config)));
        assert!(reasons[0].contains("Staging deploys"), "{reasons:?}");
        let decision = decide(&input("feature/x", Some("production"), &config));
        assert!(matches!(decision, Decision::Allow));
    }

    #[test]
    fn unknown_default_branch_denies_protected_deploys() {
        let mut unknown = input("main", Some("production"), &[]);
        unknown.default_branch = String::new();
        let reasons = reasons(decide(&unknown));
        assert!(reasons[0].contains("default branch of acme/app is unknown"));
    }

    #[test]
    fn a_pull_request_whose_head_is_named_like_the_default_branch_is_denied() {
        let mut pr = input("main", Some("production"), &[]);
        pr.event = "pull_request".into();
        let denied = reasons(decide(&pr));
        assert!(
            denied[0].contains("only from a push") && denied[0].contains("pull_request"),
            "{denied:?}"
        );
        let mut manual = input("main", Some("production"), &[]);
        manual.event = "manual".into();
        assert!(reasons(decide(&manual))[0].contains("manual"));
    }

    #[test]
    fn a_fork_is_denied_with_a_reason_that_names_the_fork() {
        let mut fork = input("contributor:main", Some("production"), &[]);
        fork.event = "pull_request".into();
        fork.fork = true;
        let denied = reasons(decide(&fork));
        assert_eq!(
            denied,
            [
                "stage deploy: production deploys never come from a fork; this pull request's \
                 head (contributor:main) is in another repository than acme/app"
            ]
        );
        // A fork flag wins even over an event that claims to be a push.
        fork.event = "push".into();
        fork.branch = "main".into();
        assert!(reasons(decide(&fork))[0].contains("never come from a fork"));
        // Other environments are not this policy's business, fork or not.
        fork.environment = Some("staging".into());
        assert!(matches!(decide(&fork), Decision::Allow));
    }

    #[test]
    fn after_stage_is_allowed() {
        let mut after = input("feature/x", Some("production"), &[]);
        after.phase = Phase::AfterStage;
        assert!(matches!(decide(&after), Decision::Allow));
    }

    #[test]
    fn invalid_settings_deny_naming_the_key() {
        let empty = reasons(decide(&input("main", None, &[("environment", " ")])));
        assert!(empty[0].contains("`environment`"));
        let unknown = reasons(decide(&input("main", None, &[("env", "prod")])));
        assert!(unknown[0].contains("`env`"));
    }
}
