//! The `bosun` package as a library: the embedded mode (orchestrator, agent host and
//! HTTP side in one process over the in-memory bus), shared by `bosun up`, `bosun run`
//! and the end-to-end tests.

pub mod embedded;
