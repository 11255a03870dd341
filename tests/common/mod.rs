//! Shared by the end-to-end tests, beside `bosun-test-support`: what needs this crate's
//! own build (the `bosun` binary, the test target folder).
#![allow(dead_code)]

pub mod cluster;
pub mod devtools;
pub mod process;

use std::path::{Path, PathBuf};

/// One compiled-plugin cache for every agent process the tests start (keyed by plugin
/// digest and engine, so sharing is safe), so each plugin is compiled once per build.
pub fn artifact_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifact-cache")
}
