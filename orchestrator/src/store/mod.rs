//! The run store: SQLite (the embedded default) or PostgreSQL, with numbered
//! migrations. Runs, attempts, the append-only event log (the audit log of every
//! action), webhook deliveries, policy gates, notifications, dead letters, the agents'
//! inventories and where schedules stand.
//!
//! One connection writes (the scheduler's); readers (the API) open their own. On SQLite,
//! WAL mode lets them read while the scheduler writes; on PostgreSQL every store is a
//! session of its own. Statements are written once (`db.rs`); the two back ends differ
//! only in their migrations and a few functions.

mod artifacts;
pub(crate) mod db;
mod location;
mod migrations;
mod migrations_pg;
mod reads;
mod retention;
mod reuse;
mod schedules;
mod stats;
pub mod testing;

pub use artifacts::{ArtifactRow, AttemptState};
pub use location::StoreLocation;
pub use reads::{AttemptRow, DeadLetterRow, EventRow, GateRow, NotificationRow, RunFilter, RunRow};
pub use retention::{Pruned, RetentionRule};
pub use schedules::ScheduleMark;
pub use stats::{AgentRow, DailyCount, PluginUse, StageDuration};

use crate::model::RunRecord;
use bosun_bus::StageResult;
use db::{Db, postgres::PgDb, sqlite::SqliteDb, vals};
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
    /// PostgreSQL reported an error (or the connection failed).
    #[error("run store {store}: {}", postgres_detail(source))]
    Postgres {
        /// The database's address, without its password.
        store: String,
        /// The client's error.
        source: tokio_postgres::Error,
    },
    /// The store cannot be reached at all.
    #[error("run store {store}: {detail}")]
    Unavailable {
        /// The database's address, without its password.
        store: String,
        /// What went wrong.
        detail: String,
    },
    /// A stored document did not decode.
    #[error("run store {path}: stored {what} is not valid: {detail}")]
    Corrupt {
        /// The database file (or address, without its password).
        path: PathBuf,
        /// What was being read.
        what: String,
        /// The decoder's message.
        detail: String,
    },
    /// A column held what its query did not expect (a schema this build does not know).
    #[error("run store: column {index} of a result: {detail}")]
    Column {
        /// The column's position.
        index: usize,
        /// What it held.
        detail: String,
    },
    /// The database was written by a newer Bosun.
    #[error("run store {path} has schema version {found}, newer than this build ({known})")]
    TooNew {
        /// The database file (or address, without its password).
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

impl StoreError {
    pub(crate) fn column(index: usize, detail: impl Into<String>) -> StoreError {
        StoreError::Column {
            index,
            detail: detail.into(),
        }
    }

    /// A unique key refused the write (on either back end).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            }
            StoreError::Postgres { source, .. } => {
                source.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }
}

/// The server's own message (the client's `Display` says only "db error").
fn postgres_detail(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = error.to_string();
            if let Some(cause) = std::error::Error::source(error) {
                text = format!("{text}: {cause}");
            }
            text
        }
    }
}

enum Backend {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// A connection to the run store.
pub struct Store {
    backend: Backend,
    location: StoreLocation,
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
    /// Open (creating and migrating) the store: a SQLite file, or a PostgreSQL database
    /// for a `postgres://` location.
    pub fn open<L>(location: &L) -> Result<Store, StoreError>
    where
        L: ?Sized,
        for<'a> &'a L: Into<StoreLocation>,
    {
        let location: StoreLocation = location.into();
        let backend = match &location {
            StoreLocation::Sqlite(path) => Backend::Sqlite(SqliteDb::open(path)?),
            StoreLocation::Postgres(url) => {
                Backend::Postgres(PgDb::connect(url, &location.to_string())?)
            }
        };
        let mut store = Store { backend, location };
        store.migrate()?;
        Ok(store)
    }

    /// The database file (`None` on PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        self.location.sqlite_path()
    }

