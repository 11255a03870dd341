//! Each owner's inbox, when several orchestrators share the store: what one of them
//! receives for a repository another owns (an agent's reply from its share of the
//! results topic, a person's request, a webhook's trigger) is written here under the
//! repository's lease key, read by whoever holds that lease, and, for a request, answered
//! on the same row for the orchestrator that is waiting with the caller.
//!
//! The rows outlive every orchestrator: an inbox whose owner died is read by the one that
//! takes the repository over.

use super::db::vals;
use super::{Store, StoreError};
use crate::model::RunRecord;

/// The lease key of a repository's runs. The queries below spell the same key in SQL
/// (`tenant || '/' || repository`); the two must agree.
pub fn repository_key(tenant: &str, repository: &str) -> String {
    format!("{tenant}/{repository}")
}

/// The statuses of runs still in flight (the scheduler's runs).
const UNFINISHED: &str = "('awaiting-approval', 'queued', 'running')";

/// One handed-over input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// Its row (and what the sender waits on for an answer).
    pub id: i64,
    /// The repository's lease key.
    pub key: String,
    /// What it is (the sender's label, e.g. `reply`, `cancel`).
    pub kind: String,
    /// The input, as JSON.
    pub payload: String,
    /// The orchestrator that received it.
    pub sender: String,
}

impl Store {
    /// Hand `payload` to the owner of `key`; the row's id is returned.
    pub fn post_to_owner(
        &self,
        key: &str,
        kind: &str,
        payload: &str,
        sender: &str,
        now_ms: u64,
    ) -> Result<i64, StoreError> {
        self.db()
            .query_one(
                "INSERT INTO owner_inbox (lease_key, kind, payload, sender, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                vals![key, kind, payload, sender, now_ms],
            )?
            .i64(0)
    }

    /// Unanswered items for the keys `owner` holds, oldest first.
    pub fn owner_inbox(&self, owner: &str, limit: u32) -> Result<Vec<InboxItem>, StoreError> {
        self.db()
            .query(
                "SELECT i.id, i.lease_key, i.kind, i.payload, i.sender
                 FROM owner_inbox i JOIN run_leases l ON l.lease_key = i.lease_key
                 WHERE l.owner = ?1 AND i.answer IS NULL
                 ORDER BY i.id LIMIT ?2",
                vals![owner, limit],
            )?
            .iter()
            .map(|row| {
                Ok(InboxItem {
                    id: row.i64(0)?,
                    key: row.text(1)?,
                    kind: row.text(2)?,
                    payload: row.text(3)?,
                    sender: row.text(4)?,
                })
            })
            .collect()
    }

    /// Settle an item: a request gets its answer on the row (the sender reads and removes
    /// it); anything else is removed.
    pub fn settle_inbox_item(
        &self,
        id: i64,
        answer: Option<&str>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        match answer {
            Some(answer) => self.db().execute(
                "UPDATE owner_inbox SET answer = ?2, answered_ms = ?3 WHERE id = ?1",
                vals![id, answer, now_ms],
            )?,
            None => self
                .db()
                .execute("DELETE FROM owner_inbox WHERE id = ?1", vals![id])?,
        };
        Ok(())
    }

    /// The answer to a request handed over as row `id`, removing the row once read.
    pub fn take_inbox_answer(&self, id: i64) -> Result<Option<String>, StoreError> {
        let answer = self
            .db()
            .query_opt(
                "SELECT answer FROM owner_inbox WHERE id = ?1 AND answer IS NOT NULL",
                vals![id],
            )?
            .map(|row| row.text(0))
            .transpose()?;
        if answer.is_some() {
            self.db()
                .execute("DELETE FROM owner_inbox WHERE id = ?1", vals![id])?;
        }
        Ok(answer)
    }

    /// Withdraw a request nobody answered in time (`false`: it was answered meanwhile).
    pub fn withdraw_inbox_item(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self.db().execute(
            "DELETE FROM owner_inbox WHERE id = ?1 AND answer IS NULL",
            vals![id],
        )? == 1)
    }

    /// Remove answers whose sender never came for them (it died waiting).
    pub fn prune_inbox_answers(&self, answered_before_ms: u64) -> Result<u64, StoreError> {
        self.db().execute(
            "DELETE FROM owner_inbox WHERE answer IS NOT NULL AND answered_ms < ?1",
            vals![answered_before_ms],
        )
    }

    /// A run's lease key and whether it has finished; `None` for a run the store lacks.
    pub fn run_lease_key(&self, run_id: &str) -> Result<Option<(String, bool)>, StoreError> {
        self.db()
            .query_opt(
                &format!(
                    "SELECT tenant, repository, status NOT IN {UNFINISHED} FROM runs WHERE id = ?1"
                ),
                vals![run_id],
            )?
            .map(|row| Ok((repository_key(&row.text(0)?, &row.text(1)?), row.bool(2)?)))
            .transpose()
    }

    /// Keys with work and no live owner at `now_ms` (runs in flight, or inbox items): what
    /// a takeover scan acquires. Nobody's lease, an expired one and a released one alike.
    pub fn keys_without_owner(&self, now_ms: u64, limit: u32) -> Result<Vec<String>, StoreError> {
        self.db()
            .query(
                &format!(
                    "SELECT k FROM (
                         SELECT tenant || '/' || repository AS k FROM runs WHERE status IN {UNFINISHED}
                         UNION
                         SELECT lease_key AS k FROM owner_inbox WHERE answer IS NULL
                     ) keys
                     WHERE NOT EXISTS (
                         SELECT 1 FROM run_leases l
                         WHERE l.lease_key = keys.k AND l.owner IS NOT NULL AND l.expires_ms > ?1
                     )
                     ORDER BY k LIMIT ?2"
                ),
                vals![now_ms, limit],
            )?
            .iter()
            .map(|row| row.text(0))
            .collect()
    }

    /// The runs in flight under `key`, oldest first.
    pub fn unfinished_runs_of(&self, key: &str) -> Result<Vec<RunRecord>, StoreError> {
        let rows = self.db().query(
            &format!(
                "SELECT id, state_json FROM runs
                 WHERE status IN {UNFINISHED} AND tenant || '/' || repository = ?1
                 ORDER BY created_ms, id"
            ),
            vals![key],
        )?;
        rows.iter()
            .map(|r| {
                let (id, json) = (r.text(0)?, r.text(1)?);
                serde_json::from_str(&json).map_err(|e| self.corrupt(&format!("run {id}"), e))
            })
            .collect()
    }

    /// Whether `key` has runs in flight or unanswered inbox items (an owner keeps such a
    /// key rather than release it).
    pub fn key_has_work(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .query_opt(
                &format!(
                    "SELECT 1 FROM runs WHERE status IN {UNFINISHED} AND tenant || '/' || repository = ?1
                     UNION ALL
                     SELECT 1 FROM owner_inbox WHERE lease_key = ?1 AND answer IS NULL
                     LIMIT 1"
                ),
                vals![key],
            )?
            .is_some())
    }
}
