//! The files command steps keep: one row per attempt and path, naming the content by
//! digest (the bytes live in the artifact folder, `crate::artifacts::Blobs`), and the
//! key that signs the tasks' artifact tokens.
//!
//! The HTTP side writes these rows on its own connection: the scheduler never writes
//! this table, and SQLite's busy timeout (PostgreSQL's row locks) orders the writers.

use super::db::vals;
use super::{Store, StoreError};
use bosun_bus::artifacts::KeptFile;
use serde::Serialize;

/// One kept file of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactRow {
    /// The stage that kept it.
    pub stage: String,
    /// Its attempt.
    pub attempt: u32,
    /// Relative path.
    pub path: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// `sha256:<hex>`.
    pub digest: String,
    /// When it was stored.
    pub kept_ms: u64,
}

/// Whether an attempt may still upload: it went out, is not settled, and its run is
/// not over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    /// Dispatched and unsettled, in a run in flight.
    Open,
    /// Settled, or its run is over.
    Closed,
    /// Never dispatched.
    Unknown,
}

impl Store {
    /// The key artifact tokens are signed with (made once, by the schema migration).
    pub fn artifact_key(&self) -> Result<Vec<u8>, StoreError> {
        self.db()
            .query_one("SELECT key FROM artifact_key WHERE id = 1", &[])?
            .blob(0)
    }

    /// Whether `run/stage/attempt` may still upload.
    pub fn attempt_state(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
    ) -> Result<AttemptState, StoreError> {
        let found = self.db().query_opt(
            "SELECT a.settled_ms IS NULL, r.finished_ms FROM attempts a
             JOIN runs r ON r.id = a.run_id
             WHERE a.run_id = ?1 AND a.stage = ?2 AND a.attempt = ?3",
            vals![run_id, stage, attempt],
        )?;
        let found = found
            .map(|r| Ok::<_, StoreError>((r.bool(0)?, r.opt_i64(1)?)))
            .transpose()?;
        Ok(match found {
            None => AttemptState::Unknown,
            Some((true, None)) => AttemptState::Open,
            Some(_) => AttemptState::Closed,
        })
    }

    /// Bytes the run keeps, and how many files `stage`'s `attempt` keeps, leaving out
    /// `path` of that attempt (which an upload is about to replace).
    pub fn artifact_usage(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
        path: &str,
    ) -> Result<(u64, u32), StoreError> {
        let row = self.db().query_one(
            "SELECT
                CAST(COALESCE(SUM(CASE WHEN stage = ?2 AND attempt = ?3 AND path = ?4 THEN 0 ELSE size END), 0) AS BIGINT),
                COUNT(CASE WHEN stage = ?2 AND attempt = ?3 AND path <> ?4 THEN 1 END)
             FROM artifacts WHERE run_id = ?1",
            vals![run_id, stage, attempt, path],
        )?;
        Ok((row.u64(0)?, row.u32(1)?))
    }

    /// Record a kept file (a redelivered attempt's upload replaces its own row).
    pub fn keep_artifact(&self, run_id: &str, row: &ArtifactRow) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO artifacts (run_id, stage, attempt, path, size, digest, kept_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (run_id, stage, attempt, path) DO UPDATE SET size = excluded.size,
                 digest = excluded.digest, kept_ms = excluded.kept_ms",
            vals![
                run_id,
                &row.stage,
                row.attempt,
                &row.path,
                row.size,
                &row.digest,
                row.kept_ms
            ],
        )?;
        Ok(())
    }

    /// Every file a run keeps, by stage, attempt and path.
    pub fn artifacts(&self, run_id: &str) -> Result<Vec<ArtifactRow>, StoreError> {
        let rows = self.db().query(
            "SELECT stage, attempt, path, size, digest, kept_ms FROM artifacts
             WHERE run_id = ?1 ORDER BY stage, attempt, path",
            vals![run_id],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ArtifactRow {
                    stage: r.text(0)?,
                    attempt: r.u32(1)?,
                    path: r.text(2)?,
                    size: r.u64(3)?,
                    digest: r.text(4)?,
                    kept_ms: r.u64(5)?,
                })
            })
            .collect()
    }

    /// The files one attempt keeps.
    pub fn attempt_artifacts(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
    ) -> Result<Vec<KeptFile>, StoreError> {
        Ok(self
            .artifacts(run_id)?
            .into_iter()
            .filter(|row| row.stage == stage && row.attempt == attempt)
            .map(|row| KeptFile {
                path: row.path,
                size: row.size,
                digest: row.digest,
            })
            .collect())
    }

    /// A kept file of `stage`: of `attempt`, or of the stage's latest attempt that kept
    /// this path.
    pub fn artifact(
        &self,
        run_id: &str,
        stage: &str,
        attempt: Option<u32>,
        path: &str,
    ) -> Result<Option<ArtifactRow>, StoreError> {
        Ok(self
            .artifacts(run_id)?
            .into_iter()
            .filter(|row| row.stage == stage && row.path == path)
            .filter(|row| attempt.is_none_or(|a| row.attempt == a))
            .max_by_key(|row| row.attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(stage: &str, attempt: u32, path: &str, size: u64) -> ArtifactRow {
        ArtifactRow {
            stage: stage.into(),
            attempt,
            path: path.into(),
            size,
            digest: format!("sha256:{}", "0".repeat(64)),
            kept_ms: 1,
        }
    }

    #[test]
    fn usage_counts_the_run_and_leaves_out_the_path_being_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("runs.db")).unwrap();
        assert_eq!(store.artifact_key().unwrap().len(), 32);
        store
            .keep_artifact("r1", &row("build", 1, "a", 10))
            .unwrap();
        store.keep_artifact("r1", &row("build", 1, "b", 5)).unwrap();
        store.keep_artifact("r1", &row("test", 1, "c", 7)).unwrap();
        store
            .keep_artifact("r2", &row("build", 1, "a", 100))
            .unwrap();
        assert_eq!(
            store.artifact_usage("r1", "build", 1, "a").unwrap(),
            (12, 1)
        );
        assert_eq!(
            store.artifact_usage("r1", "build", 1, "new").unwrap(),
            (22, 2)
        );
        store.keep_artifact("r1", &row("build", 1, "a", 3)).unwrap();
        assert_eq!(
            store.artifacts("r1").unwrap().len(),
            3,
            "replaced, not added"
        );
        store.keep_artifact("r1", &row("build", 2, "a", 4)).unwrap();
        assert_eq!(
            store
                .artifact("r1", "build", None, "a")
                .unwrap()
                .unwrap()
                .attempt,
            2
        );
        assert_eq!(
            store
                .artifact("r1", "build", Some(1), "a")
                .unwrap()
                .unwrap()
                .size,
            3
        );
        assert!(
            store
                .artifact("r1", "build", Some(3), "a")
                .unwrap()
                .is_none()
        );
        assert_eq!(store.attempt_artifacts("r1", "build", 1).unwrap().len(), 2);
        assert_eq!(
            store.attempt_state("r1", "build", 1).unwrap(),
            AttemptState::Unknown
        );
    }
}
