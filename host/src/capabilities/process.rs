//! The process runner: tools run directly on the agent host, for machines without Docker.
//!
//! It is NOT a sandbox: the tool runs as the agent's user with its file access. It keeps
//! what it can of the contract (argv only, a cleared environment plus the CI variables,
//! the deadline, the output cap) and says plainly that it is unsandboxed. Paths under
//! `/workspace` and `/out` in argv, env and the working directory are mapped to the
//! task's folders, so plugins need not know which runner they got.

use super::containers::{ContainerContext, ContainerRunner, RunFuture};
use crate::bindings::{ContainerError, ContainerOutput, ContainerRequest};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Runs tools as child processes of the agent, unsandboxed.
pub struct ProcessRunner {
    /// Most bytes kept of stdout and of stderr each.
    pub output_cap: usize,
}

impl Default for ProcessRunner {
    fn default() -> Self {
        ProcessRunner {
            output_cap: 4 << 20,
        }
    }
}

/// Rewrite a container path to the host folder it stands for.
fn map_path(value: &str, context: &ContainerContext) -> String {
    let map = |prefix: &str, host: &Path| -> Option<String> {
        let rest = value.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{}{rest}", host.display()))
    };
    map("/workspace", &context.workspace)
        .or_else(|| map("/out", &context.out))
        .unwrap_or_else(|| value.to_string())
}

async fn read_capped(
    mut pipe: impl tokio::io::AsyncRead + Unpin,
    cap: usize,
    mut lines: Option<super::tool_lines::ToolLines>,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut truncated = false;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(lines) = lines.as_mut() {
                    lines.feed(&buf[..n]);
                }
                truncated |= super::containers::append_capped(&mut kept, &buf[..n], cap);
            }
        }
    }
    if let Some(lines) = lines {
        lines.finish();
    }
    (kept, truncated)
}

impl ProcessRunner {
    async fn run_checked(
        &self,
        context: &ContainerContext,
        request: ContainerRequest,
    ) -> Result<ContainerOutput, ContainerError> {
        let started = Instant::now();
        let Some((program, args)) = request.argv.split_first() else {
            return Err(ContainerError::Denied("no command given".into()));
        };
        tracing::warn!(image = %request.image, tool = %program, "running tool UNSANDBOXED (process runner)");
        let workdir = request.workdir.as_deref().unwrap_or("/workspace");
        let mut command = tokio::process::Command::new(map_path(program, context));
        command
            .args(args.iter().map(|a| map_path(a, context)))
            .current_dir(map_path(workdir, context))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .envs(super::containers::ci_env(context))
            .envs(request.env.iter().map(|(k, v)| (k, map_path(v, context))))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ContainerError::ImageNotFound(format!(
                "{program} is not installed on this agent host"
            )),
            _ => ContainerError::Failed(format!("starting {program}: {e}")),
        })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(ContainerError::Failed(format!(
                "{program}: no output pipes"
            )));
        };
        let cap = self.output_cap;
        // The attempt's log gets the tool's lines as they come, as from a container.
        let lines = |level| {
            context.tool_log.clone().map(|sink| {
                let line_cap = sink.line_cap();
                super::tool_lines::ToolLines::new(sink, level, line_cap)
            })
        };
        let out_task = tokio::spawn(read_capped(stdout, cap, lines(bosun_bus::LogLevel::Info)));
        let err_task = tokio::spawn(read_capped(stderr, cap, lines(bosun_bus::LogLevel::Warn)));
        let limit = Duration::from_millis(u64::from(request.timeout_ms));
        let status = match tokio::time::timeout(limit, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                return Err(ContainerError::Failed(format!(
                    "waiting for {program}: {e}"
                )));
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(ContainerError::TimedOut(request.timeout_ms));
            }
        };
        let (out, out_cut) = out_task.await.unwrap_or_default();
        let (err, err_cut) = err_task.await.unwrap_or_default();
        Ok(ContainerOutput {
            // A signal death has no code; report it the way shells do (128 + signal).
            exit_code: status.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                128 + status.signal().unwrap_or(0)
            }),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            truncated: out_cut || err_cut,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
}

impl ContainerRunner for ProcessRunner {
    fn describe(&self) -> String {
        "process (unsandboxed)".into()
    }

    fn run<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: ContainerRequest,
    ) -> RunFuture<'a> {
        Box::pin(self.run_checked(context, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn context(dir: &Path) -> ContainerContext {
        ContainerContext {
            run_id: "r1".into(),
            stage: "test".into(),
            attempt: 2,
            commit: "abc".into(),
            branch: "zzz\";echo${IFS}\"hi\";#".into(),
            commit_message: String::new(),
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            event: "push".into(),
            workspace: dir.to_path_buf(),
            out: dir.join("out"),
            network_allowed: false,
            deadline: Instant::now() + Duration::from_secs(30),
            secrets: vec![],
            secrets_granted: Vec::new(),
            secrets_withheld: Vec::new(),
            push_repository: None,
            image_repository: None,
            artifacts: None,
            tool_log: None,
        }
    }

    fn request(argv: &[&str], timeout_ms: u32) -> ContainerRequest {
        ContainerRequest {
            image: "any".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            workdir: None,
            timeout_ms,
            network: false,
        }
    }

    #[tokio::test]
    async fn process_runner_maps_paths_and_passes_argv_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file.txt"), "content").unwrap();
        let ctx = context(dir.path());
        let out = ProcessRunner::default()
            .run(&ctx, request(&["cat", "/workspace/file.txt"], 10_000))
            .await
            .unwrap();
        assert_eq!(out.stdout, "content");
        let out = ProcessRunner::default()
            .run(
                &ctx,
                request(&["printenv", "BOSUN_BRANCH", "BOSUN_ATTEMPT"], 10_000),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout, "zzz\";echo${IFS}\"hi\";#\n2\n");
        assert_eq!(map_path("/workspacex", &ctx), "/workspacex");
        assert_eq!(
            PathBuf::from(map_path("/out/a", &ctx)),
            dir.path().join("out/a")
        );
    }

    #[tokio::test]
    async fn process_runner_kills_at_timeout_and_reports_missing_tools() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let timed_out = ProcessRunner::default()
            .run(&ctx, request(&["sleep", "30"], 200))
            .await;
        assert!(matches!(timed_out, Err(ContainerError::TimedOut(200))));
        let missing = ProcessRunner::default()
            .run(&ctx, request(&["no-such-tool-bosun"], 1000))
            .await;
        assert!(matches!(missing, Err(ContainerError::ImageNotFound(_))));
    }

    #[tokio::test]
    async fn process_runner_caps_output() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let runner = ProcessRunner { output_cap: 1000 };
        let out = runner
            .run(
                &ctx,
                request(&["head", "-c", "100000", "/dev/zero"], 10_000),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.truncated);
    }
}
