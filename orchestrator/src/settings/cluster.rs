//! `cluster:` in the server settings: several `bosun orchestrator` processes sharing one
//! store and one bus. Present, each repository's runs have one owner at a time (a lease
//! in the store); absent, this process owns every run, as a single orchestrator does.

use serde::Deserialize;
use std::time::Duration;

fn default_lease_ms() -> u64 {
    10_000
}
fn default_inbox_poll_ms() -> u64 {
    50
}
fn default_forward_wait_secs() -> u64 {
    30
}

/// How orchestrators share the work.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// This orchestrator's name in the store's leases and audit log (default: the host
    /// name, the process id and a random part, so no two processes share one).
    #[serde(default)]
    pub id: Option<String>,
    /// How long a repository stays with its owner unless renewed (renewed every quarter
    /// of it); after an owner dies, another takes its runs over once this has passed.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// How often an owner reads what other orchestrators handed it (agent replies they
    /// received, requests people sent them) from the store.
    #[serde(default = "default_inbox_poll_ms")]
    pub inbox_poll_ms: u64,
    /// How long a request handed to another orchestrator waits for its answer before
    /// the caller is told it was not answered.
    #[serde(default = "default_forward_wait_secs")]
    pub forward_wait_secs: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            id: None,
            lease_ms: default_lease_ms(),
            inbox_poll_ms: default_inbox_poll_ms(),
            forward_wait_secs: default_forward_wait_secs(),
        }
    }
}

impl ClusterSettings {
    /// The lease's length (at least a second: renewals must fit inside it).
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms.max(1_000))
    }

    /// Time between inbox reads (at least 5 ms).
    pub fn inbox_poll(&self) -> Duration {
        Duration::from_millis(self.inbox_poll_ms.max(5))
    }

    /// How long a forwarded request waits for its answer.
    pub fn forward_wait(&self) -> Duration {
        Duration::from_secs(self.forward_wait_secs.max(1))
    }

    /// This orchestrator's owner name: the configured one, or one made for this process.
    pub fn owner_id(&self) -> String {
        if let Some(id) = self.id.as_deref().filter(|id| !id.trim().is_empty()) {
            return id.trim().to_string();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|| "orchestrator".to_string());
        format!("{host}-{}-{:08x}", std::process::id(), process_nonce())
    }
}

/// A random number, so that processes with the same host name and process id (two
/// containers, say) still get different owner names.
pub(crate) fn process_nonce() -> u32 {
    getrandom::u32().unwrap_or_else(|_| {
        // No entropy source: the start time's nanoseconds are the next best thing.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    })
}
