//! Who may approve or reject a stage that waits for a person (`approval` in its config).
//!
//! A push's approvers are its config's `from` (logins, or teams the tenant's `teams`
//! setting lists; empty: any member of the tenant). A pull request's config is its
//! author's, so its `from` never counts: the tenant's `pull_requests.approvers` decide,
//! and the pull request's sender never decides its own run. Naming a login needs a
//! person Bosun can tell apart: a member's own token (`members`); the tenant's shared
//! token speaks for "a member", so it decides only where any member may. The operator's
//! token (the API, or the dashboard's sign-in) decides everywhere: the operator writes
//! the settings these rules come from.

use crate::config::Approval;
use crate::model::RunTrigger;
use crate::settings::TenantSettings;

/// Who asks to decide, as the API's token told it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Decider {
    /// The operator's token (the API, the dashboard); `by` is a name given for the
    /// audit log, not checked.
    Operator {
        /// A name given with the call.
        by: Option<String>,
    },
    /// A member's own token (`members` in the tenant's settings): the login is known.
    Member {
        /// Their login.
        login: String,
    },
    /// The tenant's shared token: some member of the tenant; `by` is given, not checked.
    Tenant {
        /// The tenant.
        tenant: String,
        /// A name given with the call.
        by: Option<String>,
    },
}

impl Decider {
    /// How the audit log names them.
    pub fn describe(&self) -> String {
        match self {
            Decider::Operator { by: None } => "the operator".into(),
            Decider::Operator { by: Some(by) } => format!("{by} (operator token)"),
            Decider::Member { login } => login.clone(),
            Decider::Tenant { tenant, by: None } => format!("a member of {tenant}"),
            Decider::Tenant {
                tenant,
                by: Some(by),
            } => format!("{by} (token of tenant {tenant})"),
        }
    }
}

/// Who may decide one stage's approval, and where that list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approvers {
    /// Logins and `@org/team`s; empty: any member of the tenant.
    pub from: Vec<String>,
    /// The run builds a pull request: the tenant's list applies, and its sender may
    /// not decide.
    pub pull_request: bool,
    /// The tenant.
    pub tenant: String,
}

impl Approvers {
    /// Who decides `approval` for a run of `trigger`, under its tenant's settings.
    pub fn of(
        approval: &Approval,
        trigger: &RunTrigger,
        tenant: Option<&TenantSettings>,
    ) -> Approvers {
        let pull_request = trigger.is_pull_request();
        let from = if pull_request {
            tenant
                .map(|t| t.pull_requests.approvers.clone())
                .unwrap_or_default()
        } else {
            approval.from.clone()
        };
        Approvers {
            from,
            pull_request,
            tenant: trigger.tenant.clone(),
        }
    }

    /// The list as people read it (the run page, the audit log).
    pub fn describe(&self) -> Vec<String> {
        if self.from.is_empty() {
            vec![format!("any member of {}", self.tenant)]
        } else {
            self.from.clone()
        }
    }

    /// The rule, in one sentence, for refusals.
    fn rule(&self, stage: &str) -> String {
        let source = if self.pull_request {
            "the tenant's `pull_requests.approvers` (a pull request's own `from` does not count)"
        } else {
            "the stage's `approval.from`"
        };
        if self.from.is_empty() {
            format!(
                "{stage} may be decided by any member of {} ({source})",
                self.tenant
            )
        } else {
            format!(
                "{stage} may be decided only by {} ({source}; teams as the tenant's `teams` lists them)",
                self.from.join(", ")
            )
        }
    }
}

/// Whether `decider` may decide `stage` of a run of `trigger`; `Err` names the rule.
pub fn may_decide(
    approvers: &Approvers,
    stage: &str,
    trigger: &RunTrigger,
    tenant: Option<&TenantSettings>,
    decider: &Decider,
) -> Result<(), String> {
    let login = match decider {
        Decider::Operator { .. } => return Ok(()),
        Decider::Member { login } => login,
        Decider::Tenant { .. } if approvers.pull_request => {
            return Err(format!(
                "{}: a pull request's approval needs a person Bosun can name (a member's own token) so its author cannot approve it; {}",
                decider.describe(),
                approvers.rule(stage)
            ));
        }
        Decider::Tenant { .. } if approvers.from.is_empty() => return Ok(()),
        Decider::Tenant { .. } => {
            return Err(format!(
                "{} cannot speak for a named approver: call with your own member token; {}",
                decider.describe(),
                approvers.rule(stage)
            ));
        }
    };
    if approvers.pull_request && login.eq_ignore_ascii_case(&trigger.sender) {
        return Err(format!(
            "{login} sent this pull request and may not decide its approvals; {}",
            approvers.rule(stage)
        ));
    }
    if approvers.from.is_empty() || listed(&approvers.from, login, tenant) {
        Ok(())
    } else {
        Err(format!(
            "{login} is not an approver: {}",
            approvers.rule(stage)
        ))
    }
}

