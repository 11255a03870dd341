//! Claims: when every orchestrator of a cluster reads the same message (each reads the
//! agents' replies and the dead letters in a consumer group of its own), the one that
//! first records the message's key acts on it, once; the others skip it.

use super::db::vals;
use super::{Store, StoreError};

impl Store {
    /// Claim `key` for `owner`: `true` for the first claimant only (the schema's unique
    /// key decides, across connections and processes).
    pub fn claim(&self, key: &str, owner: &str, now_ms: u64) -> Result<bool, StoreError> {
        let inserted = self.db().execute(
            "INSERT INTO claims (claim_key, owner, at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (claim_key) DO NOTHING",
            vals![key, owner, now_ms],
        )?;
        Ok(inserted == 1)
    }

    /// Forget claims made before `before_ms` (their messages are long settled).
    pub fn prune_claims(&self, before_ms: u64) -> Result<u64, StoreError> {
        self.db()
            .execute("DELETE FROM claims WHERE at_ms < ?1", vals![before_ms])
    }
}
