//! git as the tests drive it: a fixed identity, failures that show git's own words.

use std::path::Path;
use std::process::Command;

/// Runs git in `dir` as "Bosun Test"; its trimmed stdout. Fails the test, with git's
/// stderr, when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Bosun Test")
        .env("GIT_AUTHOR_EMAIL", "test@bosun.invalid")
        .env("GIT_COMMITTER_NAME", "Bosun Test")
        .env("GIT_COMMITTER_EMAIL", "test@bosun.invalid")
        .output()
        .unwrap_or_else(|e| panic!("running git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A new repository in `dir` (created if need be) holding `files` (path, text) in one
/// commit on `main`: its `file://` URL and the commit's sha.
pub fn git_repo(dir: &Path, files: &[(&str, &str)]) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    for (path, text) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(file, text).unwrap();
    }
    commit_all(dir, "initial");
    (
        format!("file://{}", dir.display()),
        git(dir, &["rev-parse", "HEAD"]),
    )
}

/// Commits everything in the work tree at `dir` with `message`; the new commit's sha.
pub fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_repo_commits_the_files_on_main() {
        let dir = std::env::temp_dir().join(format!("bosun-test-support-{}", std::process::id()));
        let (url, sha) = git_repo(&dir, &[("src/a.txt", "a\n")]);
        assert_eq!(url, format!("file://{}", dir.display()));
        assert_eq!(sha.len(), 40);
        assert_eq!(git(&dir, &["branch", "--show-current"]), "main");
        assert_eq!(git(&dir, &["show", "HEAD:src/a.txt"]), "a");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
