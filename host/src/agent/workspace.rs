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

/// A checked-out task workspace; its folders are removed on drop.
pub struct Workspace {
    /// The repository at the commit (mounted read-only as `/workspace`).
    pub source: PathBuf,
    /// The task's output folder (mounted as `/out`).
    pub out: PathBuf,
    root: PathBuf,
}

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
}

fn check_url(url: &str) -> Result<(), WorkspaceError> {
    let allowed = ["https://", "http://", "ssh://", "file://", "git@"];
    if url.starts_with('-') || !allowed.iter().any(|p| url.starts_with(p)) || url.contains('\0') {
        return Err(WorkspaceError::BadUrl(url.to_string()));
    }
    Ok(())
}

fn check_commit(commit: &str) -> Result<(), WorkspaceError> {
    let ok = (4..=64).contains(&commit.len()) && commit.chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        return Err(WorkspaceError::BadCommit(commit.to_string()));
    }
    Ok(())
}

async fn git(
    args: &[&str],
    cwd: Option<&Path>,
    action: &'static str,
    url: &str,
) -> Result<(), WorkspaceError> {
    let mut command = Command::new("git");
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
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
        }
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
                )
                .await?;
            } else if git(
                &["cat-file", "-e", &format!("{commit}^{{commit}}")],
                Some(&mirror),
                "lookup",
                url,
            )
            .await
            .is_err()
            {
                git(
                    &["fetch", "--quiet", "--prune", "origin"],
                    Some(&mirror),
                    "fetch",
                    url,
                )
                .await?;
            }
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
        let source = root.join("src");
        let out = root.join("out");
        std::fs::create_dir_all(&out).map_err(io(&out))?;
        let workspace = Workspace {
            source: source.clone(),
            out,
            root: root.clone(),
        };
        let mirror_s = mirror.display().to_string();
        let source_s = source.display().to_string();
        git(
            &[
                "clone",
                "--quiet",
                "--shared",
                "--no-checkout",
                "--",
                &mirror_s,
                &source_s,
            ],
            None,
            "checkout",
            url,
        )
        .await?;
        git(
            &["checkout", "--quiet", "--detach", commit, "--"],
            Some(&source),
            "checkout",
            url,
        )
        .await?;
        // Tools run as a non-root user inside containers: they must be able to read.
        for dir in [&root, &source] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(io(dir))?;
        }
        Ok(workspace)
    }
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
}