    /// Where the store lives.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    pub(crate) fn db(&self) -> Db<'_> {
        match &self.backend {
            Backend::Sqlite(db) => Db::Sqlite(db),
            Backend::Postgres(db) => Db::Postgres(db),
        }
    }

    /// The file, or the address without its password, for errors.
    fn label(&self) -> PathBuf {
        PathBuf::from(self.location.to_string())
    }

    fn corrupt(&self, what: &str, detail: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.label(),
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = migrations::MIGRATIONS.len() as i64;
        let label = self.label();
        let too_new = |found| StoreError::TooNew {
            path: label.clone(),
            found,
            known,
        };
        match &self.backend {
            Backend::Sqlite(db) => {
                let found = self.schema_version()?;
                if found > known {
                    return Err(too_new(found));
                }
                for (index, sql) in migrations::MIGRATIONS
                    .iter()
                    .enumerate()
                    .skip(found as usize)
                {
                    let tx = db.conn.unchecked_transaction().map_err(|e| db.err(e))?;
                    tx.execute_batch(sql)
                        .and_then(|_| tx.pragma_update(None, "user_version", index as i64 + 1))
                        .and_then(|_| tx.commit())
                        .map_err(|e| db.err(e))?;
                }
                Ok(())
            }
            Backend::Postgres(db) => {
                let current = self.schema_version_pg(true)?;
                if current.is_some_and(|found| found >= known) {
                    return match current {
                        Some(found) if found > known => Err(too_new(found)),
                        _ => Ok(()),
                    };
                }
                // One transaction, under a lock per schema: orchestrators starting
                // together migrate once, and a failed step leaves the schema as it was.
                let session = db;
                session.begin()?;
                let db = Db::Postgres(db);
                db.batch(
                    "SELECT pg_advisory_xact_lock(1651470702, hashtext(current_schema()));
                     CREATE TABLE IF NOT EXISTS bosun_schema (
                         id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL);
                     INSERT INTO bosun_schema (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING;",
                )?;
                let outcome = (|| {
                    let found = db
                        .query_one("SELECT version FROM bosun_schema WHERE id = 1", &[])?
                        .i64(0)?;
                    if found > known {
                        return Err(too_new(found));
                    }
                    for (index, sql) in migrations_pg::POSTGRES_MIGRATIONS
                        .iter()
                        .enumerate()
                        .skip(found as usize)
                    {
                        db.batch(sql)?;
                        db.execute(
                            "UPDATE bosun_schema SET version = ?1 WHERE id = 1",
                            vals![index as i64 + 1],
                        )?;
                    }
                    Ok(())
                })();
                match outcome {
                    Ok(()) => session.commit(),
                    Err(e) => {
                        session.rollback();
                        Err(e)
                    }
                }
            }
        }
    }

    /// The PostgreSQL schema's version; `None` before the first migration (with
    /// `missing_ok`).
    fn schema_version_pg(&self, missing_ok: bool) -> Result<Option<i64>, StoreError> {
        let db = self.db();
        let exists = db
            .query_one("SELECT to_regclass('bosun_schema') IS NOT NULL", &[])?
            .bool(0)?;
        if !exists && missing_ok {
            return Ok(None);
        }
        Ok(Some(
            db.query_one("SELECT version FROM bosun_schema WHERE id = 1", &[])?
                .i64(0)?,
        ))
    }

    /// The schema version in use.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => self.db().query_one("PRAGMA user_version", &[])?.i64(0),
            Backend::Postgres(_) => Ok(self.schema_version_pg(true)?.unwrap_or(0)),
        }
    }

    /// Run `work` in one transaction: everything it writes commits together or not at all.
    ///
    /// Every scheduler write goes through here, so this is where a run's lease will be
    /// checked when several orchestrators share a PostgreSQL store: a `run_leases`
    /// table (a new numbered migration) holding each run's owner and fencing token, read
    /// `FOR UPDATE` first in the transaction, and a stale token refusing the whole write.
    pub fn write<T>(
        &mut self,
        work: impl FnOnce(&Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let label = self.label();
        match &self.backend {
            Backend::Sqlite(db) => {
                let tx = db.conn.unchecked_transaction().map_err(|e| db.err(e))?;
                let writer = Writer {
                    db: Db::Sqlite(db),
                    path: &label,
                };
                let value = work(&writer)?;
                tx.commit().map_err(|e| db.err(e))?;
                Ok(value)
            }
            Backend::Postgres(db) => {
                db.begin()?;
                // Rolled back unless committed, also when `work` panics.
                let open = OpenTransaction(db);
                let writer = Writer {
                    db: Db::Postgres(db),
                    path: &label,
                };
                let value = work(&writer)?;
                std::mem::forget(open);
                db.commit()?;
                Ok(value)
            }
        }
    }
}

/// A PostgreSQL transaction not yet committed: dropped, it rolls back.
struct OpenTransaction<'a>(&'a PgDb);

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        self.0.rollback();
    }
}

/// Writes inside one transaction (see [`Store::write`]).
pub struct Writer<'a> {
    db: Db<'a>,
    path: &'a Path,
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

#[cfg(test)]
mod tests;
