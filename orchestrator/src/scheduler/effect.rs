//! What the scheduler hands the service once a step's writes are committed: messages to
//! publish, commit statuses to post, notifications to send.

/// A commit status state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    /// The stage is under way (GitHub's `pending`).
    Pending,
    /// The stage or run passed.
    Success,
    /// The code failed the stage.
    Failure,
    /// The stage could not run.
    Error,
}

/// A commit status to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The state GitHub shows.
    pub state: StatusState,
    /// `bosun/<stage>`, or `bosun` for the run.
    pub context: String,
    /// One line.
    pub description: String,
    /// The run on the dashboard.
    pub target_url: String,
}

/// Where a stage's GitHub check run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckPhase {
    /// Its first attempt went out: `in_progress` (ms since the epoch).
    Started { at_ms: u64 },
    /// It settled; what GitHub shows is read from the store once the writes commit.
    Completed { at_ms: u64 },
}

/// Something the service must do once the step's writes are committed.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Publish a message.
    Publish {
        /// The bus topic, e.g. `agent.test`.
        topic: String,
        /// Key (the run id).
        key: String,
        /// JSON payload.
        payload: Vec<u8>,
    },
    /// Post a commit status.
    Status {
        /// The run.
        run_id: String,
        /// Its tenant.
        tenant: String,
        /// `owner/name`.
        repository: String,
        /// Commit sha.
        commit: String,
        /// The status.
        update: StatusUpdate,
    },
    /// Start or complete a stage's GitHub check run (tenants with `github_checks`).
    Check {
        /// The run.
        run_id: String,
        /// Its tenant.
        tenant: String,
        /// `owner/name`.
        repository: String,
        /// Commit sha.
        commit: String,
        /// The stage (the check is `bosun/<stage>`).
        stage: String,
        /// Started or completed.
        phase: CheckPhase,
    },
    /// Create or update the pull request's one summary comment (tenants with
    /// `pull_request_comments`).
    Comment {
        /// The run.
        run_id: String,
        /// Its tenant.
        tenant: String,
        /// `owner/name`.
        repository: String,
        /// The pull request's number.
        pull_request: u64,
        /// The comment's markdown, edited in place on each push.
        body: String,
    },
    /// Post a formatted notification to the tenant's Slack webhook.
    Notify {
        /// The run.
        run_id: String,
        /// Its tenant.
        tenant: String,
        /// The message body.
        body: String,
    },
    /// Send a formatted email to the tenant's recipients through its SMTP relay.
    Email {
        /// The run.
        run_id: String,
        /// Its tenant.
        tenant: String,
        /// Subject, text and HTML, from the email notifier.
        content: crate::notify::EmailContent,
    },
    /// A run finished (handled inside the scheduler; never returned).
    Finished {
        /// The run.
        run_id: String,
    },
}
