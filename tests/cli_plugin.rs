//! `bosun plugin check|run|list` as plugin authors use them: the real binary, real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_test_support::assert_contains;
use std::path::Path;
use std::process::{Command, Output};

fn bosun(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(args)
        .env("BOSUN_CACHE_DIR", cache)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn cli_check_accepts_a_plugin_and_names_world_version_digest() {
    let cache = tempfile::tempdir().unwrap();
    let out = bosun(
        &["plugin", "check", bosun_test_plugins::HOSTILE],
        cache.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_contains(&t, "name      hostile");
    assert_contains(&t, "world     stage");
    assert_contains(&t, "version   0.1.0");
    assert_contains(&t, "digest    sha256:");

    let json = bosun(
        &["plugin", "check", "--json", bosun_test_plugins::HOSTILE],
        cache.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["world"], "stage");
    assert_eq!(v["digest"].as_str().unwrap().len(), "sha256:".len() + 64);
}

#[test]
fn cli_check_refuses_bad_files_with_distinct_messages() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let not_wasm = dir.path().join("readme.wasm");
    std::fs::write(&not_wasm, "just text").unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, wat::parse_str("(module)").unwrap()).unwrap();
    let truncated = dir.path().join("truncated.wasm");
    let full = std::fs::read(bosun_test_plugins::HOSTILE).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 3]).unwrap();

    let cases = [
        (not_wasm.to_str().unwrap(), "not a WebAssembly file"),
        (
            core.to_str().unwrap(),
            "core WebAssembly module, not a component",
        ),
        (
            truncated.to_str().unwrap(),
            "not a valid component (truncated or corrupt?)",
        ),
        (bosun_test_plugins::NOT_A_PLUGIN, "not a Bosun plugin"),
        (
            bosun_test_plugins::FORBIDDEN_IMPORT,
            "which the host does not grant to stage plugins",
        ),
        (
            bosun_test_plugins::FUTURE_MAJOR,
            "built against bosun:agent@1.0.0",
        ),
        (
            bosun_test_plugins::MISSING_EXPORT,
            "does not implement the stage world",
        ),
    ];
    for (file, expected) in cases {
        let out = bosun(&["plugin", "check", file], cache.path());
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{file}: {t}");
        assert_contains(&t, "refused:");
        assert!(t.contains(expected), "{file}: expected {expected:?} in {t}");
        assert!(t.contains(file), "message names the file: {t}");
    }
}

#[test]
fn cli_check_missing_file_is_an_error() {
    let cache = tempfile::tempdir().unwrap();
    let out = bosun(
        &["plugin", "check", "/nonexistent/plugin.wasm"],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("/nonexistent/plugin.wasm"));
}

#[test]
fn cli_run_exit_codes_follow_the_stage_outcome() {
    let cache = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("app.py"), "x = 1  # TODO: remove\n").unwrap();
    let w = ws.path().to_str().unwrap();

    let pass = bosun(
        &["plugin", "run", "todo-scan", "--workspace", w],
        cache.path(),
    );
    let t = text(&pass);
    assert_eq!(pass.status.code(), Some(0), "{t}");
    assert_contains(&t, "1 TODO/FIXME markers");
    assert_contains(&t, "app.py:1");

    let fail = bosun(
        &[
            "plugin",
            "run",
            "todo-scan",
            "--workspace",
            w,
            "--config",
            "max_markers=0",
        ],
        cache.path(),
    );
    assert_eq!(fail.status.code(), Some(1), "{}", text(&fail));

    let error = bosun(
        &[
            "plugin",
            "run",
            bosun_test_plugins::HOSTILE,
            "--workspace",
            w,
            "--config",
            "mode=panic",
        ],
        cache.path(),
    );
    let t = text(&error);
    assert_eq!(error.status.code(), Some(2), "{t}");
    assert_contains(&t, "hostile plugin panicked on purpose");

    let json = bosun(
        &["plugin", "run", "todo-scan", "--workspace", w, "--json"],
        cache.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["report"]["outcome"], "success");
    assert_eq!(v["report"]["findings"][0]["rule"], "TODO");
    assert!(
        v["plugin"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn cli_run_rejects_bad_config_and_unknown_plugin() {
    let cache = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let w = ws.path().to_str().unwrap();
    let bad = bosun(
        &[
            "plugin",
            "run",
            "todo-scan",
            "--workspace",
            w,
            "--config",
            "novalue",
        ],
        cache.path(),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("expected KEY=VALUE"));
    let unknown = bosun(
        &["plugin", "run", "no-such-plugin", "--workspace", w],
        cache.path(),
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown).contains("built-ins: "), "{}", text(&unknown));
}

#[test]
fn cli_list_shows_builtins_and_folder_plugins_and_refusals() {
    let cache = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(
        bosun_test_plugins::HOSTILE,
        folder.path().join("hostile.wasm"),
    )
    .unwrap();
    std::fs::copy(
        bosun_test_plugins::FUTURE_MAJOR,
        folder.path().join("future.wasm"),
    )
    .unwrap();
    let out = bosun(
        &[
            "plugin",
            "list",
            "--plugins",
            folder.path().to_str().unwrap(),
            "--json",
        ],
        cache.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"hostile"), "{names:?}");
    assert!(names.contains(&"todo-scan"), "{names:?}");
    assert!(names.contains(&"junit-report"), "{names:?}");
    let refused = v["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("future.wasm")
    );
}

#[test]
fn cli_walkthrough_plugin_is_checked_run_and_picked_up() {
    let cache = tempfile::tempdir().unwrap();
    let plugin = bosun_test_plugins::HELLO_EXAMPLE;
    let check = bosun(&["plugin", "check", plugin], cache.path());
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(text(&check).contains("name      long-files"));

    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("short.py"), "a = 1\n").unwrap();
    std::fs::write(ws.path().join("long.py"), "b = 2\n".repeat(40)).unwrap();
    let w = ws.path().to_str().unwrap();
    let run = bosun(
        &[
            "plugin",
            "run",
            plugin,
            "--workspace",
            w,
            "--config",
            "max_lines=30",
            "--json",
        ],
        cache.path(),
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["report"]["summary"], "1 files longer than 30 lines");
    assert_eq!(v["report"]["findings"][0]["path"], "long.py");

    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(plugin, folder.path().join("long-files.wasm")).unwrap();
    let list = bosun(
        &[
            "plugin",
            "list",
            "--plugins",
            folder.path().to_str().unwrap(),
        ],
        cache.path(),
    );
    assert!(text(&list).contains("long-files"), "{}", text(&list));
}
