//! Whole five-stage runs through the embedded system: orchestrator, in-memory bus, the
//! agent host fetching a workspace per task and running a no-op WebAssembly stage plugin
//! (`scripted`, which reports a pass) in a fresh sandbox per task.
//!
//! `cargo bench --bench pipeline`; `BOSUN_BENCH_RUNS` sets the number of runs (600).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun::embedded::{Embedded, EmbeddedOptions};
use bosun_host::NoContainerRuntime;
use bosun_orchestrator::model::RunTrigger;
use bosun_orchestrator::scheduler::Accepted;
use bosun_orchestrator::settings::ServerSettings;
use bosun_orchestrator::store::Store;
use bosun_test_support::git_repo;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PIPELINE: &str = "pipeline:
  stages:
    - { name: lint, plugin: scripted }
    - { name: test, plugin: scripted }
    - { name: build, plugin: scripted }
    - { name: security, plugin: scripted }
    - { name: deploy, plugin: scripted }
";

fn main() {
    let runs: usize = std::env::var("BOSUN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, sha) = git_repo(&dir.path().join("repo"), &[(".bosun.yml", PIPELINE)]);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins");
    std::fs::copy(bosun_test_plugins::SCRIPTED, plugins.join("scripted.wasm")).expect("copy");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let settings = ServerSettings {
            listen: "127.0.0.1:0".into(),
            store: dir.path().join("runs.db").into(),
            work_dir: dir.path().join("orchestrator"),
            ..ServerSettings::default()
        };
        let system = Embedded::start(EmbeddedOptions {
            settings,
            plugin_dirs: vec![plugins],
            containers: Arc::new(NoContainerRuntime),
            private_checkouts: false,
            work_dir: dir.path().join("agent"),
            extra_stages: vec![],
            concurrency: 4,
            tick: Duration::from_millis(5),
        })
        .await
        .expect("embedded system starts");
        let store = Store::open(&dir.path().join("runs.db")).expect("store");
        let trigger = |i: usize| RunTrigger {
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            clone_url: url.clone(),
            default_branch: "main".into(),
            commit: sha.clone(),
            branch: format!("b{i}"),
            event: "manual".into(),
            changed_paths: None,
            pull_request: None,
            sender: "bench".into(),
            message: None,
            fork: false,
        };
        // Warm-up: the first run clones the mirror and compiles nothing (cached plugin).
        if let Ok(Accepted::Queued { run_id }) = system.orchestrator.trigger(trigger(usize::MAX), None).await {
            while !store.run(&run_id).ok().flatten().is_some_and(|r| r.status.is_final()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let started = Instant::now();
        let mut ids = Vec::new();
        for i in 0..runs {
            if let Ok(Accepted::Queued { run_id }) = system.orchestrator.trigger(trigger(i), None).await {
                ids.push(run_id);
            }
        }
        let mut passed = 0;
        for id in &ids {
            loop {
                match store.run(id) {
                    Ok(Some(run)) if run.status.is_final() => {
                        passed += usize::from(run.status.as_str() == "success");
                        break;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "whole system, in-memory: {runs} five-stage runs ({passed} passed) in {elapsed:.2} s = {:.0} runs/min ({:.0} plugin tasks/s)",
            runs as f64 * 60.0 / elapsed,
            runs as f64 * 5.0 / elapsed
        );
        system.shutdown().await;
    });
}
