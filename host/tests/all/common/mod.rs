//! Shared set-up for host integration tests: runtimes, workspaces, tasks and the
//! built-in plugins; `docker` for the tests on the real engine.
#![allow(dead_code)]

pub mod docker;

use bosun_bus::{StageResult, Task};
use bosun_host::{
    ArtifactCache, EngineSettings, HostEngine, LoadedPlugin, PluginRuntime, PluginSource,
    SandboxLimits, StageCall,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Limits small enough that hostile fixtures hit them quickly.
pub fn test_limits() -> SandboxLimits {
    SandboxLimits {
        deadline: Duration::from_secs(3),
        memory_bytes: 64 << 20,
        ..SandboxLimits::default()
    }
}

pub fn runtime_with(limits: SandboxLimits) -> PluginRuntime {
    let settings = EngineSettings {
        limits,
        max_concurrent_instances: 16,
        pooling: true,
        ..EngineSettings::default()
    };
    PluginRuntime::new(HostEngine::new(settings).unwrap(), ArtifactCache::new(None)).unwrap()
}

pub fn runtime() -> PluginRuntime {
    runtime_with(test_limits())
}

pub async fn load_file(rt: &PluginRuntime, path: &str) -> LoadedPlugin {
    let bytes = std::fs::read(path).unwrap();
    rt.load(PluginSource::File(PathBuf::from(path)), &bytes)
        .await
        .unwrap_or_else(|e| panic!("fixture {path} should load: {e}"))
}

/// A task whose `with:` block is `config`.
pub fn task(config: &[(&str, &str)]) -> Task {
    Task {
        run_id: "run-42".into(),
        stage: "lint".into(),
        attempt: 1,
        tenant: "acme".into(),
        repository: "acme/app".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        branch: "main".into(),
        event: "push".into(),
        commit_message: String::new(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A workspace with one source file, and an empty output folder.
pub struct Dirs {
    pub root: tempfile::TempDir,
    pub workspace: PathBuf,
    pub out: PathBuf,
}

pub fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("workspace");
    let out = root.path().join("out");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        workspace.join("app.py"),
        "print('hi')  # TODO: greet properly\n",
    )
    .unwrap();
    Dirs {
        root,
        workspace,
        out,
    }
}

pub fn call(dirs: &Dirs) -> StageCall {
    StageCall {
        workspace: dirs.workspace.clone(),
        out: dirs.out.clone(),
        network_allowed: false,
        secrets: vec![("TOKEN".into(), "s3cr3t-token".into())],
        secrets_granted: vec!["TOKEN".into()],
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
    }
}

pub async fn run_mode(
    rt: &PluginRuntime,
    plugin: &LoadedPlugin,
    dirs: &Dirs,
    config: &[(&str, &str)],
) -> StageResult {
    rt.run_stage(plugin, &task(config), &call(dirs)).await
}

/// After a hostile call, the same runtime must still serve a normal one.
pub async fn assert_host_still_serves(rt: &PluginRuntime, plugin: &LoadedPlugin) {
    let d = dirs();
    let result = run_mode(rt, plugin, &d, &[("mode", "echo")]).await;
    let report = result
        .report
        .unwrap_or_else(|| panic!("echo after a hostile call failed: {:?}", result.failure));
    assert_eq!(
        report.summary,
        "run-42/lint/1 acme/app@0123456789abcdef0123456789abcdef01234567 on main"
    );
}

/// The built-in plugin `name` (`lint`, `security`, …), as `bosun-builtins` embeds it.
pub async fn load_builtin(rt: &PluginRuntime, name: &str) -> LoadedPlugin {
    let file_name = format!("{name}.wasm");
    let Some(builtin) = bosun_builtins::BUILTINS
        .iter()
        .find(|b| b.file_name == file_name)
    else {
        panic!("{name} is not among the built-in plugins (plugins/builtin/build.rs)")
    };
    rt.load(PluginSource::Builtin(name.to_string()), builtin.bytes)
        .await
        .unwrap_or_else(|e| panic!("built-in {name} should load: {e}"))
}

pub fn path_of(p: &Path) -> String {
    p.display().to_string()
}

/// The next reply to a task on `agent.results`, acknowledged; agents' inventory
/// announcements on the same topic are acknowledged and passed over.
pub async fn next_task_reply(sub: &mut Box<dyn bosun_bus::Subscription>) -> bosun_bus::Delivery {
    loop {
        let delivery = tokio::time::timeout(Duration::from_secs(60), sub.next())
            .await
            .expect("a reply within a minute")
            .unwrap();
        sub.ack(&delivery).await.unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&delivery.record.payload).unwrap_or_default();
        if json["kind"] != "inventory" {
            return delivery;
        }
    }
}
