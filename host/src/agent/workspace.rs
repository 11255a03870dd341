//! Workspaces: the repository at the task's commit, from the repository's git mirror
//! (`bosun-git`).
//!
//! The first task for a repository clones a bare mirror into the cache; later tasks
//! fetch into it. Tasks of one commit share one read-only checkout (a cheap `--shared`
//! clone) unless told to keep their own; each task's folders are removed when it is
//! done. Git runs with argv only, and the URL and commit are checked first so neither
//! can smuggle in an option.

use bosun_git::{GitError, Mirror, Mirrors};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a workspace could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The repository or the commit could not be fetched or checked out.
    #[error(transparent)]
    Git(#[from] GitError),
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
    mirrors: Mirrors,
    /// Share one checkout per commit between tasks (safe when tools cannot write to
    /// `/workspace`: plugins and sandboxed containers see it read-only).
    share: bool,
    shared: Mutex<Vec<(String, Arc<SharedCheckout>)>>,
    /// Clone tokens by tenant (lower-cased): the agent's own, from its operator.
    tokens: HashMap<String, String>,
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
            mirrors: Mirrors::new(root.join("mirrors")),
            root,
            share: true,
            shared: Mutex::new(Vec::new()),
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
            .map(String::as_str);
        let mirror = self.mirrors.fetch(url, commit, token).await?;
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
            self.shared_checkout(mirror.key(), commit)
        } else {
            None
        };
        let source = match &lease {
            Some(checkout) => {
                checkout
                    .ready
                    .get_or_try_init(|| checkout_into(&mirror, &checkout.path, commit))
                    .await?;
                checkout.path.clone()
            }
            None => {
                let source = root.join("src");
                checkout_into(&mirror, &source, commit).await?;
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

impl Workspace {
    /// A folder of the task's own (made empty, readable by the tools' non-root user),
    /// removed with the task: e.g. the artifacts it reads and keeps.
    pub fn own_folder(&self, name: &str) -> Result<PathBuf, WorkspaceError> {
        let path = self.root.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
        std::fs::create_dir(&path).map_err(io(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(io(&path))?;
        Ok(path)
    }
}

/// The mirror's checkout of `commit` in `dest`, readable by the tools' non-root user.
async fn checkout_into(mirror: &Mirror, dest: &Path, commit: &str) -> Result<(), WorkspaceError> {
    mirror.checkout(commit, dest).await?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).map_err(io(dest))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(dir: &Path) -> (String, String) {
        bosun_test_support::git_repo(dir, &[("a.txt", "a")])
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
