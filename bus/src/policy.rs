//! Policy gates on the bus: what the orchestrator asks on `agent.policy` and what an
//! agent answers on `agent.results`. Mirrors the WIT `policy-plugin` interface.

use crate::types::StageReport;
use serde::{Deserialize, Serialize};

/// When a policy is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyPhase {
    /// Before the stage is dispatched.
    BeforeStage,
    /// After the stage reported.
    AfterStage,
}

impl PolicyPhase {
    /// `before-stage` or `after-stage`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyPhase::BeforeStage => "before-stage",
            PolicyPhase::AfterStage => "after-stage",
        }
    }
}

/// What a policy sees (the tenant's config for the policy travels in [`PolicyRef`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyInput {
    /// Tenant (GitHub owner).
    pub tenant: String,
    /// The run.
    pub run_id: String,
    /// `owner/name`.
    pub repository: String,
    /// The stage being gated.
    pub stage: String,
    /// Before or after the stage.
    pub phase: PolicyPhase,
    /// The run's branch.
    pub branch: String,
    /// The repository's default branch.
    pub default_branch: String,
    /// `push`, `pull_request` or `manual`.
    pub event: String,
    /// A pull request from a fork (its head is in another repository than its base).
    /// Absent in messages from older orchestrators, which never sent fork runs' gates
    /// with it: read as `false`.
    #[serde(default)]
    pub fork: bool,
    /// Deploy environment for deploy stages.
    pub environment: Option<String>,
    /// The stage's report, for `after-stage`.
    pub report: Option<StageReport>,
}

/// One policy plugin to evaluate, with this tenant's settings for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    /// Plugin name.
    pub plugin: String,
    /// Settings, in config order.
    #[serde(default)]
    pub config: Vec<(String, String)>,
}

/// A policy's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "verdict", content = "reasons")]
pub enum Decision {
    /// Go on.
    Allow,
    /// Go on, and record the reasons.
    Warn(Vec<String>),
    /// Halt the run with the reasons.
    Deny(Vec<String>),
}

/// A policy evaluation request, published by the orchestrator on `agent.policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyTaskMessage {
    /// Message format version.
    pub version: u32,
    /// `run/stage/attempt/phase`: answers are matched on it.
    pub request_id: String,
    /// The policies to evaluate, in order.
    pub policies: Vec<PolicyRef>,
    /// What they see.
    pub input: PolicyInput,
    /// Absolute deadline, milliseconds since the Unix epoch (0: none).
    #[serde(default)]
    pub deadline_unix_ms: u64,
}

/// One policy's answer. A policy that could not be evaluated is a deny: gates fail
/// closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVerdict {
    /// Plugin name.
    pub policy: String,
    /// `sha256:` of the plugin file that decided, when it ran.
    pub digest: Option<String>,
    /// The decision.
    pub decision: Decision,
}

/// An agent's answer to a [`PolicyTaskMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyReplyMessage {
    /// Message format version.
    pub version: u32,
    /// Which agent evaluated.
    pub agent_id: String,
    /// The request's id.
    pub request_id: String,
    /// The run.
    pub run_id: String,
    /// One verdict per requested policy, in request order.
    pub verdicts: Vec<PolicyVerdict>,
}

impl PolicyReplyMessage {
    /// Every deny reason, each prefixed with its policy's name.
    pub fn denials(&self) -> Vec<String> {
        self.reasons(|decision| match decision {
            Decision::Deny(reasons) => Some(reasons),
            _ => None,
        })
    }

    /// Every warn reason, each prefixed with its policy's name.
    pub fn warnings(&self) -> Vec<String> {
        self.reasons(|decision| match decision {
            Decision::Warn(reasons) => Some(reasons),
            _ => None,
        })
    }

    /// The reasons `pick` takes from each verdict, as `policy: reason`, in verdict order.
    fn reasons(&self, pick: impl Fn(&Decision) -> Option<&Vec<String>>) -> Vec<String> {
        self.verdicts
            .iter()
            .flat_map(|v| {
                pick(&v.decision)
                    .into_iter()
                    .flatten()
                    .map(move |r| format!("{}: {r}", v.policy))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_serialise_with_a_verdict_tag() {
        let deny = Decision::Deny(vec!["critical CVE".into()]);
        let json = serde_json::to_string(&deny).unwrap();
        assert_eq!(json, r#"{"verdict":"deny","reasons":["critical CVE"]}"#);
        assert_eq!(serde_json::from_str::<Decision>(&json).unwrap(), deny);
        let allow = serde_json::to_string(&Decision::Allow).unwrap();
        assert_eq!(allow, r#"{"verdict":"allow"}"#);
    }

    #[test]
    fn the_fork_flag_travels_and_reads_false_when_absent() {
        let input = PolicyInput {
            tenant: "acme".into(),
            run_id: "r".into(),
            repository: "acme/app".into(),
            stage: "deploy".into(),
            phase: PolicyPhase::BeforeStage,
            branch: "contributor:main".into(),
            default_branch: "main".into(),
            event: "pull_request".into(),
            fork: true,
            environment: None,
            report: None,
        };
        let mut json = serde_json::to_value(&input).unwrap();
        assert_eq!(json["fork"], true);
        assert_eq!(
            serde_json::from_value::<PolicyInput>(json.clone()).unwrap(),
            input
        );
        json.as_object_mut().unwrap().remove("fork");
        assert!(!serde_json::from_value::<PolicyInput>(json).unwrap().fork);
    }

    #[test]
    fn denials_name_their_policy() {
        let reply = PolicyReplyMessage {
            version: 1,
            agent_id: "a".into(),
            request_id: "r/deploy/1/before-stage".into(),
            run_id: "r".into(),
            verdicts: vec![
                PolicyVerdict {
                    policy: "min-coverage".into(),
                    digest: None,
                    decision: Decision::Warn(vec!["low".into()]),
                },
                PolicyVerdict {
                    policy: "no-critical-vulns".into(),
                    digest: None,
                    decision: Decision::Deny(vec!["CVE-1 is critical".into()]),
                },
            ],
        };
        assert_eq!(reply.denials(), ["no-critical-vulns: CVE-1 is critical"]);
        assert_eq!(reply.warnings(), ["min-coverage: low"]);
    }

    #[test]
    fn warnings_name_their_policy_in_verdict_order() {
        let verdict = |policy: &str, decision| PolicyVerdict {
            policy: policy.into(),
            digest: None,
            decision,
        };
        let reply = PolicyReplyMessage {
            version: 1,
            agent_id: "a".into(),
            request_id: "r/deploy/1/after-stage".into(),
            run_id: "r".into(),
            verdicts: vec![
                verdict("b", Decision::Warn(vec!["one".into(), "two".into()])),
                verdict("c", Decision::Allow),
                verdict("a", Decision::Warn(vec!["three".into()])),
            ],
        };
        assert_eq!(reply.warnings(), ["b: one", "b: two", "a: three"]);
        assert!(reply.denials().is_empty());
    }
}
