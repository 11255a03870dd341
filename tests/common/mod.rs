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

/// Lets a step held at `while [ ! -e /tmp/go ]` go on: waits for the running container
/// of `stage` in `run_id`, then `touch /tmp/go` in it.
pub async fn let_go(run_id: &str, stage: &str) {
    let started = std::time::Instant::now();
    let container = loop {
        let ids = std::process::Command::new("docker")
            .args(["ps", "-q"])
            .args(["--filter", &format!("label=org.bosun.run={run_id}")])
            .args(["--filter", &format!("label=org.bosun.stage={stage}")])
            .output()
            .unwrap();
        let id = String::from_utf8_lossy(&ids.stdout).trim().to_string();
        if !id.is_empty() {
            break id;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "no running container for {stage}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let set = std::process::Command::new("docker")
        .args(["exec", &container, "touch", "/tmp/go"])
        .status()
        .unwrap();
    assert!(
        set.success(),
        "could not set the flag in {stage}'s container"
    );
}
