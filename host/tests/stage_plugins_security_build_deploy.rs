//! The `security`, `build` and `deploy` stage plugins, compiled to components and run in
//! the real host with the real Docker runner: bandit on the sample repository, an image
//! built and pushed to the local registry (digest checked against the registry's HTTP
//! API), and deploys against the recording `helm`/`kubectl` of `bosun/deploy-tools`.
//!
//! Needs the engine, the tool images and the registry (`bash scripts/services.sh`, then
//! `set -a; . .bosun/services.env; set +a`). Under `CI=true` a missing one is a failure;
//! elsewhere those tests skip, loudly. Tests that read only workspace files run always.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_bus::{Outcome, Severity, StageFailureKind, StageResult, Task};
use bosun_host::{
    DockerRunner, DockerSettings, LoadedPlugin, PluginRuntime, SandboxLimits, StageCall,
};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const PACKAGES: [&str; 3] = [
    "bosun-plugin-security",
    "bosun-plugin-build",
    "bosun-plugin-deploy",
];

// ------------------------------------------------------------------ plugin files

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Compile the three plugins to components once per test binary, exactly as
/// `bosun-wasm-build` does for the built-ins (same target folder, profile overrides and
/// cleaned environment), so both share one cache and nothing stale is tested.
fn plugin_file(package: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(build_plugins)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    dir.join(format!("{}.wasm", package.replace('-', "_")))
}

/// Variables of the outer `cargo test` that would change the nested build's flags or
/// target, and so its fingerprint (the list `bosun-wasm-build` keeps).
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
    "CARGO_BUILD_INCREMENTAL",
    "CARGO_INCREMENTAL",
    "OUT_DIR",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
];
const LEAKY_PREFIXES: &[&str] = &[
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PROFILE_",
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "DEP_",
];

