//! What Bosun made on GitHub and edits later, by its GitHub id: a stage's check run
//! (keyed by its external id, `<run id>/<stage>`) and a pull request's summary comment
//! (keyed by repository and number), so a restart still edits rather than adds.

use super::db::vals;
use super::{Store, StoreError, Writer};

/// A kind of object Bosun keeps on GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitHubObject {
    /// A stage's check run; the key is its external id.
    CheckRun,
    /// A pull request's summary comment; the key is `owner/name#number`, lower-cased.
    PullRequestComment,
}

impl GitHubObject {
    fn as_str(self) -> &'static str {
        match self {
            GitHubObject::CheckRun => "check-run",
            GitHubObject::PullRequestComment => "pull-request-comment",
        }
    }
}

impl Writer<'_> {
    /// Remember the GitHub id of `key`'s object.
    pub fn remember_github_object(
        &self,
        kind: GitHubObject,
        key: &str,
        id: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO github_objects (kind, key, object_id, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (kind, key) DO UPDATE SET object_id = excluded.object_id,
                 updated_ms = excluded.updated_ms",
            vals![kind.as_str(), key, id, now_ms],
        )?;
        Ok(())
    }
}

impl Store {
    /// The GitHub id of `key`'s object, when Bosun made one.
    pub fn github_object(&self, kind: GitHubObject, key: &str) -> Result<Option<u64>, StoreError> {
        self.db()
            .query_opt(
                "SELECT object_id FROM github_objects WHERE kind = ?1 AND key = ?2",
                vals![kind.as_str(), key],
            )?
            .map(|row| row.u64(0))
            .transpose()
    }
}
