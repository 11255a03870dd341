//! The few fields Bosun reads from GitHub's `push`, `pull_request` and `ping` payloads.
//!
//! Every field is optional here so that a missing one becomes an error naming its full
//! path (`repository.owner.login`) rather than serde's bare field name; `fields.rs`
//! checks which are required.

use serde::Deserialize;

/// A `push` delivery.
#[derive(Debug, Deserialize)]
pub(super) struct PushPayload {
    /// `refs/heads/<branch>` or `refs/tags/<tag>`.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The commit the ref points at after the push; all zeros for a deletion.
    pub after: Option<String>,
    /// Whether the push created the ref.
    pub created: Option<bool>,
    /// Whether the push deleted the ref.
    pub deleted: Option<bool>,
    /// Whether the push rewrote history.
    pub forced: Option<bool>,
    /// For a tag push, the branch whose head the tag points at, when there is one.
    pub base_ref: Option<String>,
    /// The pushed commits, oldest first; GitHub caps the list.
    pub commits: Option<Vec<PushCommit>>,
    /// The commit at `after`, absent for a deletion.
    pub head_commit: Option<PushCommit>,
    pub repository: Option<Repository>,
    pub sender: Option<Account>,
}

/// One commit of a push.
#[derive(Debug, Deserialize)]
pub(super) struct PushCommit {
    pub id: Option<String>,
    pub message: Option<String>,
    pub added: Option<Vec<String>>,
    pub removed: Option<Vec<String>>,
    pub modified: Option<Vec<String>>,
}

/// A `pull_request` delivery.
#[derive(Debug, Deserialize)]
pub(super) struct PullRequestPayload {
    pub action: Option<String>,
    pub pull_request: Option<PullRequest>,
    /// The base repository: the one the pull request targets.
    pub repository: Option<Repository>,
    pub sender: Option<Account>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PullRequest {
    pub number: Option<u64>,
    pub title: Option<String>,
    pub head: Option<PullRequestHead>,
}

/// The branch a pull request proposes, possibly in a fork.
#[derive(Debug, Deserialize)]
pub(super) struct PullRequestHead {
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub sha: Option<String>,
    /// The repository the head branch lives in; null when that fork was deleted.
    pub repo: Option<Repository>,
    /// `owner:branch`, as GitHub names the head across repositories.
    pub label: Option<String>,
}

/// A `ping` delivery, sent when a webhook is created.
#[derive(Debug, Deserialize)]
pub(super) struct PingPayload {
    pub hook_id: Option<u64>,
    pub zen: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Repository {
    pub full_name: Option<String>,
    pub name: Option<String>,
    pub clone_url: Option<String>,
    pub default_branch: Option<String>,
    pub owner: Option<Account>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Account {
    pub login: Option<String>,
}
