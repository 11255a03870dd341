//! The guest-side SDK for Bosun plugins: WIT bindings, helpers and one export macro per world.
//!
//! A complete stage plugin:
//!
//! ```
//! use bosun_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Stage for Hello {
//!     fn run(task: &Task) -> Result<StageReport, StageError> {
//!         log::info(&format!("hello from {} attempt {}", task.stage, task.attempt));
//!         Ok(StageReport::success("said hello"))
//!     }
//! }
//!
//! bosun_sdk::export_stage!(Hello);
//! ```
//!
//! The plugin's version and description come from its `Cargo.toml`. Its name is the
//! package name without a `bosun-plugin-` prefix, or the one given to the macro:
//! `bosun_sdk::export_stage!(Hello, name = "hello");`.

pub mod bindings;
pub mod containers;
pub mod detect;
pub mod fs;
pub mod log;
pub mod notify;
pub mod report;
pub mod report_file;
pub mod settings;
pub mod task;

pub use bindings::notifier::exports::bosun::agent::notifier_plugin::{
    RunStatus, RunSummary, StageStatus, StageSummary,
};
pub use bindings::policy::exports::bosun::agent::policy_plugin::{Decision, Phase, PolicyInput};
pub use bindings::stage::bosun::agent::containers::{
    ContainerError, ContainerOutput, ContainerRequest,
};
pub use bindings::stage::bosun::agent::types::{
    Artifact, Coverage, Finding, Metric, Outcome, PluginInfo, Severity, StageError, StageReport,
    Task, TestFailure, TestTotals,
};

/// Everything a plugin usually needs, in one `use`.
pub mod prelude {
    pub use crate::containers::Tool;
    pub use crate::log;
    pub use crate::{
        Artifact, Coverage, Decision, Finding, Metric, Notifier, Outcome, Phase, Policy,
        PolicyInput, RunStatus, RunSummary, Severity, Stage, StageError, StageReport, StageStatus,
        StageSummary, Task, TestFailure, TestTotals,
    };
}

/// A pipeline stage: turn a task (and the files under `/workspace`) into a report.
pub trait Stage {
    /// Run the stage. Return `Ok` with a failed outcome when the code under test is at
    /// fault, and `Err` when the stage itself could not do its job.
    fn run(task: &Task) -> Result<StageReport, StageError>;
}

/// A tenant policy: allow, warn or deny a stage before it runs or after its report.
pub trait Policy {
    /// Decide on one stage.
    fn evaluate(input: &PolicyInput) -> Decision;
}

/// A notifier: format a finished run as a message body, Slack Block Kit JSON for a chat
/// notifier or `{"subject", "text", "html"}` JSON for an email notifier. The host sends
/// it, so the plugin never holds a webhook URL, a login or the recipients.
pub trait Notifier {
    /// Produce the message body; an `Err` names what could not be formatted.
    fn format(summary: &RunSummary) -> Result<String, String>;
}

/// Builds the plugin's identity from its Cargo package metadata.
#[doc(hidden)]
pub fn __plugin_info(package: &str, version: &str, description: &str) -> PluginInfo {
    PluginInfo {
        name: package
            .strip_prefix("bosun-plugin-")
            .unwrap_or(package)
            .to_string(),
        version: version.to_string(),
        description: description.to_string(),
    }
}

/// Export a type implementing [`Stage`] as this component's `stage` world.
#[macro_export]
macro_rules! export_stage {
    ($plugin:ty) => {
        $crate::export_stage!($plugin, name = env!("CARGO_PKG_NAME"));
    };
    ($plugin:ty, name = $name:expr) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        pub struct __BosunStageExport;
        impl $crate::bindings::stage::exports::bosun::agent::stage_plugin::Guest for __BosunStageExport {
            fn info() -> $crate::PluginInfo {
                $crate::__plugin_info(
                    $name,
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
            fn run(task: $crate::Task) -> Result<$crate::StageReport, $crate::StageError> {
                <$plugin as $crate::Stage>::run(&task)
            }
        }
        // Component exports only exist on wasm; native builds (clippy, unit tests)
        // would otherwise try to link symbols named `bosun:agent/...#run`.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::stage::__export_stage_world!(__BosunStageExport with_types_in $crate::bindings::stage);
    };
}

/// Export a type implementing [`Policy`] as this component's `policy` world.
#[macro_export]
macro_rules! export_policy {
    ($plugin:ty) => {
        $crate::export_policy!($plugin, name = env!("CARGO_PKG_NAME"));
    };
    ($plugin:ty, name = $name:expr) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        pub struct __BosunPolicyExport;
        impl $crate::bindings::policy::exports::bosun::agent::policy_plugin::Guest for __BosunPolicyExport {
            fn info() -> $crate::PluginInfo {
                $crate::__plugin_info(
                    $name,
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
            fn evaluate(input: $crate::PolicyInput) -> $crate::Decision {
                <$plugin as $crate::Policy>::evaluate(&input)
            }
        }
        // Component exports only exist on wasm; native builds (clippy, unit tests)
        // would otherwise try to link symbols named `bosun:agent/...#run`.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::policy::__export_policy_world!(__BosunPolicyExport with_types_in $crate::bindings::policy);
    };
}

/// Export a type implementing [`Notifier`] as this component's `notifier` world.
#[macro_export]
macro_rules! export_notifier {
    ($plugin:ty) => {
        $crate::export_notifier!($plugin, name = env!("CARGO_PKG_NAME"));
    };
    ($plugin:ty, name = $name:expr) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        pub struct __BosunNotifierExport;
        impl $crate::bindings::notifier::exports::bosun::agent::notifier_plugin::Guest
            for __BosunNotifierExport
        {
            fn info() -> $crate::PluginInfo {
                $crate::__plugin_info(
                    $name,
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
            fn format(summary: $crate::RunSummary) -> Result<String, String> {
                <$plugin as $crate::Notifier>::format(&summary)
            }
        }
        // Component exports only exist on wasm; native builds (clippy, unit tests)
        // would otherwise try to link symbols named `bosun:agent/...#run`.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::notifier::__export_notifier_world!(__BosunNotifierExport with_types_in $crate::bindings::notifier);
    };
}
