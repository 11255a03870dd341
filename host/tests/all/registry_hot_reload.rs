//! The registry follows its folders: files added, replaced and removed take effect
//! without a restart, and calls in flight finish on the version they started with.

use crate::common::*;
use bosun_host::{PluginRegistry, PluginRuntime};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn todo_scan_bytes() -> &'static [u8] {
    bosun_builtins::BUILTINS
        .iter()
        .find(|b| b.file_name == "todo-scan.wasm")
        .unwrap()
        .bytes
}

/// Wait (bounded) until the registry reaches the wanted state.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("registry never reached state: {what}");
}

fn copy_in(bytes: &[u8], folder: &Path, name: &str) {
    // Write then rename, as a deploy tool would, so the watcher sees a whole file.
    let tmp = folder.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, folder.join(name)).unwrap();
}

async fn open(folder: &Path) -> Arc<PluginRegistry> {
    let rt: Arc<PluginRuntime> = Arc::new(runtime());
    PluginRegistry::open(rt, vec![folder.to_path_buf()], vec![]).await
}

#[tokio::test]
async fn registry_hot_reload_add_replace_remove() {
    let folder = tempfile::tempdir().unwrap();
    let registry = open(folder.path()).await;
    let _watch = registry.watch(Duration::from_secs(30));
    assert!(registry.list().is_empty());

    copy_in(
        &std::fs::read(bosun_test_plugins::HOSTILE).unwrap(),
        folder.path(),
        "custom.wasm",
    );
    eventually("hostile added", || registry.get("hostile").is_some()).await;

    copy_in(todo_scan_bytes(), folder.path(), "custom.wasm");
    eventually("replaced by todo-scan", || {
        registry.get("todo-scan").is_some() && registry.get("hostile").is_none()
    })
    .await;

    std::fs::remove_file(folder.path().join("custom.wasm")).unwrap();
    eventually("removed", || registry.list().is_empty()).await;
}

#[tokio::test]
async fn registry_call_in_flight_survives_removal() {
    let folder = tempfile::tempdir().unwrap();
    copy_in(
        &std::fs::read(bosun_test_plugins::HOSTILE).unwrap(),
        folder.path(),
        "hostile.wasm",
    );
    let registry = open(folder.path()).await;
    let _watch = registry.watch(Duration::from_secs(30));
    let plugin = registry.get("hostile").unwrap();
    let rt = registry.runtime().clone();
    let d = dirs();
    let in_flight = tokio::spawn({
        let call = call(&d);
        async move {
            rt.run_stage(&plugin, &task(&[("mode", "sleep"), ("ms", "1500")]), &call)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::remove_file(folder.path().join("hostile.wasm")).unwrap();
    eventually("removed", || registry.get("hostile").is_none()).await;
    let result = in_flight.await.unwrap();
    assert_eq!(result.report.unwrap().summary, "slept 1500 ms");
}

#[tokio::test]
async fn registry_broken_replacement_keeps_last_good_version() {
    let folder = tempfile::tempdir().unwrap();
    copy_in(
        &std::fs::read(bosun_test_plugins::HOSTILE).unwrap(),
        folder.path(),
        "p.wasm",
    );
    let registry = open(folder.path()).await;
    let digest = registry.get("hostile").unwrap().id.digest.clone();
    copy_in(b"not wasm at all", folder.path(), "p.wasm");
    registry.rescan().await;
    assert_eq!(registry.get("hostile").unwrap().id.digest, digest);
    let refused = registry.refused();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].reason.contains("not a WebAssembly file"),
        "{}",
        refused[0].reason
    );
    assert!(
        refused[0]
            .reason
            .contains("still serving the previous version")
    );
}

#[tokio::test]
async fn registry_refuses_duplicate_names_and_bad_files_but_loads_the_rest() {
    let folder = tempfile::tempdir().unwrap();
    let hostile = std::fs::read(bosun_test_plugins::HOSTILE).unwrap();
    copy_in(&hostile, folder.path(), "a.wasm");
    // Same name, different bytes: a different digest claiming `hostile`.
    let mut variant = hostile.clone();
    variant.extend_from_slice(&[0, 4, 3, b'p', b'a', b'd']); // custom section "pad"
    copy_in(&variant, folder.path(), "b.wasm");
    copy_in(
        &std::fs::read(bosun_test_plugins::FORBIDDEN_IMPORT).unwrap(),
        folder.path(),
        "c.wasm",
    );
    std::fs::write(folder.path().join("notes.txt"), "ignored: not a .wasm").unwrap();
    let registry = open(folder.path()).await;
    assert_eq!(registry.list().len(), 1);
    assert!(
        registry
            .get("hostile")
            .unwrap()
            .source
            .to_string()
            .ends_with("a.wasm")
    );
    let reasons: Vec<String> = registry.refused().into_iter().map(|r| r.reason).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("b.wasm") && r.contains("already provided by"))
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("c.wasm") && r.contains("does not grant"))
    );
}

#[tokio::test]
async fn registry_folder_plugin_shadows_builtin_of_same_name() {
    let folder = tempfile::tempdir().unwrap();
    let rt: Arc<PluginRuntime> = Arc::new(runtime());
    let builtins = vec![(
        "todo-scan.wasm".to_string(),
        Cow::Borrowed(todo_scan_bytes()),
    )];
    let registry = PluginRegistry::open(rt, vec![folder.path().to_path_buf()], builtins).await;
    assert!(
        registry
            .get("todo-scan")
            .unwrap()
            .source
            .to_string()
            .starts_with("built-in")
    );
    copy_in(todo_scan_bytes(), folder.path(), "todo-scan.wasm");
    registry.rescan().await;
    assert!(
        registry
            .get("todo-scan")
            .unwrap()
            .source
            .to_string()
            .ends_with("todo-scan.wasm")
    );
    std::fs::remove_file(folder.path().join("todo-scan.wasm")).unwrap();
    registry.rescan().await;
    assert!(
        registry
            .get("todo-scan")
            .unwrap()
            .source
            .to_string()
            .starts_with("built-in")
    );
}
