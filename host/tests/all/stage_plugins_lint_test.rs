//! The `lint` and `test` stage plugins, as WebAssembly components in the real host, with
//! the real Docker runner and tool images, on the sample repositories in `examples/`.
//!
//! Needs the engine and the tool images (`bash scripts/services.sh`, then
//! `set -a; . .bosun/services.env; set +a`). Under `CI=true` a missing engine or image is
//! a failure; elsewhere these tests skip, loudly.
//!
//! The plugins are the built-ins `bosun-builtins` compiles and embeds.

use crate::common;
use crate::common::docker;
use bosun_test_support::{assert_contains, copy_sample, service_var, workspace_root};

use bosun_bus::{Outcome, Severity, StageFailureKind, StageResult, Task};
use bosun_host::{DockerSettings, LoadedPlugin, PluginRuntime, SandboxLimits, StageCall};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

struct Env {
    runtime: PluginRuntime,
    python_image: String,
    node_image: String,
}

/// The runtime with the Docker runner and the tool images, or the missing-service rule.
async fn docker_or_skip(test: &str) -> Option<Env> {
    let python_image = service_var(test, "BOSUN_TEST_PYTHON_IMAGE")?;
    let node_image = service_var(test, "BOSUN_TEST_NODE_IMAGE")?;
    let settings = DockerSettings {
        agent_id: format!("stage-plugins-{}", std::process::id()),
        ..DockerSettings::default()
    };
    let runner = docker::docker_or_skip(test, settings, &[&python_image, &node_image]).await?;
    let runtime = common::runtime_with(SandboxLimits {
        deadline: Duration::from_secs(300),
        ..SandboxLimits::default()
    })
    .with_containers(Arc::new(runner));
    Some(Env {
        runtime,
        python_image,
        node_image,
    })
}

/// A copy of a sample repository, readable by the tools' non-root user, and an empty
/// output folder.
struct Dirs {
    _root: tempfile::TempDir,
    workspace: PathBuf,
    out: PathBuf,
}

fn dirs_with(source: &Path) -> Dirs {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let workspace = root.path().join("workspace");
    let out = root.path().join("out");
    copy_sample(source, &workspace);
    std::fs::create_dir_all(&out).unwrap();
    Dirs {
        _root: root,
        workspace,
        out,
    }
}

fn example(name: &str) -> Dirs {
    dirs_with(&workspace_root().join("examples").join(name))
}

fn task(stage: &str, attempt: u32, config: &[(&str, &str)]) -> Task {
    Task {
        run_id: format!("stage-plugins-{}", std::process::id()),
        stage: stage.into(),
        attempt,
        ..common::task(config)
    }
}

async fn run(env: &Env, plugin: &LoadedPlugin, dirs: &Dirs, task: &Task) -> StageResult {
    let call = StageCall {
        workspace: dirs.workspace.clone(),
        out: dirs.out.clone(),
        network_allowed: false,
        secrets: vec![],
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
    };
    env.runtime.run_stage(plugin, task, &call).await
}

/// A finding's rule, path, line and column.
type Place<'a> = (&'a str, Option<&'a str>, Option<u32>, Option<u32>);

fn report_of(result: &StageResult) -> &bosun_bus::StageReport {
    result
        .report
        .as_ref()
        .unwrap_or_else(|| panic!("expected a report, got {:?}", result.failure))
}

fn failure_of(result: &StageResult) -> &bosun_bus::StageFailure {
    result
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("expected a stage error, got {:?}", result.report))
}

#[tokio::test]
async fn lint_python_app_reports_what_pylint_finds() {
    let Some(env) = docker_or_skip("lint_python_app_reports_what_pylint_finds").await else {
        return;
    };
    let plugin = common::load_builtin(&env.runtime, "lint").await;
    let dirs = example("python-app");
    let result = run(
        &env,
        &plugin,
        &dirs,
        &task("lint", 1, &[("image", &env.python_image)]),
    )
    .await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Success);
    assert_eq!(report.summary, "pylint: 1 finding (0 errors, 1 warning)");
    assert_eq!(report.findings.len(), 1);
    let fixme = &report.findings[0];
    assert_eq!(
        (
            fixme.rule.as_str(),
            fixme.severity,
            fixme.path.as_deref(),
            fixme.line,
            fixme.column,
            fixme.tool.as_str()
        ),
        (
            "fixme",
            Severity::Medium,
            Some("src/shop/cart.py"),
            Some(20),
            Some(6),
            "pylint"
        )
    );
    assert_eq!(report.artifacts[0].kind, "sarif");
    assert_eq!(report.artifacts[0].reference, "/out/lint.sarif");
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dirs.out.join("lint.sarif")).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "fixme");
    assert!(dirs.out.join("pylint.json").is_file());
}

