//! The hardened container every tool run gets, whatever it runs: capabilities dropped,
//! no new privileges, a read-only root, limits, network only when asked (and checked),
//! the CA bundle when networked, labels for the sweeps, and the CI variables.

use super::containers::ContainerContext;
use super::docker::{DockerRunner, LABEL_AGENT, LABEL_MANAGED, LABEL_RUN, LABEL_STAGE};
use crate::bindings::ContainerError;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

impl DockerRunner {
    /// The CA bundle's mount and variables for a networked container; nothing without
    /// network (no registry to trust) or without a bundle.
    pub(super) fn ca_bundle_for(&self, network: bool) -> (Vec<String>, Vec<(String, String)>) {
        match (&self.settings.ca_bundle, network) {
            (Some(bundle), true) => (
                vec![format!(
                    "{}:{}:ro",
                    bundle.display(),
                    super::step::CA_BUNDLE_PATH
                )],
                super::step::CA_BUNDLE_VARS
                    .iter()
                    .map(|var| (var.to_string(), super::step::CA_BUNDLE_PATH.to_string()))
                    .collect(),
            ),
            _ => (Vec::new(), Vec::new()),
        }
    }

    /// The container every tool run gets: all capabilities dropped, no new privileges,
    /// a read-only root, limits, network only when asked (and checked), the CA bundle
    /// when networked, labels for the sweeps, and the CI variables before `launch.env`.
    pub(super) fn hardened_body(
        &self,
        context: &ContainerContext,
        launch: Launch,
    ) -> ContainerCreateBody {
        let s = &self.settings;
        let (ca_binds, ca_env) = self.ca_bundle_for(launch.network);
        let env: Vec<String> = super::containers::ci_env(context)
            .into_iter()
            .chain(ca_env)
            .chain(launch.env)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let labels = HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_AGENT.to_string(), s.agent_id.clone()),
            (LABEL_RUN.to_string(), context.run_id.clone()),
            (LABEL_STAGE.to_string(), context.stage.clone()),
            ("org.bosun.attempt".to_string(), context.attempt.to_string()),
        ]);
        let (entrypoint, cmd) = match launch.argv.split_first() {
            Some((first, rest)) => (vec![first.clone()], rest.to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        let tmpfs = launch.tmpfs_tmp.then(|| {
            HashMap::from([(
                "/tmp".to_string(),
                format!("rw,nosuid,nodev,size={}", s.tmpfs_size),
            )])
        });
        let host_config = HostConfig {
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            readonly_rootfs: Some(true),
            tmpfs,
            network_mode: Some(match &launch.network_name {
                Some(name) => name.clone(),
                None if launch.network => "bridge".into(),
                None => "none".into(),
            }),
            memory: Some(s.memory_bytes),
            memory_swap: Some(s.memory_bytes),
            nano_cpus: Some(s.nano_cpus),
            pids_limit: Some(s.pids_limit),
            binds: Some(launch.binds.into_iter().chain(ca_binds).collect()),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), "16m".to_string()),
                    ("max-file".to_string(), "1".to_string()),
                ])),
            }),
            init: Some(true),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(launch.image),
            entrypoint: Some(entrypoint),
            cmd: Some(cmd),
            env: Some(env),
            user: launch.user,
            working_dir: Some(launch.workdir),
            labels: Some(labels),
            network_disabled: Some(!launch.network && launch.network_name.is_none()),
            host_config: Some(host_config),
            ..Default::default()
        }
    }
}

/// The tool runs as the image's non-root user; the per-task output folder is the
/// agent's, so it is opened to that user rather than running the tool as root.
pub(super) fn open_out(context: &ContainerContext) -> Result<(), ContainerError> {
    std::fs::set_permissions(&context.out, std::fs::Permissions::from_mode(0o777)).map_err(|e| {
        ContainerError::Failed(format!(
            "preparing output folder {}: {e}",
            context.out.display()
        ))
    })
}

/// One container to start: what differs between a tool run and a command step.
pub(super) struct Launch {
    pub(super) image: String,
    pub(super) argv: Vec<String>,
    /// Set after the CI variables (and the CA bundle's), so these win.
    pub(super) env: Vec<(String, String)>,
    pub(super) workdir: String,
    pub(super) network: bool,
    /// A network of the step's own (shared with its services) instead of `bridge` or
    /// none; internal unless `network` is granted.
    pub(super) network_name: Option<String>,
    /// Host folders, `host:container:mode`.
    pub(super) binds: Vec<String>,
    /// A tmpfs at `/tmp` (a command step mounts a host folder there instead).
    pub(super) tmpfs_tmp: bool,
    pub(super) user: Option<String>,
}
