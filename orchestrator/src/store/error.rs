//! The store's errors: the back end's own (SQLite, PostgreSQL) naming the store, a
//! document that does not decode, a schema newer than this build.

use std::path::PathBuf;

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
    /// A fenced write, or a renewal, from an orchestrator that no longer holds the
    /// lease (it was taken over, or released): refused, nothing applied.
    #[error(
        "run store: {key} is no longer owned by {owner} with token {token} (now {}); the write was refused",
        holder_text(holder)
    )]
    LeaseLost {
        /// The lease's key (a repository's runs).
        key: String,
        /// Who tried to write.
        owner: String,
        /// The token it wrote under.
        token: u64,
        /// Who holds the lease now, and with which token (`None`: nobody).
        holder: Option<(String, u64)>,
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

fn holder_text(holder: &Option<(String, u64)>) -> String {
    match holder {
        Some((owner, token)) => format!("held by {owner} with token {token}"),
        None => "held by nobody".to_string(),
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
