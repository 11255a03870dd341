//! Bosun's message bus: the wire types every service shares and the topic names.
//!
//! Nothing here links wasmtime: the orchestrator depends on this crate, and the agent
//! host converts between these types and the plugin bindings.

pub mod topics;
pub mod types;

pub use types::{
    Artifact, Coverage, Finding, LogLevel, LogLine, Metric, Outcome, PluginId, Severity,
    StageFailure, StageFailureKind, StageReport, StageResult, Task, TestFailure, TestTotals,
};
