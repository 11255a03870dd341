//! Loading checks: each kind of bad file is refused with its own precise message.

use crate::common::*;
use bosun_host::{
    ArtifactCache, CacheOutcome, EngineSettings, HostEngine, PluginError, PluginKind,
    PluginRuntime, PluginSource,
};
use bosun_test_support::assert_contains;
use std::path::PathBuf;

async fn refusal(bytes: &[u8], name: &str) -> PluginError {
    let rt = runtime();
    match rt
        .load(PluginSource::File(PathBuf::from(name)), bytes)
        .await
    {
        Ok(p) => panic!("{name} should be refused, loaded {:?}", p.id),
        Err(e) => e,
    }
}

async fn fixture_refusal(path: &str) -> PluginError {
    refusal(&std::fs::read(path).unwrap(), path).await
}

#[tokio::test]
async fn load_refuses_import_the_host_does_not_grant() {
    let e = fixture_refusal(bosun_test_plugins::FORBIDDEN_IMPORT).await;
    assert!(matches!(e, PluginError::ForbiddenImport { .. }), "{e}");
    let msg = e.to_string();
    assert_contains(&msg, "fixture:sneaky/secrets");
    assert!(msg.contains("forbidden"), "names the file: {msg}");
}

#[tokio::test]
async fn load_refuses_incompatible_major_version() {
    let e = fixture_refusal(bosun_test_plugins::FUTURE_MAJOR).await;
    assert!(matches!(e, PluginError::IncompatibleVersion { .. }), "{e}");
    assert!(e.to_string().contains("bosun:agent@1.0.0"), "{e}");
}

#[tokio::test]
async fn load_refuses_missing_export() {
    let e = fixture_refusal(bosun_test_plugins::MISSING_EXPORT).await;
    assert!(matches!(e, PluginError::MissingExport { .. }), "{e}");
    assert!(e.to_string().contains("run"), "{e}");
}

#[tokio::test]
async fn load_refuses_component_of_another_world() {
    let e = fixture_refusal(bosun_test_plugins::NOT_A_PLUGIN).await;
    assert!(matches!(e, PluginError::WrongWorld { .. }), "{e}");
    assert!(e.to_string().contains("wasi:cli/run"), "{e}");
}

#[tokio::test]
async fn load_refuses_core_module_non_wasm_and_truncated_distinctly() {
    let core = wat::parse_str("(module (func (export \"run\")))").unwrap();
    let core_err = refusal(&core, "core.wasm").await;
    assert!(
        matches!(core_err, PluginError::CoreModule { .. }),
        "{core_err}"
    );

    let text_err = refusal(b"#!/bin/sh\necho not wasm\n", "script.wasm").await;
    assert!(
        matches!(text_err, PluginError::NotWasm { .. }),
        "{text_err}"
    );

    let full = std::fs::read(bosun_test_plugins::HOSTILE).unwrap();
    let truncated_err = refusal(&full[..full.len() / 2], "half.wasm").await;
    assert!(
        matches!(truncated_err, PluginError::Invalid { .. }),
        "{truncated_err}"
    );

    let messages = [
        core_err.to_string(),
        text_err.to_string(),
        truncated_err.to_string(),
    ];
    assert!(messages[0].contains("core WebAssembly module"));
    assert!(messages[1].contains("not a WebAssembly file"));
    assert!(messages[2].contains("truncated or corrupt"));
    assert!(
        messages.iter().all(|m| m.contains(".wasm")),
        "each names its file"
    );
}

#[tokio::test]
async fn builtins_all_load_with_their_kind() {
    let rt = runtime();
    assert!(!bosun_builtins::BUILTINS.is_empty());
    for builtin in bosun_builtins::BUILTINS {
        let plugin = rt
            .load(
                PluginSource::Builtin(builtin.file_name.into()),
                builtin.bytes,
            )
            .await
            .unwrap_or_else(|e| panic!("built-in {} refused: {e}", builtin.file_name));
        let expected = match builtin.file_name {
            "slack.wasm" | "email.wasm" => PluginKind::Notifier,
            "no-critical-vulns.wasm"
            | "min-coverage.wasm"
            | "production-only-from-default-branch.wasm" => PluginKind::Policy,
            _ => PluginKind::Stage,
        };
        assert_eq!(plugin.kind, expected, "{}", builtin.file_name);
        assert_eq!(format!("{}.wasm", plugin.id.name), builtin.file_name);
        assert!(!plugin.id.version.is_empty());
    }
}

#[tokio::test]
async fn cache_serves_compiled_artifact_after_restart() {
    let cache_dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(bosun_test_plugins::HOSTILE).unwrap();
    let source = PluginSource::File(PathBuf::from(bosun_test_plugins::HOSTILE));
    let first = {
        let rt = PluginRuntime::new(
            HostEngine::new(EngineSettings::default()).unwrap(),
            ArtifactCache::new(Some(cache_dir.path().to_path_buf())),
        )
        .unwrap();
        rt.load(source.clone(), &bytes).await.unwrap()
    };
    assert_eq!(first.cache, CacheOutcome::Compiled);
    let entries = std::fs::read_dir(cache_dir.path()).unwrap().count();
    assert_eq!(entries, 1, "one artifact stored");

    // A new engine and runtime, as after a restart.
    let rt = PluginRuntime::new(
        HostEngine::new(EngineSettings::default()).unwrap(),
        ArtifactCache::new(Some(cache_dir.path().to_path_buf())),
    )
    .unwrap();
    let second = rt.load(source, &bytes).await.unwrap();
    assert_eq!(second.cache, CacheOutcome::Hit);
    assert_eq!(second.id, first.id);
    assert_host_still_serves(&rt, &second).await;
}

#[tokio::test]
async fn cache_discards_corrupt_artifact_and_recompiles() {
    let cache_dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(bosun_test_plugins::HOSTILE).unwrap();
    let make = || {
        PluginRuntime::new(
            HostEngine::new(EngineSettings::default()).unwrap(),
            ArtifactCache::new(Some(cache_dir.path().to_path_buf())),
        )
        .unwrap()
    };
    let source = PluginSource::File(PathBuf::from("hostile.wasm"));
    make().load(source.clone(), &bytes).await.unwrap();
    for entry in std::fs::read_dir(cache_dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let reloaded = make().load(source, &bytes).await.unwrap();
    assert_eq!(reloaded.cache, CacheOutcome::Compiled);
}

#[tokio::test]
async fn on_demand_fallback_engine_still_runs_plugins() {
    let settings = EngineSettings::default();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_memories(u32::MAX)
        .total_component_instances(u32::MAX);
    let engine = HostEngine::with_pool(settings, pool).unwrap();
    assert!(matches!(
        engine.allocator,
        bosun_host::AllocatorKind::OnDemand { .. }
    ));
    let rt = PluginRuntime::new(engine, ArtifactCache::new(None)).unwrap();
    let plugin = load_file(&rt, bosun_test_plugins::HOSTILE).await;
    assert_host_still_serves(&rt, &plugin).await;
}
