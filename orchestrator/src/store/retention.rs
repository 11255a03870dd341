//! Retention: a tenant's finished runs older than its number of days go, with their
//! attempts, logs, audit log, gates, notifications, deliveries, dead letters and kept
//! files; and past its log budget, the logs of its oldest finished attempts. Each call
//! removes one small batch in one short transaction, so the scheduler's writes are never
//! held up for long; the caller repeats until a batch comes back short.

use super::db::{Dialect, Value, vals};
use super::{Store, StoreError};

/// What retention keeps of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    /// The tenant (compared without regard to case, as GitHub logins are).
    pub tenant: String,
    /// Finished runs created this many days ago or earlier are removed (none: kept).
    pub max_age_days: Option<u32>,
    /// Bytes of stage logs kept (none: no budget).
    pub log_budget_bytes: Option<u64>,
}

/// What one batch removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Runs removed.
    pub runs: u64,
    /// Attempts whose logs were dropped.
    pub logs: u64,
    /// Kept files' digests (`sha256:<hex>`) that no run refers to any more: their
    /// content may go.
    pub unreferenced: Vec<String>,
}

/// `?first, ?first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Whether any kept file names the content `digest` (`sha256:<hex>`).
    pub fn digest_kept(&self, digest: &str) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .query_opt(
                "SELECT 1 FROM artifacts WHERE digest = ?1 LIMIT 1",
                vals![digest],
            )?
            .is_some())
    }

    /// Remove up to `batch` of `tenant`'s finished runs created before `before_ms` and
    /// everything recorded about them; deliveries of the tenant received before then
    /// go too (up to `batch`). Runs still in flight are never removed.
    pub fn prune_runs(
        &mut self,
        tenant: &str,
        before_ms: u64,
        batch: u32,
    ) -> Result<Pruned, StoreError> {
        self.write(|w| {
            let db = w.db();
            let ids: Vec<String> = db
                .query(
                    "SELECT id FROM runs
                     WHERE lower(tenant) = lower(?1) AND created_ms < ?2
                       AND finished_ms IS NOT NULL
                       AND status NOT IN ('awaiting-approval', 'queued', 'running')
                     ORDER BY created_ms LIMIT ?3",
                    vals![tenant, before_ms, batch.max(1)],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect::<Result<_, _>>()?;
            let mut pruned = Pruned::default();
            if !ids.is_empty() {
                let list = placeholders(1, ids.len());
                let params: Vec<Value> = ids.iter().map(Value::from).collect();
                let digests: Vec<String> = db
                    .query(
                        &format!("SELECT DISTINCT digest FROM artifacts WHERE run_id IN ({list})"),
                        &params,
                    )?
                    .iter()
                    .map(|r| r.text(0))
                    .collect::<Result<_, _>>()?;
                for table in [
                    "attempts",
                    "events",
                    "gates",
                    "notifications",
                    "artifacts",
                    "live_log_chunks",
                ] {
                    db.execute(
                        &format!("DELETE FROM {table} WHERE run_id IN ({list})"),
                        &params,
                    )?;
                }
                db.execute(
                    &format!("DELETE FROM dead_letters WHERE key IN ({list})"),
                    &params,
                )?;
                pruned.runs =
                    db.execute(&format!("DELETE FROM runs WHERE id IN ({list})"), &params)?;
                for digest in digests {
                    let kept = db.query_opt(
                        "SELECT 1 FROM artifacts WHERE digest = ?1 LIMIT 1",
                        vals![&digest],
                    )?;
                    if kept.is_none() {
                        pruned.unreferenced.push(digest);
                    }
                }
            }
            db.execute(
                "DELETE FROM deliveries WHERE (tenant, delivery_id) IN (
                     SELECT tenant, delivery_id FROM deliveries
                     WHERE lower(tenant) = lower(?1) AND received_ms < ?2 LIMIT ?3)",
                vals![tenant, before_ms, batch.max(1)],
            )?;
            Ok(pruned)
        })
    }

    /// Keep `tenant`'s stage logs within `budget_bytes`: counting from the newest
    /// attempt back, the logs of up to `batch` finished attempts past the budget are
    /// dropped (their runs' audit logs say so). The number of attempts changed.
    pub fn prune_logs(
        &mut self,
        tenant: &str,
        budget_bytes: u64,
        batch: u32,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        self.write(|w| {
            let db = w.db();
            let size = match db.dialect() {
                Dialect::Sqlite => "length(CAST(a.logs_json AS BLOB))",
                Dialect::Postgres => "octet_length(a.logs_json)",
            };
            // A running total from the newest attempt back: everything past the budget
            // goes, oldest first. Attempts of runs in flight count but are kept.
            let over = db.query(
                &format!(
                    "SELECT run_id, stage, attempt, bytes FROM (
                         SELECT a.run_id, a.stage, a.attempt, {size} AS bytes, r.finished_ms,
                                SUM({size}) OVER (ORDER BY a.dispatched_ms DESC, a.run_id DESC,
                                    a.stage DESC, a.attempt DESC) AS total
                         FROM attempts a JOIN runs r ON r.id = a.run_id
                         WHERE lower(r.tenant) = lower(?1) AND a.logs_json IS NOT NULL
                           AND a.logs_json <> '[]'
                     ) AS sized
                     WHERE total > ?2 AND finished_ms IS NOT NULL
                     ORDER BY total DESC LIMIT ?3"
                ),
                vals![tenant, budget_bytes, batch.max(1)],
            )?;
            let mut dropped = 0;
            for row in &over {
                let (run_id, stage, attempt) = (row.text(0)?, row.text(1)?, row.u32(2)?);
                let bytes = row.u64(3)?;
                dropped += db.execute(
                    "UPDATE attempts SET logs_json = '[]'
                     WHERE run_id = ?1 AND stage = ?2 AND attempt = ?3",
                    vals![&run_id, &stage, attempt],
                )?;
                // The lines it streamed while it ran go with it.
                db.execute(
                    "DELETE FROM live_log_chunks WHERE run_id = ?1 AND stage = ?2 AND attempt = ?3",
                    vals![&run_id, &stage, attempt],
                )?;
                w.event(
                    &run_id,
                    now_ms,
                    crate::scheduler::event::EventKind::LogsPruned.as_str(),
                    Some(&stage),
                    Some(attempt),
                    &format!(
                        "{stage} attempt {attempt}: {bytes} bytes of logs removed (tenant {tenant} keeps {budget_bytes} bytes of logs)"
                    ),
                    None,
                )?;
            }
            Ok(dropped)
        })
    }
}
