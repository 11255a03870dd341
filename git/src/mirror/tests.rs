//! Mirrors against real repositories on disk (`file://` URLs).

use super::*;
use bosun_test_support::{commit_all, git};

/// A repository at `dir` with one commit per file in `files`; the commits' shas.
fn repository(dir: &Path, files: &[&str]) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    if !dir.join(".git").exists() {
        git(dir, &["init", "--quiet"]);
    }
    files
        .iter()
        .map(|file| {
            std::fs::write(dir.join(file), *file).unwrap();
            commit_all(dir, file)
        })
        .collect()
}

#[tokio::test]
async fn a_mirror_is_cloned_once_then_fetched_for_new_commits() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let first = repository(&repo, &["a.txt"]);
    let url = format!("file://{}", repo.display());
    let mirrors = Mirrors::new(dir.path().join("mirrors"));
    let mirror = mirrors.fetch(&url, &first[0], None).await.unwrap();
    assert!(mirror.path().join("HEAD").is_file());
    assert_eq!(mirror.key().len(), 64);
    assert_eq!(mirror.url(), url);
    let second = repository(&repo, &["b.txt"]);
    let again = mirrors.fetch(&url, &second[0], None).await.unwrap();
    assert_eq!(again.path(), mirror.path(), "one mirror per repository");
    let shown = again
        .read(&["show", &format!("{}:b.txt", second[0])])
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "b.txt");
    let dest = dir.path().join("checkout");
    again.checkout(&first[0], &dest).await.unwrap();
    assert!(dest.join("a.txt").is_file() && !dest.join("b.txt").exists());
    // A second checkout replaces the first.
    again.checkout(&second[0], &dest).await.unwrap();
    assert!(dest.join("b.txt").is_file());
}

#[tokio::test]
async fn a_commit_the_repository_lacks_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    repository(&repo, &["a.txt"]);
    let url = format!("file://{}", repo.display());
    let mirrors = Mirrors::new(dir.path().join("mirrors"));
    let missing = "0123456789abcdef0123456789abcdef01234567";
    for _ in 0..2 {
        // First on the clone, then on a fetch into the existing mirror.
        let err = mirrors.fetch(&url, missing, None).await.unwrap_err();
        assert!(matches!(err, GitError::MissingCommit { .. }), "{err}");
        assert!(err.to_string().contains(missing), "{err}");
    }
    let err = mirrors
        .fetch(
            &format!("file://{}", dir.path().join("none").display()),
            missing,
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("git clone"), "{err}");
}

#[tokio::test]
async fn urls_and_commits_are_checked_before_git_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(dir.path().join("mirrors"));
    let err = mirrors
        .fetch("--upload-pack=touch /tmp/x", "0123abcd", None)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::BadUrl(_)), "{err}");
    let err = mirrors
        .fetch("https://github.com/acme/app.git", "--force", None)
        .await
        .unwrap_err();
    assert!(matches!(err, GitError::BadCommit(_)), "{err}");
    assert!(!dir.path().join("mirrors").exists(), "git never ran");
}
