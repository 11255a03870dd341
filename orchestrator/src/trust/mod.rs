//! Who may decide what a run can do: the operator's settings grant, a tenant narrows,
//! a repository's `.bosun.yml` only chooses among what its tenant grants, a pull
//! request gets less than a push, and a fork's pull request runs only as its tenant
//! says. Every rule that turns a trigger and a config into a grant lives here, and who
//! may approve a stage that waits for a person (`approval.rs`).

mod approval;
mod clone_url;
mod grants;
mod rerun;

pub use approval::{Approvers, Decider, may_decide};
pub use clone_url::check_clone_url;
pub use grants::{StageGrants, check_plan, grants, withheld_from_pull_request, withheld_secrets};
pub use rerun::rerun_grants;

/// Whether `part` is one segment of a GitHub `owner/name`: letters, digits, `-`, `_`
/// and `.`, not starting with `.` or `-` (so never `.` or `..`), at most 100 long.
pub fn is_name_segment(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 100
        && !part.starts_with(['.', '-'])
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `full_name` is `owner/name`, each a [`is_name_segment`].
pub fn is_repository_name(full_name: &str) -> bool {
    full_name
        .split_once('/')
        .is_some_and(|(owner, name)| is_name_segment(owner) && is_name_segment(name))
}

/// Whether a given token is `token`, in constant time (digests of equal length): the
/// API's bearer tokens and the dashboard's login cookie.
pub(crate) fn same_token(given: &str, token: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(token.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
