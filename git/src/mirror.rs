//! Per-repository bare mirrors: cloned (`--mirror`) on first use, fetched only when a
//! commit is not there yet, one clone or fetch per repository at a time; reads and
//! checkouts of a mirror run in parallel. The orchestrator reads `.bosun.yml` from
//! them, the agents check task workspaces out of them.

use crate::GitError;
use crate::command::Git;
use crate::refs::{check_clone_url, check_commit, takes_token};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex, PoisonError};

/// How many commits known to be in their mirror are remembered before the set is
/// started again.
const PRESENT_CAP: usize = 4096;

/// The mirrors under one folder.
pub struct Mirrors {
    root: PathBuf,
    /// One lock per repository, so two tasks never clone or fetch into one mirror at once.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// `key/commit` of commits known to be in their mirror (no `git cat-file` needed).
    present: Mutex<HashSet<String>>,
}

/// One repository's mirror, holding the commit it was fetched for.
#[derive(Debug, Clone)]
pub struct Mirror {
    path: PathBuf,
    url: String,
    key: String,
}

impl Mirrors {
    /// Mirrors live under `root`, one folder per repository.
    pub fn new(root: PathBuf) -> Mirrors {
        Mirrors {
            root,
            locks: Mutex::new(HashMap::new()),
            present: Mutex::new(HashSet::new()),
        }
    }

    /// The mirror of `url` holding `commit`: cloned if new, fetched if the commit is
    /// not there yet. `token` authenticates HTTP(S) fetches and is never sent to another
    /// scheme. The URL and commit are checked before git sees them.
    pub async fn fetch(
        &self,
        url: &str,
        commit: &str,
        token: Option<&str>,
    ) -> Result<Mirror, GitError> {
        check_clone_url(url)?;
        check_commit(commit)?;
        let token = token.filter(|_| takes_token(url));
        let mirror = self.mirror_of(url);
        let known = format!("{}/{commit}", mirror.key);
        if self.is_present(&known) && mirror.path.join("HEAD").exists() {
            return Ok(mirror);
        }
        let lock = self.lock(&mirror.key);
        let _guard = lock.lock().await;
        if !mirror.path.join("HEAD").exists() {
            self.clone_into(&mirror, token).await?;
            mirror.require(commit).await?;
        } else if !self.is_present(&known) && !mirror.has(commit).await? {
            mirror.fetch_all(token).await?;
            mirror.require(commit).await?;
        }
        if let Ok(mut present) = self.present.lock() {
            if present.len() >= PRESENT_CAP {
                present.clear();
            }
            present.insert(known);
        }
        Ok(mirror)
    }

    /// The mirror of `url` brought up to date: cloned if new, else fetched now (for a
    /// branch's current head rather than a known commit). The URL is checked first.
    pub async fn update(&self, url: &str, token: Option<&str>) -> Result<Mirror, GitError> {
        check_clone_url(url)?;
        let token = token.filter(|_| takes_token(url));
        let mirror = self.mirror_of(url);
        let lock = self.lock(&mirror.key);
        let _guard = lock.lock().await;
        if mirror.path.join("HEAD").exists() {
            mirror.fetch_all(token).await?;
        } else {
            self.clone_into(&mirror, token).await?;
        }
        Ok(mirror)
    }

    /// Where `url`'s mirror lives: a folder named by the hex SHA-256 of the URL.
    fn mirror_of(&self, url: &str) -> Mirror {
        let key = hex::encode(Sha256::digest(url.as_bytes()));
        Mirror {
            path: self.root.join(&key),
            url: url.to_string(),
            key,
        }
    }

    /// Clone `mirror` for the first time (the caller holds its lock).
    async fn clone_into(&self, mirror: &Mirror, token: Option<&str>) -> Result<(), GitError> {
        std::fs::create_dir_all(&self.root).map_err(|source| GitError::Io {
            path: self.root.clone(),
            source,
        })?;
        let path = mirror.path.to_string_lossy();
        mirror
            .git("clone", None, token)
            .run(&["clone", "--quiet", "--mirror", "--", &mirror.url, &path])
            .await
    }

    fn lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(key.to_string()).or_default())
    }

    fn is_present(&self, known: &str) -> bool {
        self.present
            .lock()
            .map(|present| present.contains(known))
            .unwrap_or(false)
    }
}

impl Mirror {
    /// The bare repository's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The repository's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A name for the repository that is safe in paths: the hex SHA-256 of its URL.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn git<'a>(
        &'a self,
        action: &'static str,
        dir: Option<&'a Path>,
        token: Option<&'a str>,
    ) -> Git<'a> {
        Git {
            action,
            url: &self.url,
            dir,
            token,
        }
    }

    /// Fetch every ref from the origin (the caller holds the mirror's lock).
    async fn fetch_all(&self, token: Option<&str>) -> Result<(), GitError> {
        self.git("fetch", Some(&self.path), token)
            .run(&["fetch", "--quiet", "--prune", "origin"])
            .await
    }

    /// Whether the mirror holds `commit`.
    async fn has(&self, commit: &str) -> Result<bool, GitError> {
        let object = format!("{commit}^{{commit}}");
        let output = self
            .git("lookup", Some(&self.path), None)
            .output(&["cat-file", "-e", &object])
            .await?;
        Ok(output.status.success())
    }

    async fn require(&self, commit: &str) -> Result<(), GitError> {
        if self.has(commit).await? {
            Ok(())
        } else {
            Err(GitError::MissingCommit {
                commit: commit.to_string(),
                url: self.url.clone(),
            })
        }
    }

    /// Run a reading git command (`ls-tree`, `cat-file`, `show`) in the mirror and
    /// return what it did, whatever its exit status; an error only when git cannot run.
    pub async fn read(&self, args: &[&str]) -> Result<Output, GitError> {
        self.git("read", Some(&self.path), None).output(args).await
    }

    /// Check `commit` out into `dest` (replaced if it exists): a `--shared` clone of the
    /// mirror, detached at the commit, so it costs no copy of the objects.
    pub async fn checkout(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        check_commit(commit)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| GitError::Io { path, source }
        };
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(io(dest))?;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mirror = self.path.to_string_lossy();
        let dest_s = dest.to_string_lossy();
        self.git("checkout", None, None)
            .run(&[
                "clone",
                "--quiet",
                "--shared",
                "--no-checkout",
                "--",
                &mirror,
                &dest_s,
            ])
            .await?;
        self.git("checkout", Some(dest), None)
            .run(&["checkout", "--quiet", "--detach", commit, "--"])
            .await
    }
}

#[cfg(test)]
mod tests;
