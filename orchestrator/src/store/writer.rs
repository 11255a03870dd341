//! Writes inside one transaction: the scheduler's journal, deliveries, attempts, the
//! audit log, gates, notifications, dead letters. Each statement is written once for
//! both back ends.

use super::db::{Db, vals};
use super::{SeenDelivery, StoreError};
use crate::model::RunRecord;
use bosun_bus::StageResult;
use std::path::Path;

/// Writes inside one transaction (see [`Store::write`]).
pub struct Writer<'a> {
    pub(super) db: Db<'a>,
    pub(super) path: &'a Path,
}

impl Writer<'_> {
    pub(crate) fn db(&self) -> Db<'_> {
        self.db
    }

    fn corrupt(&self, what: String, detail: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.path.to_path_buf(),
            what,
            detail: detail.to_string(),
        }
    }

    /// Record a webhook delivery id; `Some` when it was seen before (a redelivery).
    ///
    /// The unique key (tenant, delivery id) decides, not a read before the write: of
    /// two stores inserting one delivery at once, exactly one inserts it, and the other
    /// (on PostgreSQL, after waiting for the first to commit) reads what it recorded.
    pub fn record_delivery(
        &self,
        delivery_id: &str,
        tenant: &str,
        event: &str,
        outcome: &str,
        run_id: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<SeenDelivery>, StoreError> {
        let inserted = self.db.execute(
            "INSERT INTO deliveries (delivery_id, tenant, event, received_ms, run_id, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant, delivery_id) DO NOTHING",
            vals![delivery_id, tenant, event, now_ms, run_id, outcome],
        )?;
        if inserted == 1 {
            return Ok(None);
        }
        let seen = self.db.query_opt(
            "SELECT run_id, outcome FROM deliveries WHERE tenant = ?1 AND delivery_id = ?2",
            vals![tenant, delivery_id],
        )?;
        seen.map(|row| {
            Ok(SeenDelivery {
                run_id: row.opt_text(0)?,
                outcome: row.text(1)?,
            })
        })
        .transpose()
    }

    /// Insert or replace a run's state document.
    pub fn save_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(run).map_err(|e| self.corrupt(format!("run {}", run.id), e))?;
        self.db.execute(
            "INSERT INTO runs (id, tenant, repository, branch, commit_sha, event, status, created_ms, finished_ms, state_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                 finished_ms = excluded.finished_ms, state_json = excluded.state_json",
            vals![
                &run.id,
                &run.trigger.tenant,
                &run.trigger.repository,
                &run.trigger.branch,
                &run.trigger.commit,
                &run.trigger.event,
                run.status.as_str(),
                run.created_ms,
                run.finished_ms,
                json
            ],
        )?;
        Ok(())
    }

    /// Record that an attempt went out.
    pub fn insert_attempt(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
        dispatched_ms: u64,
        deadline_ms: u64,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO attempts (run_id, stage, attempt, dispatched_ms, deadline_ms)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            vals![run_id, stage, attempt, dispatched_ms, deadline_ms],
        )?;
        Ok(())
    }

    /// Settle an attempt with its result. `false` when it was already settled (a
    /// duplicate result), in which case nothing changes.
    pub fn settle_attempt(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
        agent_id: &str,
        result: &StageResult,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let outcome = match (&result.report, &result.failure) {
            (Some(report), _) => serde_json::to_value(report.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            (None, _) => "error".to_string(),
        };
        let report = result
            .report
            .as_ref()
            .and_then(|r| serde_json::to_string(r).ok());
        let logs = serde_json::to_string(&result.logs).ok();
        let kind = result.failure.as_ref().and_then(|f| {
            serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
        });
        let changed = self.db.execute(
            "UPDATE attempts SET settled_ms = ?4, agent_id = ?5, plugin_name = ?6, plugin_version = ?7,
                 plugin_digest = ?8, outcome = ?9, failure_kind = ?10, failure_message = ?11,
                 duration_ms = ?12, report_json = ?13, logs_json = ?14
             WHERE run_id = ?1 AND stage = ?2 AND attempt = ?3 AND settled_ms IS NULL",
            vals![
                run_id,
                stage,
                attempt,
                now_ms,
                agent_id,
                result.plugin.as_ref().map(|p| p.name.clone()),
                result.plugin.as_ref().map(|p| p.version.clone()),
                result.plugin.as_ref().map(|p| p.digest.clone()),
                outcome,
                kind,
                result.failure.as_ref().map(|f| f.message.clone()),
                result.duration_ms,
                report,
                logs
            ],
        )?;
        Ok(changed == 1)
    }

    /// Append to the audit log.
    #[allow(clippy::too_many_arguments)]
    pub fn event(
        &self,
        run_id: &str,
        at_ms: u64,
        kind: &str,
        stage: Option<&str>,
        attempt: Option<u32>,
        message: &str,
        data: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO events (run_id, at_ms, kind, stage, attempt, message, data_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vals![
                run_id,
                at_ms,
                kind,
                stage,
                attempt,
                message,
                data.map(|d| d.to_string())
            ],
        )?;
        Ok(())
    }

    /// Record a policy question.
    pub fn gate_requested(
        &self,
        request_id: &str,
        run_id: &str,
        stage: &str,
        phase: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO gates (request_id, run_id, stage, phase, requested_ms)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            vals![request_id, run_id, stage, phase, now_ms],
        )?;
        Ok(())
    }

    /// Record a policy answer; `false` when the gate was already answered.
    pub fn gate_answered(
        &self,
        request_id: &str,
        verdicts: &serde_json::Value,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let changed = self.db.execute(
            "UPDATE gates SET answered_ms = ?2, verdicts_json = ?3
             WHERE request_id = ?1 AND answered_ms IS NULL",
            vals![request_id, now_ms, verdicts.to_string()],
        )?;
        Ok(changed == 1)
    }

    /// Record a notification attempt's outcome.
    pub fn notification(
        &self,
        run_id: &str,
        channel: &str,
        status: &str,
        attempts: u32,
        detail: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO notifications (run_id, channel, status, attempts, detail, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vals![run_id, channel, status, attempts, detail, now_ms],
        )?;
        Ok(())
    }

    /// Record a dead-lettered message.
    pub fn dead_letter(
        &self,
        letter: &bosun_bus::messages::DeadLetter,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO dead_letters (topic, key, reason, deliveries, payload, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vals![
                &letter.topic,
                &letter.key,
                &letter.reason,
                letter.deliveries,
                &letter.payload,
                now_ms
            ],
        )?;
        Ok(())
    }
}
