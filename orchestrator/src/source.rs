//! Reading `.bosun.yml` from the pushed commit: a bare mirror per repository, fetched
//! only when the commit is not there yet, then `git show <sha>:.bosun.yml`; and a
//! branch's head commit for a scheduled run (the mirror fetched first). Git runs with
//! argv only; the URL, sha and branch are checked before git sees them.

use crate::config::CONFIG_FILE;
use crate::model::RunTrigger;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::process::Command;

/// Where pipeline configs come from.
pub struct ConfigSource {
    root: PathBuf,
    /// One lock per repository, so two runs do not fetch into one mirror at once.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Config text by (repository, commit): a commit's file never changes.
    cache: Mutex<HashMap<(String, String), Option<String>>>,
}

fn check_url(url: &str) -> Result<(), String> {
    if !bosun_bus::git_refs::is_allowed_clone_url(url) {
        return Err(format!("clone URL {url:?} is not allowed"));
    }
    Ok(())
}

fn check_commit(commit: &str) -> Result<(), String> {
    if !bosun_bus::git_refs::is_commit_sha(commit) {
        return Err(format!("commit {commit:?} is not a hexadecimal sha"));
    }
    Ok(())
}

async fn git(dir: Option<&Path>, args: &[&str]) -> Result<std::process::Output, String> {
    git_as(dir, args, None).await
}

/// Run git, authenticated over HTTP(S) with `token` when one is given.
async fn git_as(
    dir: Option<&Path>,
    args: &[&str],
    token: Option<&str>,
) -> Result<std::process::Output, String> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true);
    if let Some(token) = token {
        cmd.envs(bosun_bus::git_refs::token_env(token));
    }
    cmd.output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))
}

/// `token` when `url` is fetched over HTTP(S), the only transport it is sent on.
fn http_only<'a>(url: &str, token: Option<&'a str>) -> Option<&'a str> {
    token.filter(|_| url.starts_with("https://") || url.starts_with("http://"))
}

