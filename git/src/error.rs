//! Why git could not give Bosun a repository or a commit.

use std::path::PathBuf;

/// Why a mirror could not be cloned, fetched, read or checked out.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The clone URL is not one Bosun fetches from.
    #[error("clone URL {0:?} is not allowed (use https://, http://, ssh://, git@host: or file://)")]
    BadUrl(String),
    /// The commit is not a hex sha.
    #[error("commit {0:?} is not a hexadecimal sha")]
    BadCommit(String),
    /// Git could not be started.
    #[error("git {action} for {url}: cannot run git: {source}")]
    Spawn {
        /// What git was to do.
        action: &'static str,
        /// The repository.
        url: String,
        /// Why the process did not start.
        source: std::io::Error,
    },
    /// Git ran and failed.
    #[error("git {action} for {url} failed: {detail}")]
    Failed {
        /// What git was doing (`clone`, `fetch`, `checkout`).
        action: &'static str,
        /// The repository.
        url: String,
        /// Git's stderr, trimmed.
        detail: String,
    },
    /// The repository, freshly fetched, does not hold the commit.
    #[error("commit {commit} is not in {url}")]
    MissingCommit {
        /// The commit asked for.
        commit: String,
        /// The repository.
        url: String,
    },
    /// Local file-system trouble around a mirror or a checkout.
    #[error("git folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
