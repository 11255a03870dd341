//! Versioned JSON messages carried on the bus, one envelope per message kind.

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

/// Decode a message, refusing versions this build does not understand.
pub fn decode<'a, T: Deserialize<'a> + Versioned>(bytes: &'a [u8]) -> Result<T, String> {
    let message: T = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    if message.version() > MESSAGE_VERSION {
        return Err(format!(
            "message version {} is newer than this agent understands ({MESSAGE_VERSION})",
            message.version()
        ));
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

impl Versioned for DeadLetter {
    fn version(&self) -> u32 {
        self.version
    }
}
