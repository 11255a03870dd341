//! Runner argv and exit statuses, checked against the real runs captured in
//! `tests/fixtures` (exit codes, stderr and reports).

use super::*;
use crate::settings::Settings;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn exit(name: &str) -> i32 {
    fixture(&format!("{name}.exit")).trim().parse().unwrap()
}

fn junit(name: &str) -> TestRun {
    bosun_junit::parse(fixture(&format!("{name}.xml")).as_bytes()).unwrap()
}

fn settings(config: &[(&str, &str)]) -> Settings {
    let task = bosun_sdk::Task {
        run_id: "r".into(),
        stage: "test".into(),
        attempt: 1,
        tenant: "t".into(),
        repository: "a/b".into(),
        commit: "0".repeat(40),
        branch: "main".into(),
        event: "push".into(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    Settings::from_task(&task).unwrap()
}

fn output(code: i32, stderr: &str) -> ContainerOutput {
    ContainerOutput {
        exit_code: code,
        stdout: String::new(),
        stderr: stderr.to_string(),
        truncated: false,
        duration_ms: 1,
    }
}

fn examples(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

#[test]
fn pytest_measures_src_and_reports_to_out() {
    let run = invocation(Runner::Pytest, &settings(&[]), &examples("python-app")).unwrap();
    assert_eq!(run.image, PYTHON_IMAGE);
    assert_eq!(
        run.argv,
        [
            "python3",
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--junitxml",
            "/out/junit.xml",
            "--cov=src",
            "--cov-report=xml:/out/coverage.xml",
        ]
    );
    assert!(
        run.env
            .contains(&("COVERAGE_FILE".into(), "/tmp/.coverage".into()))
    );
    assert!(
        run.env
            .contains(&("PYTHONPATH".into(), "/workspace/src".into()))
    );
    assert_eq!(run.coverage, Some("coverage.xml"));
    let chosen = invocation(
        Runner::Pytest,
        &settings(&[("source", "shop,util"), ("paths", "tests/unit")]),
        &examples("python-app"),
    )
    .unwrap();
    assert!(chosen.argv.ends_with(&[
        "--cov=shop".to_string(),
        "--cov=util".into(),
        "--cov-report=xml:/out/coverage.xml".into(),
        "tests/unit".into()
    ]));
}

#[test]
fn mocha_uses_the_xunit_reporter_and_jest_needs_its_modules() {
    let run = invocation(Runner::Mocha, &settings(&[]), &examples("node-app")).unwrap();
    assert_eq!(
        run.argv,
        [
            "mocha",
            "--reporter",
            "xunit",
            "--reporter-option",
            "output=/out/junit.xml"
        ]
    );
    assert_eq!(run.coverage, None);
    let jest = invocation(Runner::Jest, &settings(&[]), &examples("node-app")).unwrap_err();
    assert!(jest.contains("node_modules/jest/bin/jest.js"), "{jest}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("node_modules/jest/bin")).unwrap();
    std::fs::write(dir.path().join("node_modules/jest/bin/jest.js"), "").unwrap();
    let jest = invocation(Runner::Jest, &settings(&[]), dir.path()).unwrap();
    assert!(jest.argv.contains(&"--reporters=jest-junit".to_string()));
    assert!(
        jest.env
            .contains(&("JEST_JUNIT_OUTPUT_DIR".into(), "/out".into()))
    );
    assert_eq!(jest.coverage, Some("coverage/cobertura-coverage.xml"));
}

#[test]
fn real_exit_statuses_are_understood() {
    assert_eq!(exit("pytest-python-app-attempt1"), 1);
    assert_eq!(exit_problem(Runner::Pytest, 1), None);
    assert_eq!(exit_problem(Runner::Pytest, exit("pytest-samples")), None);
    assert_eq!(exit_problem(Runner::Mocha, exit("mocha-samples")), None);
    let usage = exit_problem(Runner::Pytest, exit("pytest-usage-error")).unwrap();
    let message = with_output(usage, &output(4, &fixture("pytest-usage-error.stderr")));
    assert!(
        message.starts_with("pytest refused its command line (exit 4"),
        "{message}"
    );
    assert!(
        message.contains("unrecognized arguments: --no-such-option"),
        "{message}"
    );
    assert!(
        exit_problem(Runner::Pytest, 137)
            .unwrap()
            .contains("crashed (exit 137)")
    );
    assert!(exit_problem(Runner::Jest, 2).is_some());
    assert!(exit_problem(Runner::Mocha, -1).is_some());
}

#[test]
fn reports_agree_with_real_exit_statuses() {
    for (runner, name) in [
        (Runner::Pytest, "pytest-python-app-attempt1"),
        (Runner::Pytest, "pytest-python-app-attempt2"),
        (Runner::Pytest, "pytest-samples"),
        (Runner::Mocha, "mocha-samples"),
        (Runner::Mocha, "mocha-node-app"),
    ] {
        check_consistent(runner, exit(name), &junit(name)).unwrap();
    }
}

#[test]
fn a_failing_status_with_a_clean_report_is_refused() {
    // mocha's real failing status against the node-app's real clean report: a run
    // that crashed after writing part of its results.
    let clean = junit("mocha-node-app");
    let error = check_consistent(Runner::Mocha, exit("mocha-samples"), &clean).unwrap_err();
    assert_eq!(
        error,
        "mocha exited 3, which means tests failed, but its JUnit report lists no failed test"
    );
    let pytest = junit("pytest-python-app-attempt2");
    assert!(check_consistent(Runner::Pytest, 1, &pytest).is_err());
    assert!(
        check_consistent(Runner::Pytest, 2, &pytest)
            .unwrap_err()
            .contains("interrupted (exit 2)")
    );
    assert!(check_consistent(Runner::Pytest, 5, &TestRun::default()).is_ok());
}

#[test]
fn a_missing_report_quotes_what_the_runner_printed() {
    // mocha's real "no test files" run: exit 1, no report, the reason on stderr.
    let stderr = fixture("mocha-no-tests.stderr");
    assert_eq!(exit("mocha-no-tests"), 1);
    let message = with_output(
        "mocha exited 1 without writing its JUnit report /out/junit.xml".to_string(),
        &output(1, &stderr),
    );
    assert!(
        message.ends_with("it printed:\nError: No test files found: \"no-such-test.js\""),
        "{message}"
    );
}