/// Whether `login` is in `from`, by name or as a member of a team the tenant lists.
fn listed(from: &[String], login: &str, tenant: Option<&TenantSettings>) -> bool {
    from.iter().any(|who| {
        if who.starts_with('@') {
            tenant
                .and_then(|t| {
                    t.teams
                        .iter()
                        .find(|(team, _)| team.eq_ignore_ascii_case(who))
                })
                .is_some_and(|(_, members)| members.iter().any(|m| m.eq_ignore_ascii_case(login)))
        } else {
            who.eq_ignore_ascii_case(login)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{ServerSettings, TenantSettings};
    use std::path::Path;
    use std::time::Duration;

    fn settings() -> ServerSettings {
        let text = r#"
tenants:
  - owner: acme
    members:
      alice: { value: alice-token }
      mallory: { value: mallory-token }
    teams:
      "@acme/release": [bob, Carol]
    pull_requests:
      approvers: ["@acme/release"]
"#;
        ServerSettings::parse(Path::new("s.yaml"), text).unwrap()
    }

    fn trigger(event: &str, sender: &str) -> RunTrigger {
        RunTrigger {
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            clone_url: "https://github.com/acme/shop.git".into(),
            default_branch: "main".into(),
            commit: "0".repeat(40),
            branch: "main".into(),
            event: event.into(),
            changed_paths: None,
            pull_request: (event == "pull_request").then_some(7),
            sender: sender.into(),
            message: None,
            fork: false,
        }
    }

    fn approval(from: &[&str]) -> Approval {
        Approval {
            from: from.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(3600),
        }
    }

    fn member(login: &str) -> Decider {
        Decider::Member {
            login: login.into(),
        }
    }

    fn check(approval: &Approval, trigger: &RunTrigger, decider: &Decider) -> Result<(), String> {
        let settings = settings();
        let tenant: Option<&TenantSettings> = settings.tenant("acme");
        let approvers = Approvers::of(approval, trigger, tenant);
        may_decide(&approvers, "deploy", trigger, tenant, decider)
    }

    #[test]
    fn settings_list_members_teams_and_pull_request_approvers() {
        let settings = settings();
        let tenant = settings.tenant("acme").unwrap();
        assert_eq!(
            tenant.members["alice"].resolve().as_deref(),
            Some("alice-token")
        );
        assert_eq!(tenant.teams["@acme/release"], ["bob", "Carol"]);
        assert_eq!(tenant.pull_requests.approvers, ["@acme/release"]);
    }

    #[test]
    fn a_listed_login_or_team_member_may_decide_a_push() {
        let push = trigger("push", "dev");
        let from = approval(&["alice", "@acme/release"]);
        assert_eq!(check(&from, &push, &member("alice")), Ok(()));
        assert_eq!(check(&from, &push, &member("ALICE")), Ok(()));
        assert_eq!(check(&from, &push, &member("carol")), Ok(()));
        let refused = check(&from, &push, &member("mallory")).unwrap_err();
        assert!(refused.contains("mallory is not an approver"), "{refused}");
        assert!(refused.contains("alice, @acme/release"), "{refused}");
    }

    #[test]
    fn a_team_the_tenant_does_not_list_approves_nothing() {
        let push = trigger("push", "dev");
        let from = approval(&["@acme/unknown"]);
        assert!(check(&from, &push, &member("bob")).is_err());
    }

    #[test]
    fn the_tenants_shared_token_decides_only_where_any_member_may() {
        let push = trigger("push", "dev");
        let shared = Decider::Tenant {
            tenant: "acme".into(),
            by: Some("alice".into()),
        };
        assert_eq!(check(&approval(&[]), &push, &shared), Ok(()));
        let refused = check(&approval(&["alice"]), &push, &shared).unwrap_err();
        assert!(refused.contains("own member token"), "{refused}");
    }

    #[test]
    fn the_operator_decides_everywhere() {
        let operator = Decider::Operator { by: None };
        for event in ["push", "pull_request"] {
            let run = trigger(event, "mallory");
            assert_eq!(check(&approval(&["alice"]), &run, &operator), Ok(()));
        }
    }

    #[test]
    fn a_pull_requests_own_from_never_lets_its_author_in() {
        // Mallory's pull request names Mallory: the tenant's list decides instead.
        let pr = trigger("pull_request", "mallory");
        let refused = check(&approval(&["mallory"]), &pr, &member("mallory")).unwrap_err();
        assert!(refused.contains("sent this pull request"), "{refused}");
        // Another login the pull request names is not an approver either.
        let refused = check(&approval(&["alice"]), &pr, &member("alice")).unwrap_err();
        assert!(refused.contains("pull_requests.approvers"), "{refused}");
        // The tenant's list counts.
        assert_eq!(check(&approval(&["alice"]), &pr, &member("bob")), Ok(()));
        // An empty `from` in the pull request widens nothing.
        assert!(check(&approval(&[]), &pr, &member("alice")).is_err());
    }

    #[test]
    fn a_pull_requests_author_may_not_decide_even_when_the_tenant_lists_them() {
        let pr = trigger("pull_request", "bob");
        let refused = check(&approval(&[]), &pr, &member("bob")).unwrap_err();
        assert!(refused.contains("bob sent this pull request"), "{refused}");
        let shared = Decider::Tenant {
            tenant: "acme".into(),
            by: Some("carol".into()),
        };
        let refused = check(&approval(&[]), &pr, &shared).unwrap_err();
        assert!(refused.contains("member's own token"), "{refused}");
    }
}