fn build_plugins() -> Result<PathBuf, String> {
    let root = workspace_root();
    let target = root.join("target").join("wasm-plugins");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if LEAKY_VARS.contains(&key) || LEAKY_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    for package in PACKAGES {
        cmd.args(["-p", package]);
    }
    let output = cmd
        .output()
        .map_err(|e| format!("running cargo build for {PACKAGES:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build --release --target wasm32-wasip2 -p {} failed:\n{}",
            PACKAGES.join(" -p "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(target.join("wasm32-wasip2").join("release"))
}

// ------------------------------------------------------------------ host set-up

/// What the Docker-backed tests need.
struct Env {
    runner: Arc<DockerRunner>,
    base: String,
    python: String,
    deploy: String,
    registry: String,
}

async fn docker_or_skip(test: &str) -> Option<Env> {
    let vars = [
        "BOSUN_TEST_BASE_IMAGE",
        "BOSUN_TEST_PYTHON_IMAGE",
        "BOSUN_TEST_DEPLOY_IMAGE",
        "BOSUN_TEST_REGISTRY",
    ]
    .map(|name| (name, std::env::var(name)));
    let problem = if let Some((missing, _)) = vars.iter().find(|(_, v)| v.is_err()) {
        format!("{missing} is not set")
    } else {
        let [base, python, deploy, registry] = vars.map(|(_, v)| v.unwrap());
        let settings = DockerSettings {
            agent_id: format!("test-{}", std::process::id()),
            registry: Some(registry.clone()),
            ..DockerSettings::default()
        };
        match DockerRunner::connect(settings).await {
            Ok(runner) => {
                let mut missing = None;
                for image in [&base, &python, &deploy] {
                    if runner.client().inspect_image(image).await.is_err() {
                        missing = Some(format!("image {image} is not built"));
                        break;
                    }
                }
                match missing {
                    Some(problem) => problem,
                    None => {
                        return Some(Env {
                            runner: Arc::new(runner),
                            base,
                            python,
                            deploy,
                            registry,
                        });
                    }
                }
            }
            Err(e) => e,
        }
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test}: Docker, the tool images and the registry are required in CI ({problem}); \
             start them with: bash scripts/services.sh && set -a && . .bosun/services.env"
        );
    }
    eprintln!(
        "SKIPPED {test}: no Docker engine or tool images ({problem}); start them with: bash scripts/services.sh"
    );
    None
}

fn limits() -> SandboxLimits {
    SandboxLimits {
        deadline: Duration::from_secs(300),
        memory_bytes: 256 << 20,
        ..SandboxLimits::default()
    }
}

async fn load(rt: &PluginRuntime, package: &str) -> LoadedPlugin {
    let path = plugin_file(package);
    common::load_file(rt, path.to_str().unwrap()).await
}

/// A runtime with the Docker runner, and the plugin loaded in it.
async fn docker_runtime(env: &Env, package: &str) -> (PluginRuntime, LoadedPlugin) {
    let rt = common::runtime_with(limits()).with_containers(env.runner.clone());
    let plugin = load(&rt, package).await;
    (rt, plugin)
}

/// A runtime with no container runner, for stages that read only workspace files.
async fn plain_runtime(package: &str) -> (PluginRuntime, LoadedPlugin) {
    let rt = common::runtime_with(limits());
    let plugin = load(&rt, package).await;
    (rt, plugin)
}

fn task(stage: &str, config: &[(&str, &str)]) -> Task {
    Task {
        run_id: format!("run-{}-{stage}", std::process::id()),
        stage: stage.into(),
        attempt: 1,
        tenant: "acme".into(),
        repository: "acme/python-app".into(),
        commit: COMMIT.into(),
        branch: "main".into(),
        event: "push".into(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
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
        copy_tree(&workspace_root().join(sample), &workspace);
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

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "__pycache__" || name == ".pytest_cache" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
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

// ---------------------------------------------------------------------- security

#[tokio::test]
async fn security_bandit_finds_exactly_one_high_issue_in_the_python_app() {
    let Some(env) =
        docker_or_skip("security_bandit_finds_exactly_one_high_issue_in_the_python_app").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-security").await;
    let d = dirs(Some("examples/python-app"));
    let t = task("security", &[("python_image", &env.python)]);
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure, "{}", report.summary);
    let high: Vec<_> = report
        .findings
        .iter()
        .filter(|f| matches!(f.severity, Severity::High | Severity::Critical))
        .collect();
    assert_eq!(high.len(), 1, "{:#?}", report.findings);
    assert_eq!(high[0].rule, "B602");
    assert_eq!(high[0].tool, "bandit");
    assert_eq!(high[0].path.as_deref(), Some("src/shop/receipts.py"));
    assert_eq!(high[0].line, Some(11));
    assert!(
        report.summary.starts_with("1 HIGH issue (B602) blocks; "),
        "{}",
        report.summary
    );
    assert!(!report.truncated);
    let sarif_artifact = report.artifacts.iter().find(|a| a.kind == "sarif").unwrap();
    assert_eq!(sarif_artifact.reference, "/out/security.sarif");
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.out.join("security.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), report.findings.len());
    let b602 = results.iter().find(|r| r["ruleId"] == "B602").unwrap();
    assert_eq!(b602["level"], "error");
    assert_eq!(
        b602["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "src/shop/receipts.py"
    );
}

#[tokio::test]
async fn security_ignore_applies_until_its_date_and_then_no_longer() {
    let Some(env) =
        docker_or_skip("security_ignore_applies_until_its_date_and_then_no_longer").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-security").await;
    let d = dirs(Some("examples/python-app"));
    let active = task(
        "security",
        &[
            ("python_image", &env.python),
            (
                "ignore",
                "B602 until 2099-12-31: the folder comes from our own config",
            ),
        ],
    );
    let report = report_of(&rt.run_stage(&plugin, &active, &call(&d, false)).await).clone();
    assert_eq!(report.outcome, Outcome::Success, "{}", report.summary);
    assert!(
        report
            .summary
            .starts_with("nothing at or above HIGH blocks"),
        "{}",
        report.summary
    );
    assert!(
        report.summary.ends_with("; 1 ignored"),
        "{}",
        report.summary
    );
    let ignored = report.findings.iter().find(|f| f.rule == "B602").unwrap();
    assert!(
        ignored
            .message
            .starts_with("ignored until 2099-12-31: the folder comes from our own config"),
        "{}",
        ignored.message
    );

    let d = dirs(Some("examples/python-app"));
    let expired = task(
        "security",
        &[
            ("python_image", &env.python),
            ("ignore.B602.until", "2020-01-31"),
            ("ignore.B602.reason", "the folder comes from our own config"),
        ],
    );
    let report = report_of(&rt.run_stage(&plugin, &expired, &call(&d, false)).await).clone();
    assert_eq!(report.outcome, Outcome::Failure);
    assert!(
        report
            .summary
            .ends_with("; ignore no longer applies to B602 (expired 2020-01-31)"),
        "{}",
        report.summary
    );
}

#[tokio::test]
async fn security_bandit_that_cannot_run_is_a_tool_error_naming_it() {
    let Some(env) =
        docker_or_skip("security_bandit_that_cannot_run_is_a_tool_error_naming_it").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-security").await;
    let d = dirs(Some("examples/python-app"));
    // The base image has no bandit: the container cannot start its command.
    let t = task("security", &[("python_image", &env.base)]);
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::ToolFailed, "{message}");
    // The container's init cannot exec the command: exit 127, its error kept.
    assert!(
        message.starts_with(&format!(
            "plugin security: bandit (image {}) exited with code 127: ",
            env.base
        )),
        "{message}"
    );
    assert!(message.contains("exec bandit failed"), "{message}");
}

#[tokio::test]
async fn security_trivy_image_that_does_not_exist_is_a_tool_error_naming_it() {
    let Some(env) =
        docker_or_skip("security_trivy_image_that_does_not_exist_is_a_tool_error_naming_it").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-security").await;
    let d = dirs(Some("examples/python-app"));
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_image", "aquasec/trivy:0.58.0")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::ToolFailed, "{message}");
    assert!(
        message.contains("trivy: aquasec/trivy:0.58.0: image not found"),
        "{message}"
    );
}

#[tokio::test]
async fn security_trivy_report_in_the_workspace_is_judged() {
    let (rt, plugin) = plain_runtime("bosun-plugin-security").await;
    let d = dirs(None);
    write(
        &d,
        "reports/trivy.json",
        &security_fixture("debian-buster.json"),
    );
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_report", "reports/trivy.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure);
    assert_eq!(
        report.summary,
        "1 CRITICAL vulnerability (CVE-2019-18224) blocks; 1 below threshold"
    );
    let critical = &report.findings[0];
    assert_eq!(critical.path.as_deref(), Some("libidn2-0"));
    assert_eq!(critical.fixed_version.as_deref(), Some("2.0.5-1+deb10u1"));
    let metric = |name: &str| {
        report
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap()
            .value
    };
    assert_eq!(metric("severity_critical"), 1.0);
    assert_eq!(metric("severity_low"), 1.0);
}

#[tokio::test]
async fn security_bad_reports_are_stage_errors_naming_the_tool_and_file() {
    let (rt, plugin) = plain_runtime("bosun-plugin-security").await;
    let full = security_fixture("alpine-310.json");
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "truncated",
            full[..full.len() / 3].to_vec(),
            "trivy report r.json: the report is not valid Trivy JSON: EOF while parsing",
        ),
        (
            "empty",
            Vec::new(),
            "trivy report r.json: the report is empty",
        ),
        (
            "not json",
            b"FATAL: image scan error: unable to initialize a scanner\n".to_vec(),
            "trivy report r.json: the report is not valid Trivy JSON: expected value at line 1 column 1",
        ),
    ];
    for (label, bytes, expected) in cases {
        let d = dirs(None);
        write(&d, "r.json", &bytes);
        let t = task(
            "security",
            &[("bandit", "false"), ("trivy_report", "r.json")],
        );
        let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
        let (kind, message) = failure_of(&result);
        assert_eq!(kind, StageFailureKind::BadToolOutput, "{label}: {message}");
        assert!(message.contains(expected), "{label}: {message}");
    }

    // A 100 MB report is refused by size before it is read.
    let d = dirs(None);
    let file = std::fs::File::create(d.workspace.join("big.json")).unwrap();
    file.set_len(100 << 20).unwrap();
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_report", "big.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::BadToolOutput);
    assert!(
        message.contains("trivy report big.json is 100.0 MiB, over the 64 MiB limit"),
        "{message}"
    );

    // A missing report and a bad ignore are config errors.
    let d = dirs(None);
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_report", "nope.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert!(
        message.contains("`trivy_report` names nope.json"),
        "{message}"
    );
    let t = task("security", &[("ignore", "CVE-2019-18224: not reachable")]);
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert!(
        message.contains("stage security: `ignore` entry 1"),
        "{message}"
    );
}

