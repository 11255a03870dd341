//! Workspaces: the repository at the task's commit, from a per-repository git mirror.
//!
//! The first task for a repository clones a bare mirror into the cache; later tasks
//! fetch into it. Each task gets its own checkout (a cheap `--shared` clone), removed
//! when the task is done. Git runs with argv only, and the URL and commit are checked
//! first so neither can smuggle in an option.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::process::Command;

/// Why a workspace could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The clone URL is not one Bosun fetches from.
    #[error("clone URL {0:?} is not allowed (use https://, http://, ssh://, git@host: or file://)")]
    BadUrl(String),
    /// The commit is not a hex sha.
    #[error("commit {0:?} is not a hexadecimal sha")]
    BadCommit(String),
    /// Git failed.
    #[error("git {action} for {url} failed: {detail}")]
    Git {
        /// What git was doing.
        action: &'static str,
        /// The repository.
        url: String,
        /// Git's stderr.
        detail: String,
    },
    /// Local file-system trouble.
    #[error("workspace folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A checked-out task workspace; its own folders are removed on drop. The source may
/// be a checkout shared with other tasks of the same commit (it is mounted read-only).
pub struct Workspace {
    /// The repository at the commit (mounted read-only as `/workspace`).
    pub source: PathBuf,
    /// The task's output folder (mounted as `/out`).
    pub out: PathBuf,
    root: PathBuf,
    /// Keeps a shared checkout from being evicted while the task runs.
    _lease: Option<Arc<SharedCheckout>>,
}

/// A checkout of one commit that tasks share read-only; removed when evicted and unused.
struct SharedCheckout {
    path: PathBuf,
    ready: tokio::sync::OnceCell<()>,
}

impl Drop for SharedCheckout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Shared checkouts kept for reuse, most recently used last.
const SHARED_CHECKOUTS: usize = 16;

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            tracing::warn!(path = %self.root.display(), error = %e, "could not remove task workspace");
        }
    }
}

