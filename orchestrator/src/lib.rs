//! The Bosun orchestrator: the one service that knows the whole pipeline. It receives
//! webhooks, reads the pipeline config, dispatches stage tasks on the bus, applies
//! retry / halt / rollback rules and policy gates, records everything in the run store,
//! and notifies.
//!
//! It never links wasmtime: policies and notifications are agent work, asked for on
//! `agent.policy` and `agent.notify`.

pub use bosun_config as config;
pub mod artifacts;
pub mod dashboard;
pub mod known;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod schedule;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod settings;
pub mod source;
pub mod store;
pub mod trust;
pub mod webhook;