/// Bring `mirror` up to date with `clone_url`, pruning what is gone there.
async fn fetch(mirror: &Path, clone_url: &str, token: Option<&str>) -> Result<(), String> {
    let out = git_as(
        Some(mirror),
        &["fetch", "--quiet", "--prune", "origin"],
        token,
    )
    .await?;
    if !out.status.success() {
        return Err(format!(
            "git fetch of {clone_url} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A branch's head commit, as a schedule's run builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchHead {
    /// The commit the branch points at.
    pub commit: String,
    /// The branch the repository's `HEAD` names (its default branch), when it names one.
    pub default_branch: Option<String>,
}

impl ConfigSource {
    /// Mirrors live under `root`.
    pub fn new(root: PathBuf) -> ConfigSource {
        ConfigSource {
            root,
            locks: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The pipeline config text at the trigger's commit and where it came from; the
    /// repository's fallback when the commit has none.
    pub async fn load(
        &self,
        trigger: &RunTrigger,
        fallback: Option<&str>,
        token: Option<&str>,
    ) -> Result<(String, String), String> {
        let short = trigger.commit.get(..7).unwrap_or(&trigger.commit);
        match self.read_at_commit(trigger, token).await? {
            Some(text) => Ok((text, format!("{CONFIG_FILE}@{short}"))),
            None => match fallback {
                Some(text) => Ok((
                    text.to_string(),
                    format!("fallback pipeline for {}", trigger.repository),
                )),
                None => Err(format!(
                    "{} has no {CONFIG_FILE} at commit {short} and the server has no fallback pipeline for it",
                    trigger.repository
                )),
            },
        }
    }

    /// The lock that keeps two tasks from fetching into one mirror at once.
    fn lock_for(&self, clone_url: &str) -> Result<Arc<tokio::sync::Mutex<()>>, String> {
        let mut locks = self
            .locks
            .lock()
            .map_err(|_| "config source lock poisoned".to_string())?;
        Ok(Arc::clone(locks.entry(clone_url.to_string()).or_default()))
    }

    /// The mirror of `clone_url`, cloned when it is not there yet (under its lock).
    async fn mirror(&self, clone_url: &str, token: Option<&str>) -> Result<PathBuf, String> {
        let name = hex::encode(&Sha256::digest(clone_url.as_bytes())[..12]);
        let mirror = self.root.join(format!("{name}.git"));
        if mirror.join("HEAD").exists() {
            return Ok(mirror);
        }
        std::fs::create_dir_all(&self.root)
            .map_err(|e| format!("cannot create {}: {e}", self.root.display()))?;
        let out = git_as(
            None,
            &[
                "clone",
                "--quiet",
                "--mirror",
                "--",
                clone_url,
                &mirror.to_string_lossy(),
            ],
            token,
        )
        .await?;
        if !out.status.success() {
            return Err(format!(
                "git clone of {clone_url} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(mirror)
    }

    /// The commit `branch` points at now in `clone_url` (the mirror fetched first), and
    /// the repository's default branch. The URL and branch name are checked first.
    pub async fn branch_head(
        &self,
        clone_url: &str,
        branch: &str,
        token: Option<&str>,
    ) -> Result<BranchHead, String> {
        let token = http_only(clone_url, token);
        check_url(clone_url)?;
        if !crate::settings::is_branch_name(branch) {
            return Err(format!("{branch:?} is not a branch name"));
        }
        let lock = self.lock_for(clone_url)?;
        let _guard = lock.lock().await;
        let mirror = self.mirror(clone_url, token).await?;
        fetch(&mirror, clone_url, token).await?;
        let object = format!("refs/heads/{branch}^{{commit}}");
        let out = git(
            Some(&mirror),
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &object,
            ],
        )
        .await?;
        let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || !bosun_bus::git_refs::is_commit_sha(&commit) {
            return Err(format!("{clone_url} has no branch {branch}"));
        }
        let head = git(
            Some(&mirror),
            &["symbolic-ref", "--quiet", "--short", "HEAD"],
        )
        .await?;
        let default_branch = String::from_utf8_lossy(&head.stdout).trim().to_string();
        Ok(BranchHead {
            commit,
            default_branch: (head.status.success()
                && crate::settings::is_branch_name(&default_branch))
            .then_some(default_branch),
        })
    }

    async fn read_at_commit(
        &self,
        trigger: &RunTrigger,
        token: Option<&str>,
    ) -> Result<Option<String>, String> {
        let token = http_only(&trigger.clone_url, token);
        check_url(&trigger.clone_url)?;
        check_commit(&trigger.commit)?;
        let key = (trigger.clone_url.clone(), trigger.commit.clone());
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let lock = self.lock_for(&trigger.clone_url)?;
        let _guard = lock.lock().await;
        let mirror = self.mirror(&trigger.clone_url, token).await?;
        let object = format!("{}^{{commit}}", trigger.commit);
        let present = git(Some(&mirror), &["cat-file", "-e", &object])
            .await?
            .status
            .success();
        if !present {
            fetch(&mirror, &trigger.clone_url, token).await?;
            if !git(Some(&mirror), &["cat-file", "-e", &object])
                .await?
                .status
                .success()
            {
                return Err(format!(
                    "commit {} is not in {}",
                    trigger.commit, trigger.clone_url
                ));
            }
        }
        // A symlinked config is refused by name: git would hand back the link's target
        // path as if it were the file, and "no config" would hide the real cause.
        let listed = git(
            Some(&mirror),
            &["ls-tree", &trigger.commit, "--", CONFIG_FILE],
        )
        .await?;
        let listed = String::from_utf8_lossy(&listed.stdout);
        if listed.starts_with("120000 ") {
            return Err(format!(
                "{CONFIG_FILE} at commit {} is a symlink; Bosun reads the pipeline only from a regular file: commit the file itself",
                trigger.commit.get(..7).unwrap_or(&trigger.commit)
            ));
        }
        let spec = format!("{}:{CONFIG_FILE}", trigger.commit);
        // The size first: a huge file is refused unread, never held or cached.
        let size = git(Some(&mirror), &["cat-file", "-s", &spec]).await?;
        if size.status.success()
            && let Ok(bytes) = String::from_utf8_lossy(&size.stdout)
                .trim()
                .parse::<usize>()
            && bytes > crate::config::MAX_CONFIG_BYTES
        {
            return Err(format!(
                "{CONFIG_FILE} at commit {} is {} KiB; at most {} KiB is read",
                trigger.commit.get(..7).unwrap_or(&trigger.commit),
                bytes.div_ceil(1024),
                crate::config::MAX_CONFIG_BYTES / 1024
            ));
        }
        let out = git(Some(&mirror), &["show", &spec]).await?;
        let text = if out.status.success() {
            Some(
                String::from_utf8(out.stdout)
                    .map_err(|_| format!("{CONFIG_FILE} at {} is not UTF-8", trigger.commit))?,
            )
        } else {
            None
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= 4096 {
                cache.clear();
            }
            cache.insert(key, text.clone());
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command as Std;

    fn git_in(dir: &Path, args: &[&str]) -> String {
        let out = Std::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Bosun Test")
            .env("GIT_AUTHOR_EMAIL", "test@bosun.invalid")
            .env("GIT_COMMITTER_NAME", "Bosun Test")
            .env("GIT_COMMITTER_EMAIL", "test@bosun.invalid")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(dir: &Path, file: &str) -> String {
        std::fs::write(dir.join(file), file).unwrap();
        git_in(dir, &["add", "--all"]);
        git_in(dir, &["commit", "--quiet", "-m", file]);
        git_in(dir, &["rev-parse", "HEAD"])
    }

    #[tokio::test]
    async fn a_branch_head_is_read_after_a_fetch_with_the_default_branch() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("shop");
        std::fs::create_dir_all(&repo).unwrap();
        git_in(&repo, &["init", "--quiet", "--initial-branch=main"]);
        let first = commit(&repo, "a");
        git_in(&repo, &["branch", "release"]);
        let url = format!("file://{}", repo.display());
        let source = ConfigSource::new(dir.path().join("mirrors"));
        let head = source.branch_head(&url, "main", None).await.unwrap();
        assert_eq!(head.commit, first);
        assert_eq!(head.default_branch.as_deref(), Some("main"));
        // The branch moves on: the next read fetches it.
        let second = commit(&repo, "b");
        let moved = source.branch_head(&url, "main", None).await.unwrap();
        assert_eq!(moved.commit, second);
        let release = source.branch_head(&url, "release", None).await.unwrap();
        assert_eq!(release.commit, first);
        let gone = source.branch_head(&url, "gone", None).await.unwrap_err();
        assert!(gone.contains("has no branch gone"), "{gone}");
        let option = source.branch_head(&url, "--upload-pack=x", None).await;
        assert!(option.unwrap_err().contains("not a branch name"));
    }
}
