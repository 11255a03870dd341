//! A command step's services on the Docker Engine: a network private to the step
//! (internal unless the step is granted network), one hardened container per service
//! reachable by its name, a readiness wait with a deadline, and removal of all of it
//! however the step ends: by the step itself, or by a guard when the step is dropped.

use super::containers::ContainerContext;
use super::docker::{DockerRunner, LABEL_AGENT, LABEL_MANAGED, LABEL_RUN, LABEL_STAGE};
use super::docker_body::Launch;
use crate::bindings::{ContainerError, StepService};
use bollard::Docker;
use bollard::exec::StartExecOptions;
use bollard::models::{
    EndpointSettings, ExecConfig, NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListNetworksOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Lines of a service's log quoted when it never becomes ready.
const LOG_TAIL_LINES: &str = "30";
/// How often readiness is tried.
const POLL: Duration = Duration::from_millis(250);

/// The running services of one step. Dropped without [`StepServices::remove`] (the step's
/// future was cancelled), it removes them in the background.
pub(super) struct StepServices {
    docker: Docker,
    /// The network's name: the step container joins it too.
    pub(super) network: String,
    containers: Vec<String>,
    removed: bool,
}

impl StepServices {
    /// Remove the containers, then the network.
    pub(super) async fn remove(mut self) {
        self.removed = true;
        remove_all(
            self.docker.clone(),
            std::mem::take(&mut self.containers),
            self.network.clone(),
        )
        .await;
    }
}

impl Drop for StepServices {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (docker, containers, network) = (
            self.docker.clone(),
            std::mem::take(&mut self.containers),
            self.network.clone(),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(remove_all(docker, containers, network));
        }
    }
}

async fn remove_all(docker: Docker, containers: Vec<String>, network: String) {
    let force = RemoveContainerOptionsBuilder::default().force(true).build();
    for id in containers {
        if let Err(e) = docker.remove_container(&id, Some(force.clone())).await {
            tracing::warn!(container = %id, error = %e, "could not remove a service container");
        }
    }
    // A step container that outlived its step (its call was dropped at the deadline)
    // would keep the network: cut it off first, which also leaves it with no way to
    // reach anything while it waits for the sweep. A busy engine may still hold an
    // endpoint of a container it is removing: cut and try again, a few times.
    let mut last_error = None;
    for attempt in 0..5u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
        }
        if let Ok(inspected) = docker.inspect_network(&network, None).await {
            for id in inspected.containers.unwrap_or_default().into_keys() {
                let cut = NetworkDisconnectRequest {
                    container: id.clone(),
                    force: Some(true),
                };
                if let Err(e) = docker.disconnect_network(&network, cut).await {
                    tracing::debug!(container = %id, error = %e, "could not cut a container off a step's network");
                }
            }
        }
        match docker.remove_network(&network).await {
            Ok(()) => return,
            // Already gone (another clean-up, the sweep): nothing left to do.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return,
            Err(e) => last_error = Some(e),
        }
    }
    if let Some(e) = last_error {
        tracing::warn!(%network, error = %e, "could not remove a step's network");
    }
}

