//! Queries for the scheduler's resume and for the API: runs, attempts, events, gates,
//! notifications, dead letters.

use super::db::{Row, vals};
use super::{Store, StoreError};
use crate::model::RunRecord;
use bosun_bus::{LogLine, StageReport};
use serde::Serialize;

/// One run in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Run id.
    pub id: String,
    /// The tenant (repository owner) the run belongs to.
    pub tenant: String,
    /// `owner/name`.
    pub repository: String,
    /// The branch that was pushed.
    pub branch: String,
    /// Commit sha.
    pub commit: String,
    /// Triggering event.
    pub event: String,
    /// Status name.
    pub status: String,
    /// When it was recorded.
    pub created_ms: u64,
    /// When it settled.
    pub finished_ms: Option<u64>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this repository.
    pub repository: Option<String>,
    /// Only this branch.
    pub branch: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this tenant's runs (GitHub logins compare without regard to case).
    pub tenant: Option<String>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<u32>,
}

/// One attempt of a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRow {
    /// Stage name.
    pub stage: String,
    /// Attempt number.
    pub attempt: u32,
    /// When it went out.
    pub dispatched_ms: u64,
    /// When its answer was due.
    pub deadline_ms: u64,
    /// When it settled.
    pub settled_ms: Option<u64>,
    /// The agent that ran it.
    pub agent_id: Option<String>,
    /// The plugin that ran it.
    pub plugin_name: Option<String>,
    /// Its version.
    pub plugin_version: Option<String>,
    /// `sha256:` of its file.
    pub plugin_digest: Option<String>,
    /// `success`, `failure`, `skipped` or `error`.
    pub outcome: Option<String>,
    /// Failure classification.
    pub failure_kind: Option<String>,
    /// Failure message.
    pub failure_message: Option<String>,
    /// Plugin time.
    pub duration_ms: Option<u64>,
    /// The report.
    pub report: Option<StageReport>,
    /// Copied from this run by a re-run that reused the stage (it ran there, not here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    /// Order within the store.
    pub seq: i64,
    /// When it happened (ms since the epoch).
    pub at_ms: u64,
    /// What kind of step (`run.created`, `stage.dispatched`, …).
    pub kind: String,
    /// The stage, if any.
    pub stage: Option<String>,
    /// The attempt, if any.
    pub attempt: Option<u32>,
    /// For people.
    pub message: String,
    /// Structured details (agent, plugin, verdicts), when the event has any.
    pub data: Option<serde_json::Value>,
}

/// A policy gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateRow {
    /// `run/stage/attempt/phase`.
    pub request_id: String,
    /// The stage the gate guards.
    pub stage: String,
    /// `before-stage` or `after-stage`.
    pub phase: String,
    /// When asked.
    pub requested_ms: u64,
    /// When answered.
    pub answered_ms: Option<u64>,
    /// The verdicts.
    pub verdicts: Option<serde_json::Value>,
}

/// A notification attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRow {
    /// `slack`, `email` or `github`.
    pub channel: String,
    /// `sent` or `failed`.
    pub status: String,
    /// HTTP attempts made.
    pub attempts: u32,
    /// What was sent, or why it failed.
    pub detail: String,
    /// When the message was dead-lettered (ms since the epoch).
    pub at_ms: u64,
}

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterRow {
    /// Its place in the dead-letter log.
    pub seq: i64,
    /// Source topic.
    pub topic: String,
    /// Its key (the run id for tasks).
    pub key: String,
    /// Why it was given up on.
    pub reason: String,
    /// Deliveries it had.
    pub deliveries: u32,
    /// The payload as text.
    pub payload: String,
    /// When it was recorded.
    pub at_ms: u64,
}

pub(super) fn json_col<T: serde::de::DeserializeOwned>(text: Option<String>) -> Option<T> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn run_row(r: &Row) -> Result<RunRow, StoreError> {
    Ok(RunRow {
        id: r.text(0)?,
        tenant: r.text(1)?,
        repository: r.text(2)?,
        branch: r.text(3)?,
        commit: r.text(4)?,
        event: r.text(5)?,
        status: r.text(6)?,
        created_ms: r.u64(7)?,
        finished_ms: r.opt_u64(8)?,
    })
}