/// A Trivy report in the real format with `count` vulnerabilities, cycling through
/// the entries of the real fixtures.
fn big_trivy_report(count: usize) -> Vec<u8> {
    let mut entries = Vec::new();
    for name in [
        "alpine-310.json",
        "debian-buster.json",
        "busybox-with-lockfile.json",
    ] {
        let doc: serde_json::Value = serde_json::from_slice(&security_fixture(name)).unwrap();
        for result in doc["Results"].as_array().unwrap() {
            entries.extend(
                result["Vulnerabilities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
        }
    }
    let mut doc: serde_json::Value =
        serde_json::from_slice(&security_fixture("debian-buster.json")).unwrap();
    let vulns: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            let mut v = entries[i % entries.len()].clone();
            v["PkgName"] = format!("pkg-{i}").into();
            v
        })
        .collect();
    doc["Results"][0]["Vulnerabilities"] = vulns.into();
    serde_json::to_vec_pretty(&doc).unwrap()
}

#[tokio::test]
async fn security_ten_thousand_findings_stay_within_the_report_cap() {
    let (rt, plugin) = plain_runtime("bosun-plugin-security").await;
    let d = dirs(None);
    write(&d, "trivy.json", &big_trivy_report(10_000));
    let t = task(
        "security",
        &[("bandit", "false"), ("trivy_report", "trivy.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.findings.len(), 5_000);
    assert!(!report.truncated, "the plugin cut the list, not the host");
    assert!(
        report.summary.ends_with(
            "5000 of 10000 findings listed, 5000 cut at the report cap (all in security.sarif)"
        ),
        "{}",
        report.summary
    );
    // The blocking ones (CRITICAL, HIGH) come first and are all kept.
    let blocking = report
        .findings
        .iter()
        .take_while(|f| matches!(f.severity, Severity::Critical | Severity::High))
        .count();
    assert!(blocking > 0 && blocking < 5_000);
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.out.join("security.sarif")).unwrap()).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        10_000
    );
}

