//! Queries for the scheduler's resume and for the API: runs, attempts, events, gates,
//! notifications, dead letters.

use super::{Store, StoreError};
use crate::model::RunRecord;
use bosun_bus::{LogLine, StageReport};
use rusqlite::{OptionalExtension, params};
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

impl Store {
    /// One run's state.
    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT state_json FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sqlite(e))?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| self.corrupt(&format!("run {id}"), e)))
            .transpose()
    }

    /// Every run not yet settled, oldest first (for resume after a restart).
    pub fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, state_json FROM runs WHERE status IN ('awaiting-approval', 'queued', 'running') ORDER BY created_ms",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.sqlite(e))?;
        let mut runs = Vec::new();
        for row in rows {
            let (id, json) = row.map_err(|e| self.sqlite(e))?;
            runs.push(
                serde_json::from_str(&json).map_err(|e| self.corrupt(&format!("run {id}"), e))?,
            );
        }
        Ok(runs)
    }

    /// Runs, newest first.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let limit = filter.limit.unwrap_or(50).clamp(1, 500);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, tenant, repository, branch, commit_sha, event, status, created_ms, finished_ms
                 FROM runs
                 WHERE (?1 IS NULL OR repository = ?1) AND (?2 IS NULL OR branch = ?2)
                   AND (?3 IS NULL OR status = ?3)
                   AND (?5 IS NULL OR tenant = ?5 COLLATE NOCASE)
                 ORDER BY created_ms DESC, id DESC LIMIT ?4",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(
                params![
                    filter.repository,
                    filter.branch,
                    filter.status,
                    limit,
                    filter.tenant
                ],
                |r| {
                    Ok(RunRow {
                        id: r.get(0)?,
                        tenant: r.get(1)?,
                        repository: r.get(2)?,
                        branch: r.get(3)?,
                        commit: r.get(4)?,
                        event: r.get(5)?,
                        status: r.get(6)?,
                        created_ms: r.get::<_, i64>(7)? as u64,
                        finished_ms: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
                    })
                },
            )
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Every attempt of a run, by stage and attempt (logs left out: see [`Store::attempt_logs`]).
    pub fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT stage, attempt, dispatched_ms, deadline_ms, settled_ms, agent_id, plugin_name,
                        plugin_version, plugin_digest, outcome, failure_kind, failure_message,
                        duration_ms, report_json, reused_from
                 FROM attempts WHERE run_id = ?1 ORDER BY dispatched_ms, stage, attempt",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(AttemptRow {
                    stage: r.get(0)?,
                    attempt: r.get(1)?,
                    dispatched_ms: r.get::<_, i64>(2)? as u64,
                    deadline_ms: r.get::<_, i64>(3)? as u64,
                    settled_ms: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                    agent_id: r.get(5)?,
                    plugin_name: r.get(6)?,
                    plugin_version: r.get(7)?,
                    plugin_digest: r.get(8)?,
                    outcome: r.get(9)?,
                    failure_kind: r.get(10)?,
                    failure_message: r.get(11)?,
                    duration_ms: r.get::<_, Option<i64>>(12)?.map(|v| v as u64),
                    report: json_col(r.get(13)?),
                    reused_from: r.get(14)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// One attempt's plugin log lines (masked and capped by the agent).
    pub fn attempt_logs(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
    ) -> Result<Option<Vec<LogLine>>, StoreError> {
        let logs: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT logs_json FROM attempts WHERE run_id = ?1 AND stage = ?2 AND attempt = ?3",
                params![run_id, stage, attempt],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        Ok(logs.map(|l| json_col(l).unwrap_or_default()))
    }

    /// A run's audit log, in order.
    pub fn events(&self, run_id: &str) -> Result<Vec<EventRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, at_ms, kind, stage, attempt, message, data_json
                 FROM events WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(EventRow {
                    seq: r.get(0)?,
                    at_ms: r.get::<_, i64>(1)? as u64,
                    kind: r.get(2)?,
                    stage: r.get(3)?,
                    attempt: r.get(4)?,
                    message: r.get(5)?,
                    data: json_col(r.get(6)?),
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// A run's policy gates.
    pub fn gates(&self, run_id: &str) -> Result<Vec<GateRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT request_id, stage, phase, requested_ms, answered_ms, verdicts_json
                 FROM gates WHERE run_id = ?1 ORDER BY requested_ms, request_id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(GateRow {
                    request_id: r.get(0)?,
                    stage: r.get(1)?,
                    phase: r.get(2)?,
                    requested_ms: r.get::<_, i64>(3)? as u64,
                    answered_ms: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                    verdicts: json_col(r.get(5)?),
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// A run's notifications.
    pub fn notifications(&self, run_id: &str) -> Result<Vec<NotificationRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT channel, status, attempts, detail, at_ms FROM notifications
                 WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(NotificationRow {
                    channel: r.get(0)?,
                    status: r.get(1)?,
                    attempts: r.get(2)?,
                    detail: r.get(3)?,
                    at_ms: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// The newest dead letters.
    pub fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetterRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, topic, key, reason, deliveries, payload, at_ms FROM dead_letters
                 ORDER BY seq DESC LIMIT ?1",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([limit.clamp(1, 1000)], |r| {
                Ok(DeadLetterRow {
                    seq: r.get(0)?,
                    topic: r.get(1)?,
                    key: r.get(2)?,
                    reason: r.get(3)?,
                    deliveries: r.get(4)?,
                    payload: r.get(5)?,
                    at_ms: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// How many deliveries were recorded under an id (0 or 1), for tests and the API.
    pub fn delivery_count(&self, delivery_id: &str) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM deliveries WHERE delivery_id = ?1",
                [delivery_id],
                |r| r.get(0),
            )
            .map_err(|e| self.sqlite(e))
    }
}
