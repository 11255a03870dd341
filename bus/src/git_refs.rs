//! Checks on a task's repository fields before git sees them: the clone URL and the
//! commit travel on the bus and reach `git` on both the orchestrator and the agents, so
//! neither may smuggle in an option or a ref expression.

/// URL schemes Bosun fetches from.
const ALLOWED_SCHEMES: &[&str] = &["https://", "http://", "ssh://", "file://", "git@"];

/// Whether `url` is one Bosun fetches from: a known scheme, no leading `-`, no NUL.
pub fn is_allowed_clone_url(url: &str) -> bool {
    !url.starts_with('-')
        && !url.contains('\0')
        && ALLOWED_SCHEMES.iter().any(|scheme| url.starts_with(scheme))
}

/// Whether `commit` is a hexadecimal sha (4 to 64 digits), never a ref or an option.
pub fn is_commit_sha(commit: &str) -> bool {
    (4..=64).contains(&commit.len()) && commit.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_commits_are_checked_before_git_sees_them() {
        assert!(is_allowed_clone_url("https://github.com/acme/app.git"));
        assert!(is_allowed_clone_url("file:///tmp/repo"));
        assert!(!is_allowed_clone_url("--upload-pack=touch /tmp/x"));
        assert!(!is_allowed_clone_url("/etc"));
        assert!(is_commit_sha("0123abcd"));
        assert!(!is_commit_sha("--force"));
        assert!(!is_commit_sha("HEAD"));
    }
}
