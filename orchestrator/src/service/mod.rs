//! The running orchestrator: one task owns the scheduler and feeds it triggers, agent
//! replies, dead letters and clock ticks; effects go out in order after each commit.
//! Commit statuses and Slack posts run on their own tasks so a slow receiver never
//! holds up scheduling.
//!
//! `handle.rs` is the cheap-to-clone [`Orchestrator`] the HTTP side and the CLI hold;
//! `command.rs` what it asks the owner task; `worker.rs` the owner task's loop;
//! `effects.rs` how committed effects leave (bus, GitHub, Slack); `github_lanes.rs`
//! check runs and pull-request comments, in order per check run; `schedules.rs` how
//! due schedules become runs; `retention.rs` the background pruning of old runs and
//! logs; `clock.rs` the time the owner task reads; `live_logs.rs` the task that stores
//! the agents' live log chunks; `queues.rs` the agent pools' queue metrics, measured on
//! a task of their own.

mod clock;
mod cluster;
mod command;
mod effects;
mod github_lanes;
mod handle;
mod live_logs;
mod queues;
mod retention;
mod schedules;
mod worker;

pub use clock::Clock;
pub use handle::{Orchestrator, ShutdownSignal, WebhookDelivery};
pub use retention::{Retention, RetentionPass};

use crate::notify::RetrySettings;
use crate::scheduler::SchedulerError;
use bosun_bus::BusError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why the orchestrator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The scheduler or its store failed.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A schedule in the settings is not valid (settings built in code, not loaded).
    #[error("server settings: {0}")]
    Settings(String),
}

/// Why a request to the running orchestrator (a trigger, a delivery to record, an
/// approval, a cancellation) was not carried out; nothing of it was committed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The orchestrator has stopped.
    #[error("the orchestrator has stopped")]
    Stopped,
    /// The scheduler or its store failed.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
}

/// Knobs for tests and benchmarks.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// How often deadlines and retries are checked.
    pub tick: Duration,
    /// Retries for Slack and GitHub posts.
    pub http_retry: RetrySettings,
    /// What the agents can run, when this process knows it (the embedded default).
    pub known_agents: Option<crate::known::KnownAgents>,
    /// The time the scheduler and the schedules read (the system's by default).
    pub clock: Clock,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            tick: Duration::from_millis(25),
            http_retry: RetrySettings::default(),
            known_agents: None,
            clock: Clock::system(),
        }
    }
}
