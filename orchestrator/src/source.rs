//! Reading `.bosun.yml` from the pushed commit: the repository's mirror (`bosun-git`),
//! fetched only when the commit is not there yet, then `git show <sha>:.bosun.yml`; and a
//! branch's head commit for a scheduled run (the mirror fetched first). Git runs with
//! argv only; the URL, sha and branch are checked before git sees them.

use crate::config::{CONFIG_FILE, MAX_CONFIG_BYTES};
use crate::model::{LoadedConfig, RunTrigger};
use bosun_git::{GitError, Mirrors};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Why a run's pipeline config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    /// The repository or the commit could not be fetched.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The config is a symlink, which Bosun does not follow.
    #[error(
        "{CONFIG_FILE} at commit {short} is a symlink; Bosun reads the pipeline only from a \
         regular file: commit the file itself"
    )]
    Symlink {
        /// The commit, shortened.
        short: String,
    },
    /// The config is larger than Bosun reads.
    #[error("{CONFIG_FILE} at commit {short} is {kib} KiB; at most {max_kib} KiB is read")]
    TooLarge {
        /// The commit, shortened.
        short: String,
        /// Its size, rounded up.
        kib: usize,
        /// The most Bosun reads.
        max_kib: usize,
    },
    /// The config is not text.
    #[error("{CONFIG_FILE} at {commit} is not UTF-8")]
    NotUtf8 {
        /// The commit.
        commit: String,
    },
    /// Neither the commit nor the server has a pipeline for the repository.
    #[error(
        "{repository} has no {CONFIG_FILE} at commit {short} and the server has no fallback \
         pipeline for it"
    )]
    NoPipeline {
        /// The repository's full name.
        repository: String,
        /// The commit, shortened.
        short: String,
    },
}

/// Why a branch's head commit could not be read (a schedule's run).
#[derive(Debug, thiserror::Error)]
pub enum BranchHeadError {
    /// The schedule names something git would not take as a branch.
    #[error("{0:?} is not a branch name")]
    NotABranch(String),
    /// The repository could not be fetched or read.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The repository has no such branch.
    #[error("{clone_url} has no branch {branch}")]
    NoSuchBranch {
        /// The repository's clone URL.
        clone_url: String,
        /// The branch asked for.
        branch: String,
    },
}

/// Where pipeline configs come from.
pub struct ConfigSource {
    mirrors: Mirrors,
    /// Config text by (repository, commit): a commit's file never changes.
    cache: Mutex<HashMap<(String, String), Option<String>>>,
}

/// The first seven characters of a commit, as messages show it.
fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
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
            mirrors: Mirrors::new(root),
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
    ) -> Result<LoadedConfig, ConfigLoadError> {
        let short = short(&trigger.commit);
        match self.read_at_commit(trigger, token).await? {
            Some(text) => Ok(LoadedConfig::new(text, format!("{CONFIG_FILE}@{short}"))),
            None => match fallback {
                Some(text) => Ok(LoadedConfig::new(
                    text,
                    format!("fallback pipeline for {}", trigger.repository),
                )),
                None => Err(ConfigLoadError::NoPipeline {
                    repository: trigger.repository.clone(),
                    short: short.to_string(),
                }),
            },
        }
    }

    /// The commit `branch` points at now in `clone_url` (the mirror fetched first), and
    /// the repository's default branch. The URL and branch name are checked first.
    pub async fn branch_head(
        &self,
        clone_url: &str,
        branch: &str,
        token: Option<&str>,
    ) -> Result<BranchHead, BranchHeadError> {
        if !crate::settings::is_branch_name(branch) {
            return Err(BranchHeadError::NotABranch(branch.to_string()));
        }
        let mirror = self.mirrors.update(clone_url, token).await?;
        let object = format!("refs/heads/{branch}^{{commit}}");
        let out = mirror
            .read(&[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &object,
            ])
            .await?;
        let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || bosun_git::refs::check_commit(&commit).is_err() {
            return Err(BranchHeadError::NoSuchBranch {
                clone_url: clone_url.to_string(),
                branch: branch.to_string(),
            });
        }
        let head = mirror
            .read(&["symbolic-ref", "--quiet", "--short", "HEAD"])
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
    ) -> Result<Option<String>, ConfigLoadError> {
        let key = (trigger.clone_url.clone(), trigger.commit.clone());
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let mirror = self
            .mirrors
            .fetch(&trigger.clone_url, &trigger.commit, token)
            .await?;
        // A symlinked config is refused by name: git would hand back the link's target
        // path as if it were the file, and "no config" would hide the real cause.
        let listed = mirror
            .read(&["ls-tree", &trigger.commit, "--", CONFIG_FILE])
            .await?;
        if listed.stdout.starts_with(b"120000 ") {
            return Err(ConfigLoadError::Symlink {
                short: short(&trigger.commit).to_string(),
            });
        }
        let spec = format!("{}:{CONFIG_FILE}", trigger.commit);
        // The size first: a huge file is refused unread, never held or cached.
        let size = mirror.read(&["cat-file", "-s", &spec]).await?;
        if size.status.success()
            && let Ok(bytes) = String::from_utf8_lossy(&size.stdout)
                .trim()
                .parse::<usize>()
            && bytes > MAX_CONFIG_BYTES
        {
            return Err(ConfigLoadError::TooLarge {
                short: short(&trigger.commit).to_string(),
                kib: bytes.div_ceil(1024),
                max_kib: MAX_CONFIG_BYTES / 1024,
            });
        }
        let out = mirror.read(&["show", &spec]).await?;
        let text = if out.status.success() {
            Some(
                String::from_utf8(out.stdout).map_err(|_| ConfigLoadError::NotUtf8 {
                    commit: trigger.commit.clone(),
                })?,
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
    use bosun_test_support::{commit_all, git, git_repo};

    #[tokio::test]
    async fn a_branch_head_is_read_after_a_fetch_with_the_default_branch() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("shop");
        let (url, first) = git_repo(&repo, &[("a", "a")]);
        git(&repo, &["branch", "release"]);
        let source = ConfigSource::new(dir.path().join("mirrors"));
        let head = source.branch_head(&url, "main", None).await.unwrap();
        assert_eq!(head.commit, first);
        assert_eq!(head.default_branch.as_deref(), Some("main"));
        // The branch moves on: the next read fetches it.
        std::fs::write(repo.join("b"), "b").unwrap();
        let second = commit_all(&repo, "b");
        let moved = source.branch_head(&url, "main", None).await.unwrap();
        assert_eq!(moved.commit, second);
        let release = source.branch_head(&url, "release", None).await.unwrap();
        assert_eq!(release.commit, first);
        let gone = source.branch_head(&url, "gone", None).await.unwrap_err();
        assert!(
            matches!(&gone, BranchHeadError::NoSuchBranch { branch, .. } if branch == "gone"),
            "{gone:?}"
        );
        assert!(gone.to_string().contains("has no branch gone"), "{gone}");
        let option = source.branch_head(&url, "--upload-pack=x", None).await;
        assert!(matches!(option, Err(BranchHeadError::NotABranch(_))));
    }
}
