//! For tests and benchmarks: a fresh PostgreSQL schema per test, so tests sharing one
//! server stay independent and run in parallel. The schema is dropped with its guard.

use super::db::postgres::PgDb;
use super::{StoreError, StoreLocation};
use std::sync::atomic::{AtomicU64, Ordering};

/// A schema of its own on a PostgreSQL server, dropped (with everything in it) when
/// this is dropped.
pub struct PostgresSchema {
    admin: PgDb,
    name: String,
    location: StoreLocation,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl PostgresSchema {
    /// Make a schema named after `test` on the server at `url`; stores opened at
    /// [`PostgresSchema::location`] keep their tables in it.
    pub fn create(url: &str, test: &str) -> Result<PostgresSchema, StoreError> {
        let label = StoreLocation::Postgres(url.to_string()).to_string();
        let admin = PgDb::connect(url, &label)?;
        let stem: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let tail = stem.len().saturating_sub(36);
        let name = format!(
            "t_{}_{}_{}",
            &stem[tail..],
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin.batch(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))?;
        let separator = if url.contains('?') { '&' } else { '?' };
        let location =
            StoreLocation::Postgres(format!("{url}{separator}options=-csearch_path%3D{name}"));
        Ok(PostgresSchema {
            admin,
            name,
            location,
        })
    }

    /// Where a store in this schema opens.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        let _ = self
            .admin
            .batch(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}
