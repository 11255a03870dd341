//! Bosun's message bus: the wire types every service shares, the topic names, and the
//! two transports behind one trait (in-memory for the embedded default, Kafka when
//! distributed).
//!
//! Nothing here links wasmtime: the orchestrator depends on this crate, and the agent
//! host converts between these types and the plugin bindings.

pub mod artifacts;
pub mod backlog;
pub mod dead_letter;
pub mod ids;
pub mod inventory;
pub mod kafka;
pub mod logs;
pub mod memory;
pub mod messages;
pub mod notify;
pub mod policy;
pub mod topics;
pub mod transport;
pub mod types;
mod url;

pub use backlog::{Backlog, Queue};
pub use dead_letter::{DEFAULT_MAX_DELIVERIES, DeadLetterRule, Failed, Screened};
pub use ids::{GateRequestId, IdError, NotifyChannel, NotifyRequestId, TaskId};
pub use kafka::{KafkaBus, KafkaConfig, KafkaSecurity, KafkaSubscription, SecurityProtocol};
pub use memory::{MemoryBus, MemorySubscription};
pub use transport::{BoxFuture, Bus, BusError, Delivery, Record, Subscription};
pub use types::{
    Artifact, Coverage, Finding, LogLevel, LogLine, Metric, Outcome, PluginId, Severity,
    StageFailure, StageFailureKind, StageReport, StageResult, Task, TestFailure, TestTotals,
};
pub use url::{BusUrl, connect_url};
