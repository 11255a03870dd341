//! The host's integration tests, one module per area, in one test binary (as wasmtime
//! keeps its `tests/all`): every test binary links wasmtime, so one binary is linked
//! once where eleven were, and takes an eleventh of the disk.
//!
//! Tests that need Docker, the tool images or the registry (`docker_runner`,
//! `stage_plugins_*`) read them from `.bosun/services.env` (`bash scripts/services.sh`,
//! then `set -a; . .bosun/services.env; set +a`); under `CI=true` a missing one fails,
//! elsewhere those tests skip, loudly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod agent_gates;
mod agent_worker;
mod containers_capability;
mod docker_runner;
mod plugin_loading;
mod plugin_worlds;
mod registry_hot_reload;
mod sandbox_filesystem;
mod sandbox_limits;
mod stage_plugins_lint_test;
mod stage_plugins_security_build_deploy;
