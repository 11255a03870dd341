//! `bosun plugin new` as a plugin author uses it: scaffold each kind, build it for
//! wasm32-wasip2 with cargo, and check and run the component with the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_test_support::assert_contains;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bosun(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(args)
        .current_dir(cwd)
        .env("BOSUN_CACHE_DIR", cwd.join("artifact-cache"))
        .env_remove("RUST_LOG")
        .env_remove("BOSUN_SDK")
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

/// The target folder the plugin build scripts use, so the SDK and its dependencies are
/// compiled for wasm32-wasip2 once, not once per scaffold.
fn wasm_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wasm-plugins")
}

/// `cargo build --release --target wasm32-wasip2` in `dir`; the component's path.
fn build(dir: &Path, name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", wasm_target_dir())
        // The outer build's flags would make this build differ from the plugin builds
        // sharing the folder.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo build of the {name} scaffold failed:\n{}",
        text(&out)
    );
    let wasm = wasm_target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    wasm
}

/// Scaffold `name` of `kind` in `dir`, build it and check it: the `plugin check --json`
/// answer and the component's path.
fn scaffold_build_check(dir: &Path, name: &str, kind: &str) -> (serde_json::Value, PathBuf) {
    let crate_dir = dir.join(name);
    let out = bosun(
        &[
            "plugin",
            "new",
            name,
            "--kind",
            kind,
            "--dir",
            crate_dir.to_str().unwrap(),
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for file in [
        "Cargo.toml",
        ".cargo/config.toml",
        "README.md",
        "src/lib.rs",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} missing");
    }
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert_contains(&manifest, "\n[workspace]");
    assert_contains(&manifest, "bosun-sdk = { path = ");
    let config = std::fs::read_to_string(crate_dir.join(".cargo/config.toml")).unwrap();
    assert_contains(&config, "target = \"wasm32-wasip2\"");
    let readme = std::fs::read_to_string(crate_dir.join("README.md")).unwrap();
    assert_contains(&readme, "cargo build --release");
    assert_contains(&readme, "bosun plugin check");
    assert_contains(&readme, "--plugins");

    let wasm = build(&crate_dir, name);
    let out = bosun(&["plugin", "check", wasm.to_str().unwrap(), "--json"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (checked, wasm)
}

#[test]
fn cli_plugin_new_stage_builds_checks_and_follows_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("count-files-{}", std::process::id());
    let (checked, wasm) = scaffold_build_check(dir.path(), &name, "stage");
    assert_eq!(checked["accepted"], true, "{checked}");
    assert_eq!(checked["world"], "stage", "{checked}");
    assert_eq!(checked["name"], name.as_str(), "{checked}");

    let ws = dir.path().join("workspace");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    for file in ["a.py", "b.py", "src/c.py", "notes.txt"] {
        std::fs::write(ws.join(file), "x = 1\n").unwrap();
    }
    let run = |max: &str| {
        bosun(
            &[
                "plugin",
                "run",
                wasm.to_str().unwrap(),
                "--workspace",
                ws.to_str().unwrap(),
                "--config",
                "pattern=*.py",
                "--config",
                &format!("max={max}"),
            ],
            dir.path(),
        )
    };
    let pass = run("3");
    let t = text(&pass);
    assert_eq!(pass.status.code(), Some(0), "{t}");
    assert_contains(&t, "3 files match *.py");
    let fail = run("2");
    let t = text(&fail);
    assert_eq!(fail.status.code(), Some(1), "{t}");
    assert_contains(&t, "more than 2");
    assert!(t.contains("src/c.py"), "the failure names the files: {t}");
}

#[test]
fn cli_plugin_new_policy_and_notifier_build_and_check() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["policy", "notifier"] {
        let name = format!("my-{kind}-{}", std::process::id());
        let (checked, _) = scaffold_build_check(dir.path(), &name, kind);
        assert_eq!(checked["accepted"], true, "{checked}");
        assert_eq!(checked["world"], kind, "{checked}");
        assert_eq!(checked["name"], name.as_str(), "{checked}");
    }
}

#[test]
fn cli_plugin_new_refuses_bad_names_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, expected) in [
        ("2fast", "must start with a letter"),
        ("has.dot", "'.' is not allowed"),
        ("fn", "Rust keyword"),
    ] {
        let out = bosun(&["plugin", "new", name, "--kind", "stage"], dir.path());
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {t}");
        assert!(t.contains("not a valid plugin crate name"), "{name}: {t}");
        assert!(t.contains(expected), "{name}: expected {expected:?} in {t}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing is written: {left:?}");
}

#[test]
fn cli_plugin_new_refuses_an_existing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("taken");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("keep.txt"), "mine").unwrap();
    let out = bosun(
        &[
            "plugin",
            "new",
            "taken",
            "--kind",
            "policy",
            "--dir",
            existing.to_str().unwrap(),
        ],
        dir.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert_contains(&t, "already exists");
    assert!(
        t.contains(existing.to_str().unwrap()),
        "names the folder: {t}"
    );
    let entries: Vec<_> = std::fs::read_dir(&existing).unwrap().collect();
    assert_eq!(entries.len(), 1, "the folder is untouched");
    let siblings: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(siblings.len(), 1, "no staging folder is left behind");
}

#[test]
fn cli_plugin_new_without_the_sdk_says_how_to_point_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = bosun(
        &[
            "plugin",
            "new",
            "lonely",
            "--kind",
            "notifier",
            "--sdk",
            "/nonexistent/sdk",
        ],
        dir.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert_contains(&t, "the Bosun SDK is not at /nonexistent/sdk");
    assert_contains(&t, "--sdk PATH");
    assert!(!dir.path().join("lonely").exists());
}

#[test]
fn cli_plugin_new_names_a_prefixed_plugin_as_the_sdk_does_in_its_readme() {
    let dir = tempfile::tempdir().unwrap();
    let out = bosun(
        &[
            "plugin",
            "new",
            "bosun-plugin-count-logs",
            "--kind",
            "policy",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let folder = dir.path().join("bosun-plugin-count-logs");
    let readme = std::fs::read_to_string(folder.join("README.md")).unwrap();
    assert_contains(&readme, "plugin: count-logs");
    assert!(
        !readme.contains("plugin: bosun-plugin-count-logs"),
        "{readme}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o755,
        "an ordinary folder, not the private staging one"
    );
}
