//! Field checks shared by the event parsers: required fields named by their full path,
//! the repository's identity, the sender, and commit ids.

use super::payload::{Account, Repository};
use super::types::EventError;

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
