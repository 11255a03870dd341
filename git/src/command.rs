//! Running git: argv only, prompts off, no stdin, killed with the task that waits for
//! it, and a token only through the environment.

use crate::GitError;
use crate::refs::token_env;
use std::path::Path;
use std::process::{Output, Stdio};
use tokio::process::Command;

/// One git invocation for the repository `url`, named by what it does (`clone`,
/// `fetch`, `checkout`) so its error says so.
pub(crate) struct Git<'a> {
    pub action: &'static str,
    pub url: &'a str,
    /// The folder git works in (`git -C`), if not the current one.
    pub dir: Option<&'a Path>,
    /// Sent as an HTTP header through the environment, when given.
    pub token: Option<&'a str>,
}

impl Git<'_> {
    /// Run git with `args` and return what it did, whatever its exit status.
    pub async fn output(&self, args: &[&str]) -> Result<Output, GitError> {
        let mut command = Command::new("git");
        if let Some(dir) = self.dir {
            command.arg("-C").arg(dir);
        }
        command
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(token) = self.token {
            command.envs(token_env(token));
        }
        command.output().await.map_err(|source| GitError::Spawn {
            action: self.action,
            url: self.url.to_string(),
            source,
        })
    }

    /// Run git with `args`; a failure is an error carrying git's stderr.
    pub async fn run(&self, args: &[&str]) -> Result<(), GitError> {
        let output = self.output(args).await?;
        if output.status.success() {
            Ok(())
        } else {
            Err(GitError::Failed {
                action: self.action,
                url: self.url.to_string(),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        }
    }
}