/// Prepares workspaces under a cache folder.
pub struct WorkspaceCache {
    root: PathBuf,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Share one checkout per commit between tasks (safe when tools cannot write to
    /// `/workspace`: plugins and sandboxed containers see it read-only).
    share: bool,
    shared: Mutex<Vec<(String, Arc<SharedCheckout>)>>,
    /// Commits already known to be in their mirror (no `git cat-file` needed).
    present: Mutex<std::collections::HashSet<String>>,
    /// Clone tokens by tenant (lower-cased): the agent's own, from its operator.
    tokens: HashMap<String, String>,
}

fn check_url(url: &str) -> Result<(), WorkspaceError> {
    if !bosun_bus::git_refs::is_allowed_clone_url(url) {
        return Err(WorkspaceError::BadUrl(url.to_string()));
    }
    Ok(())
}

fn check_commit(commit: &str) -> Result<(), WorkspaceError> {
    if !bosun_bus::git_refs::is_commit_sha(commit) {
        return Err(WorkspaceError::BadCommit(commit.to_string()));
    }
    Ok(())
}

async fn git(
    args: &[&str],
    cwd: Option<&Path>,
    action: &'static str,
    url: &str,
    token: Option<&str>,
) -> Result<(), WorkspaceError> {
    let mut command = Command::new("git");
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.envs(bosun_bus::git_refs::token_env(token));
    }
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    let output = command.output().await.map_err(|e| WorkspaceError::Git {
        action,
        url: url.to_string(),
        detail: format!("cannot run git: {e}"),
    })?;
    if !output.status.success() {
        return Err(WorkspaceError::Git {
            action,
            url: url.to_string(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl WorkspaceCache {
    /// Mirrors and task folders live under `root`.
    pub fn new(root: PathBuf) -> WorkspaceCache {
        WorkspaceCache {
            root,
            locks: Mutex::new(HashMap::new()),
            share: true,
            shared: Mutex::new(Vec::new()),
            present: Mutex::new(std::collections::HashSet::new()),
            tokens: HashMap::new(),
        }
    }

    /// Fetch the repositories of these tenants (`tenant`, token) with their token: the
    /// agent holds them itself, so no credential travels on the bus or reaches a plugin.
    pub fn with_clone_tokens(mut self, tokens: Vec<(String, String)>) -> WorkspaceCache {
        self.tokens = tokens
            .into_iter()
            .map(|(tenant, token)| (tenant.to_ascii_lowercase(), token))
            .collect();
        self
    }

    fn is_present(&self, key: &str, commit: &str) -> bool {
        self.present
            .lock()
            .map(|p| p.contains(&format!("{key}/{commit}")))
            .unwrap_or(false)
    }

    /// Give every task its own checkout: for runners whose tools can write to the
    /// workspace (the unsandboxed process runner).
    pub fn with_private_checkouts(mut self) -> WorkspaceCache {
        self.share = false;
        self
    }

    /// The shared checkout of `commit`, created (not yet filled) if new; evicts the
    /// least recently used checkouts no task holds.
    fn shared_checkout(&self, key: &str, commit: &str) -> Option<Arc<SharedCheckout>> {
        let mut shared = self.shared.lock().ok()?;
        let id = format!("{}-{commit}", &key[..16.min(key.len())]);
        if let Some(index) = shared.iter().position(|(k, _)| *k == id) {
            let entry = shared.remove(index);
            let checkout = Arc::clone(&entry.1);
            shared.push(entry);
            return Some(checkout);
        }
        let checkout = Arc::new(SharedCheckout {
            path: self.root.join("checkouts").join(&id),
            ready: tokio::sync::OnceCell::new(),
        });
        shared.push((id, Arc::clone(&checkout)));
        while shared.len() > SHARED_CHECKOUTS {
            // Only the cache holds an idle checkout; a leased one stays until its task ends.
            match shared.iter().position(|(_, c)| Arc::strong_count(c) == 1) {
                Some(index) => {
                    shared.remove(index);
                }
                None => break,
            }
        }
        Some(checkout)
    }

    fn repo_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.locks.lock() {
            Ok(mut locks) => locks.entry(key.to_string()).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Check out `commit` of `url` into a fresh folder for task `task_id`.
    pub async fn prepare(
        &self,
        url: &str,
        commit: &str,
        task_id: &str,
    ) -> Result<Workspace, WorkspaceError> {
        self.prepare_for("", url, commit, task_id).await
    }

    /// As [`WorkspaceCache::prepare`], fetching with `tenant`'s clone token if the
    /// agent holds one.
    pub async fn prepare_for(
        &self,
        tenant: &str,
        url: &str,
        commit: &str,
        task_id: &str,
    ) -> Result<Workspace, WorkspaceError> {
        let token = self
            .tokens
            .get(&tenant.to_ascii_lowercase())
            .map(String::as_str)
            .filter(|_| url.starts_with("https://") || url.starts_with("http://"));
        check_url(url)?;
        check_commit(commit)?;
        let key = hex::encode(Sha256::digest(url.as_bytes()));
        let mirror = self.root.join("mirrors").join(&key);
        {
            // One fetch per repository at a time; checkouts run in parallel.
            let lock = self.repo_lock(&key);
            let _guard = lock.lock().await;
            let mirror_s = mirror.display().to_string();
            if !mirror.join("HEAD").exists() {
                std::fs::create_dir_all(mirror.parent().unwrap_or(&self.root))
                    .map_err(io(&mirror))?;
                git(
                    &["clone", "--quiet", "--mirror", "--", url, &mirror_s],
                    None,
                    "clone",
                    url,
                    token,
                )
                .await?;
            } else if !self.is_present(&key, commit)
                && git(
                    &["cat-file", "-e", &format!("{commit}^{{commit}}")],
                    Some(&mirror),
                    "lookup",
                    url,
                    None,
                )
                .await
                .is_err()
            {
                git(
                    &["fetch", "--quiet", "--prune", "origin"],
                    Some(&mirror),
                    "fetch",
                    url,
                    token,
                )
                .await?;
            }
        }
        if let Ok(mut present) = self.present.lock() {
            if present.len() >= 4096 {
                present.clear();
            }
            present.insert(format!("{key}/{commit}"));
        }
        let safe_id: String = task_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let root = self
            .root
            .join("tasks")
            .join(format!("{safe_id}-{}", std::process::id()));
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(io(&root))?;
        }
        let out = root.join("out");
        std::fs::create_dir_all(&out).map_err(io(&out))?;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))
            .map_err(io(&root))?;
        let lease = if self.share {
            self.shared_checkout(&key, commit)
        } else {
            None
        };
        let source = match &lease {
            Some(checkout) => {
                checkout
                    .ready
                    .get_or_try_init(|| checkout_into(&mirror, &checkout.path, commit, url))
                    .await?;
                checkout.path.clone()
            }
            None => {
                let source = root.join("src");
                checkout_into(&mirror, &source, commit, url).await?;
                source
            }
        };
        let workspace = Workspace {
            source,
            out,
            root,
            _lease: lease,
        };
        Ok(workspace)
    }
}

/// `git clone --shared` of the mirror into `dest`, detached at `commit`, readable by
/// the tools' non-root user.
async fn checkout_into(
    mirror: &Path,
    dest: &Path,
    commit: &str,
    url: &str,
) -> Result<(), WorkspaceError> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(io(dest))?;
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mirror_s = mirror.display().to_string();
    let dest_s = dest.display().to_string();
    git(
        &[
            "clone",
            "--quiet",
            "--shared",
            "--no-checkout",
            "--",
            &mirror_s,
            &dest_s,
        ],
        None,
        "checkout",
        url,
        None,
    )
    .await?;
    git(
        &["checkout", "--quiet", "--detach", commit, "--"],
        Some(dest),
        "checkout",
        url,
        None,
    )
    .await?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).map_err(io(dest))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_commits_are_checked_before_git_sees_them() {
        assert!(check_url("https://github.com/acme/app.git").is_ok());
        assert!(check_url("file:///tmp/repo").is_ok());
        assert!(check_url("--upload-pack=touch /tmp/x").is_err());
        assert!(check_url("/etc").is_err());
        assert!(check_commit("0123abcd").is_ok());
        assert!(check_commit("--force").is_err());
        assert!(check_commit("HEAD").is_err());
    }

    fn repo(dir: &Path) -> (String, String) {
        let run = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(args)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@bosun.invalid")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@bosun.invalid")
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        std::fs::create_dir_all(dir).unwrap();
        run(&["init", "--quiet"]);
        std::fs::write(dir.join("a.txt"), "a").unwrap();
        run(&["add", "a.txt"]);
        run(&["commit", "--quiet", "-m", "a"]);
        (
            format!("file://{}", dir.display()),
            run(&["rev-parse", "HEAD"]),
        )
    }

    #[tokio::test]
    async fn tasks_of_one_commit_share_a_checkout_unless_told_not_to() {
        let dir = tempfile::tempdir().unwrap();
        let (url, sha) = repo(&dir.path().join("repo"));
        let shared = WorkspaceCache::new(dir.path().join("shared"));
        let a = shared.prepare(&url, &sha, "r/lint/1").await.unwrap();
        let b = shared.prepare(&url, &sha, "r/test/1").await.unwrap();
        assert_eq!(a.source, b.source);
        assert_ne!(a.out, b.out, "each task keeps its own /out");
        assert_eq!(
            std::fs::read_to_string(b.source.join("a.txt")).unwrap(),
            "a"
        );
        drop(a);
        assert!(
            b.source.exists(),
            "a checkout in use survives the other task"
        );
        let private = WorkspaceCache::new(dir.path().join("private")).with_private_checkouts();
        let c = private.prepare(&url, &sha, "r/lint/1").await.unwrap();
        let d = private.prepare(&url, &sha, "r/test/1").await.unwrap();
        assert_ne!(c.source, d.source);
        let gone = c.source.clone();
        drop(c);
        assert!(!gone.exists(), "a private checkout goes with its task");
    }
}