impl DockerRunner {
    /// Start the step's services and wait until each is ready; on any failure what was
    /// started is removed and the error names the service (with its log's tail).
    pub(super) async fn start_services(
        &self,
        context: &ContainerContext,
        services: &[StepService],
        network_granted: bool,
    ) -> Result<StepServices, ContainerError> {
        let suffix = unique_suffix();
        let network = format!("bosun-step-{suffix}");
        let labels = self.labels(context);
        self.docker
            .create_network(NetworkCreateRequest {
                name: network.clone(),
                driver: Some("bridge".into()),
                // Without a grant the step and its services reach each other only.
                internal: Some(!network_granted),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(|e| ContainerError::Failed(format!("creating the step's network: {e}")))?;
        let mut started = StepServices {
            docker: self.docker.clone(),
            network: network.clone(),
            containers: Vec::new(),
            removed: false,
        };
        for service in services {
            let id = self
                .create_service(context, service, &network, network_granted, &suffix)
                .await?;
            started.containers.push(id.clone());
            self.docker.start_container(&id, None).await.map_err(|e| {
                ContainerError::Failed(format!("starting service {}: {e}", service.name))
            })?;
        }
        for (service, id) in services.iter().zip(&started.containers) {
            self.wait_ready(service, id, &network).await?;
        }
        Ok(started)
    }

    fn labels(&self, context: &ContainerContext) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_AGENT.to_string(), self.settings.agent_id.clone()),
            (LABEL_RUN.to_string(), context.run_id.clone()),
            (LABEL_STAGE.to_string(), context.stage.clone()),
        ])
    }

    async fn create_service(
        &self,
        context: &ContainerContext,
        service: &StepService,
        network: &str,
        network_granted: bool,
        suffix: &str,
    ) -> Result<String, ContainerError> {
        let (uid, gid) = self.step_identity(&service.image).await?;
        let mut body = self.hardened_body(
            context,
            Launch {
                image: service.image.clone(),
                argv: service.command.clone(),
                env: service.env.clone(),
                workdir: "/".into(),
                network: network_granted,
                network_name: Some(network.to_string()),
                binds: Vec::new(),
                tmpfs_tmp: true,
                user: Some(format!("{uid}:{gid}")),
            },
        );
        if service.command.is_empty() {
            // The image's own entrypoint and command.
            body.entrypoint = None;
            body.cmd = None;
        }
        body.working_dir = None;
        body.hostname = Some(service.name.clone());
        body.labels
            .get_or_insert_default()
            .insert("org.bosun.service".into(), service.name.clone());
        body.networking_config = Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.to_string(),
                EndpointSettings {
                    aliases: Some(vec![service.name.clone()]),
                    ..Default::default()
                },
            )])),
        });
        let name = format!("bosun-svc-{}-{suffix}", service.name);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map(|created| created.id)
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => ContainerError::ImageNotFound(format!(
                    "service {}: image {} is not on this agent's engine",
                    service.name, service.image
                )),
                e => ContainerError::Failed(format!("creating service {}: {e}", service.name)),
            })
    }

    /// Poll until the service answers; a service that exits or misses its deadline
    /// fails the step with its log's tail.
    async fn wait_ready(
        &self,
        service: &StepService,
        id: &str,
        network: &str,
    ) -> Result<(), ContainerError> {
        let deadline = Instant::now() + Duration::from_millis(u64::from(service.ready_timeout_ms));
        loop {
            let inspected = self.docker.inspect_container(id, None).await.map_err(|e| {
                ContainerError::Failed(format!("inspecting service {}: {e}", service.name))
            })?;
            let state = inspected.state.unwrap_or_default();
            if state.running != Some(true) {
                return Err(self
                    .not_ready(
                        service,
                        id,
                        &format!("exited with status {}", state.exit_code.unwrap_or(-1)),
                    )
                    .await);
            }
            let ready = match (&service.ready_tcp, &service.ready_command) {
                (Some(port), _) => {
                    let address = inspected
                        .network_settings
                        .and_then(|n| n.networks)
                        .and_then(|mut n| n.remove(network))
                        .and_then(|n| n.ip_address)
                        .filter(|ip| !ip.is_empty());
                    match address {
                        Some(ip) => tcp_answers(&ip, *port).await,
                        None => false,
                    }
                }
                (None, Some(command)) => self.command_passes(id, command).await,
                (None, None) => true,
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let what = match (&service.ready_tcp, &service.ready_command) {
                    (Some(port), _) => format!("port {port} accepted no connection"),
                    (None, Some(command)) => format!("`{command}` did not pass"),
                    (None, None) => "it did not start".into(),
                };
                return Err(self
                    .not_ready(
                        service,
                        id,
                        &format!("not ready after {} ms: {what}", service.ready_timeout_ms),
                    )
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn command_passes(&self, id: &str, command: &str) -> bool {
        let exec = ExecConfig {
            cmd: Some(vec!["/bin/sh".into(), "-c".into(), command.to_string()]),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let Ok(created) = self.docker.create_exec(id, exec).await else {
            return false;
        };
        let start = StartExecOptions {
            detach: false,
            ..Default::default()
        };
        if let Ok(bollard::exec::StartExecResults::Attached { mut output, .. }) =
            self.docker.start_exec(&created.id, Some(start)).await
        {
            while output.next().await.is_some() {}
        }
        matches!(
            self.docker.inspect_exec(&created.id).await,
            Ok(inspected) if inspected.exit_code == Some(0)
        )
    }

    async fn not_ready(&self, service: &StepService, id: &str, why: &str) -> ContainerError {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(LOG_TAIL_LINES)
            .build();
        let mut logs = self.docker.logs(id, Some(options));
        let mut tail = Vec::new();
        while let Some(Ok(chunk)) = logs.next().await {
            super::containers::append_capped(&mut tail, &chunk.into_bytes(), 8 << 10);
        }
        let tail = String::from_utf8_lossy(&tail);
        ContainerError::Failed(format!(
            "service {} ({}) {why}; the end of its log:\n{}",
            service.name,
            service.image,
            tail.trim_end()
        ))
    }

    /// Remove the networks this agent's steps left behind (a crash mid-step); their
    /// containers go with the container sweep, which runs first.
    pub(super) async fn sweep_networks(&self) -> usize {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{LABEL_MANAGED}=true"),
                format!("{LABEL_AGENT}={}", self.settings.agent_id),
            ],
        )]);
        let options = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let Ok(networks) = self.docker.list_networks(Some(options)).await else {
            return 0;
        };
        let mut removed = 0;
        for network in networks {
            let Some(name) = network.name else { continue };
            match self.docker.remove_network(&name).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(%name, error = %e, "could not remove an orphaned network"),
            }
        }
        removed
    }
}

async fn tcp_answers(ip: &str, port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect((ip, port));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
}

/// A suffix no other step of any agent shares: the clock and a process-wide counter.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
