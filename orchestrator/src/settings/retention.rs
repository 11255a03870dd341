//! `retention:` in the server settings: how often the background pruning runs and how
//! much it removes per transaction. What is pruned is each tenant's choice
//! (`retention_days`, `log_budget_mib`).

use serde::Deserialize;
use std::time::Duration;

fn default_interval() -> u64 {
    600
}
fn default_batch() -> u32 {
    100
}

/// How retention runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Seconds between two pruning passes (the first runs this long after start-up).
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Runs (or attempts' logs) removed per transaction: small, so the scheduler's
    /// writes never wait long behind one.
    #[serde(default = "default_batch")]
    pub batch: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            interval_secs: default_interval(),
            batch: default_batch(),
        }
    }
}

impl RetentionSettings {
    /// The time between passes (at least a second).
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs.max(1))
    }
}