#[tokio::test]
async fn lint_samples_fail_on_the_errors_pylint_reports() {
    let Some(env) = docker_or_skip("lint_samples_fail_on_the_errors_pylint_reports").await else {
        return;
    };
    let plugin = common::load_builtin(&env.runtime, "lint").await;
    let dirs = dirs_with(&workspace_root().join("plugins/lint/tests/fixtures/samples/python"));
    let result = run(
        &env,
        &plugin,
        &dirs,
        &task(
            "lint",
            1,
            &[("image", &env.python_image), ("language", "python")],
        ),
    )
    .await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Failure);
    assert_eq!(
        report.summary,
        "pylint: 7 findings (3 errors, 1 warning, 3 style); failed: 3 findings at or above \
         fail_on: error"
    );
    let errors: Vec<(&str, Option<u32>)> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .map(|f| (f.rule.as_str(), f.line))
        .collect();
    assert_eq!(
        errors,
        [
            ("syntax-error", Some(4)),
            ("undefined-variable", Some(19)),
            ("no-member", Some(30))
        ]
    );
}

#[tokio::test]
async fn lint_node_app_reports_what_eslint_finds() {
    let Some(env) = docker_or_skip("lint_node_app_reports_what_eslint_finds").await else {
        return;
    };
    let plugin = common::load_builtin(&env.runtime, "lint").await;
    let dirs = example("node-app");
    let lenient = run(
        &env,
        &plugin,
        &dirs,
        &task("lint", 1, &[("image", &env.node_image)]),
    )
    .await;
    let report = report_of(&lenient);
    assert_eq!(report.outcome, Outcome::Success);
    assert_eq!(report.summary, "eslint: 3 findings (0 errors, 3 warnings)");
    let found: Vec<Place> = report
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.path.as_deref(), f.line, f.column))
        .collect();
    assert_eq!(
        found,
        [
            ("no-unused-vars", Some("src/format.js"), Some(4), Some(35)),
            ("no-var", Some("src/format.js"), Some(5), Some(3)),
            ("prefer-const", Some("src/ledger.js"), Some(31), Some(9)),
        ]
    );
    let strict = run(
        &env,
        &plugin,
        &dirs,
        &task(
            "lint",
            2,
            &[("image", &env.node_image), ("max_warnings", "2")],
        ),
    )
    .await;
    assert_eq!(report_outcome(&strict), Outcome::Failure);
}

fn report_outcome(result: &StageResult) -> Outcome {
    report_of(result).outcome
}

