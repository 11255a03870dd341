//! `pull_request` deliveries: opened, synchronized and reopened pull requests build
//! their head commit; every other action is ignored.

use super::fields::{commit_id, repository_fields, required, sender_login};
use super::payload::PullRequestPayload;
use super::types::{EventError, Trigger, WebhookEvent};

const EVENT: &str = "pull_request";
/// Actions that put a new head commit in front of reviewers.
const BUILT_ACTIONS: [&str; 3] = ["opened", "synchronize", "reopened"];
/// Longest action name repeated in an `Ignored` reason.
const MAX_ECHOED_ACTION: usize = 64;

pub(super) fn parse(payload: PullRequestPayload) -> Result<WebhookEvent, EventError> {
    let action = required(payload.action, EVENT, "action")?;
    if !BUILT_ACTIONS.contains(&action.as_str()) {
        let action: String = action.chars().take(MAX_ECHOED_ACTION).collect();
        return Ok(WebhookEvent::Ignored {
            reason: format!("pull_request action `{action}` does not start pipelines"),
        });
    }
    let Some(pull_request) = payload.pull_request else {
        return Err(EventError::MissingField {
            event: EVENT,
            field: "pull_request",
        });
    };
    let number = required(pull_request.number, EVENT, "pull_request.number")?;
    let Some(head) = pull_request.head else {
        return Err(EventError::MissingField {
            event: EVENT,
            field: "pull_request.head",
        });
    };
    let sha = required(head.sha, EVENT, "pull_request.head.sha")?;
    let commit = commit_id(sha, EVENT, "pull_request.head.sha")?;
    let branch = required(head.git_ref, EVENT, "pull_request.head.ref")?;
    let repository = repository_fields(payload.repository, EVENT)?;
    // A head in another repository (or in one since deleted) is a fork's: it gets what
    // the tenant's `pull_requests.from_forks` says, never the base repository's trust.
    let fork = head
        .repo
        .and_then(|repo| repo.full_name)
        .is_none_or(|head| !head.eq_ignore_ascii_case(&repository.full_name));
    // A fork's branch is not one of the base repository's: it is named by its label
    // (`owner:branch`), so a fork's `main` never matches `when: {branches: [main]}` nor
    // passes for the default branch, and policies see that the head is a fork.
    let branch = if fork {
        head.label
            .filter(|label| label.contains(':'))
            .unwrap_or_else(|| format!("fork:{branch}"))
    } else {
        branch
    };
    let sender = sender_login(payload.sender, EVENT)?;

    Ok(WebhookEvent::Trigger(Trigger {
        tenant: repository.tenant,
        repository: repository.full_name,
        clone_url: repository.clone_url,
        default_branch: repository.default_branch,
        commit,
        branch,
        event: EVENT.to_owned(),
        tag: None,
        pull_request: Some(number),
        changed_paths: None,
        sender,
        message: pull_request.title,
        fork,
    }))
}
