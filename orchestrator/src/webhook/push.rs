//! `push` deliveries: which ref moved, whether to build it, and which paths changed.

use std::collections::BTreeSet;

use super::fields::{commit_id, repository_fields, required, sender_login};
use super::payload::{PushCommit, PushPayload};
use super::types::{EventError, EventOptions, Trigger, WebhookEvent};

const EVENT: &str = "push";
/// What `after` holds when a ref is deleted.
const NULL_COMMIT: &str = "0000000000000000000000000000000000000000";
/// GitHub lists at most this many commits in a push; a list this long may be cut short.
const MAX_LISTED_COMMITS: usize = 2048;
/// Most changed paths kept for `when.paths`; a push touching more is matched as if its
/// paths were unknown (every filter matches), so path matching stays cheap.
const MAX_CHANGED_PATHS: usize = 10_000;
/// Longest changed path kept; a longer one makes the list unknown, as above.
const MAX_CHANGED_PATH_LEN: usize = 4096;

enum PushedRef<'a> {
    Branch(&'a str),
    Tag(&'a str),
}

impl std::fmt::Display for PushedRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushedRef::Branch(name) => write!(f, "branch `{name}`"),
            PushedRef::Tag(name) => write!(f, "tag `{name}`"),
        }
    }
}

pub(super) fn parse(
    payload: PushPayload,
    options: &EventOptions,
) -> Result<WebhookEvent, EventError> {
    let git_ref = required(payload.git_ref, EVENT, "ref")?;
    let after = required(payload.after, EVENT, "after")?;
    let pushed = if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        PushedRef::Branch(branch)
    } else if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        PushedRef::Tag(tag)
    } else {
        return Ok(ignored(format!(
            "push to `{git_ref}`, which is neither a branch nor a tag"
        )));
    };
    if matches!(pushed, PushedRef::Branch("") | PushedRef::Tag("")) {
        return Err(EventError::InvalidField {
            event: EVENT,
            field: "ref",
            reason: format!("`{git_ref}` names no branch or tag"),
        });
    }

    if payload.deleted.unwrap_or(false) || after == NULL_COMMIT {
        return Ok(ignored(if options.build_deletions {
            format!("{pushed} was deleted: a deletion has no commit to build")
        } else {
            format!("{pushed} was deleted and deletions are not built")
        }));
    }
    if matches!(pushed, PushedRef::Tag(_)) && !options.build_tags {
        return Ok(ignored(format!(
            "push of {pushed}: tags are not built (build_tags is off)"
        )));
    }

    let repository = repository_fields(payload.repository, EVENT)?;
    let sender = sender_login(payload.sender, EVENT)?;
    let head_commit = payload.head_commit;
    let (commit, branch, tag) = match pushed {
        PushedRef::Branch(branch) => (commit_id(after, EVENT, "after")?, branch.to_owned(), None),
        PushedRef::Tag(tag) => {
            // For an annotated tag `after` is the tag object; the commit is head_commit.
            let tagged = head_commit.as_ref().and_then(|head| head.id.clone());
            let commit = match tagged {
                Some(id) => commit_id(id, EVENT, "head_commit.id")?,
                None => commit_id(after, EVENT, "after")?,
            };
            let branch = payload
                .base_ref
                .as_deref()
                .and_then(|base| base.strip_prefix("refs/heads/"))
                .unwrap_or_default()
                .to_owned();
            (commit, branch, Some(tag.to_owned()))
        }
    };
    let changed_paths = changed_paths(
        payload.commits,
        payload.created.unwrap_or(false),
        payload.forced.unwrap_or(false),
    );

    Ok(WebhookEvent::Trigger(Trigger {
        tenant: repository.tenant,
        repository: repository.full_name,
        clone_url: repository.clone_url,
        default_branch: repository.default_branch,
        commit,
        branch,
        event: EVENT.to_owned(),
        tag,
        pull_request: None,
        changed_paths,
        sender,
        message: head_commit.and_then(|head| head.message),
        fork: false,
    }))
}

fn ignored(reason: String) -> WebhookEvent {
    WebhookEvent::Ignored { reason }
}

/// The union of the paths the listed commits touched, or `None` when the list cannot
/// be trusted to cover the whole push: a forced push (the dropped commits' changes are
/// not listed), a list that may be truncated, an empty list on a ref that already
/// existed, or a commit without its path lists.
fn changed_paths(
    commits: Option<Vec<PushCommit>>,
    created: bool,
    forced: bool,
) -> Option<Vec<String>> {
    let commits = commits?;
    if forced || commits.len() >= MAX_LISTED_COMMITS || (commits.is_empty() && !created) {
        return None;
    }
    let mut paths = BTreeSet::new();
    for commit in commits {
        paths.extend(commit.added?);
        paths.extend(commit.modified?);
        paths.extend(commit.removed?);
        if paths.len() > MAX_CHANGED_PATHS {
            return None;
        }
    }
    if paths.iter().any(|p| p.len() > MAX_CHANGED_PATH_LEN) {
        return None;
    }
    Some(paths.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(added: &[&str], modified: &[&str], removed: &[&str]) -> PushCommit {
        let owned = |paths: &[&str]| Some(paths.iter().map(|p| (*p).to_owned()).collect());
        PushCommit {
            id: None,
            message: None,
            added: owned(added),
            removed: owned(removed),
            modified: owned(modified),
        }
    }

    #[test]
    fn changed_paths_are_the_sorted_union_over_commits() {
        let commits = vec![
            commit(&["src/b.rs"], &["README.md"], &[]),
            commit(&["src/a.rs"], &["src/b.rs"], &["old.txt"]),
        ];
        assert_eq!(
            changed_paths(Some(commits), false, false),
            Some(vec![
                "README.md".to_owned(),
                "old.txt".to_owned(),
                "src/a.rs".to_owned(),
                "src/b.rs".to_owned(),
            ])
        );
    }

    #[test]
    fn changed_paths_unknown_when_the_list_cannot_cover_the_push() {
        let one = || vec![commit(&["a"], &[], &[])];
        assert_eq!(changed_paths(None, false, false), None);
        assert_eq!(changed_paths(Some(one()), false, true), None, "forced");
        assert_eq!(changed_paths(Some(Vec::new()), false, false), None);
        let many = (0..MAX_LISTED_COMMITS).map(|_| commit(&["a"], &[], &[]));
        assert_eq!(changed_paths(Some(many.collect()), false, false), None);
        let mut partial = one();
        partial.push(PushCommit {
            id: None,
            message: None,
            added: None,
            removed: None,
            modified: None,
        });
        assert_eq!(changed_paths(Some(partial), false, false), None);
    }

    #[test]
    fn changed_paths_unknown_when_a_push_lists_too_many_or_too_long_paths() {
        let names: Vec<String> = (0..=MAX_CHANGED_PATHS).map(|i| format!("f{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(
            changed_paths(Some(vec![commit(&refs, &[], &[])]), true, false),
            None
        );
        let fits = &refs[..MAX_CHANGED_PATHS];
        assert_eq!(
            changed_paths(Some(vec![commit(fits, &[], &[])]), true, false).map(|p| p.len()),
            Some(MAX_CHANGED_PATHS)
        );
        let long = "a/".repeat(MAX_CHANGED_PATH_LEN);
        assert_eq!(
            changed_paths(Some(vec![commit(&[&long], &[], &[])]), true, false),
            None
        );
    }

    #[test]
    fn changed_paths_empty_for_a_new_ref_without_new_commits() {
        assert_eq!(
            changed_paths(Some(Vec::new()), true, false),
            Some(Vec::new())
        );
    }
}
