//! The run store: SQLite with numbered migrations. Runs, attempts, the append-only
//! event log (the audit log of every action), webhook deliveries, policy gates,
//! notifications, dead letters, the agents' inventories and where schedules stand.
//!
//! One connection writes (the scheduler's); readers (the API) open their own. WAL mode
//! lets them read while the scheduler writes.

mod artifacts;
mod github_objects;
mod live_logs;
mod migrations;
mod reads;
mod reuse;
mod schedules;
mod stats;

pub use artifacts::{ArtifactRow, AttemptState};
pub use github_objects::GitHubObject;
pub use live_logs::{LIVE_LOG_CAP_BYTES, LiveAppend, LiveLogState};
pub use reads::{AttemptRow, DeadLetterRow, EventRow, GateRow, NotificationRow, RunFilter, RunRow};
pub use schedules::ScheduleMark;
pub use stats::{AgentRow, DailyCount, PluginUse, StageDuration};

use crate::model::RunRecord;
use bosun_bus::StageResult;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("run store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A stored document did not decode.
    #[error("run store {path}: stored {what} is not valid: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// The decoder's message.
        detail: String,
    },
    /// The database was written by a newer Bosun.
    #[error("run store {path} has schema version {found}, newer than this build ({known})")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

/// A connection to the run store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What a webhook delivery id was already used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenDelivery {
    /// The run it started, if any.
    pub run_id: Option<String>,
    /// What happened to it (`run`, `ignored`, `ping`, …).
    pub outcome: String,
}

impl Store {
    /// Open (creating and migrating) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let conn = Connection::open(path).map_err(err)?;
        // WAL: readers never block the writer. NORMAL sync: a power loss may lose the
        // last transactions but never corrupts; agents redeliver what was not settled.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
        )
        .map_err(err)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, what: &str, detail: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = migrations::MIGRATIONS.len() as i64;
        let found: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        for (index, sql) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
        {
            let tx = self.conn.transaction().map_err(|e| StoreError::Sqlite {
                path: self.path.clone(),
                source: e,
            })?;
            tx.execute_batch(sql)
                .and_then(|_| tx.pragma_update(None, "user_version", index as i64 + 1))
                .and_then(|_| tx.commit())
                .map_err(|e| StoreError::Sqlite {
                    path: self.path.clone(),
                    source: e,
                })?;
        }
        Ok(())
    }

    /// The schema version in use.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))
    }

    /// Run `work` in one transaction: everything it writes commits together or not at all.
    pub fn write<T>(
        &mut self,
        work: impl FnOnce(&Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| StoreError::Sqlite {
            path: path.clone(),
            source: e,
        })?;
        let writer = Writer {
            tx: &tx,
            path: &path,
        };
        let value = work(&writer)?;
        tx.commit()
            .map_err(|e| StoreError::Sqlite { path, source: e })?;
        Ok(value)
    }
}

/// Writes inside one transaction (see [`Store::write`]).
pub struct Writer<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl Writer<'_> {
    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Record a webhook delivery id; `Some` when it was seen before (a redelivery).
    pub fn record_delivery(
        &self,
        delivery_id: &str,
        tenant: &str,
        event: &str,
        outcome: &str,
        run_id: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<SeenDelivery>, StoreError> {
        let seen = self
            .tx
            .query_row(
                "SELECT run_id, outcome FROM deliveries WHERE tenant = ?1 AND delivery_id = ?2",
                [tenant, delivery_id],
                |r| {
                    Ok(SeenDelivery {
                        run_id: r.get(0)?,
                        outcome: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        if seen.is_some() {
            return Ok(seen);
        }
        self.tx
            .execute(
                "INSERT INTO deliveries (delivery_id, tenant, event, received_ms, run_id, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![delivery_id, tenant, event, now_ms as i64, run_id, outcome],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(None)
    }

    /// Insert or replace a run's state document.
    pub fn save_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(run).map_err(|e| StoreError::Corrupt {
            path: self.path.to_path_buf(),
            what: format!("run {}", run.id),
            detail: e.to_string(),
        })?;
        self.tx
            .execute(
                "INSERT INTO runs (id, tenant, repository, branch, commit_sha, event, status, created_ms, finished_ms, state_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                     finished_ms = excluded.finished_ms, state_json = excluded.state_json",
                params![
                    run.id,
                    run.trigger.tenant,
                    run.trigger.repository,
                    run.trigger.branch,
                    run.trigger.commit,
                    run.trigger.event,
                    run.status.as_str(),
                    run.created_ms as i64,
                    run.finished_ms.map(|v| v as i64),
                    json
                ],
            )
            .map_err(|e| self.sqlite(e))?;
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
        self.tx
            .execute(
                "INSERT OR IGNORE INTO attempts (run_id, stage, attempt, dispatched_ms, deadline_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, stage, attempt, dispatched_ms as i64, deadline_ms as i64],
            )
            .map_err(|e| self.sqlite(e))?;
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
        let changed = self
            .tx
            .execute(
                "UPDATE attempts SET settled_ms = ?4, agent_id = ?5, plugin_name = ?6, plugin_version = ?7,
                     plugin_digest = ?8, outcome = ?9, failure_kind = ?10, failure_message = ?11,
                     duration_ms = ?12, report_json = ?13, logs_json = ?14
                 WHERE run_id = ?1 AND stage = ?2 AND attempt = ?3 AND settled_ms IS NULL",
                params![
                    run_id,
                    stage,
                    attempt,
                    now_ms as i64,
                    agent_id,
                    result.plugin.as_ref().map(|p| p.name.clone()),
                    result.plugin.as_ref().map(|p| p.version.clone()),
                    result.plugin.as_ref().map(|p| p.digest.clone()),
                    outcome,
                    kind,
                    result.failure.as_ref().map(|f| f.message.clone()),
                    result.duration_ms as i64,
                    report,
                    logs
                ],
            )
            .map_err(|e| self.sqlite(e))?;
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
        self.tx
            .execute(
                "INSERT INTO events (run_id, at_ms, kind, stage, attempt, message, data_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run_id,
                    at_ms as i64,
                    kind,
                    stage,
                    attempt,
                    message,
                    data.map(|d| d.to_string())
                ],
            )
            .map_err(|e| self.sqlite(e))?;
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
        self.tx
            .execute(
                "INSERT OR IGNORE INTO gates (request_id, run_id, stage, phase, requested_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![request_id, run_id, stage, phase, now_ms as i64],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Record a policy answer; `false` when the gate was already answered.
    pub fn gate_answered(
        &self,
        request_id: &str,
        verdicts: &serde_json::Value,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .tx
            .execute(
                "UPDATE gates SET answered_ms = ?2, verdicts_json = ?3
                 WHERE request_id = ?1 AND answered_ms IS NULL",
                params![request_id, now_ms as i64, verdicts.to_string()],
            )
            .map_err(|e| self.sqlite(e))?;
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
        self.tx
            .execute(
                "INSERT INTO notifications (run_id, channel, status, attempts, detail, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run_id, channel, status, attempts, detail, now_ms as i64],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Record a dead-lettered message.
    pub fn dead_letter(
        &self,
        letter: &bosun_bus::messages::DeadLetter,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO dead_letters (topic, key, reason, deliveries, payload, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    letter.topic,
                    letter.key,
                    letter.reason,
                    letter.deliveries,
                    letter.payload,
                    now_ms as i64
                ],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