#[tokio::test]
async fn lint_eslint_without_a_config_is_a_tool_failure() {
    let Some(env) = docker_or_skip("lint_eslint_without_a_config_is_a_tool_failure").await else {
        return;
    };
    let plugin = common::load_builtin(&env.runtime, "lint").await;
    let dirs = example("node-app");
    std::fs::remove_file(dirs.workspace.join(".eslintrc.json")).unwrap();
    let result = run(
        &env,
        &plugin,
        &dirs,
        &task("lint", 1, &[("image", &env.node_image)]),
    )
    .await;
    let failure = failure_of(&result);
    assert_eq!(failure.kind, StageFailureKind::ToolFailed);
    assert_contains(&failure.message, "eslint could not lint (exit 2");
    assert!(
        failure
            .message
            .contains("ESLint couldn't find a configuration file"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn test_python_app_fails_two_tests_on_attempt_one_and_passes_on_two() {
    let Some(env) =
        docker_or_skip("test_python_app_fails_two_tests_on_attempt_one_and_passes_on_two").await
    else {
        return;
    };
    let plugin = common::load_builtin(&env.runtime, "test").await;
    let config = [("image", env.python_image.as_str()), ("min_coverage", "80")];
    let dirs = example("python-app");
    let first = run(&env, &plugin, &dirs, &task("test", 1, &config)).await;
    let report = report_of(&first);
    assert_eq!(report.outcome, Outcome::Failure);
    // Others add tests to the sample (the security stage's); exactly two fail.
    let tests = report.tests.as_ref().unwrap();
    assert_eq!((tests.failed, tests.errors), (2, 0));
    assert_eq!(tests.passed, tests.total - 2);
    assert!(
        report.summary.starts_with(&format!(
            "2 of {} tests failed; line coverage ",
            tests.total
        )),
        "{}",
        report.summary
    );
    let failed: Vec<(&str, &str, Option<&str>, Option<u32>)> = report
        .test_failures
        .iter()
        .map(|f| (f.suite.as_str(), f.name.as_str(), f.path.as_deref(), f.line))
        .collect();
    assert_eq!(
        failed,
        [
            (
                "tests.test_cart",
                "test_empty_cart_totals_zero",
                Some("tests/test_cart.py"),
                Some(26)
            ),
            (
                "tests.test_cart",
                "test_total_multiplies_quantity",
                Some("tests/test_cart.py"),
                Some(33)
            ),
        ]
    );
    assert!(
        report.test_failures[0]
            .message
            .starts_with("assert 100 == 0")
    );

    let dirs = example("python-app");
    let second = run(&env, &plugin, &dirs, &task("test", 2, &config)).await;
    let report = report_of(&second);
    assert_eq!(report.outcome, Outcome::Success);
    let tests = report.tests.as_ref().unwrap();
    assert_eq!(tests.passed, tests.total);
    assert!(
        report
            .summary
            .starts_with(&format!("all {} tests passed; line coverage ", tests.total)),
        "{}",
        report.summary
    );
    let coverage = report.coverage.as_ref().unwrap();
    assert!(coverage.lines_total > 0);
    assert!(coverage.lines_covered * 100 >= coverage.lines_total * 80);
    assert!(dirs.out.join("junit.xml").is_file());
    assert!(dirs.out.join("coverage.xml").is_file());
    let kinds: Vec<&str> = report.artifacts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["junit", "file"]);
}

#[tokio::test]
async fn test_node_app_passes_with_mocha() {
    let Some(env) = docker_or_skip("test_node_app_passes_with_mocha").await else {
        return;
    };
    let plugin = common::load_builtin(&env.runtime, "test").await;
    let dirs = example("node-app");
    let result = run(
        &env,
        &plugin,
        &dirs,
        &task("test", 1, &[("image", &env.node_image)]),
    )
    .await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Success);
    assert_eq!(report.summary, "all 5 tests passed");
    assert_eq!(report.tests.as_ref().unwrap().total, 5);
    assert_eq!(report.coverage, None);
}

#[tokio::test]
async fn test_runner_without_a_report_is_a_tool_failure() {
    let Some(env) = docker_or_skip("test_runner_without_a_report_is_a_tool_failure").await else {
        return;
    };
    let plugin = common::load_builtin(&env.runtime, "test").await;
    let dirs = example("node-app");
    let result = run(
        &env,
        &plugin,
        &dirs,
        &task(
            "test",
            1,
            &[("image", &env.node_image), ("paths", "no-such-test.js")],
        ),
    )
    .await;
    let failure = failure_of(&result);
    assert_eq!(failure.kind, StageFailureKind::ToolFailed);
    assert!(
        failure
            .message
            .contains("mocha exited 1 without writing its JUnit report /out/junit.xml"),
        "{}",
        failure.message
    );
    assert_contains(&failure.message, "No test files found");
}

// Without Docker: the stages read reports already in the workspace (`report`), so these
// run the real components in the real host on inputs derived from the captured reports.

fn plain_runtime() -> PluginRuntime {
    common::runtime_with(SandboxLimits {
        deadline: Duration::from_secs(120),
        ..SandboxLimits::default()
    })
}

async fn run_plain(
    rt: &PluginRuntime,
    plugin: &LoadedPlugin,
    dirs: &Dirs,
    task: &Task,
) -> StageResult {
    let call = StageCall {
        workspace: dirs.workspace.clone(),
        out: dirs.out.clone(),
        network_allowed: false,
        secrets: vec![],
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
    };
    rt.run_stage(plugin, task, &call).await
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join(path)).unwrap()
}

fn empty_workspace() -> Dirs {
    let dirs = dirs_with(&workspace_root().join("examples/node-app/test"));
    std::fs::remove_dir_all(&dirs.workspace).unwrap();
    std::fs::create_dir_all(&dirs.workspace).unwrap();
    dirs
}

