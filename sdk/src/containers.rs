//! Running a tool in a hardened container through the host's `containers` capability.

use crate::bindings::stage::bosun::agent::containers as host;
use crate::{ContainerError, ContainerOutput, ContainerRequest, StageError};
pub use host::{ImageBuildOutput, ImageBuildRequest};

/// A tool invocation being put together: image, argv, env, timeout.
#[derive(Debug, Clone)]
pub struct Tool {
    request: ContainerRequest,
}

impl Tool {
    /// Run `argv` in `image`; by default no network and a ten-minute timeout.
    pub fn new<I, S>(image: &str, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Tool {
            request: ContainerRequest {
                image: image.to_string(),
                argv: argv.into_iter().map(Into::into).collect(),
                env: Vec::new(),
                workdir: None,
                timeout_ms: 600_000,
                network: false,
            },
        }
    }

    /// Set an environment variable for the tool.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.request.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Limit the tool's wall-clock time.
    pub fn timeout_secs(mut self, secs: u32) -> Self {
        self.request.timeout_ms = secs.saturating_mul(1000);
        self
    }

    /// Run in this folder instead of `/workspace`.
    pub fn workdir(mut self, dir: &str) -> Self {
        self.request.workdir = Some(dir.to_string());
        self
    }

    /// Ask for network access (granted only if the tenant allows it).
    pub fn network(mut self, enabled: bool) -> Self {
        self.request.network = enabled;
        self
    }

    /// Run the tool and wait for it; the error names the image and the problem.
    pub fn run(&self) -> Result<ContainerOutput, StageError> {
        host::run(&self.request).map_err(|e| describe_error(&self.request.image, e))
    }
}

/// Build the workspace's Dockerfile into an image tagged with the commit and branch,
/// and push it to the agent's registry when `push` is set.
pub fn build_image(request: &ImageBuildRequest) -> Result<ImageBuildOutput, StageError> {
    host::build_image(request).map_err(|e| describe_error(&request.repository, e))
}

fn describe_error(image: &str, e: ContainerError) -> StageError {
    match e {
        // A refused request will be refused again: a config problem, not worth a retry.
        ContainerError::Denied(why) => {
            StageError::InvalidConfig(format!("{image}: request denied: {why}"))
        }
        ContainerError::ImageNotFound(why) => {
            StageError::ToolFailed(format!("{image}: image not found: {why}"))
        }
        ContainerError::TimedOut(ms) => {
            StageError::ToolFailed(format!("{image}: timed out after {ms} ms"))
        }
        ContainerError::Unavailable(why) => {
            StageError::ToolFailed(format!("{image}: no container runtime: {why}"))
        }
        ContainerError::Failed(why) => StageError::ToolFailed(format!("{image}: {why}")),
    }
}
