//! Checks on a task's repository fields before git sees them: the clone URL and the
//! commit travel on the bus and reach `git` on both the orchestrator and the agents, so
//! neither may smuggle in an option or a ref expression. Also the one way both
//! authenticate git to a private repository, and the image tag a branch becomes (the
//! host's image builder and the build stage's Kaniko path tag the same way).

use crate::GitError;

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

/// [`is_allowed_clone_url`] as an error naming the URL.
pub fn check_clone_url(url: &str) -> Result<(), GitError> {
    if is_allowed_clone_url(url) {
        Ok(())
    } else {
        Err(GitError::BadUrl(url.to_string()))
    }
}

/// [`is_commit_sha`] as an error naming the commit.
pub fn check_commit(commit: &str) -> Result<(), GitError> {
    if is_commit_sha(commit) {
        Ok(())
    } else {
        Err(GitError::BadCommit(commit.to_string()))
    }
}

/// Whether a clone token may be sent to `url`: only over HTTP(S), where
/// [`token_env`]'s header means something.
pub fn takes_token(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// A Docker tag from a branch name: `[A-Za-z0-9_.-]`, at most 128 characters, not
/// starting with `.` or `-` (`feature/login` → `feature-login`).
pub fn branch_tag(branch: &str) -> String {
    let tag: String = branch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    let tag = tag.trim_start_matches(['.', '-']);
    if tag.is_empty() {
        "branch".to_string()
    } else {
        tag.to_string()
    }
}

/// The environment that makes git send `token` over HTTP(S) as GitHub takes an App
/// installation or a personal token (`http.extraHeader`, basic `x-access-token:TOKEN`):
/// through the environment, never argv (visible to every process) or a repository's
/// config (it outlives the fetch); git never prints the header.
pub fn token_env(token: &str) -> [(&'static str, String); 3] {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    [
        ("GIT_CONFIG_COUNT", "1".to_string()),
        ("GIT_CONFIG_KEY_0", "http.extraHeader".to_string()),
        (
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {basic}"),
        ),
    ]
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
        assert!(check_clone_url("https://github.com/acme/app.git").is_ok());
        assert!(check_clone_url("file:///tmp/repo").is_ok());
        assert!(check_clone_url("--upload-pack=touch /tmp/x").is_err());
        assert!(check_clone_url("/etc").is_err());
        assert!(check_commit("0123abcd").is_ok());
        assert!(check_commit("--force").is_err());
        assert!(check_commit("HEAD").is_err());
        assert!(takes_token("https://github.com/acme/app.git"));
        assert!(!takes_token("ssh://git@github.com/acme/app.git"));
    }

    #[test]
    fn branches_become_valid_tags() {
        assert_eq!(branch_tag("main"), "main");
        assert_eq!(branch_tag("feature/login"), "feature-login");
        assert_eq!(branch_tag("release/1.2"), "release-1.2");
        assert_eq!(
            branch_tag("zzz\";echo${IFS}\"hi\";#"),
            "zzz--echo--IFS--hi---"
        );
        assert_eq!(branch_tag("..."), "branch");
        assert_eq!(branch_tag("-x"), "x");
        assert_eq!(branch_tag(&"a".repeat(300)).len(), 128);
    }

    #[test]
    fn a_token_reaches_git_as_one_basic_header_in_the_environment() {
        let env = token_env("ghs_abc");
        assert_eq!(env[0], ("GIT_CONFIG_COUNT", "1".to_string()));
        assert_eq!(env[1].1, "http.extraHeader");
        // base64("x-access-token:ghs_abc")
        assert_eq!(
            env[2].1,
            "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hzX2FiYw=="
        );
    }
}
