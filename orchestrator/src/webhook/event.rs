//! What a verified delivery asks for: a build ([`Trigger`]), a ping, or nothing.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::payload::{Account, PingPayload, Repository};
use super::{pull_request, push};

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

/// Longest event name repeated in an `Ignored` reason.
const MAX_ECHOED_EVENT: usize = 64;

/// Reads a delivery whose signature has already been verified. `event` is the value of
/// `X-GitHub-Event`.
pub fn parse_event(
    event: &str,
    body: &[u8],
    options: &EventOptions,
) -> Result<WebhookEvent, EventError> {
    match event.trim() {
        "" => Err(EventError::MissingEventName),
        "ping" => {
            let ping: PingPayload = decode("ping", body)?;
            Ok(WebhookEvent::Ping {
                hook_id: ping.hook_id,
                zen: ping.zen,
            })
        }
        "push" => push::parse(decode("push", body)?, options),
        "pull_request" => pull_request::parse(decode("pull_request", body)?),
        other => {
            let name: String = other.chars().take(MAX_ECHOED_EVENT).collect();
            Ok(WebhookEvent::Ignored {
                reason: format!("event `{name}` does not start pipelines"),
            })
        }
    }
}

fn decode<T: DeserializeOwned>(event: &'static str, body: &[u8]) -> Result<T, EventError> {
    serde_json::from_slice(body).map_err(|source| EventError::Malformed { event, source })
}

/// A field that must be present and, for strings, non-empty.
pub(super) fn required<T: Presence>(
    value: Option<T>,
    event: &'static str,
    field: &'static str,
) -> Result<T, EventError> {
    value
        .filter(Presence::is_present)
        .ok_or(EventError::MissingField { event, field })
}

/// Whether a field that is there actually carries a value.
pub(super) trait Presence {
    fn is_present(&self) -> bool;
}

impl Presence for String {
    fn is_present(&self) -> bool {
        !self.is_empty()
    }
}

impl Presence for u64 {
    fn is_present(&self) -> bool {
        true
    }
}

/// The repository fields every trigger carries.
pub(super) struct RepositoryFields {
    pub tenant: String,
    pub full_name: String,
    pub clone_url: String,
    pub default_branch: String,
}

pub(super) fn repository_fields(
    repository: Option<Repository>,
    event: &'static str,
) -> Result<RepositoryFields, EventError> {
    let Some(repository) = repository else {
        return Err(EventError::MissingField {
            event,
            field: "repository",
        });
    };
    let tenant = required(
        repository.owner.and_then(|owner| owner.login),
        event,
        "repository.owner.login",
    )?;
    let full_name = required(repository.full_name, event, "repository.full_name")?;
    check_identity(&tenant, &full_name, repository.name.as_deref(), event)?;
    Ok(RepositoryFields {
        tenant,
        full_name,
        clone_url: required(repository.clone_url, event, "repository.clone_url")?,
        default_branch: required(
            repository.default_branch,
            event,
            "repository.default_branch",
        )?,
    })
}

/// The repository's identity must be one: `full_name` is `<owner.login>/<name>`, so a
/// delivery signed by one tenant cannot speak for another tenant's repository.
fn check_identity(
    owner: &str,
    full_name: &str,
    name: Option<&str>,
    event: &'static str,
) -> Result<(), EventError> {
    let invalid = |reason: String| EventError::InvalidField {
        event,
        field: "repository.full_name",
        reason,
    };
    let Some((full_owner, full_repo)) = full_name.split_once('/') else {
        return Err(invalid("expected owner/name".to_owned()));
    };
    let safe = crate::trust::is_name_segment;
    if !safe(full_owner) || !safe(full_repo) {
        return Err(invalid(
            "owner and name may hold only letters, digits, '-', '_' and '.'".to_owned(),
        ));
    }
    if !full_owner.eq_ignore_ascii_case(owner) {
        return Err(invalid(format!(
            "its owner is not `repository.owner.login` ({})",
            owner.chars().take(100).collect::<String>()
        )));
    }
    if let Some(name) = name
        && !name.eq_ignore_ascii_case(full_repo)
    {
        return Err(invalid(format!(
            "its name is not `repository.name` ({})",
            name.chars().take(100).collect::<String>()
        )));
    }
    Ok(())
}

pub(super) fn sender_login(
    sender: Option<Account>,
    event: &'static str,
) -> Result<String, EventError> {
    required(
        sender.and_then(|sender| sender.login),
        event,
        "sender.login",
    )
}

/// Refuses a commit id that is not a full lowercase SHA-1 or SHA-256 object name: it
/// ends up in URLs and git command lines.
pub(super) fn commit_id(
    value: String,
    event: &'static str,
    field: &'static str,
) -> Result<String, EventError> {
    let full_length = value.len() == 40 || value.len() == 64;
    if full_length
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(value)
    } else {
        Err(EventError::InvalidField {
            event,
            field,
            reason: "expected a full lowercase hex commit id".to_owned(),
        })
    }
}
