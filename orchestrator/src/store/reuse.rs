//! A re-run's reused stages: their attempts (reports, logs, plugin digests, kept files) are copied
//! from the run that ran them, marked with that run, so the re-run's page, API and
//! summary read them like its own while the statistics count them once.

use super::db::vals;
use super::{Store, StoreError, Writer};

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
        let copied = self.db.execute(
            "INSERT INTO attempts (run_id, stage, attempt, dispatched_ms, deadline_ms,
                 settled_ms, agent_id, plugin_name, plugin_version, plugin_digest, outcome,
                 failure_kind, failure_message, duration_ms, report_json, logs_json, reused_from)
             SELECT CAST(?2 AS TEXT), stage, attempt, dispatched_ms, deadline_ms, settled_ms, agent_id,
                 plugin_name, plugin_version, plugin_digest, outcome, failure_kind,
                 failure_message, duration_ms, report_json, logs_json,
                 COALESCE(reused_from, run_id)
             FROM attempts WHERE run_id = ?1 AND stage IN (?3, ?4)
             ON CONFLICT DO NOTHING",
            vals![from, to, stage, rollback],
        )?;
        // What the reused stage kept goes with it (the content is shared by digest): a
        // stage that re-runs reads its needs' files in this run.
        self.db.execute(
            "INSERT INTO artifacts (run_id, stage, attempt, path, size, digest, kept_ms)
             SELECT CAST(?2 AS TEXT), stage, attempt, path, size, digest, kept_ms
             FROM artifacts WHERE run_id = ?1 AND stage = ?3
             ON CONFLICT DO NOTHING",
            vals![from, to, stage],
        )?;
        Ok(copied as usize)
    }
}

impl Store {
    /// The grants each stage's last attempt of `run_id` was sent with, as the dispatch
    /// events recorded them (runs from before grants were recorded have none).
    pub fn dispatched_grants(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, crate::trust::StageGrants)>, StoreError> {
        let rows = self.db().query(
            "SELECT stage, data_json FROM events
             WHERE run_id = ?1 AND kind = 'stage.dispatched' AND stage IS NOT NULL
             ORDER BY seq",
            vals![run_id],
        )?;
        let mut last: Vec<(String, crate::trust::StageGrants)> = Vec::new();
        for row in &rows {
            let (stage, data) = (row.text(0)?, row.opt_text(1)?);
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
