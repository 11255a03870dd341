//! The agent's announcements: which stages it serves and which plugins it has loaded,
//! published on `agent.results` at start-up, whenever the loaded set changes, and as a
//! heartbeat, so the orchestrator can show the plugin inventory without loading plugins.

use super::{Agent, now_unix_ms};
use crate::runtime::PluginSource;
use bosun_bus::inventory::{InventoryMessage, InventoryPlugin};
use bosun_bus::messages::{self, AgentReply, MESSAGE_VERSION};
use bosun_bus::topics;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the loaded set is compared with the last announcement. Cheap: it reads
/// the registry's in-memory list.
const CHANGE_CHECK_EVERY: Duration = Duration::from_secs(2);
/// An unchanged inventory is re-announced this often, so the orchestrator can tell a
/// live agent from one that went away.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);

impl Agent {
    /// What this agent would announce now.
    pub fn inventory(&self) -> InventoryMessage {
        let mut plugins: Vec<InventoryPlugin> = self
            .registry
            .list()
            .iter()
            .map(|p| InventoryPlugin {
                name: p.id.name.clone(),
                version: p.id.version.clone(),
                kind: p.kind.world().to_string(),
                digest: p.id.digest.clone(),
                source: match &p.source {
                    PluginSource::Builtin(_) => "builtin".to_string(),
                    PluginSource::File(path) => path.display().to_string(),
                },
            })
            .collect();
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
        InventoryMessage {
            version: MESSAGE_VERSION,
            agent_id: self.settings.agent_id.clone(),
            stages: self.settings.stages.clone(),
            plugins,
            sent_unix_ms: now_unix_ms(),
        }
    }

    /// Announce until `shutdown` turns true. A failed publish is logged and tried again
    /// at the next check: the inventory is advisory, never worth stopping the agent.
    pub(super) async fn announce(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut last: Option<(Vec<InventoryPlugin>, Instant)> = None;
        loop {
            let current = self.inventory();
            let due = match &last {
                None => true,
                Some((plugins, at)) => {
                    *plugins != current.plugins || at.elapsed() >= HEARTBEAT_EVERY
                }
            };
            if due {
                let plugins = current.plugins.clone();
                let key = current.agent_id.clone();
                let payload = messages::encode(&AgentReply::Inventory(current));
                match self.bus.publish(topics::AGENT_RESULTS, &key, payload).await {
                    Ok(()) => last = Some((plugins, Instant::now())),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not announce the plugin inventory")
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CHANGE_CHECK_EVERY) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
