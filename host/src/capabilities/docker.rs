//! The Docker runner: tools in hardened containers through the Docker Engine API.
//!
//! Every container gets: all capabilities dropped, no-new-privileges, a read-only root
//! with a tmpfs `/tmp`, network none unless granted, memory/cpu/pids limits, the image's
//! non-root user when it declares one, the workspace read-only at `/workspace`, the
//! task's `/out`, labels naming run/stage/attempt/agent, and CI-convention env. Argv
//! goes to the engine as a list: no shell ever parses task data.

use super::containers::{
    BuildFuture, ContainerContext, ContainerRunner, RunFuture, StepFuture, StopFuture,
};
use super::docker_body::{Launch, open_out};
use super::step::cache::StepCache;
use crate::bindings::{
    ContainerError, ContainerOutput, ContainerRequest, ImageBuildRequest, StepRequest,
};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, ImageConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptions,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Label marking containers this runner created.
pub const LABEL_MANAGED: &str = "org.bosun.managed";
/// Label naming the agent that created the container (scopes the orphan sweep).
pub const LABEL_AGENT: &str = "org.bosun.agent";
/// Label naming the run a container works for (stopped when the run ends early).
pub const LABEL_RUN: &str = "org.bosun.run";
/// Label naming the stage (a matrix instance's own name) a container works for.
pub const LABEL_STAGE: &str = "org.bosun.stage";
/// Image label naming the non-root user tools should run as.
pub const LABEL_IMAGE_USER: &str = "org.bosun.user";
/// Image label giving that user's numeric id (command steps run as it).
pub const LABEL_IMAGE_UID: &str = "org.bosun.uid";

/// Each tenant's command-step caches on one agent host, by default.
pub const DEFAULT_CACHE_CAP: u64 = 2 << 30;

/// Resource limits and identity for the containers this runner starts.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// Agent id, stored in a label so a restarted agent sweeps only its own leftovers.
    pub agent_id: String,
    /// Memory limit per container, bytes (swap is disabled).
    pub memory_bytes: i64,
    /// CPU limit per container, in billionths of a CPU.
    pub nano_cpus: i64,
    /// Most processes per container (stops fork bombs).
    pub pids_limit: i64,
    /// Size of the tmpfs mounted at `/tmp`.
    pub tmpfs_size: String,
    /// Most bytes kept of stdout and of stderr each.
    pub output_cap: usize,
    /// Registry images are pushed to (`127.0.0.1:5000`); none means no push.
    pub registry: Option<String>,
    /// CA bundle mounted read-only into networked containers and named by the usual
    /// variables (`SSL_CERT_FILE`, `PIP_CERT`, `NODE_EXTRA_CA_CERTS`, …), for registries
    /// behind a TLS-inspecting proxy; the host's bundle by default.
    pub ca_bundle: Option<PathBuf>,
    /// Folder for command steps' private checkouts, `HOME`s and `/tmp`s.
    pub step_scratch: PathBuf,
    /// Command steps' dependency caches; none: nothing is cached.
    pub step_cache: Option<StepCache>,
}

/// The host's CA bundle (Debian's path), when it has one.
pub fn default_ca_bundle() -> Option<PathBuf> {
    let debian = PathBuf::from("/etc/ssl/certs/ca-certificates.crt");
    debian.is_file().then_some(debian)
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            agent_id: "local".into(),
            memory_bytes: 1 << 30,
            nano_cpus: 1_000_000_000,
            pids_limit: 256,
            tmpfs_size: "256m".into(),
            output_cap: 4 << 20,
            registry: None,
            ca_bundle: default_ca_bundle(),
            step_scratch: std::env::temp_dir().join("bosun-steps"),
            step_cache: Some(StepCache::new(
                std::env::temp_dir().join("bosun-step-cache"),
                DEFAULT_CACHE_CAP,
            )),
        }
    }
}

/// Runs tool containers on a Docker Engine.
pub struct DockerRunner {
    pub(super) docker: Docker,
    pub(super) settings: DockerSettings,
}