#[tokio::test]
async fn security_k8s_snyk_and_sarif_reports_in_the_workspace_are_judged_together() {
    let (rt, plugin) = plain_runtime("bosun-plugin-security").await;
    let d = dirs(None);
    let fixture = |path: &str| {
        std::fs::read(
            workspace_root()
                .join("plugins/security/tests/fixtures")
                .join(path),
        )
        .unwrap()
    };
    write(
        &d,
        "reports/cluster.json",
        &fixture("trivy/k8s-cluster-all.json"),
    );
    write(&d, "reports/snyk.json", &fixture("snyk/npm-project.json"));
    write(
        &d,
        "reports/trivy.sarif",
        &fixture("sarif/trivy-infra-app.sarif"),
    );
    let t = task(
        "security",
        &[
            ("bandit", "false"),
            ("trivy_report", "reports/cluster.json"),
            ("snyk_report", "reports/snyk.json"),
            ("sarif_report", "reports/trivy.sarif"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure);
    // One CRITICAL from each source: the cluster's CVE, Snyk's minimist, the token.
    assert!(
        report.summary.starts_with("3 CRITICAL and "),
        "{}",
        report.summary
    );
    assert!(
        report
            .summary
            .ends_with("; 1 resource could not be scanned"),
        "{}",
        report.summary
    );
    let tools_of = |rule: &str| {
        report
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .map(|f| (f.tool.as_str(), f.severity))
    };
    assert_eq!(tools_of("KSV017"), Some(("trivy", Severity::High)));
    assert_eq!(
        tools_of("SNYK-JS-MINIMIST-2429795"),
        Some(("snyk", Severity::Critical))
    );
    assert_eq!(tools_of("github-pat"), Some(("Trivy", Severity::Critical)));
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.out.join("security.sarif")).unwrap()).unwrap();
    let runs: Vec<&str> = sarif["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tool"]["driver"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["trivy", "snyk", "Trivy"]);

    // A report of the wrong kind fails the stage rather than passing empty.
    let d = dirs(None);
    write(
        &d,
        "reports/snyk.json",
        &fixture("trivy/debian-buster.json"),
    );
    let t = task(
        "security",
        &[("bandit", "false"), ("snyk_report", "reports/snyk.json")],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::BadToolOutput, "{message}");
    assert!(
        message.contains("snyk report reports/snyk.json: the report is not a Snyk report"),
        "{message}"
    );
}