#[tokio::test]
async fn lint_ten_thousand_findings_stay_within_the_report_cap() {
    let rt = plain_runtime();
    let plugin = common::load_builtin(&rt, "lint").await;
    let real: Vec<serde_json::Value> =
        serde_json::from_slice(&fixture("plugins/lint/tests/fixtures/pylint-samples.json"))
            .unwrap();
    let many: Vec<serde_json::Value> = real.iter().cycle().take(10_000).cloned().collect();
    let dirs = empty_workspace();
    std::fs::write(
        dirs.workspace.join("pylint.json"),
        serde_json::to_vec(&many).unwrap(),
    )
    .unwrap();
    let config = [("language", "python"), ("report", "pylint.json")];
    let result = run_plain(&rt, &plugin, &dirs, &task("lint", 1, &config)).await;
    let report = report_of(&result);
    assert!(!report.truncated, "the host had to cut the report");
    assert_eq!(report.findings.len(), 5000);
    assert!(report.findings.iter().all(|f| f.severity == Severity::High));
    assert_eq!(
        report.summary,
        "pylint: 10000 findings (5000 errors, 1250 warnings, 3750 style); failed: 5000 \
         findings at or above fail_on: error; 5000 lower-severity findings not listed \
         (report keeps 5000)"
    );
    let cut = report
        .metrics
        .iter()
        .find(|m| m.name == "findings-cut")
        .unwrap();
    assert_eq!(cut.value, 5000.0);
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dirs.out.join("lint.sarif")).unwrap()).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        10_000,
        "SARIF keeps every finding"
    );
}

#[tokio::test]
async fn lint_truncated_report_is_bad_tool_output() {
    let rt = plain_runtime();
    let plugin = common::load_builtin(&rt, "lint").await;
    let real = fixture("plugins/lint/tests/fixtures/eslint-samples.json");
    let dirs = empty_workspace();
    std::fs::write(dirs.workspace.join("eslint.json"), &real[..700]).unwrap();
    let config = [("language", "node"), ("report", "eslint.json")];
    let result = run_plain(&rt, &plugin, &dirs, &task("lint", 1, &config)).await;
    let failure = failure_of(&result);
    assert_eq!(failure.kind, StageFailureKind::BadToolOutput);
    assert_contains(
        &failure.message,
        "the eslint report file /workspace/eslint.json holds truncated JSON: the file ends \
             at byte 700, inside the document",
    );
}

#[tokio::test]
async fn test_two_thousand_failures_stay_within_the_report_cap() {
    let rt = plain_runtime();
    let plugin = common::load_builtin(&rt, "test").await;
    let real = String::from_utf8(fixture(
        "plugins/test/tests/fixtures/pytest-python-app-attempt1.xml",
    ))
    .unwrap();
    let start = real.find("<testcase").unwrap();
    let end = real
        .find("<testcase classname=\"tests.test_cart\" name=\"test_rejects")
        .unwrap();
    let failing = &real[start..end];
    assert_eq!(failing.matches("<failure").count(), 2);
    let cases: String = (0..1000)
        .map(|i| failing.replace("name=\"test_", &format!("name=\"test_{i}_")))
        .collect();
    let dirs = empty_workspace();
    std::fs::write(
        dirs.workspace.join("junit.xml"),
        format!("<testsuites><testsuite name=\"pytest\">{cases}</testsuite></testsuites>"),
    )
    .unwrap();
    let result = run_plain(
        &rt,
        &plugin,
        &dirs,
        &task("test", 1, &[("report", "junit.xml")]),
    )
    .await;
    let report = report_of(&result);
    assert!(!report.truncated, "the host had to cut the report");
    assert_eq!(report.test_failures.len(), 1000);
    assert_eq!(
        report.summary,
        "2000 of 2000 tests failed; 1000 more failures not listed (report keeps 1000)"
    );
    assert_eq!(
        report.test_failures[1].name,
        "test_0_total_multiplies_quantity"
    );
}

#[tokio::test]
async fn lint_hundred_megabyte_report_is_refused_unread() {
    let rt = plain_runtime();
    let plugin = common::load_builtin(&rt, "lint").await;
    let dirs = empty_workspace();
    // Sparse: 100 MB long without writing 100 MB.
    let file = std::fs::File::create(dirs.workspace.join("pylint.json")).unwrap();
    file.set_len(100 << 20).unwrap();
    let config = [("language", "python"), ("report", "pylint.json")];
    let result = run_plain(&rt, &plugin, &dirs, &task("lint", 1, &config)).await;
    let failure = failure_of(&result);
    assert_eq!(failure.kind, StageFailureKind::BadToolOutput);
    assert_contains(
        &failure.message,
        "the pylint report /workspace/pylint.json is 100.0 MiB, more than the 64.0 MiB \
             the lint stage reads",
    );
}