impl DockerRunner {
    /// Connect to the engine at `DOCKER_HOST` or the local socket, and check it answers.
    pub async fn connect(settings: DockerSettings) -> Result<DockerRunner, String> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| format!("cannot reach the Docker Engine: {e}"))?;
        docker
            .ping()
            .await
            .map_err(|e| format!("the Docker Engine does not answer: {e}"))?;
        Ok(DockerRunner { docker, settings })
    }

    /// The underlying client (the image-build capability shares it).
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// This agent's containers in any state: of one run (and one stage of it) or of all.
    async fn own_containers(
        &self,
        run_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, bollard::errors::Error> {
        let mut labels = vec![
            format!("{LABEL_MANAGED}=true"),
            format!("{LABEL_AGENT}={}", self.settings.agent_id),
        ];
        labels.extend(run_id.map(|run| format!("{LABEL_RUN}={run}")));
        labels.extend(stage.map(|stage| format!("{LABEL_STAGE}={stage}")));
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.docker.list_containers(Some(options)).await
    }

    /// Stop this agent's containers of `run_id`: a running one is killed (the task
    /// waiting on it sees the exit and removes it as usual), one not yet started is
    /// removed (its task's start fails). Returns how many were stopped.
    pub async fn kill_run(&self, run_id: &str) -> Result<usize, String> {
        self.kill_matching(run_id, None).await
    }

    /// [`DockerRunner::kill_run`] for one stage of the run (a matrix instance cancelled
    /// by `fail_fast` while the run goes on): its step, tools and services.
    pub async fn kill_stage(&self, run_id: &str, stage: &str) -> Result<usize, String> {
        self.kill_matching(run_id, Some(stage)).await
    }

    async fn kill_matching(&self, run_id: &str, stage: Option<&str>) -> Result<usize, String> {
        let listed = self
            .own_containers(Some(run_id), stage)
            .await
            .map_err(|e| format!("listing containers of run {run_id}: {e}"))?;
        let mut stopped = 0;
        for container in listed {
            let Some(id) = container.id else { continue };
            let state = container.state.map(|s| s.to_string()).unwrap_or_default();
            let result = match state.as_str() {
                // Killed, its task sees the exit and removes it as usual.
                "running" => {
                    let kill = KillContainerOptionsBuilder::default()
                        .signal("KILL")
                        .build();
                    self.docker.kill_container(&id, Some(kill)).await
                }
                // Not started yet: removed, so its task's start fails instead.
                "created" => {
                    let force = RemoveContainerOptionsBuilder::default().force(true).build();
                    self.docker.remove_container(&id, Some(force)).await
                }
                _ => continue,
            };
            match result {
                Ok(()) => stopped += 1,
                Err(e) => {
                    tracing::warn!(container = %id, error = %e, "could not stop a tool of a finished run")
                }
            }
        }
        Ok(stopped)
    }

    /// Remove containers this agent left behind (a crash mid-task); returns how many.
    pub async fn sweep_orphans(&self) -> Result<usize, String> {
        let leftovers = self
            .own_containers(None, None)
            .await
            .map_err(|e| format!("listing containers: {e}"))?;
        let mut removed = 0;
        for container in leftovers {
            let Some(id) = container.id else { continue };
            let force = RemoveContainerOptionsBuilder::default().force(true).build();
            match self.docker.remove_container(&id, Some(force)).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(container = %id, error = %e, "could not remove orphan"),
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed orphaned task containers");
        }
        let networks = self.sweep_networks().await;
        if networks > 0 {
            tracing::info!(networks, "removed orphaned step networks");
        }
        Ok(removed)
    }

    /// The image's config; an image the engine does not have is `ImageNotFound` with
    /// what to do about it.
    pub(super) async fn image_config(&self, image: &str) -> Result<ImageConfig, ContainerError> {
        let inspected = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => ContainerError::ImageNotFound(format!(
                    "{image} is not on this agent host's Docker Engine, and agents never pull: load or build it there (`docker pull {image}` where a registry is reachable; `bash scripts/services.sh` builds bosun/python:3.11, bosun/node:18 and the tool images)"
                )),
                other => ContainerError::Unavailable(format!("inspecting {image}: {other}")),
            })?;
        Ok(inspected.config.unwrap_or_default())
    }

    async fn image_user(&self, image: &str) -> Result<Option<String>, ContainerError> {
        let config = self.image_config(image).await?;
        let labelled = config
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_IMAGE_USER))
            .cloned();
        let declared = config
            .user
            .filter(|u| !u.is_empty() && u != "root" && u != "0");
        Ok(labelled.or(declared))
    }

    fn create_body(
        &self,
        context: &ContainerContext,
        request: &ContainerRequest,
        user: Option<String>,
    ) -> ContainerCreateBody {
        self.hardened_body(
            context,
            Launch {
                image: request.image.clone(),
                argv: request.argv.clone(),
                env: [("HOME".to_string(), "/tmp".to_string())]
                    .into_iter()
                    .chain(request.env.iter().cloned())
                    .collect(),
                workdir: request
                    .workdir
                    .clone()
                    .unwrap_or_else(|| "/workspace".into()),
                network: request.network,
                network_name: None,
                binds: vec![
                    format!("{}:/workspace:ro", context.workspace.display()),
                    format!("{}:/out:rw", context.out.display()),
                ],
                tmpfs_tmp: true,
                user,
            },
        )
    }

    async fn run_checked(
        &self,
        context: &ContainerContext,
        request: ContainerRequest,
    ) -> Result<ContainerOutput, ContainerError> {
        let started = Instant::now();
        let user = self.image_user(&request.image).await?;
        open_out(context)?;
        let body = self.create_body(context, &request, user);
        let ran = self
            .run_container(context, body, &request.image, request.timeout_ms)
            .await?;
        Ok(ContainerOutput {
            exit_code: ran.exit_code,
            stdout: ran.stdout,
            stderr: ran.stderr,
            truncated: ran.truncated,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Create, attach, start and wait for one container, then remove it: what every
    /// kind of tool run shares.
    pub(super) async fn run_container(
        &self,
        context: &ContainerContext,
        body: ContainerCreateBody,
        image: &str,
        timeout_ms: u32,
    ) -> Result<Ran, ContainerError> {
        let name = container_name(context);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| ContainerError::Failed(format!("creating container for {image}: {e}")))?;
        let id = created.id;
        // Attach before start, as `docker run` does: reading logs after the exit races
        // the engine's log copier and can lose the output of short-lived tools.
        let attach = AttachContainerOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .stream(true)
            // Attached before start, the live stream has everything; replaying the
            // log file as well would duplicate output.
            .logs(false)
            .build();
        let collector = match self.docker.attach_container(&id, Some(attach)).await {
            Ok(attached) => Some(tokio::spawn(collect_output(
                attached.output,
                self.settings.output_cap,
                context.tool_log.clone(),
            ))),
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "could not attach; output will be missing");
                None
            }
        };
        let result = self.start_and_wait(&id, image, timeout_ms).await;
        let (stdout, stderr, truncated) = match collector {
            // The stream ends when the container's output closes; a killed container
            // closes it too, so this wait is short.
            Some(task) => match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(collected)) => collected,
                _ => (String::new(), String::new(), true),
            },
            None => (String::new(), String::new(), false),
        };
        let force = RemoveContainerOptionsBuilder::default().force(true).build();
        if let Err(e) = self.docker.remove_container(&id, Some(force)).await {
            tracing::warn!(container = %id, error = %e, "could not remove task container");
        }
        Ok(Ran {
            exit_code: result?,
            stdout,
            stderr,
            truncated,
        })
    }

    async fn start_and_wait(
        &self,
        id: &str,
        image: &str,
        timeout_ms: u32,
    ) -> Result<i32, ContainerError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| ContainerError::Failed(format!("starting {image}: {e}")))?;
        let limit = Duration::from_millis(u64::from(timeout_ms));
        let mut wait = self.docker.wait_container(id, None::<WaitContainerOptions>);
        match tokio::time::timeout(limit, wait.next()).await {
            Ok(Some(Ok(status))) => Ok(status.status_code as i32),
            // bollard reports a non-zero exit as an error carrying the code.
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => {
                Ok(code as i32)
            }
            Ok(Some(Err(e))) => Err(ContainerError::Failed(format!("waiting for {image}: {e}"))),
            Ok(None) => Err(ContainerError::Failed(format!(
                "the engine closed the wait for {image} without a status"
            ))),
            Err(_) => {
                let kill = KillContainerOptionsBuilder::default()
                    .signal("KILL")
                    .build();
                if let Err(e) = self.docker.kill_container(id, Some(kill)).await {
                    tracing::warn!(container = %id, error = %e, "could not kill timed-out container");
                }
                Err(ContainerError::TimedOut(timeout_ms))
            }
        }
    }
}

