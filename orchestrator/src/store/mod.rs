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
mod claims;
pub(crate) mod db;
mod error;
mod github_objects;
mod inbox;
mod leases;
mod live_logs;
mod location;
mod migrations;
mod migrations_pg;
mod reads;
mod retention;
mod reuse;
mod schedules;
mod stats;
pub mod testing;
mod writer;

pub use artifacts::{ArtifactRow, AttemptState};
pub use error::StoreError;
pub use github_objects::GitHubObject;
pub use inbox::{InboxItem, repository_key};
pub use leases::{Fence, Lease, LeaseClaim};
pub use live_logs::{LIVE_LOG_CAP_BYTES, LiveAppend, LiveLogState};
pub use location::StoreLocation;
pub use reads::{AttemptRow, DeadLetterRow, EventRow, GateRow, NotificationRow, RunFilter, RunRow};
pub use retention::{Pruned, RetentionRule};
pub use schedules::ScheduleMark;
pub use stats::{AgentRow, DailyCount, PluginUse, StageDuration};
pub use writer::Writer;

use db::{Db, postgres::PgDb, sqlite::SqliteDb, vals};
use std::path::{Path, PathBuf};

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
    /// Every scheduler write goes through here. When several orchestrators share a
    /// store, [`Store::write_fenced`] is this under a run's lease: its fencing token is
    /// checked first in the transaction (`leases.rs`), and a stale token refuses the
    /// whole write.
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

#[cfg(test)]
mod tests;
