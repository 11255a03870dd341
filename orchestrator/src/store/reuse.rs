//! A re-run's reused stages: their attempts (reports, logs, plugin digests, kept files) are copied
//! from the run that ran them, marked with that run, so the re-run's page, API and
//! summary read them like its own while the statistics count them once.

use super::{Store, StoreError, Writer};
use rusqlite::params;

impl Writer<'_> {
    /// Copy every attempt of `stage` (and of its rollback, `rollback`) from run `from`
    /// into run `to`, each marked with the run that really ran it, with the files the
    /// stage kept; rows `to` already has are kept. The number of attempt rows copied.
    pub fn copy_attempts(
        &self,
        from: &str,
        to: &str,
        stage: &str,
        rollback: &str,
    ) -> Result<usize, StoreError> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO attempts (run_id, stage, attempt, dispatched_ms, deadline_ms,
                     settled_ms, agent_id, plugin_name, plugin_version, plugin_digest, outcome,
                     failure_kind, failure_message, duration_ms, report_json, logs_json, reused_from)
                 SELECT ?2, stage, attempt, dispatched_ms, deadline_ms, settled_ms, agent_id,
                     plugin_name, plugin_version, plugin_digest, outcome, failure_kind,
                     failure_message, duration_ms, report_json, logs_json,
                     COALESCE(reused_from, run_id)
                 FROM attempts WHERE run_id = ?1 AND stage IN (?3, ?4)",
                params![from, to, stage, rollback],
            )
            .map_err(|e| self.sqlite(e))
            .and_then(|copied| {
                // What the reused stage kept goes with it (the content is shared by
                // digest): a stage that re-runs reads its needs' files in this run.
                self.tx
                    .execute(
                        "INSERT OR IGNORE INTO artifacts (run_id, stage, attempt, path, size, digest, kept_ms)
                         SELECT ?2, stage, attempt, path, size, digest, kept_ms
                         FROM artifacts WHERE run_id = ?1 AND stage = ?3",
                        params![from, to, stage],
                    )
                    .map_err(|e| self.sqlite(e))
                    .map(|_| copied)
            })
    }
}

impl Store {
    /// The grants each stage's last attempt of `run_id` was sent with, as the dispatch
    /// events recorded them (runs from before grants were recorded have none).
    pub fn dispatched_grants(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, crate::trust::StageGrants)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT stage, data_json FROM events
                 WHERE run_id = ?1 AND kind = 'stage.dispatched' AND stage IS NOT NULL
                 ORDER BY seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut last: Vec<(String, crate::trust::StageGrants)> = Vec::new();
        for row in rows {
            let (stage, data) = row.map_err(|e| self.sqlite(e))?;
            let grants = data
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
                .and_then(|d| serde_json::from_value(d.get("grants")?.clone()).ok());
            let Some(grants) = grants else { continue };
            last.retain(|(s, _)| s != &stage);
            last.push((stage, grants));
        }
        Ok(last)
    }
}