/// [`docker_or_skip`], and the Trivy image (`BOSUN_TEST_TRIVY_IMAGE`, real Trivy
/// 0.59.1 built by `scripts/services.sh`): skipped loudly without it, a failure in CI.
async fn trivy_or_skip(test: &str) -> Option<(Env, String)> {
    let env = docker_or_skip(test).await?;
    let problem = match std::env::var("BOSUN_TEST_TRIVY_IMAGE") {
        Err(_) => "BOSUN_TEST_TRIVY_IMAGE is not set".to_string(),
        Ok(image) => {
            if env.runner.client().inspect_image(&image).await.is_ok() {
                return Some((env, image));
            }
            format!("image {image} is not built")
        }
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test}: the Trivy image is required in CI ({problem}); build it with: \
             bash scripts/services.sh && set -a && . .bosun/services.env"
        );
    }
    eprintln!(
        "SKIPPED {test}: no Trivy image ({problem}); build it with: bash scripts/services.sh"
    );
    None
}

/// Real Trivy on the infra sample with no network: the secret and misconfiguration
/// scanners need no vulnerability database (none can be fetched here; the `vuln` path
/// is tested on real reports above).
#[tokio::test]
async fn security_trivy_finds_the_infra_apps_token_and_misconfigurations_offline() {
    let test = "security_trivy_finds_the_infra_apps_token_and_misconfigurations_offline";
    let Some((env, trivy)) = trivy_or_skip(test).await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-security").await;
    let d = dirs(Some("examples/infra-app"));
    // The settings of the sample's .bosun.yml, with the image under test.
    let t = task(
        "security",
        &[
            ("bandit", "false"),
            ("trivy_image", &trivy),
            ("trivy_scanners", "secret,misconfig"),
            ("fail_on", "HIGH,CRITICAL"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure, "{}", report.summary);
    assert!(
        report.summary.starts_with(
            "1 CRITICAL and 5 HIGH issues (github-pat, DS002, DS029, KSV009, KSV014, +1 more) \
             block; "
        ),
        "{}",
        report.summary
    );
    let token = report
        .findings
        .iter()
        .find(|f| f.rule == "github-pat")
        .unwrap_or_else(|| panic!("no github-pat finding: {:#?}", report.findings));
    assert_eq!(token.tool, "trivy");
    assert_eq!(token.severity, Severity::Critical);
    assert_eq!(token.path.as_deref(), Some("config/deploy.env"));
    assert_eq!(token.line, Some(6));
    let mut dockerfile: Vec<(&str, Severity)> = report
        .findings
        .iter()
        .filter(|f| f.path.as_deref() == Some("Dockerfile"))
        .map(|f| (f.rule.as_str(), f.severity))
        .collect();
    dockerfile.sort_by_key(|(rule, _)| *rule);
    assert_eq!(
        dockerfile,
        [
            ("DS002", Severity::High),
            ("DS026", Severity::Low),
            ("DS029", Severity::High)
        ]
    );
    let privileged = report.findings.iter().find(|f| f.rule == "KSV017").unwrap();
    assert_eq!(privileged.path.as_deref(), Some("k8s/deployment.yaml"));
    assert_eq!(privileged.severity, Severity::High);
    let host_network = report.findings.iter().find(|f| f.rule == "KSV009").unwrap();
    assert_eq!(
        host_network.path.as_deref(),
        Some("chart/inventory/templates/deployment.yaml"),
        "the Helm chart is rendered and checked"
    );
    // The fake token's value reaches neither the findings nor the files in /out
    // (Trivy masks it in its report; the stage never reads the match).
    let value = "ghp_YYJyISsUutQHS5IiROgaIaRIhbL2xO86pDqg";
    assert!(
        std::fs::read_to_string(d.workspace.join("config/deploy.env"))
            .unwrap()
            .contains(value),
        "the sample still plants the token"
    );
    assert!(report.findings.iter().all(|f| !f.message.contains(value)));
    for file in ["trivy.json", "security.sarif"] {
        let text = std::fs::read_to_string(d.out.join(file)).unwrap();
        assert!(!text.contains(value), "{file} holds the token");
    }
}

// ------------------------------------------------------------------------- build

/// HEAD a manifest on the registry and return its `Docker-Content-Digest`.
fn registry_digest(registry: &str, repository: &str, tag: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry).ok()?;
    let request = format!(
        "HEAD /v2/{repository}/manifests/{tag} HTTP/1.1\r\nHost: {registry}\r\n\
         Accept: application/vnd.docker.distribution.manifest.v2+json\r\n\
         Accept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("docker-content-digest")
            .then(|| value.trim().to_string())
    })
}