impl Store {
    /// One run's state.
    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row = self
            .db()
            .query_opt("SELECT state_json FROM runs WHERE id = ?1", vals![id])?;
        row.map(|r| {
            let json = r.text(0)?;
            serde_json::from_str(&json).map_err(|e| self.corrupt(&format!("run {id}"), e))
        })
        .transpose()
    }

    /// Every run not yet settled, oldest first (for resume after a restart).
    pub fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let rows = self.db().query(
            "SELECT id, state_json FROM runs WHERE status IN ('awaiting-approval', 'queued', 'running') ORDER BY created_ms",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let (id, json) = (r.text(0)?, r.text(1)?);
                serde_json::from_str(&json).map_err(|e| self.corrupt(&format!("run {id}"), e))
            })
            .collect()
    }

    /// Runs, newest first.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let limit = filter.limit.unwrap_or(50).clamp(1, 500);
        let rows = self.db().query(
            "SELECT id, tenant, repository, branch, commit_sha, event, status, created_ms, finished_ms
             FROM runs
             WHERE (CAST(?1 AS TEXT) IS NULL OR repository = ?1)
               AND (CAST(?2 AS TEXT) IS NULL OR branch = ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR status = ?3)
               AND (CAST(?5 AS TEXT) IS NULL OR lower(tenant) = lower(?5))
             ORDER BY created_ms DESC, id DESC LIMIT ?4",
            vals![
                filter.repository.as_deref(),
                filter.branch.as_deref(),
                filter.status.as_deref(),
                limit,
                filter.tenant.as_deref()
            ],
        )?;
        rows.iter().map(run_row).collect()
    }

    /// Every attempt of a run, by stage and attempt (logs left out: see [`Store::attempt_logs`]).
    pub fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRow>, StoreError> {
        let rows = self.db().query(
            "SELECT stage, attempt, dispatched_ms, deadline_ms, settled_ms, agent_id, plugin_name,
                    plugin_version, plugin_digest, outcome, failure_kind, failure_message,
                    duration_ms, report_json, reused_from
             FROM attempts WHERE run_id = ?1 ORDER BY dispatched_ms, stage, attempt",
            vals![run_id],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AttemptRow {
                    stage: r.text(0)?,
                    attempt: r.u32(1)?,
                    dispatched_ms: r.u64(2)?,
                    deadline_ms: r.u64(3)?,
                    settled_ms: r.opt_u64(4)?,
                    agent_id: r.opt_text(5)?,
                    plugin_name: r.opt_text(6)?,
                    plugin_version: r.opt_text(7)?,
                    plugin_digest: r.opt_text(8)?,
                    outcome: r.opt_text(9)?,
                    failure_kind: r.opt_text(10)?,
                    failure_message: r.opt_text(11)?,
                    duration_ms: r.opt_u64(12)?,
                    report: json_col(r.opt_text(13)?),
                    reused_from: r.opt_text(14)?,
                })
            })
            .collect()
    }

    /// One attempt's plugin log lines (masked and capped by the agent).
    pub fn attempt_logs(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
    ) -> Result<Option<Vec<LogLine>>, StoreError> {
        let row = self.db().query_opt(
            "SELECT logs_json FROM attempts WHERE run_id = ?1 AND stage = ?2 AND attempt = ?3",
            vals![run_id, stage, attempt],
        )?;
        row.map(|r| Ok(json_col(r.opt_text(0)?).unwrap_or_default()))
            .transpose()
    }

    /// A run's audit log, in order.
    pub fn events(&self, run_id: &str) -> Result<Vec<EventRow>, StoreError> {
        let rows = self.db().query(
            "SELECT seq, at_ms, kind, stage, attempt, message, data_json
             FROM events WHERE run_id = ?1 ORDER BY seq",
            vals![run_id],
        )?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    seq: r.i64(0)?,
                    at_ms: r.u64(1)?,
                    kind: r.text(2)?,
                    stage: r.opt_text(3)?,
                    attempt: r.opt_u32(4)?,
                    message: r.text(5)?,
                    data: json_col(r.opt_text(6)?),
                })
            })
            .collect()
    }

    /// A run's policy gates.
    pub fn gates(&self, run_id: &str) -> Result<Vec<GateRow>, StoreError> {
        let rows = self.db().query(
            "SELECT request_id, stage, phase, requested_ms, answered_ms, verdicts_json
             FROM gates WHERE run_id = ?1 ORDER BY requested_ms, request_id",
            vals![run_id],
        )?;
        rows.iter()
            .map(|r| {
                Ok(GateRow {
                    request_id: r.text(0)?,
                    stage: r.text(1)?,
                    phase: r.text(2)?,
                    requested_ms: r.u64(3)?,
                    answered_ms: r.opt_u64(4)?,
                    verdicts: json_col(r.opt_text(5)?),
                })
            })
            .collect()
    }

    /// A run's notifications.
    pub fn notifications(&self, run_id: &str) -> Result<Vec<NotificationRow>, StoreError> {
        let rows = self.db().query(
            "SELECT channel, status, attempts, detail, at_ms FROM notifications
             WHERE run_id = ?1 ORDER BY seq",
            vals![run_id],
        )?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRow {
                    channel: r.text(0)?,
                    status: r.text(1)?,
                    attempts: r.u32(2)?,
                    detail: r.text(3)?,
                    at_ms: r.u64(4)?,
                })
            })
            .collect()
    }

    /// The newest dead letters.
    pub fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetterRow>, StoreError> {
        let rows = self.db().query(
            "SELECT seq, topic, key, reason, deliveries, payload, at_ms FROM dead_letters
             ORDER BY seq DESC LIMIT ?1",
            vals![limit.clamp(1, 1000)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetterRow {
                    seq: r.i64(0)?,
                    topic: r.text(1)?,
                    key: r.text(2)?,
                    reason: r.text(3)?,
                    deliveries: r.u32(4)?,
                    payload: r.text(5)?,
                    at_ms: r.u64(6)?,
                })
            })
            .collect()
    }

    /// How many deliveries were recorded under an id (0 or 1), for tests and the API.
    pub fn delivery_count(&self, delivery_id: &str) -> Result<u32, StoreError> {
        self.db()
            .query_one(
                "SELECT COUNT(*) FROM deliveries WHERE delivery_id = ?1",
                vals![delivery_id],
            )?
            .u32(0)
    }
}
