//! The Bosun agent host: runs stage, policy and notifier plugins as sandboxed components.
//!
//! [`runtime::PluginRuntime`] loads and calls plugins; [`registry::PluginRegistry`]
//! keeps the set of loaded plugins in step with the plugin folders.

pub mod agent;
pub mod artifacts;
pub mod bindings;
pub mod cache;
pub mod capabilities;
pub mod convert;
pub mod engine;
pub mod inspect;
pub mod limits;
pub mod registry;
pub mod runtime;
pub mod state;

pub use cache::{ArtifactCache, CacheOutcome};
pub use capabilities::containers::{
    ContainerContext, ContainerRunner, NoContainerRuntime, RunFuture, StopFuture,
};
pub use capabilities::docker::{DockerRunner, DockerSettings};
pub use capabilities::process::ProcessRunner;
pub use capabilities::step::cache::StepCache;
pub use engine::{AllocatorKind, EngineSettings, HostEngine};
pub use inspect::{PluginError, PluginKind};
pub use limits::{ReportCaps, SandboxLimits};
pub use registry::{PluginRegistry, Refusal};
pub use runtime::{LoadedPlugin, PluginRuntime, PluginSource, StageCall};