#[tokio::test]
async fn build_pushes_the_sample_image_and_reports_the_registry_digest() {
    let Some(env) =
        docker_or_skip("build_pushes_the_sample_image_and_reports_the_registry_digest").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-build").await;
    let d = dirs(Some("examples/python-app"));
    let repository = format!("bosun-test/python-app-{}", std::process::id());
    let mut t = task(
        "build",
        &[
            ("repository", &repository),
            ("registry", &env.registry),
            ("build_args.BASE", &env.base),
        ],
    );
    t.branch = "feature/login".into();
    // The orchestrator names the one repository this task may push.
    let mut granted = call(&d, false);
    granted.push_repository = Some(repository.clone());
    granted.image_repository = Some(repository.clone());
    let result = rt.run_stage(&plugin, &t, &granted).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Success, "{}", report.summary);
    let references: Vec<&str> = report
        .artifacts
        .iter()
        .map(|a| a.reference.as_str())
        .collect();
    let base = format!("{}/{repository}", env.registry);
    assert_eq!(
        references,
        [format!("{base}:{COMMIT}"), format!("{base}:feature-login")]
    );
    let digest = report.artifacts[0]
        .digest
        .clone()
        .expect("a pushed image has a digest");
    assert!(digest.starts_with("sha256:"), "{digest}");
    for (artifact, tag) in report.artifacts.iter().zip([COMMIT, "feature-login"]) {
        assert_eq!(artifact.kind, "image");
        assert_eq!(artifact.name, repository);
        assert_eq!(artifact.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(
            registry_digest(&env.registry, &repository, tag).as_deref(),
            Some(digest.as_str()),
            "the registry serves {tag} with the reported digest"
        );
    }
    assert_eq!(
        report.summary,
        format!("built and pushed {base}:{COMMIT} and :feature-login ({digest})")
    );
    assert!(
        result
            .logs
            .iter()
            .any(|l| l.message.contains("Successfully built")),
        "the build log's tail is in the stage log"
    );
    // The registry keeps the pushed image; the engine need not keep local tags.
    for reference in references {
        let _ = env
            .runner
            .client()
            .remove_image(
                reference,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
}

#[tokio::test]
async fn build_without_a_dockerfile_is_a_config_error_naming_the_file() {
    let (rt, plugin) = plain_runtime("bosun-plugin-build").await;
    let d = dirs(None);
    write(&d, "app.py", b"print('no image here')\n");
    let result = rt
        .run_stage(&plugin, &task("build", &[]), &call(&d, false))
        .await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert_eq!(
        message,
        "plugin build: stage build: no Dockerfile at Dockerfile in the workspace; add one or \
         set `dockerfile`"
    );
    let result = rt
        .run_stage(
            &plugin,
            &task("build", &[("dockerfile", "docker/app.Dockerfile")]),
            &call(&d, false),
        )
        .await;
    assert!(
        failure_of(&result)
            .1
            .contains("no Dockerfile at docker/app.Dockerfile"),
        "{:?}",
        result.failure
    );
}

#[tokio::test]
async fn build_with_kaniko_needs_its_executor_image() {
    let Some(env) = docker_or_skip("build_with_kaniko_needs_its_executor_image").await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-build").await;
    let d = dirs(Some("examples/python-app"));
    let t = task(
        "build",
        &[
            ("builder", "kaniko"),
            ("kaniko_image", "gcr.io/kaniko-project/executor:v1.23.2"),
            ("push", "false"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::ToolFailed, "{message}");
    assert!(
        message.contains("kaniko: gcr.io/kaniko-project/executor:v1.23.2: image not found"),
        "{message}"
    );
}

// ------------------------------------------------------------------------ deploy

/// A workspace with a Helm chart and manifests (the fake tools only need them to exist).
fn deploy_dirs() -> Dirs {
    let d = dirs(None);
    write(
        &d,
        "chart/Chart.yaml",
        b"apiVersion: v2\nname: python-app\nversion: 0.1.0\n",
    );
    write(&d, "chart/values.yaml", b"image:\n  tag: latest\n");
    write(&d, "k8s/deployment.yaml", b"kind: Deployment\n");
    d
}

fn recorded_argv(d: &Dirs) -> Vec<String> {
    std::fs::read_to_string(d.out.join("deploy-argv.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn deploy_helm_upgrade_runs_exactly_the_expected_argv() {
    let Some(env) = docker_or_skip("deploy_helm_upgrade_runs_exactly_the_expected_argv").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[("environment", "staging"), ("image", &env.deploy)],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, true)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Success, "{}", report.summary);
    assert_eq!(
        recorded_argv(&d),
        [format!(
            "helm upgrade --install --atomic python-app /workspace/chart --namespace staging \
             --set image.tag={COMMIT}"
        )]
    );
    assert_eq!(
        report.summary,
        "deployed python-app (image tag 0123456789ab) to staging (namespace staging) with helm"
    );
    assert_eq!(report.artifacts[0].kind, "release");
    assert_eq!(report.artifacts[0].reference, "staging/python-app");
}

#[tokio::test]
async fn deploy_kubeconfig_secret_reaches_the_tool_as_a_file_by_name_only() {
    let Some(env) =
        docker_or_skip("deploy_kubeconfig_secret_reaches_the_tool_as_a_file_by_name_only").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[
            ("environment", "production"),
            ("image", &env.deploy),
            ("kubeconfig_secret", "KUBE_PRODUCTION"),
            ("values", "chart/values.yaml"),
        ],
    );
    // The agent holds the secret (`--secret-env KUBE_PRODUCTION`); the plugin only names it.
    let kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\n";
    let mut granted = call(&d, true);
    granted.secrets = vec![("KUBE_PRODUCTION".into(), kubeconfig.into())];
    granted.secrets_granted = vec!["KUBE_PRODUCTION".into()];
    let result = rt.run_stage(&plugin, &t, &granted).await;
    assert_eq!(report_of(&result).outcome, Outcome::Success);
    let recorded = recorded_argv(&d);
    assert_eq!(
        recorded[0],
        format!(
            "helm upgrade --install --atomic python-app /workspace/chart --namespace production \
             --values /workspace/chart/values.yaml --set image.tag={COMMIT}"
        ),
        "the wrapper execs helm with its argv untouched"
    );
    assert_eq!(
        recorded[1],
        // The plugin's wrapper writes the value with `echo`, which adds a newline.
        format!(
            "kubeconfig: /tmp/kubeconfig ({} bytes)",
            kubeconfig.len() + 1
        ),
        "the tool got the secret's value, resolved by the host"
    );
    assert!(
        result
            .logs
            .iter()
            .all(|l| !l.message.contains("clusters: []")),
        "the secret never appears in the logs"
    );
    // Granted, but the agent does not hold it: refused, naming the agent's flag.
    let mut unheld = call(&d, true);
    unheld.secrets_granted = vec!["KUBE_PRODUCTION".into()];
    let refused = rt.run_stage(&plugin, &t, &unheld).await;
    let failure = refused.failure.expect("a stage error without the secret");
    assert!(
        failure.message.contains("KUBE_PRODUCTION") && failure.message.contains("--secret-env"),
        "{failure:?}"
    );
    // Held, but not granted to this task (a pull request's, another stage's or
    // tenant's): refused, naming the settings that grant it.
    let mut ungranted = call(&d, true);
    ungranted.secrets = vec![("KUBE_PRODUCTION".into(), kubeconfig.into())];
    let refused = rt.run_stage(&plugin, &t, &ungranted).await;
    let failure = refused.failure.expect("a stage error without the grant");
    assert!(
        failure.message.contains("not granted") && failure.message.contains("`secrets`"),
        "{failure:?}"
    );
    let logged: Vec<&str> = result.logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("(kubeconfig from secret KUBE_PRODUCTION)")),
        "{logged:#?}"
    );
}

#[tokio::test]
async fn deploy_failing_upgrade_fails_the_stage_with_helms_error() {
    let Some(env) = docker_or_skip("deploy_failing_upgrade_fails_the_stage_with_helms_error").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[
            ("environment", "staging"),
            ("image", &env.deploy),
            ("env.FAKE_DEPLOY_FAIL", "upgrade"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, true)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure);
    assert_eq!(
        report.summary,
        "helm deploy of python-app (image tag 0123456789ab) to staging (namespace staging) \
         failed with exit code 1: Error: UPGRADE FAILED: fake failure requested by \
         FAKE_DEPLOY_FAIL=upgrade"
    );
    assert!(report.artifacts.is_empty());
    assert_eq!(recorded_argv(&d).len(), 1, "helm ran once");
}

#[tokio::test]
async fn deploy_rollback_task_runs_helm_rollback() {
    let Some(env) = docker_or_skip("deploy_rollback_task_runs_helm_rollback").await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-deploy").await;
    let d = deploy_dirs();
    // As the orchestrator sends it: the stage's `with`, `environment`, `action=rollback`.
    let t = task(
        "deploy-rollback",
        &[
            ("image", &env.deploy),
            ("environment", "staging"),
            ("action", "rollback"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, true)).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Success, "{}", report.summary);
    assert_eq!(
        recorded_argv(&d),
        ["helm rollback python-app --namespace staging"]
    );
    assert_eq!(
        report.summary,
        "rolled back python-app in staging (namespace staging) with helm"
    );
}

#[tokio::test]
async fn deploy_with_kubectl_applies_the_manifests() {
    let Some(env) = docker_or_skip("deploy_with_kubectl_applies_the_manifests").await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[
            ("environment", "staging"),
            ("tool", "kubectl"),
            ("image", &env.deploy),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, true)).await;
    assert_eq!(report_of(&result).outcome, Outcome::Success);
    assert_eq!(
        recorded_argv(&d),
        ["kubectl apply --namespace staging -f /workspace/k8s"]
    );
}

#[tokio::test]
async fn deploy_needs_the_network_granted_to_the_stage() {
    let Some(env) = docker_or_skip("deploy_needs_the_network_granted_to_the_stage").await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "bosun-plugin-deploy").await;
    let d = deploy_dirs();
    let t = task(
        "deploy",
        &[("environment", "staging"), ("image", &env.deploy)],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    // A refused request is a config problem: retrying it would be refused again.
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert!(
        message.contains("helm:") && message.contains("network access is not granted"),
        "{message}"
    );
    assert!(recorded_argv(&d).is_empty(), "nothing ran");
}

#[tokio::test]
async fn deploy_without_environment_or_chart_is_a_config_error() {
    let (rt, plugin) = plain_runtime("bosun-plugin-deploy").await;
    let d = dirs(None);
    let result = rt
        .run_stage(&plugin, &task("deploy", &[]), &call(&d, true))
        .await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert!(
        message.contains("stage deploy: no `environment`"),
        "{message}"
    );
    let result = rt
        .run_stage(
            &plugin,
            &task("deploy", &[("environment", "staging")]),
            &call(&d, true),
        )
        .await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert!(
        message.contains("no Helm chart at chart in the workspace"),
        "{message}"
    );
}
