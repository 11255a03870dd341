//! Build-script helper: compiles workspace plugin crates to wasm32-wasip2 components.
//!
//! `bosun-builtins` and `bosun-test-plugins` call [`build_components`] from their
//! `build.rs`. It runs ONE nested `cargo build --release --target wasm32-wasip2 -p ...`
//! for all the requested packages, in a target directory of its own
//! (`<workspace>/target/wasm-plugins`) that every outer build shares, so `cargo build`,
//! `clippy`, `test` and `bench` reuse the compiled components instead of rebuilding
//! them. The pattern follows wasmtime's `crates/test-programs/artifacts/build.rs`.
//!
//! Build scripts fail by panicking, so the public functions panic with a message that
//! says what went wrong and how to fix it; nothing else in this crate panics.

use std::collections::BTreeSet;
use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The target every plugin is compiled for.
pub const TARGET: &str = "wasm32-wasip2";

/// Folder under `<workspace>/target` that holds the nested build. It is fixed (rather
/// than under `OUT_DIR`) so that all outer builds, whatever their profile or target
/// directory, share one cache of compiled plugins.
pub const TARGET_SUBDIR: &str = "wasm-plugins";

/// Code-generation flags of every plugin build (see [`run_nested_build`]).
pub const SIMD_RUSTFLAGS: &str = "-Ctarget-feature=+simd128";

/// Variables the outer cargo (or the user, or clippy) sets that would leak into the
/// nested build: they would change its flags, its target or its target directory, and
/// so force a rebuild every time the outer command differs.
const LEAKY_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_INCREMENTAL",
    "CARGO_INCREMENTAL",
    // Set by cargo for the outer build script only; nested build scripts get their own.
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
    "RUSTC_LINKER",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
];

/// Prefixes of the same kind: the outer build's cfgs, features, package metadata,
/// `links` metadata, and profile overrides (ours are set explicitly below).
const LEAKY_PREFIXES: &[&str] = &[
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PROFILE_",
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "DEP_",
];

/// Compile `packages` (workspace members with a `cdylib` or `bin` target) to
/// `wasm32-wasip2` components and copy each into `OUT_DIR` as `<short name>.wasm`
/// (see [`short_name`]). Returns `(package, path of the copy)` in the order given.
///
/// Also prints `cargo:rerun-if-changed` for `wit/`, every built crate's folder and its
/// path dependencies (so `sdk/` and `plugins/junit/`), and the workspace manifest, lock
/// file and toolchain file.
///
/// # Panics
///
/// When not run from a build script, when a package is not a workspace member, or when
/// the nested build fails; the message includes cargo's stderr, and says to run
/// `rustup target add wasm32-wasip2` when that target is missing.
pub fn build_components(packages: &[&str]) -> Vec<(String, PathBuf)> {
    try_build_components(packages).unwrap_or_else(|message| fail(&message))
}

/// The file name a package's component gets: the package name without its
/// `bosun-plugin-` or `bosun-fixture-` prefix (`bosun-plugin-todo-scan` → `todo-scan`).
pub fn short_name(package: &str) -> &str {
    package
        .strip_prefix("bosun-plugin-")
        .or_else(|| package.strip_prefix("bosun-fixture-"))
        .unwrap_or(package)
}

/// Write generated Rust source into `OUT_DIR/<file_name>` and return its path.
///
/// # Panics
///
/// When `OUT_DIR` is not set or the file cannot be written.
pub fn write_generated(file_name: &str, contents: &str) -> PathBuf {
    let written = out_dir().and_then(|dir| {
        let path = dir.join(file_name);
        fs::write(&path, contents)
            .map(|()| path.clone())
            .map_err(|e| format!("failed to write {}: {e}", path.display()))
    });
    written.unwrap_or_else(|message| fail(&message))
}

/// How a build script reports failure: cargo prints the panic message.
#[allow(clippy::panic)]
fn fail(message: &str) -> ! {
    panic!("{message}")
}

/// A workspace member as `cargo metadata` describes it.
struct Member {
    name: String,
    dir: PathBuf,
    /// File stem of the `.wasm` the member's `cdylib` or `bin` target produces.
    artifact: Option<String>,
    /// Names of its normal and build dependencies that are given by `path`.
    path_deps: Vec<String>,
}

