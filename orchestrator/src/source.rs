//! Reading `.bosun.yml` from the pushed commit: a bare mirror per repository, fetched
//! only when the commit is not there yet, then `git show <sha>:.bosun.yml`. Git runs
//! with argv only; the URL and sha are checked before git sees them.

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

    async fn read_at_commit(
        &self,
        trigger: &RunTrigger,
        token: Option<&str>,
    ) -> Result<Option<String>, String> {
        let token = token.filter(|_| {
            trigger.clone_url.starts_with("https://") || trigger.clone_url.starts_with("http://")
        });
        check_url(&trigger.clone_url)?;
        check_commit(&trigger.commit)?;
        let key = (trigger.clone_url.clone(), trigger.commit.clone());
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .map_err(|_| "config source lock poisoned".to_string())?;
            Arc::clone(locks.entry(trigger.clone_url.clone()).or_default())
        };
        let _guard = lock.lock().await;
        let name = hex::encode(&Sha256::digest(trigger.clone_url.as_bytes())[..12]);
        let mirror = self.root.join(format!("{name}.git"));
        if !mirror.join("HEAD").exists() {
            std::fs::create_dir_all(&self.root)
                .map_err(|e| format!("cannot create {}: {e}", self.root.display()))?;
            let out = git_as(
                None,
                &[
                    "clone",
                    "--quiet",
                    "--mirror",
                    "--",
                    &trigger.clone_url,
                    &mirror.to_string_lossy(),
                ],
                token,
            )
            .await?;
            if !out.status.success() {
                return Err(format!(
                    "git clone of {} failed: {}",
                    trigger.clone_url,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        let object = format!("{}^{{commit}}", trigger.commit);
        let present = git(Some(&mirror), &["cat-file", "-e", &object])
            .await?
            .status
            .success();
        if !present {
            let out = git_as(
                Some(&mirror),
                &["fetch", "--quiet", "--prune", "origin"],
                token,
            )
            .await?;
            if !out.status.success() {
                return Err(format!(
                    "git fetch of {} failed: {}",
                    trigger.clone_url,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
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
