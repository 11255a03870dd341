//! A Bosun policy plugin: a code freeze. While the tenant's `frozen` setting is `true`,
//! the stages it covers are denied before they start; otherwise they are allowed.
//!
//! Tenant settings: `frozen` (`true` or `false`; default `false`), `stages` (the stages
//! the freeze covers, comma-separated; default every stage) and `reason` (shown with the
//! denial; default "code freeze"). An unknown or malformed setting denies with a reason
//! naming it: a policy fails closed.

use bosun_sdk::prelude::*;

/// The settings this policy reads; any other key is a mistake the tenant must fix.
const KNOWN_SETTINGS: &[&str] = &["frozen", "stages", "reason"];

/// The policy; public so native builds (unit tests), which do not export it, still use it.
pub struct CodeFreeze;

impl Policy for CodeFreeze {
    fn evaluate(input: &PolicyInput) -> Decision {
        let decision = decide(input);
        if let Decision::Deny(reasons) = &decision {
            log::warn(&format!("stage {}: {}", input.stage, reasons.join("; ")));
        }
        decision
    }
}

/// The verdict for one evaluation.
pub fn decide(input: &PolicyInput) -> Decision {
    if let Err(reason) = input.check_settings(KNOWN_SETTINGS) {
        return Decision::Deny(vec![reason]);
    }
    let frozen = match input.setting("frozen").map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(raw) => {
            return Decision::Deny(vec![format!(
                "setting `frozen` must be true or false; got {raw:?}"
            )]);
        }
    };
    // After a stage has run there is nothing left to stop.
    if !frozen || !matches!(input.phase, Phase::BeforeStage) {
        return Decision::Allow;
    }
    let covered = match input.setting("stages") {
        None => true,
        Some(list) => list.split(',').any(|s| s.trim() == input.stage),
    };
    if !covered {
        return Decision::Allow;
    }
    let reason = input.setting("reason").unwrap_or("code freeze");
    Decision::Deny(vec![format!(
        "stage {} on {}: {reason}",
        input.stage, input.branch
    )])
}

bosun_sdk::export_policy!(CodeFreeze);

#[cfg(test)]
mod tests {
    use super::*;

    fn input(stage: &str, config: &[(&str, &str)]) -> PolicyInput {
        PolicyInput {
            tenant: "acme".into(),
            run_id: "run-1".into(),
            repository: "acme/shop".into(),
            stage: stage.into(),
            phase: Phase::BeforeStage,
            branch: "main".into(),
            default_branch: "main".into(),
            event: "push".into(),
            fork: false,
            environment: None,
            report: None,
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn frozen_stages_are_denied() {
        let config = [("frozen", "true"), ("stages", "deploy")];
        assert!(matches!(
            decide(&input("deploy", &config)),
            Decision::Deny(_)
        ));
        assert!(matches!(decide(&input("test", &config)), Decision::Allow));
    }

    #[test]
    fn unfrozen_stages_are_allowed() {
        assert!(matches!(decide(&input("deploy", &[])), Decision::Allow));
        let config = [("frozen", "false")];
        assert!(matches!(decide(&input("deploy", &config)), Decision::Allow));
    }

    #[test]
    fn bad_settings_deny() {
        assert!(matches!(
            decide(&input("deploy", &[("frozen", "yes")])),
            Decision::Deny(_)
        ));
        assert!(matches!(
            decide(&input("deploy", &[("frozn", "true")])),
            Decision::Deny(_)
        ));
    }
}
