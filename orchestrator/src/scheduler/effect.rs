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
