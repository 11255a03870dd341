//! Policy fixture: deploys to a protected environment only from the default branch.
//!
//! Settings (per tenant): `protected` (comma-separated environments, default
//! `production`), `mode` (`deny` or `warn`, default `deny`).

use bosun_sdk::prelude::*;

/// The policy; public so native builds, which do not export it, still use it.
pub struct DefaultBranchOnly;

impl Policy for DefaultBranchOnly {
    fn evaluate(input: &PolicyInput) -> Decision {
        let setting = |key: &str| {
            input
                .config
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let protected = setting("protected").unwrap_or_else(|| "production".into());
        let Some(environment) = &input.environment else {
            return Decision::Allow;
        };
        let is_protected = protected.split(',').any(|e| e.trim() == environment);
        if !is_protected || input.branch == input.default_branch {
            return Decision::Allow;
        }
        let reason = format!(
            "{environment} deploys come only from {}; this run is on {}",
            input.default_branch, input.branch
        );
        log::warn(&reason);
        match setting("mode").as_deref() {
            Some("warn") => Decision::Warn(vec![reason]),
            _ => Decision::Deny(vec![reason]),
        }
    }
}

bosun_sdk::export_policy!(
    DefaultBranchOnly,
    name = "production-only-from-default-branch"
);
