//! Where the run store lives: a SQLite file (the embedded default) or a PostgreSQL
//! database (`postgres://…`), as the server settings' `store:` and `--store` say.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::{Path, PathBuf};

/// The run store's location.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file (created with its folder when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://user:password@host:port/database`.
    Postgres(String),
}

impl StoreLocation {
    /// Read a setting: a `postgres://` or `postgresql://` URL, else a file path.
    pub fn parse(text: &str) -> StoreLocation {
        let lower = text.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            StoreLocation::Postgres(text.trim().to_string())
        } else {
            StoreLocation::Sqlite(PathBuf::from(text))
        }
    }

    /// The SQLite file, when the store is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            StoreLocation::Sqlite(path) => Some(path),
            StoreLocation::Postgres(_) => None,
        }
    }

    /// A printable form: the path, or the URL without its password.
    pub fn display(&self) -> impl fmt::Display + '_ {
        self
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&super::db::postgres::redact(url)),
        }
    }
}

/// Debug output never shows a password either.
impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

impl<'de> Deserialize<'de> for StoreLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(StoreLocation::parse(&text))
    }
}

impl std::str::FromStr for StoreLocation {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(StoreLocation::parse(text))
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> Self {
        StoreLocation::Sqlite(path.to_path_buf())
    }
}

impl From<&PathBuf> for StoreLocation {
    fn from(path: &PathBuf) -> Self {
        StoreLocation::Sqlite(path.clone())
    }
}

impl From<PathBuf> for StoreLocation {
    fn from(path: PathBuf) -> Self {
        StoreLocation::Sqlite(path)
    }
}

impl From<&StoreLocation> for StoreLocation {
    fn from(location: &StoreLocation) -> Self {
        location.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_a_database_and_anything_else_a_file() {
        assert_eq!(
            StoreLocation::parse("postgres://bosun:pw@db/bosun"),
            StoreLocation::Postgres("postgres://bosun:pw@db/bosun".into())
        );
        assert!(matches!(
            StoreLocation::parse("PostgreSQL://db/bosun"),
            StoreLocation::Postgres(_)
        ));
        assert_eq!(
            StoreLocation::parse(".bosun/bosun.db"),
            StoreLocation::Sqlite(".bosun/bosun.db".into())
        );
        let shown = StoreLocation::parse("postgres://bosun:pw@db/bosun").to_string();
        assert_eq!(shown, "postgres://bosun:***@db/bosun");
        assert!(!format!("{:?}", StoreLocation::parse("postgres://u:pw@db/x")).contains("pw"));
    }
}