fn try_build_components(packages: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    let out_dir = out_dir()?;
    let root = workspace_root()?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let members = workspace_members(&cargo, &root)?;

    let mut planned = Vec::new();
    let mut short_names = BTreeSet::new();
    for &package in packages {
        let member = members.iter().find(|m| m.name == package).ok_or_else(|| {
            format!(
                "package `{package}` is not a member of the workspace at {}",
                root.display()
            )
        })?;
        let artifact = member.artifact.as_deref().ok_or_else(|| {
            format!(
                "package `{package}` has no `cdylib` or single `bin` target, so it does not \
                 build to a component; add `crate-type = [\"cdylib\", \"rlib\"]` to its [lib]"
            )
        })?;
        let short = short_name(package);
        if !short_names.insert(short) {
            return Err(format!(
                "two packages would both be copied to {short}.wasm; build them separately"
            ));
        }
        planned.push((package, artifact, short));
    }

    emit_rerun_if_changed(&root, &members, packages);

    let target_dir = root.join("target").join(TARGET_SUBDIR);
    run_nested_build(&cargo, &root, &target_dir, packages)?;

    let release_dir = target_dir.join(TARGET).join("release");
    let mut built = Vec::new();
    for (package, artifact, short) in planned {
        let produced = release_dir.join(format!("{artifact}.wasm"));
        let copy = out_dir.join(format!("{short}.wasm"));
        fs::copy(&produced, &copy).map_err(|e| {
            format!(
                "nested build of `{package}` succeeded but copying {} to {} failed: {e}",
                produced.display(),
                copy.display()
            )
        })?;
        built.push((package.to_string(), copy));
    }
    Ok(built)
}

fn out_dir() -> Result<PathBuf, String> {
    env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| {
        "OUT_DIR is not set: bosun-wasm-build must be used from a build script".into()
    })
}

/// The first folder at or above `CARGO_MANIFEST_DIR` whose `Cargo.toml` has a
/// `[workspace]` table.
fn workspace_root() -> Result<PathBuf, String> {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).ok_or(
        "CARGO_MANIFEST_DIR is not set: bosun-wasm-build must be used from a build script",
    )?;
    manifest_dir
        .ancestors()
        .find(|dir| {
            fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.lines().any(|line| line.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "no Cargo.toml with a [workspace] table at or above {}",
                manifest_dir.display()
            )
        })
}

