//! The shared shapes of webhook parsing: what a verified delivery asks for (a build
//! ([`Trigger`]), a ping, or nothing), the options that decide it, and why a delivery
//! could not be read.

use serde::Serialize;

/// Which deliveries beyond ordinary branch pushes and pull requests are built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventOptions {
    /// Build pushes of `refs/tags/*`; off by default.
    pub build_tags: bool,
    /// Deletions never have a commit to build; this only changes the reason they are
    /// ignored with.
    pub build_deletions: bool,
}

/// The outcome of parsing one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per delivery, moved once; boxing would only make matching clumsier"
)]
pub enum WebhookEvent {
    /// GitHub checking that the hook works; answer 200.
    Ping {
        hook_id: Option<u64>,
        zen: Option<String>,
    },
    /// A commit to run the pipeline on.
    Trigger(Trigger),
    /// Someone pressed "Re-run" in GitHub's checks UI.
    Rerun(RerunAsk),
    /// A valid delivery that starts nothing; `reason` says why, for the response and logs.
    Ignored { reason: String },
}

/// A commit to build and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// The repository owner's login; tenants are matched by it.
    pub tenant: String,
    /// `owner/name` of the repository the pipeline belongs to (for a pull request, the
    /// base repository, which also serves the head commit as `refs/pull/<n>/head`).
    pub repository: String,
    /// Where to clone the repository from.
    pub clone_url: String,
    /// The repository's default branch.
    pub default_branch: String,
    /// The commit to build: a push's `after` (for a tag, the tagged commit), a pull
    /// request's head sha.
    pub commit: String,
    /// A push's branch (for a tag push, the branch GitHub names in `base_ref`, else
    /// empty); a pull request's head branch.
    pub branch: String,
    /// `push` or `pull_request`.
    pub event: String,
    /// The tag name, for a tag push built because `build_tags` is on.
    pub tag: Option<String>,
    /// The pull request number.
    pub pull_request: Option<u64>,
    /// Paths added, modified or removed by a push, sorted and deduplicated; `None` when
    /// they are not known (pull requests, forced pushes, truncated or empty commit lists
    /// on an existing ref), in which case every path filter must be taken as matched.
    pub changed_paths: Option<Vec<String>>,
    /// Login of the account that caused the delivery.
    pub sender: String,
    /// The head commit's message, or the pull request's title.
    pub message: Option<String>,
    /// A pull request whose head lives in another repository than its base (a fork,
    /// or a fork since deleted).
    pub fork: bool,
}

/// A re-run asked for from GitHub's checks UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerunAsk {
    /// The repository owner's login; the signing tenant must be it.
    pub tenant: String,
    /// `owner/name`.
    pub repository: String,
    /// The commit the check run or suite is on.
    pub commit: String,
    /// Who pressed the button.
    pub sender: String,
    /// What to run again.
    pub target: RerunTarget,
}

/// What a "Re-run" button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RerunTarget {
    /// One stage of one run, from a check run's external id.
    Stage { run_id: String, stage: String },
    /// What failed in the commit's latest run (a check suite).
    FailedOfCommit,
}

/// Why a delivery could not be read. The server answers 400 with the message.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The delivery had no `X-GitHub-Event` header.
    #[error("missing X-GitHub-Event header")]
    MissingEventName,
    /// The body is not JSON, or a field has the wrong type.
    #[error("the {event} payload is not valid: {source}")]
    Malformed {
        event: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A field Bosun needs is absent, null or empty.
    #[error("the {event} payload has no `{field}`")]
    MissingField {
        event: &'static str,
        /// Full path of the field, e.g. `repository.owner.login`.
        field: &'static str,
    },
    /// A field is present but unusable.
    #[error("the {event} payload has an invalid `{field}`: {reason}")]
    InvalidField {
        event: &'static str,
        field: &'static str,
        reason: String,
    },
}
