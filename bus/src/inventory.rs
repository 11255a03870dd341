//! What an agent announces about itself on `agent.results`: its id, the stages it
//! serves and the plugins it has loaded, so the orchestrator (which never loads a
//! plugin) can show the plugin inventory and when each agent was last heard from.

use serde::{Deserialize, Serialize};

/// One loaded plugin as an agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryPlugin {
    /// The plugin's own name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `stage`, `policy` or `notifier`.
    pub kind: String,
    /// `sha256:` of the component file.
    pub digest: String,
    /// Where it came from: `builtin` or the file path.
    pub source: String,
}

/// An agent's announcement, sent at start-up, after its plugin folder changes, and
/// periodically as a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryMessage {
    /// Message format version.
    pub version: u32,
    /// The agent.
    pub agent_id: String,
    /// Stages it takes tasks for.
    pub stages: Vec<String>,
    /// Plugins it has loaded.
    pub plugins: Vec<InventoryPlugin>,
    /// When it was sent, milliseconds since the Unix epoch.
    pub sent_unix_ms: u64,
}