/// What one container run gave back.
pub(super) struct Ran {
    pub(super) exit_code: i32,
    pub(super) stdout: String,
    pub(super) stderr: String,
    pub(super) truncated: bool,
}

/// Read a container's multiplexed output until it closes, keeping `cap` bytes of each
/// for the plugin, and handing every line to the attempt's log as it arrives.
async fn collect_output(
    mut output: std::pin::Pin<
        Box<
            dyn futures_util::Stream<
                    Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
                > + Send,
        >,
    >,
    cap: usize,
    log: Option<super::log::LogSink>,
) -> (String, String, bool) {
    use super::tool_lines::ToolLines;
    let (mut out, mut err, mut truncated) = (Vec::new(), Vec::new(), false);
    let mut lines = log.map(|sink| {
        let line_cap = sink.line_cap();
        (
            ToolLines::new(sink.clone(), bosun_bus::LogLevel::Info, line_cap),
            ToolLines::new(sink, bosun_bus::LogLevel::Warn, line_cap),
        )
    });
    while let Some(chunk) = output.next().await {
        let Ok(chunk) = chunk else { break };
        let (target, bytes, is_err) = match chunk {
            bollard::container::LogOutput::StdErr { message } => (&mut err, message, true),
            bollard::container::LogOutput::StdOut { message }
            | bollard::container::LogOutput::Console { message } => (&mut out, message, false),
            bollard::container::LogOutput::StdIn { .. } => continue,
        };
        if let Some((stdout_lines, stderr_lines)) = lines.as_mut() {
            if is_err {
                stderr_lines.feed(&bytes);
            } else {
                stdout_lines.feed(&bytes);
            }
        }
        truncated |= super::containers::append_capped(target, &bytes, cap);
    }
    if let Some((stdout_lines, stderr_lines)) = lines {
        stdout_lines.finish();
        stderr_lines.finish();
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        truncated,
    )
}

