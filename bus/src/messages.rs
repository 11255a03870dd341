//! Versioned JSON messages carried on the bus, one envelope per message kind.

use crate::inventory::InventoryMessage;
use crate::notify::{NotifyReplyMessage, NotifyTaskMessage};
use crate::policy::{PolicyReplyMessage, PolicyTaskMessage};
use crate::types::{StageResult, Task};
use serde::{Deserialize, Serialize};

/// Current version of every message below; readers refuse newer major versions.
pub const MESSAGE_VERSION: u32 = 1;

/// A stage task, published by the orchestrator on `agent.<stage>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMessage {
    /// Message format version.
    pub version: u32,
    /// The task.
    pub task: Task,
    /// Which plugin runs the stage (default: the stage name).
    pub plugin: Option<String>,
    /// Where the agent fetches the repository (`https://…`, `file://…` in tests).
    pub clone_url: String,
    /// Absolute deadline, milliseconds since the Unix epoch.
    pub deadline_unix_ms: u64,
    /// Whether the tenant grants network access to this stage's tools.
    #[serde(default)]
    pub network_allowed: bool,
    /// Names of the agent secrets this stage's tools may resolve (`${{ secrets.NAME }}`);
    /// the orchestrator grants them from the tenant's settings, never to pull requests.
    #[serde(default)]
    pub secrets_granted: Vec<String>,
    /// The tenant's other secrets, each with the condition of its grant this stage
    /// fails in this run: the agent names it when a tool asks for one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets_withheld: Vec<(String, String)>,
    /// The only image repository this stage may push (none: builds do not push).
    #[serde(default)]
    pub push_repository: Option<String>,
    /// The only image repository this stage may build and tag, pushed or not (the
    /// operator's name for the repository); none: no image builds.
    #[serde(default)]
    pub image_repository: Option<String>,
    /// The `sha256:` digest the plugin must have: a re-run pins the plugin its original
    /// attempt ran, and an agent whose plugin of that name has another digest refuses
    /// the task. None: whatever the agent has loaded under the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_digest: Option<String>,
    /// The files the step keeps and the stages' files it reads, with the token that
    /// lets this attempt do both; none for stages without artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<crate::artifacts::TaskArtifacts>,
}

/// A stage result, published by an agent on `agent.results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultMessage {
    /// Message format version.
    pub version: u32,
    /// Which agent produced it.
    pub agent_id: String,
    /// The result.
    pub result: StageResult,
}

/// Everything an agent publishes on `agent.results`, tagged by `kind`. The stage
/// variant carries the same fields as a bare [`ResultMessage`] plus `kind`, so a reader
/// of stage results alone can decode it as a `ResultMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AgentReply {
    /// A stage attempt's result.
    Stage(ResultMessage),
    /// Policy verdicts.
    Policy(PolicyReplyMessage),
    /// A formatted notification.
    Notify(NotifyReplyMessage),
    /// An agent's stages and loaded plugins (start-up, reload, heartbeat).
    Inventory(InventoryMessage),
}

impl AgentReply {
    /// The run the reply belongs to (the partitioning key).
    pub fn run_id(&self) -> &str {
        match self {
            // `run/stage/attempt`: the run id is what precedes the last two parts.
            AgentReply::Stage(m) => m.result.task_id.rsplitn(3, '/').last().unwrap_or_default(),
            AgentReply::Policy(m) => &m.run_id,
            AgentReply::Notify(m) => &m.run_id,
            // Not about a run: keyed by the agent so its announcements stay in order.
            AgentReply::Inventory(m) => &m.agent_id,
        }
    }
}

/// A message that could not be handled, published on the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Message format version.
    pub version: u32,
    /// Where the message came from.
    pub topic: String,
    /// Its key.
    pub key: String,
    /// The original payload, as text (lossy if it was not UTF-8).
    pub payload: String,
    /// Why it was dead-lettered.
    pub reason: String,
    /// How many deliveries it had.
    pub deliveries: u32,
}

/// Encode a message as JSON bytes.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail (no maps with non-string keys).
    serde_json::to_vec(message).unwrap_or_default()
}

/// Why a message could not be decoded. Either way it never will be: a reader dead-letters
/// or skips it rather than retrying.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not JSON, or not the shape of the message asked for.
    #[error("invalid JSON: {0}")]
    InvalidJson(serde_json::Error),
    /// A newer build wrote it, in a format version this one does not understand.
    #[error("message version {found} is newer than this agent understands ({understood})")]
    NewerVersion {
        /// The message's version.
        found: u32,
        /// The newest version this build reads ([`MESSAGE_VERSION`]).
        understood: u32,
    },
}

/// Decode a message, refusing versions this build does not understand.
pub fn decode<'a, T: Deserialize<'a> + Versioned>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    let message: T = serde_json::from_slice(bytes).map_err(DecodeError::InvalidJson)?;
    if message.version() > MESSAGE_VERSION {
        return Err(DecodeError::NewerVersion {
            found: message.version(),
            understood: MESSAGE_VERSION,
        });
    }
    Ok(message)
}

/// Messages that carry a format version.
pub trait Versioned {
    /// The version field.
    fn version(&self) -> u32;
}

impl Versioned for TaskMessage {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Versioned for ResultMessage {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Versioned for AgentReply {
    fn version(&self) -> u32 {
        match self {
            AgentReply::Stage(m) => m.version,
            AgentReply::Policy(m) => m.version,
            AgentReply::Notify(m) => m.version,
            AgentReply::Inventory(m) => m.version,
        }
    }
}

impl Versioned for PolicyTaskMessage {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Versioned for NotifyTaskMessage {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Versioned for DeadLetter {
    fn version(&self) -> u32 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Outcome, StageReport};

    #[test]
    fn a_stage_reply_is_also_a_result_message() {
        let reply = AgentReply::Stage(ResultMessage {
            version: MESSAGE_VERSION,
            agent_id: "agent-1".into(),
            result: StageResult {
                task_id: "run-7/lint/2".into(),
                plugin: None,
                report: Some(StageReport {
                    outcome: Outcome::Success,
                    summary: "clean".into(),
                    findings: vec![],
                    tests: None,
                    test_failures: vec![],
                    coverage: None,
                    artifacts: vec![],
                    metrics: vec![],
                    truncated: false,
                }),
                failure: None,
                logs: vec![],
                logs_dropped_bytes: 0,
                duration_ms: 3,
            },
        });
        assert_eq!(reply.run_id(), "run-7");
        let bytes = encode(&reply);
        assert!(String::from_utf8_lossy(&bytes).contains(r#""kind":"stage""#));
        let plain: ResultMessage = decode(&bytes).unwrap();
        assert_eq!(plain.result.task_id, "run-7/lint/2");
        let back: AgentReply = decode(&bytes).unwrap();
        assert_eq!(back, reply);
    }

    #[test]
    fn newer_versions_are_refused() {
        let bytes = br#"{"kind":"policy","version":9,"agent_id":"a","request_id":"x","run_id":"r","verdicts":[]}"#;
        let err = decode::<AgentReply>(bytes).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
        assert!(matches!(
            err,
            DecodeError::NewerVersion {
                found: 9,
                understood: MESSAGE_VERSION
            }
        ));
    }
}
