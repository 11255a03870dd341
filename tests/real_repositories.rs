//! Real repositories as a new user brings them: the Python library and the Node web app
//! under `examples/`, run by `bosun run` with their own commands in `bosun/python:3.11`
//! and `bosun/node:18`, installing their dependencies from the package registries through
//! the agent's CA bundle, and a second run served from the cache.
//!
//! Needs the Docker Engine and the runtime images (`bash scripts/services.sh`) and the
//! registries (PyPI, npm). Under `CI=true` a missing engine or image is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_orchestrator::store::Store;
use bosun_test_support::{assert_contains, copy_sample, missing_service, workspace_root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn images_or_skip(test: &str, images: &[&str]) -> bool {
    let missing: Vec<&str> = images
        .iter()
        .copied()
        .filter(|image| {
            !Command::new("docker")
                .args(["image", "inspect", image])
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let problem = format!(
        "the Docker Engine or the image(s) {} are missing",
        missing.join(", ")
    );
    missing_service::<()>(test, &problem);
    false
}

/// A copy of `examples/<name>` in `dir`, as a user's checkout would be.
fn sample(name: &str, dir: &Path) -> PathBuf {
    let to = dir.join(name);
    copy_sample(&workspace_root().join("examples").join(name), &to);
    to
}

/// `bosun run DIR --json` with `extra` arguments: the exit code and the printed run.
fn bosun_run(dir: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .arg("run")
        .arg(dir)
        .args(["--containers", "docker", "--json"])
        .args(extra)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let printed = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bosun run printed no JSON ({e}); stderr:\n{stderr}"));
    (out.status.code(), printed, stderr)
}

/// The report of `stage`'s last attempt.
fn report<'a>(run: &'a Value, stage: &str) -> &'a Value {
    run["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|a| a["stage"] == stage)
        .map(|a| &a["report"])
        .unwrap_or_else(|| panic!("no attempt of {stage}: {run:#}"))
}

/// Everything `stage`'s first attempt logged.
fn logs(dir: &Path, run: &Value, stage: &str) -> String {
    let store = Store::open(&dir.join(".bosun/bosun.db")).unwrap();
    let id = run["run"]["id"].as_str().unwrap();
    store
        .attempt_logs(id, stage, 1)
        .unwrap()
        .unwrap_or_default()
        .into_iter()
        .map(|line| line.message + "\n")
        .collect()
}

fn metric(report: &Value, name: &str) -> Option<f64> {
    report["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)
        .and_then(|m| m["value"].as_f64())
}

fn explain(run: &Value, stderr: &str) -> String {
    format!("{stderr}\n{:#}", run["attempts"])
}

#[test]
fn python_library_installs_its_dependencies_runs_its_tests_and_reuses_its_cache() {
    let test = "python_library_installs_its_dependencies";
    if !images_or_skip(test, &["bosun/python:3.11"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = sample("python-lib", dir.path());
    // One ruff violation (F401, an unused import on line 3) in a file neither pytest
    // nor coverage reads, so its finding arrives through ruff's own SARIF; ruff exits 1
    // on any finding, so the lint command reports with `--exit-zero` and the findings,
    // not the exit status, carry it.
    std::fs::create_dir_all(repo.join("tools")).unwrap();
    std::fs::write(
        repo.join("tools/release.py"),
        "\"\"\"Release helper.\"\"\"\n\nimport os\n",
    )
    .unwrap();
    let config = std::fs::read_to_string(repo.join(".bosun.yml")).unwrap();
    let ruff = "ruff check --output-format sarif";
    assert_contains(&config, ruff);
    let config = config.replace(ruff, "ruff check --exit-zero --output-format sarif");
    std::fs::write(repo.join(".bosun.yml"), config).unwrap();

    let (code, first, stderr) = bosun_run(&repo, &[]);
    assert_eq!(code, Some(0), "{}", explain(&first, &stderr));
    assert_contains(
        &stderr,
        "network granted to stage(s) lint, test as their config asks",
    );
    let lint = report(&first, "lint");
    let findings = lint["findings"].as_array().unwrap();
    assert_eq!(
        findings
            .iter()
            .map(|f| (&f["rule"], &f["path"], &f["line"]))
            .collect::<Vec<_>>(),
        [(&"F401".into(), &"tools/release.py".into(), &3.into())],
        "ruff's finding, workspace-relative: {findings:#?}"
    );
    assert_contains(findings[0]["message"].as_str().unwrap(), "os");
    let tests = &report(&first, "test")["tests"];
    assert_eq!(
        (tests["total"].as_u64(), tests["passed"].as_u64()),
        (Some(5), Some(5))
    );
    let coverage = &report(&first, "test")["coverage"];
    let covered = coverage["lines_covered"].as_u64().unwrap();
    assert!(
        covered > 30 && covered == coverage["lines_total"].as_u64().unwrap(),
        "{coverage}"
    );
    assert_eq!(
        lint["outcome"], "success",
        "findings are reported; no fail_on"
    );
    let installed = logs(&repo, &first, "test");
    assert!(
        installed.contains("Downloading"),
        "pip fetched the dependencies:\n{installed}"
    );
    assert_contains(&installed, "Successfully installed");

    // The same commit again: every package comes out of the cache.
    let (code, second, stderr) = bosun_run(&repo, &[]);
    assert_eq!(code, Some(0), "{}", explain(&second, &stderr));
    let restored = metric(report(&second, "test"), "cache-restored-bytes").unwrap_or(0.0);
    assert!(restored > 1_000_000.0, "{:#}", report(&second, "test"));
    let again = logs(&repo, &second, "test");
    assert!(
        !again.contains("Downloading"),
        "nothing downloaded twice:\n{again}"
    );
    assert_contains(&again, "Successfully installed");

    // Another tenant's run of the same repository starts with no cache.
    let settings = dir.path().join("settings.yml");
    std::fs::write(
        &settings,
        "tenants:\n  - owner: other\n    network_stages: [lint, test]\n",
    )
    .unwrap();
    let (code, theirs, stderr) = bosun_run(&repo, &["--config", settings.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{}", explain(&theirs, &stderr));
    assert_eq!(
        metric(report(&theirs, "test"), "cache-restored-bytes"),
        None
    );
    assert!(
        logs(&repo, &theirs, "test").contains("Downloading"),
        "a cache never crosses tenants"
    );
}

/// The real project this test brings as a new user would: Pallets' signing library, at a
/// pinned release, from its source distribution on PyPI (which carries its test suite).
const ITSDANGEROUS: &str = "itsdangerous==2.2.0";

/// The command-step form a user writes for it: the project's own pinned test
/// requirements (`requirements/tests.txt`: pytest, freezegun), pytest-cov, and its build
/// backend (flit_core, for `pip install -e .`), fetched into a wheelhouse the stage caches,
/// then installed from there. Not `cache: [~/.cache/pip]`: pip's HTTP cache keeps only
/// what the registry marks cacheable, and this machine's TLS-inspecting proxy strips
/// those headers (measured: pip left `~/.cache/pip` empty, so there was nothing to
/// keep). The last line only counts the `<testcase>` elements pytest wrote, apart
/// from Bosun's parser.
const ITSDANGEROUS_PIPELINE: &str = r#"pipeline:
  stages:
    - name: test
      image: bosun/python:3.11
      commands:
        - python3 -m venv /tmp/venv
        - >-
          /tmp/venv/bin/pip download --quiet --no-index --find-links ~/.cache/wheelhouse
          --dest ~/.cache/wheelhouse -r requirements/tests.txt pytest-cov "flit_core<4" 2>/dev/null
          || /tmp/venv/bin/pip download --dest ~/.cache/wheelhouse -r requirements/tests.txt pytest-cov "flit_core<4"
        - /tmp/venv/bin/pip install --no-index --find-links ~/.cache/wheelhouse -r requirements/tests.txt pytest-cov -e .
        - /tmp/venv/bin/pytest --junitxml=reports/junit.xml --cov=itsdangerous --cov-report=xml:reports/coverage.xml
        - >-
          python3 -c 'import xml.etree.ElementTree as x;
          print("testcase elements:", sum(1 for _ in x.parse("reports/junit.xml").iter("testcase")))'
      env: { PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_PROGRESS_BAR: "off" }
      network: true
      cache: { key: [requirements/tests.txt], paths: [~/.cache/wheelhouse] }
      reports:
        junit: [reports/*.xml]
        coverage: reports/coverage.xml
"#;

/// The source distribution of `requirement`, downloaded by the host's pip from PyPI
/// into `dir`, or `None` (skipped, or under `CI=true` failed) when PyPI is out of reach.
fn sdist(test: &str, requirement: &str, dir: &Path) -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--no-binary", ":all:"])
        .args(["--disable-pip-version-check", "--dest"])
        .arg(dir)
        .arg(requirement)
        // Straight from the registry, not a local wheel folder the host may name.
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_NO_INDEX")
        .output();
    let why = match out {
        Ok(out) if out.status.success() => {
            let tarball = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().ends_with(".tar.gz"));
            match tarball {
                Some(tarball) => return Some(tarball),
                None => format!("pip download {requirement} saved no .tar.gz"),
            }
        }
        Ok(out) => format!(
            "PyPI is out of reach: pip download {requirement} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("cannot run the host's pip (python3 -m pip): {e}"),
    };
    missing_service(test, &why)
}

/// The first number before `word` on pytest's closing summary line (`== 301 passed … ==`).
fn pytest_count(log: &str, word: &str) -> Option<u64> {
    let summary = log
        .lines()
        .rfind(|l| l.starts_with('=') && l.contains(" in ") && l.contains(word))?;
    let words: Vec<&str> = summary
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .collect();
    let at = words.iter().position(|w| *w == word)?;
    words.get(at.checked_sub(1)?)?.parse().ok()
}

#[test]
fn a_real_library_from_pypi_runs_its_whole_test_suite_counted_covered_and_cached() {
    let test = "a_real_library_from_pypi_runs_its_whole_test_suite";
    if !images_or_skip(test, &["bosun/python:3.11"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let download = dir.path().join("download");
    std::fs::create_dir_all(&download).unwrap();
    let Some(tarball) = sdist(test, ITSDANGEROUS, &download) else {
        return;
    };
    // The release unpacked as it is, committed as the project's repository; the only
    // file added is the `.bosun.yml`.
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success(), "unpacking {}", tarball.display());
    let repo = unpacked.join("itsdangerous-2.2.0");
    assert!(
        repo.join("tests/test_itsdangerous/test_timed.py").is_file(),
        "the sdist carries the test suite"
    );
    std::fs::write(repo.join(".bosun.yml"), ITSDANGEROUS_PIPELINE).unwrap();
    bosun_test_support::git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    bosun_test_support::commit_all(&repo, "itsdangerous 2.2.0 as released, with a .bosun.yml");

    let started = std::time::Instant::now();
    let (code, first, stderr) = bosun_run(&repo, &[]);
    let first_took = started.elapsed();
    let log = logs(&repo, &first, "test");
    assert_eq!(code, Some(0), "{}\n{log}", explain(&first, &stderr));
    let test_report = report(&first, "test");
    assert_eq!(test_report["outcome"], "success", "{test_report:#}");
    let tests = &test_report["tests"];
    let total = tests["total"].as_u64().unwrap();
    let passed = pytest_count(&log, "passed")
        .unwrap_or_else(|| panic!("no pytest summary in the log:\n{log}"));
    assert_eq!(pytest_count(&log, "failed"), None, "{log}");
    assert!(total > 100, "the whole suite ran: {tests}");
    assert_eq!(
        (total, tests["passed"].as_u64(), tests["failed"].as_u64()),
        (passed, Some(passed), Some(0)),
        "Bosun's totals are pytest's own: {tests}"
    );
    assert_contains(&log, &format!("testcase elements: {total}"));
    let coverage = &test_report["coverage"];
    let (covered, lines) = (
        coverage["lines_covered"].as_u64().unwrap_or(0),
        coverage["lines_total"].as_u64().unwrap_or(0),
    );
    assert!(covered > 0 && lines >= covered, "coverage read: {coverage}");
    let percent = 100.0 * covered as f64 / lines as f64;
    assert!(
        log.contains("Downloading") && log.contains("freezegun"),
        "pip fetched the project's test requirements:\n{log}"
    );

    assert_contains(&log, "cache saved");

    // The same commit again: pip finds everything in the restored wheelhouse.
    let started = std::time::Instant::now();
    let (code, second, stderr) = bosun_run(&repo, &[]);
    let second_took = started.elapsed();
    let again = logs(&repo, &second, "test");
    assert_eq!(code, Some(0), "{}\n{again}", explain(&second, &stderr));
    assert_eq!(
        report(&second, "test")["tests"]["total"].as_u64(),
        Some(total)
    );
    assert!(
        !again.contains("Downloading"),
        "nothing downloaded twice:\n{again}"
    );
    assert_contains(&again, "Successfully installed");
    let restored = metric(report(&second, "test"), "cache-restored-bytes").unwrap_or(0.0);
    assert!(restored > 500_000.0, "{:#}", report(&second, "test"));
    println!(
        "{ITSDANGEROUS}: {total} tests passed (pytest: {passed}), line coverage \
         {covered}/{lines} = {percent:.1}%, first run {:.1} s, second run {:.1} s \
         ({:.1} MB restored from the cache)",
        first_took.as_secs_f64(),
        second_took.as_secs_f64(),
        restored / 1e6
    );
}

#[test]
fn a_run_whose_settings_grant_no_network_is_refused_before_it_starts() {
    let test = "a_run_whose_settings_grant_no_network";
    if !images_or_skip(test, &["bosun/python:3.11"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = sample("python-lib", dir.path());
    let settings = dir.path().join("settings.yml");
    std::fs::write(&settings, "tenants:\n  - owner: local\n").unwrap();
    let (code, run, stderr) = bosun_run(&repo, &["--config", settings.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{}", explain(&run, &stderr));
    let error = run["run"]["error"].as_str().unwrap_or_default();
    assert_contains(error, "network");
}

#[test]
fn node_web_app_runs_npm_ci_mocha_c8_and_eslint_and_reuses_its_cache() {
    let test = "node_web_app_runs_npm_ci";
    if !images_or_skip(test, &["bosun/node:18"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = sample("node-web", dir.path());
    // npm says where each package came from at this log level; and one lint warning
    // shows eslint's own JSON becoming findings.
    let config = std::fs::read_to_string(repo.join(".bosun.yml")).unwrap();
    let config = config.replace(
        "      network: true\n",
        "      network: true\n      env: { npm_config_loglevel: http }\n",
    );
    std::fs::write(repo.join(".bosun.yml"), config).unwrap();
    let app = repo.join("src/app.js");
    let source = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, format!("{source}\nconst unusedHelper = 1;\n")).unwrap();

    let (code, first, stderr) = bosun_run(&repo, &[]);
    assert_eq!(code, Some(0), "{}", explain(&first, &stderr));
    let tests = &report(&first, "test")["tests"];
    assert_eq!(
        (tests["total"].as_u64(), tests["failed"].as_u64()),
        (Some(5), Some(0))
    );
    let coverage = &report(&first, "test")["coverage"];
    assert!(
        coverage["lines_total"].as_u64().unwrap() > 10,
        "LCOV read: {coverage}"
    );
    let findings = report(&first, "lint")["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "no-unused-vars" && f["path"] == "src/app.js"),
        "{findings:?}"
    );
    let fetched = logs(&repo, &first, "test");
    assert!(
        fetched.contains("(cache miss)"),
        "npm fetched the packages:\n{fetched}"
    );

    let (code, second, stderr) = bosun_run(&repo, &[]);
    assert_eq!(code, Some(0), "{}", explain(&second, &stderr));
    let restored = metric(report(&second, "test"), "cache-restored-bytes").unwrap_or(0.0);
    assert!(restored > 1_000_000.0, "{:#}", report(&second, "test"));
    let again = logs(&repo, &second, "test");
    assert!(
        !again.contains("(cache miss)"),
        "nothing fetched twice:\n{again}"
    );
    assert_contains(&again, "added 284 packages");
}

#[test]
fn bad_steps_fail_with_what_is_wrong_never_green() {
    let test = "bad_steps_fail_with_what_is_wrong";
    if !images_or_skip(test, &["bosun/python:3.11"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("bad");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join(".bosun.yml"),
        r#"pipeline:
  stages:
    - name: noreport
      image: bosun/python:3.11
      commands: [mkdir -p reports]
      reports: { junit: [reports/*.xml] }
    - name: corrupt
      needs: []
      image: bosun/python:3.11
      commands: ["mkdir -p reports && printf '<testsuite><testcase name=' > reports/junit.xml"]
      reports: { junit: reports/junit.xml }
    - name: hangs
      needs: []
      image: bosun/python:3.11
      timeout: 3s
      commands: [sleep 600]
    - name: noimage
      needs: []
      image: bosun/no-such-image:1.0
      commands: ["true"]
    - name: failing
      needs: []
      image: bosun/python:3.11
      commands: [echo ok, "echo 'E   assert 2 == 3' >&2; exit 5", echo never]
"#,
    )
    .unwrap();
    let (code, run, stderr) = bosun_run(&repo, &[]);
    assert_eq!(code, Some(1), "{}", explain(&run, &stderr));
    let attempt = |stage: &str| -> Value {
        run["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|a| a["stage"] == stage)
            .cloned()
            .unwrap_or_else(|| panic!("no attempt of {stage}: {run:#}"))
    };
    let message = |stage: &str| {
        attempt(stage)["failure_message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        message("noreport").contains("reports.junit: `reports/*.xml` matched no file"),
        "{}",
        message("noreport")
    );
    assert!(
        message("corrupt").contains("reports.junit: reports/junit.xml: "),
        "{}",
        message("corrupt")
    );
    // The agent ends a hung command at the stage's timeout and says so, before the
    // orchestrator would give the attempt up as lost.
    assert_eq!(
        attempt("hangs")["failure_kind"],
        "deadline-exceeded",
        "{:#}",
        attempt("hangs")
    );
    assert!(
        message("noimage").contains("bosun/no-such-image:1.0")
            && message("noimage").contains("agents never pull"),
        "{}",
        message("noimage")
    );
    let failing = &attempt("failing")["report"];
    assert_eq!(failing["outcome"], "failure");
    let summary = failing["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("command 2 failed (exit status 5)"),
        "{summary}"
    );
    assert!(
        failing["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("assert 2 == 3"),
        "{failing:#}"
    );
}

/// Containers and networks of `run` the agent left on the engine.
fn leftovers(run: &Value) -> String {
    let label = format!("label=org.bosun.run={}", run["run"]["id"].as_str().unwrap());
    let listed = |what: &[&str]| {
        let out = Command::new("docker")
            .args(what)
            .args(["--filter", &label, "--format", "{{.Names}}{{.Name}}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    format!("{}{}", listed(&["ps", "-a"]), listed(&["network", "ls"]))
}

#[test]
fn python_service_runs_its_integration_tests_against_a_redis_service_removed_after() {
    let test = "python_service_runs_its_integration_tests";
    if !images_or_skip(test, &["bosun/python:3.11", "bosun/redis:7"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = sample("python-service", dir.path());

    let (code, run, stderr) = bosun_run(&repo, &[]);
    assert_eq!(code, Some(0), "{}", explain(&run, &stderr));
    let tests = &report(&run, "test")["tests"];
    assert_eq!(
        (tests["total"].as_u64(), tests["passed"].as_u64()),
        (Some(7), Some(7)),
        "the two integration tests reached Redis as `cache`: {tests}"
    );
    assert_eq!(leftovers(&run), "", "the service and its network are gone");

    // A service that never answers fails the step, named, with the end of its log,
    // and is removed all the same.
    let config = std::fs::read_to_string(repo.join(".bosun.yml"))
        .unwrap()
        .replace(
            "ready: { tcp: 6379, timeout: 30s }",
            "ready: { tcp: 6380, timeout: 3s }",
        );
    std::fs::write(repo.join(".bosun.yml"), config).unwrap();
    let (code, run, stderr) = bosun_run(&repo, &[]);
    assert_eq!(code, Some(1), "{}", explain(&run, &stderr));
    let attempt = run["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|a| a["stage"] == "test")
        .cloned()
        .unwrap();
    let message = attempt["failure_message"].as_str().unwrap_or("");
    assert!(
        message.contains("service cache (bosun/redis:7) not ready after 3000 ms: port 6380"),
        "{message}"
    );
    assert!(
        message.contains("Ready to accept connections"),
        "the log's tail says what the service did: {message}"
    );
    assert_eq!(leftovers(&run), "", "removed after a failed start too");
}

#[test]
fn a_matrix_of_two_python_versions_runs_one_instance_per_image_each_with_its_own_row() {
    let test = "a_matrix_of_two_python_versions";
    if !images_or_skip(
        test,
        &["bosun/python:3.11", "bosun/python:3.13", "bosun/node:18"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("matrix");
    std::fs::create_dir_all(&repo).unwrap();
    // The second command passes on 3.11 only, so the two instances end differently.
    std::fs::write(
        repo.join(".bosun.yml"),
        r#"pipeline:
  stages:
    - name: test
      matrix: { python: ["3.11", "3.13"] }
      fail_fast: false
      image: "bosun/python:${{ matrix.python }}"
      env: { PYTHON: "${{ matrix.python }}" }
      commands:
        - python3 --version && echo "matrix asked for $PYTHON"
        - python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'
    - name: web
      needs: []
      matrix: { node: ["18"] }
      image: "bosun/node:${{ matrix.node }}"
      commands: [node --version]
    - name: report
      needs: [test, web]
      image: bosun/python:latest
      commands: ["true"]
"#,
    )
    .unwrap();
    let (code, run, stderr) = bosun_run(&repo, &[]);
    assert_eq!(
        code,
        Some(1),
        "the 3.13 instance fails: {}",
        explain(&run, &stderr)
    );
    let rows = run["run"]["stages"].as_array().unwrap();
    let state = |stage: &str| -> String {
        rows.iter()
            .find(|s| s["name"] == stage)
            .map(|s| s["state"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no row for {stage}: {:#}", run["run"]))
    };
    let instances: Vec<&str> = rows
        .iter()
        .filter_map(|s| s["name"].as_str())
        .filter(|name| name.starts_with("test-"))
        .collect();
    assert_eq!(instances, ["test-3_11", "test-3_13"], "{:#}", run["run"]);

    let old = logs(&repo, &run, "test-3_11");
    assert!(old.contains("Python 3.11."), "{old}");
    assert!(old.contains("matrix asked for 3.11"), "{old}");
    assert!(!old.contains("Python 3.13"), "{old}");
    assert_eq!(state("test-3_11"), "success", "{}", explain(&run, &stderr));

    let new = logs(&repo, &run, "test-3_13");
    assert!(new.contains("Python 3.13."), "{new}");
    assert!(new.contains("matrix asked for 3.13"), "{new}");
    assert!(!new.contains("Python 3.11"), "{new}");
    assert_eq!(state("test-3_13"), "failure", "{}", explain(&run, &stderr));

    let node = logs(&repo, &run, "web-18");
    assert!(node.contains("v18."), "{node}");
    assert_eq!(state("web-18"), "success", "{}", explain(&run, &stderr));
    assert_eq!(state("report"), "skipped", "it needs every instance");
}

#[test]
fn bosun_run_says_why_a_stage_failed_under_its_table() {
    let test = "bosun_run_says_why_a_stage_failed";
    if !images_or_skip(test, &["bosun/python:3.11"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("why");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join(".bosun.yml"),
        r#"pipeline:
  stages:
    - name: check
      image: bosun/python:3.11
      commands: [echo ok, "echo 'E   assert 2 == 3' >&2; exit 5", echo never]
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .arg("run")
        .arg(&repo)
        .args(["--containers", "docker"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let why = stdout
        .split_once("why check failed:\n")
        .map(|(_, why)| why)
        .unwrap_or_else(|| panic!("no reason under the table:\n{stdout}"));
    assert!(
        why.starts_with("  HIGH exit-status: command 2 failed (exit status 5)"),
        "{why}"
    );
    assert!(
        why.contains("    | E   assert 2 == 3"),
        "the command's last output: {why}"
    );
}

/// A step printing 120 MB; then a step that prints, waits for a flag the test sets inside
/// its container, then prints more; then one that holds the run (and so `bosun run`'s
/// server) open until the test has read what it needs. One after the other: the local
/// agent runs one command step at a time.
const LIVE_PIPELINE: &str = r#"pipeline:
  stages:
    - name: flood
      image: bosun/python:3.11
      commands:
        - "yes 'a flood of output, line after line, far past any cap' | head -c 120000000"
    - name: live
      needs: [flood]
      image: bosun/python:3.11
      commands:
        - echo live-first; echo live-marker
        - "while [ ! -e /tmp/go ]; do sleep 0.2; done"
        - echo live-after; echo live-last >&2
    - name: hold
      needs: [live]
      image: bosun/python:3.11
      commands:
        - "while [ ! -e /tmp/go ]; do sleep 0.2; done"
"#;

/// Server-sent events read so far: (event, id, data) in order.
struct Events {
    response: reqwest::Response,
    pending: String,
    seen: Vec<(String, Option<u64>, Value)>,
}

impl Events {
    async fn open(url: &str) -> Events {
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{url}");
        Events {
            response,
            pending: String::new(),
            seen: Vec::new(),
        }
    }

    /// Read until `enough` holds; fails the test after `limit`, naming what came.
    async fn until(
        &mut self,
        limit: std::time::Duration,
        enough: impl Fn(&[(String, Option<u64>, Value)]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + limit;
        while !enough(&self.seen) {
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            let Ok(Ok(Some(bytes))) = chunk else {
                panic!("the stream ended or stalled; seen: {:?}", self.messages());
            };
            self.pending.push_str(&String::from_utf8_lossy(&bytes));
            while let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
                };
                if let Some(name) = field("event") {
                    let data = field("data")
                        .and_then(|d| serde_json::from_str(&d).ok())
                        .unwrap_or(Value::Null);
                    self.seen
                        .push((name, field("id").and_then(|i| i.parse().ok()), data));
                }
            }
        }
    }

    fn ended(seen: &[(String, Option<u64>, Value)]) -> bool {
        seen.last().is_some_and(|(name, _, _)| name == "end")
    }

    fn messages(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|(name, _, _)| name == "line")
            .map(|(_, _, data)| data["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bosun_run_streams_a_steps_output_while_it_runs_and_caps_a_flood() {
    use std::time::Duration;
    let test = "bosun_run_streams_a_steps_output_while_it_runs";
    if !images_or_skip(test, &["bosun/python:3.11"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("live");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join(".bosun.yml"), LIVE_PIPELINE).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_bosun"));
    command
        .arg("run")
        .arg(&repo)
        .args(["--containers", "docker", "--follow", "live"])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut bosun = common::process::Process::spawn(command);
    let api = {
        let started = std::time::Instant::now();
        loop {
            if let Some(line) = bosun.find("dashboard API http://") {
                let url = line.split("dashboard API ").nth(1).unwrap();
                break url.trim_end_matches(')').to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{}",
                bosun.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let run_id = api.rsplit('/').next().unwrap().to_string();

    // The lines arrive while the step still waits for its flag.
    let mut live = Events::open(&format!("{api}/stages/live/attempts/1/logs/live")).await;
    live.until(Duration::from_secs(300), |seen| {
        seen.iter().any(|(_, _, d)| d["message"] == "live-marker")
    })
    .await;
    let detail: Value = reqwest::get(&api).await.unwrap().json().await.unwrap();
    let attempt = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["stage"] == "live")
        .unwrap();
    assert!(
        attempt["settled_ms"].is_null(),
        "the marker came before the attempt ended: {attempt:#}"
    );
    // The step's script says each command (`+ …`) before its output.
    let printed: Vec<String> = live
        .messages()
        .into_iter()
        .filter(|m| !m.starts_with("+ "))
        .collect();
    assert_eq!(printed[..2], ["live-first", "live-marker"]);
    let marker = live.seen.last().unwrap().1.unwrap();

    // The flood before it stayed within the cap, cut once and said once.
    let mut flood = Events::open(&format!("{api}/stages/flood/attempts/1/logs/live")).await;
    flood.until(Duration::from_secs(600), Events::ended).await;
    let flood_lines = flood.messages();
    let cut: Vec<&String> = flood_lines
        .iter()
        .filter(|m| m.contains("output cut at"))
        .collect();
    assert_eq!(cut, ["… output cut at 1 MB"], "said once");
    let bytes: usize = flood_lines.iter().map(String::len).sum();
    assert!(bytes <= 1 << 20, "{bytes} bytes streamed");

    // Let the step go on: the flag is set inside its running container.
    common::let_go(&run_id, "live").await;
    live.until(Duration::from_secs(300), Events::ended).await;
    let said = live.messages();
    // In order within a stream (stdout and stderr are two streams; between them the
    // order is the engine's).
    let at = |text: &str| {
        said.iter()
            .position(|m| m == text)
            .unwrap_or_else(|| panic!("{text} in {said:?}"))
    };
    assert!(at("live-first") < at("live-marker") && at("live-marker") < at("live-after"));
    assert!(at("live-marker") < at("live-last"), "{said:?}");

    // Resuming after the marker gives exactly the rest of the attempt's log.
    let logs: Value = reqwest::get(format!("{api}/stages/live/attempts/1/logs"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let all: Vec<String> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(said, all, "the live stream is the attempt's log");
    let mut rest = Events::open(&format!(
        "{api}/stages/live/attempts/1/logs/live?from={}",
        marker + 1
    ))
    .await;
    rest.until(Duration::from_secs(60), Events::ended).await;
    assert_eq!(rest.messages(), all[marker as usize + 1..]);

    common::let_go(&run_id, "hold").await;
    let status = tokio::task::spawn_blocking(move || {
        let status = bosun.child().wait().unwrap();
        (status, bosun.log())
    })
    .await
    .unwrap();
    assert!(status.0.success(), "{}", status.1);
    // `--follow live` printed the step's lines besides the progress.
    assert!(status.1.contains("live │ live-after"), "{}", status.1);
    assert!(!status.1.contains("flood │"), "only the followed stage");
    let store = Store::open(&repo.join(".bosun/bosun.db")).unwrap();
    let stored = store
        .live_log_lines(&run_id, "flood", 1, 0, usize::MAX)
        .unwrap();
    let stored_bytes: usize = stored.iter().map(|(_, l)| l.message.len()).sum();
    assert!(stored_bytes <= 1 << 20, "{stored_bytes} bytes stored live");
}