/// A `cargo` command in `root` with the outer build's leaky variables removed.
fn nested_cargo(cargo: &OsString, root: &Path) -> Command {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root);
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let leaky = LEAKY_VARS.contains(&key)
            || LEAKY_PREFIXES.iter().any(|prefix| key.starts_with(prefix));
        if leaky {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn workspace_members(cargo: &OsString, root: &Path) -> Result<Vec<Member>, String> {
    let output = nested_cargo(cargo, root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("could not run `{} metadata`: {e}", cargo.display()))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo metadata` failed in {} ({}):\n{}",
            root.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`cargo metadata` printed invalid JSON: {e}"))?;
    let packages = metadata["packages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    Ok(packages.iter().filter_map(member_from_json).collect())
}

fn member_from_json(package: &Value) -> Option<Member> {
    let name = package["name"].as_str()?.to_string();
    let dir = Path::new(package["manifest_path"].as_str()?)
        .parent()?
        .to_path_buf();
    let targets = package["targets"].as_array().map_or(&[][..], Vec::as_slice);
    let has_kind = |target: &Value, kind: &str| {
        target["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k.as_str() == Some(kind)))
    };
    // rustc names a cdylib after the crate (dashes become underscores) but keeps a
    // binary's name as written.
    let cdylib = targets
        .iter()
        .find(|t| has_kind(t, "cdylib"))
        .and_then(|t| t["name"].as_str())
        .map(|n| n.replace('-', "_"));
    let bins: Vec<&str> = targets
        .iter()
        .filter(|t| has_kind(t, "bin"))
        .filter_map(|t| t["name"].as_str())
        .collect();
    let artifact = match (cdylib, bins.as_slice()) {
        (Some(lib), _) => Some(lib),
        (None, [bin]) => Some((*bin).to_string()),
        _ => None,
    };
    let deps = package["dependencies"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let path_deps = deps
        .iter()
        .filter(|d| d["kind"].as_str() != Some("dev") && d["path"].is_string())
        .filter_map(|d| d["name"].as_str().map(str::to_string))
        .collect();
    Some(Member {
        name,
        dir,
        artifact,
        path_deps,
    })
}

/// Rebuild when the contract, the built crates or anything they depend on by path
/// changes; cargo scans a folder given here recursively.
fn emit_rerun_if_changed(root: &Path, members: &[Member], packages: &[&str]) {
    let mut dirs = BTreeSet::new();
    let mut pending: Vec<&str> = packages.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(member) = members.iter().find(|m| m.name == name) {
            dirs.insert(member.dir.clone());
            pending.extend(member.path_deps.iter().map(String::as_str));
        }
    }
    dirs.insert(root.join("wit"));
    dirs.insert(root.join("sdk"));
    for file in ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml"] {
        dirs.insert(root.join(file));
    }
    for path in dirs {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn run_nested_build(
    cargo: &OsString,
    root: &Path,
    target_dir: &Path,
    packages: &[&str],
) -> Result<(), String> {
    let mut cmd = nested_cargo(cargo, root);
    cmd.args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    for package in packages {
        cmd.args(["-p", package]);
    }
    // Plugins ship without debug info: smaller files to embed, hash and load.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    // 128-bit SIMD lets `memchr` (behind quick-xml's and the parsers' byte scans) use
    // its wasm vector loops instead of 4-byte word tricks; the host's engine always
    // supports it. Fat LTO with one codegen unit was measured too and gained nothing.
    cmd.env("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", SIMD_RUSTFLAGS);
    // Shown by `cargo build -vv`, or when the build script fails.
    eprintln!("running: {cmd:?}");
    let output = cmd
        .output()
        .map_err(|e| format!("could not run `{} build`: {e}", cargo.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        // Only `cargo build -vv` shows it; on failure it is part of the message instead.
        eprintln!("{stderr}");
        return Ok(());
    }
    let command = format!(
        "cargo build --release --target {TARGET} --target-dir {} -p {}",
        target_dir.display(),
        packages.join(" -p ")
    );
    if target_missing(&stderr) {
        return Err(format!(
            "the {TARGET} target is not installed: run `rustup target add {TARGET}`\n\
             (`{command}` failed with:)\n{stderr}"
        ));
    }
    Err(format!(
        "building plugin components failed ({}): `{command}` in {}:\n{stderr}",
        output.status,
        root.display()
    ))
}

/// rustc's wording when the standard library for a target is not installed.
fn target_missing(stderr: &str) -> bool {
    stderr.contains("target may not be installed")
        || stderr.contains("can't find crate for `core`")
        || stderr.contains("can't find crate for `std`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_the_bosun_prefixes() {
        assert_eq!(short_name("bosun-plugin-todo-scan"), "todo-scan");
        assert_eq!(short_name("bosun-fixture-hostile"), "hostile");
        assert_eq!(short_name("other"), "other");
    }

    #[test]
    fn missing_target_is_recognised_in_cargo_output() {
        let stderr = "error[E0463]: can't find crate for `core`\n  = note: the \
                      `wasm32-wasip2` target may not be installed";
        assert!(target_missing(stderr));
        assert!(!target_missing("error[E0308]: mismatched types"));
    }

    #[test]
    fn members_are_read_from_cargo_metadata() {
        let json: Value = serde_json::from_str(
            r#"{"name":"bosun-fixture-not-a-plugin","manifest_path":"/w/t/Cargo.toml",
                "targets":[{"name":"bosun-fixture-not-a-plugin","kind":["bin"]}],
                "dependencies":[{"name":"bosun-sdk","kind":null,"path":"/w/sdk"},
                                {"name":"tempfile","kind":"dev","path":"/w/x"}]}"#,
        )
        .unwrap();
        let member = member_from_json(&json).unwrap();
        assert_eq!(member.dir, PathBuf::from("/w/t"));
        assert_eq!(
            member.artifact.as_deref(),
            Some("bosun-fixture-not-a-plugin")
        );
        assert_eq!(member.path_deps, vec!["bosun-sdk".to_string()]);
    }
}
