//! Outbound notifications: Slack incoming webhooks, GitHub commit statuses, check runs
//! and pull-request comments, and email (SMTP, in `email.rs`).
//!
//! Both clients share one retry policy ([`RetrySettings`]) and one error type
//! ([`NotifyError`]). Webhook URLs and tokens are secrets: no error or log line carries
//! them; errors name the target instead ("the Slack webhook for tenant acme").

mod checks;
mod comments;
mod email;
mod github;
mod retry;
mod slack;

use std::time::Duration;

pub use checks::{
    Annotation, AnnotationLevel, CheckCompleted, CheckConclusion, CheckOutput, CheckRunFinish,
    CheckRunStart, MAX_ANNOTATIONS_PER_REQUEST, MAX_SUMMARY_CHARS, cut_markdown,
};
pub use comments::{COMMENT_MARKER, CommentPosted, MAX_COMMENT_CHARS};
pub use email::{EmailClient, EmailContent};
pub use github::{CommitStatus, GitHubStatuses, MAX_DESCRIPTION_CHARS, StatusState};
pub use slack::SlackClient;

/// How hard to try delivering one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts in all, the first included; 0 is taken as 1.
    pub max_attempts: u32,
    /// The longest wait between attempts: a longer `Retry-After` is cut to this, and so
    /// is the exponential backoff.
    pub max_wait: Duration,
    /// The wait after the first failed attempt on a 5xx, a connection error or a 429
    /// without `Retry-After`; it doubles with each further attempt.
    pub base_backoff: Duration,
    /// How long one attempt (connecting, sending and reading the answer) may take.
    pub timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_wait: Duration::from_secs(60),
            base_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A notification the receiver accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Which attempt succeeded, counting from 1.
    pub attempts: u32,
    /// The 2xx status it answered with.
    pub status: u16,
}

/// Why a notification was not delivered. `target` reads like "the Slack webhook for
/// tenant acme" and never contains a URL or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The HTTP client could not be built or the request could not be formed.
    #[error("cannot send to {target}: {reason}")]
    Client { target: String, reason: String },
    /// The configured URL is not an absolute http(s) URL.
    #[error("{target} is not configured with an absolute http or https URL")]
    InvalidUrl { target: String },
    /// The repository is not a plain `owner/name`.
    #[error("refusing to set a GitHub status on repository `{repository}`: {reason}")]
    InvalidRepository { repository: String, reason: String },
    /// The commit is not 7 to 64 hex digits.
    #[error("refusing to set a GitHub status on commit `{sha}`: expected 7 to 64 hex digits")]
    InvalidSha { sha: String },
    /// The receiver refused the request in a way retrying cannot fix (a 4xx other than
    /// rate limiting, or a redirect).
    #[error("{target} refused the notification with HTTP {status}: {body}")]
    Rejected {
        target: String,
        status: u16,
        /// The start of the response body, control characters removed.
        body: String,
    },
    /// The SMTP relay refused the email with a permanent (5xx) reply, such as a login
    /// it does not accept.
    #[error("{target} refused the email with SMTP {code}: {reply}")]
    SmtpRefused {
        target: String,
        code: u16,
        /// The relay's reply, control characters removed.
        reply: String,
    },
    /// Every attempt failed with a retryable error.
    #[error("gave up on {target} after {attempts} attempts; the last one failed with {last}")]
    GaveUp {
        target: String,
        attempts: u32,
        /// The last HTTP status, when the last attempt got an answer.
        last_status: Option<u16>,
        /// The last failure in words: `HTTP 503` or the connection error.
        last: String,
    },
}
