//! The one place host bindings are generated from the WIT contract in `wit/`.
//!
//! The `host` world imports every capability the host grants and exports every
//! interface it can call, so stage, policy and notifier plugins share one set of types.
#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    world: "host",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use bosun::agent::containers::{
    ContainerError, ContainerOutput, ContainerRequest, ImageBuildOutput, ImageBuildRequest,
    StepOutput, StepRequest, StepService,
};
pub use bosun::agent::log::Level;
pub use bosun::agent::types::{PluginInfo, StageError, StageReport, Task};
pub use exports::bosun::agent::notifier_plugin::RunSummary;
pub use exports::bosun::agent::policy_plugin::{Decision, PolicyInput};

/// The version of the `bosun:agent` package this host speaks.
pub const PACKAGE_VERSION: (u64, u64, u64) = (0, 2, 0);
