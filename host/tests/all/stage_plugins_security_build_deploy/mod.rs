//! The `security`, `build` and `deploy` stage plugins, the built-ins `bosun-builtins`
//! embeds, run in the real host with the real Docker runner: bandit on the sample
//! repository, an image built and pushed to the local registry (digest checked against
//! the registry's HTTP API), and deploys against the recording `helm`/`kubectl` of
//! `bosun/deploy-tools`. This module holds their shared set-up, one module per stage.
//!
//! Needs the engine, the tool images and the registry (`bash scripts/services.sh`, then
//! `set -a; . .bosun/services.env; set +a`). Under `CI=true` a missing one is a failure;
//! elsewhere those tests skip, loudly. Tests that read only workspace files run always.

use crate::common;
use crate::common::docker::{self, registry_digest};
use bosun_test_support::{copy_sample, missing_service, service_var, workspace_root};

use bosun_bus::{Outcome, Severity, StageFailureKind, StageResult, Task};
use bosun_host::{
    DockerRunner, DockerSettings, LoadedPlugin, PluginRuntime, SandboxLimits, StageCall,
};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// What the Docker-backed tests need.
struct Env {
    runner: Arc<DockerRunner>,
    base: String,
    python: String,
    deploy: String,
    registry: String,
}

/// The runner (pushing to the test registry), the images and the registry, or the
/// missing-service rule.
async fn docker_or_skip(test: &str) -> Option<Env> {
    let base = service_var(test, "BOSUN_TEST_BASE_IMAGE")?;
    let python = service_var(test, "BOSUN_TEST_PYTHON_IMAGE")?;
    let deploy = service_var(test, "BOSUN_TEST_DEPLOY_IMAGE")?;
    let registry = service_var(test, "BOSUN_TEST_REGISTRY")?;
    let settings = DockerSettings {
        agent_id: format!("test-{}", std::process::id()),
        registry: Some(registry.clone()),
        ..DockerSettings::default()
    };
    let runner = docker::docker_or_skip(test, settings, &[&base, &python, &deploy]).await?;
    Some(Env {
        runner: Arc::new(runner),
        base,
        python,
        deploy,
        registry,
    })
}

fn limits() -> SandboxLimits {
    SandboxLimits {
        deadline: Duration::from_secs(300),
        memory_bytes: 256 << 20,
        ..SandboxLimits::default()
    }
}

/// A runtime with the Docker runner, and the built-in plugin `name` loaded in it.
async fn docker_runtime(env: &Env, name: &str) -> (PluginRuntime, LoadedPlugin) {
    let rt = common::runtime_with(limits()).with_containers(env.runner.clone());
    let plugin = common::load_builtin(&rt, name).await;
    (rt, plugin)
}

/// A runtime with no container runner, for stages that read only workspace files, and
/// the built-in plugin `name` loaded in it.
async fn plain_runtime(name: &str) -> (PluginRuntime, LoadedPlugin) {
    let rt = common::runtime_with(limits());
    let plugin = common::load_builtin(&rt, name).await;
    (rt, plugin)
}

fn task(stage: &str, config: &[(&str, &str)]) -> Task {
    Task {
        run_id: format!("run-{}-{stage}", std::process::id()),
        stage: stage.into(),
        repository: "acme/python-app".into(),
        commit: COMMIT.into(),
        ..common::task(config)
    }
}

/// A workspace folder (a copy of `sample`, or empty) and an output folder, readable by
/// the tool containers' non-root user.
struct Dirs {
    _root: tempfile::TempDir,
    workspace: PathBuf,
    out: PathBuf,
}

fn dirs(sample: Option<&str>) -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("ws");
    let out = root.path().join("out");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    if let Some(sample) = sample {
        copy_sample(&workspace_root().join(sample), &workspace);
    }
    for dir in [root.path(), workspace.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    Dirs {
        _root: root,
        workspace,
        out,
    }
}

fn write(dirs: &Dirs, relative: &str, contents: &[u8]) {
    let path = dirs.workspace.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn call(dirs: &Dirs, network: bool) -> StageCall {
    StageCall {
        workspace: dirs.workspace.clone(),
        out: dirs.out.clone(),
        network_allowed: network,
        secrets: vec![],
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        // The name the orchestrator gives builds of the task's repository.
        image_repository: Some("acme/python-app".into()),
    }
}

fn report_of(result: &StageResult) -> &bosun_bus::StageReport {
    result.report.as_ref().unwrap_or_else(|| {
        panic!(
            "expected a report, got {:?}\nlogs: {:#?}",
            result.failure, result.logs
        )
    })
}

fn failure_of(result: &StageResult) -> (StageFailureKind, &str) {
    let failure = result
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("expected a stage error, got {:?}", result.report));
    (failure.kind, failure.message.as_str())
}

fn security_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        workspace_root()
            .join("plugins/security/tests/fixtures/trivy")
            .join(name),
    )
    .unwrap()
}

mod build;
mod deploy;
mod security;
mod security_trivy;
