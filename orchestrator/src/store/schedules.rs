//! The last tick each schedule fired for (or the time it was first seen), so a restart
//! neither repeats a tick nor fires once per tick it missed.

use super::db::vals;
use super::{Store, StoreError, Writer};

/// Where a schedule stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleMark {
    /// The schedule's identity (repository, branch and pattern).
    pub key: String,
    /// Its tenant.
    pub tenant: String,
    /// `owner/name`.
    pub repository: String,
    /// The branch it builds.
    pub branch: String,
    /// The tick it last fired for, or when it was first seen (Unix milliseconds): only
    /// ticks after it are due.
    pub last_slot_ms: u64,
    /// The run that tick started (none for a first sighting).
    pub run_id: Option<String>,
}

impl Writer<'_> {
    /// Record where a schedule stands.
    pub fn mark_schedule(&self, mark: &ScheduleMark, now_ms: u64) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO schedule_marks (key, tenant, repository, branch, last_slot_ms, run_id, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (key) DO UPDATE SET last_slot_ms = excluded.last_slot_ms,
                 run_id = excluded.run_id, updated_ms = excluded.updated_ms",
            vals![
                &mark.key,
                &mark.tenant,
                &mark.repository,
                &mark.branch,
                mark.last_slot_ms,
                mark.run_id.as_deref(),
                now_ms
            ],
        )?;
        Ok(())
    }
}

impl Store {
    /// Every schedule's mark.
    pub fn schedule_marks(&self) -> Result<Vec<ScheduleMark>, StoreError> {
        let rows = self.db().query(
            "SELECT key, tenant, repository, branch, last_slot_ms, run_id
             FROM schedule_marks ORDER BY key",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ScheduleMark {
                    key: r.text(0)?,
                    tenant: r.text(1)?,
                    repository: r.text(2)?,
                    branch: r.text(3)?,
                    last_slot_ms: r.u64(4)?,
                    run_id: r.opt_text(5)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_mark_is_kept_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
        let mut mark = ScheduleMark {
            key: "acme/shop@main 0 3 * * *".into(),
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            branch: "main".into(),
            last_slot_ms: 1_000,
            run_id: None,
        };
        store.write(|w| w.mark_schedule(&mark, 1_000)).unwrap();
        mark.last_slot_ms = 2_000;
        mark.run_id = Some("r1".into());
        store.write(|w| w.mark_schedule(&mark, 2_500)).unwrap();
        drop(store);
        let store = Store::open(&dir.path().join("runs.db")).unwrap();
        assert_eq!(store.schedule_marks().unwrap(), vec![mark]);
    }
}