/// A readable, unique container name: `bosun-<run>-<stage>-<attempt>-<nanos>`.
fn container_name(context: &ContainerContext) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(40)
            .collect()
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "bosun-{}-{}-{}-{nanos:08x}",
        clean(&context.run_id),
        clean(&context.stage),
        context.attempt
    )
}

impl ContainerRunner for DockerRunner {
    fn describe(&self) -> String {
        "docker".into()
    }

    fn image_registry(&self) -> Option<String> {
        self.settings.registry.clone()
    }

    fn run<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: ContainerRequest,
    ) -> RunFuture<'a> {
        Box::pin(self.run_checked(context, request))
    }

    fn run_step<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: StepRequest,
    ) -> StepFuture<'a> {
        Box::pin(self.run_step_checked(context, request))
    }

    fn stop_run<'a>(&'a self, run_id: &'a str) -> StopFuture<'a> {
        Box::pin(self.kill_run(run_id))
    }

    fn stop_stage<'a>(&'a self, run_id: &'a str, stage: &'a str) -> StopFuture<'a> {
        Box::pin(self.kill_stage(run_id, stage))
    }

    fn build_image<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: ImageBuildRequest,
    ) -> BuildFuture<'a> {
        Box::pin(super::image_build::build_and_push(
            &self.docker,
            self.settings.registry.as_deref(),
            context,
            request,
        ))
    }
}
