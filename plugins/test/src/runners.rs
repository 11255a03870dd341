//! Running pytest, mocha or jest in a tool container: the argv (kept in step with
//! `scripts/capture-tool-output.sh`, which captures the fixtures the same way), the
//! reports each writes under `/out`, and what its exit status means.

use crate::detect::{self, Runner};
use crate::settings::Settings;
use bosun_junit::TestRun;
use bosun_sdk::ContainerOutput;
pub use bosun_sdk::containers::with_output;
use bosun_sdk::fs::OUT;
use bosun_sdk::prelude::*;
use bosun_sdk::report_file::{self, MAX_REPORT_BYTES, ReadError};
use std::path::Path;

/// Default tool images, as `scripts/services.sh` tags them.
pub const PYTHON_IMAGE: &str = "bosun/python-tools:latest";
pub const NODE_IMAGE: &str = "bosun/node-tools:latest";

/// Where every runner's JUnit report goes, under `/out`.
pub const JUNIT_FILE: &str = "junit.xml";

/// One runner invocation, before it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub runner: Runner,
    pub image: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The Cobertura report's path under `/out`, for runners that measure coverage.
    pub coverage: Option<&'static str>,
}

/// The invocation of `runner` on the workspace at `root` (for defaults) with `settings`.
pub fn invocation(runner: Runner, settings: &Settings, root: &Path) -> Result<Invocation, String> {
    let image = |default: &str| {
        settings
            .image
            .clone()
            .unwrap_or_else(|| default.to_string())
    };
    let owned = |fixed: &[&str]| -> Vec<String> { fixed.iter().map(|s| s.to_string()).collect() };
    Ok(match runner {
        Runner::Pytest => {
            let sources = if settings.source.is_empty() {
                detect::coverage_sources(root)
            } else {
                settings.source.clone()
            };
            let mut argv = owned(&[
                "python3",
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--junitxml",
                "/out/junit.xml",
            ]);
            argv.extend(sources.iter().map(|s| format!("--cov={s}")));
            argv.push("--cov-report=xml:/out/coverage.xml".into());
            argv.extend(settings.paths.iter().cloned());
            let mut env = vec![
                // The workspace is read-only: coverage data and bytecode go elsewhere.
                ("COVERAGE_FILE".to_string(), "/tmp/.coverage".to_string()),
                ("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()),
            ];
            if root.join("src").is_dir() {
                // A src layout cannot be pip-installed in a read-only, offline container.
                env.push(("PYTHONPATH".into(), "/workspace/src".into()));
            }
            Invocation {
                runner,
                image: image(PYTHON_IMAGE),
                argv,
                env,
                coverage: Some("coverage.xml"),
            }
        }
        Runner::Mocha => {
            let mut argv = owned(&[
                "mocha",
                "--reporter",
                "xunit",
                "--reporter-option",
                "output=/out/junit.xml",
            ]);
            argv.extend(settings.paths.iter().cloned());
            Invocation {
                runner,
                image: image(NODE_IMAGE),
                argv,
                env: Vec::new(),
                coverage: None,
            }
        }
        Runner::Jest => {
            if !root.join("node_modules/jest/bin/jest.js").is_file() {
                return Err(
                    "jest is not in the workspace (node_modules/jest/bin/jest.js) and the tool \
                     containers have no network to install it; vendor it or use `runner: mocha`"
                        .into(),
                );
            }
            let mut argv = owned(&[
                "node",
                "node_modules/jest/bin/jest.js",
                "--ci",
                "--reporters=default",
                "--reporters=jest-junit",
                "--coverage",
                "--coverageReporters=cobertura",
                "--coverageDirectory=/out/coverage",
                "--cacheDirectory=/tmp/jest",
            ]);
            argv.extend(settings.paths.iter().cloned());
            Invocation {
                runner,
                image: image(NODE_IMAGE),
                argv,
                env: vec![
                    ("JEST_JUNIT_OUTPUT_DIR".into(), "/out".into()),
                    ("JEST_JUNIT_OUTPUT_NAME".into(), JUNIT_FILE.into()),
                ],
                coverage: Some("coverage/cobertura-coverage.xml"),
            }
        }
    })
}

/// Why an exit status means the runner did not run the tests, or `None` when it is
/// one of its ordinary statuses.
pub fn exit_problem(runner: Runner, code: i32) -> Option<String> {
    let name = runner.name();
    match (runner, code) {
        // 0 passed, 1 tests failed, 2 interrupted (collection errors), 5 no tests.
        (Runner::Pytest, 0 | 1 | 2 | 5) => None,
        (Runner::Pytest, 3) => Some("pytest hit an internal error (exit 3)".into()),
        (Runner::Pytest, 4) => Some("pytest refused its command line (exit 4: usage error)".into()),
        // mocha exits with the number of failures, up to 255.
        (Runner::Mocha, 0..=255) => None,
        (Runner::Jest, 0 | 1) => None,
        _ => Some(format!("{name} crashed (exit {code})")),
    }
}

/// Whether the report agrees with the exit status: a status that says tests failed,
/// with a report that lists none, means the report is not the whole story.
pub fn check_consistent(runner: Runner, code: i32, run: &TestRun) -> Result<(), String> {
    let name = runner.name();
    let failing = run.totals.failed.saturating_add(run.totals.errors);
    match (runner, code) {
        (Runner::Pytest, 2) if run.totals.errors == 0 => Err(
            "pytest was interrupted (exit 2) and its JUnit report lists no collection error".into(),
        ),
        (_, 0) | (Runner::Pytest, 5) => Ok(()),
        _ if failing == 0 => Err(format!(
            "{name} exited {code}, which means tests failed, but its JUnit report lists no \
             failed test"
        )),
        _ => Ok(()),
    }
}

/// What a runner left behind.
pub struct RunOutput {
    pub output: ContainerOutput,
    pub junit: Vec<u8>,
    /// The coverage report, when the runner measures coverage and wrote one.
    pub coverage: Option<Vec<u8>>,
}

/// Run the tests; the error names the runner and what went wrong.
pub fn run(invocation: &Invocation, timeout_secs: u32) -> Result<RunOutput, StageError> {
    let junit_path = Path::new(OUT).join(JUNIT_FILE);
    let coverage_path = invocation.coverage.map(|c| Path::new(OUT).join(c));
    // Reports left by an earlier run in a reused /out must not pass for this one's.
    for path in std::iter::once(&junit_path).chain(coverage_path.as_ref()) {
        if let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(StageError::Io(format!(
                "removing the old {}: {e}",
                path.display()
            )));
        }
    }
    let mut tool =
        Tool::new(&invocation.image, invocation.argv.iter().cloned()).timeout_secs(timeout_secs);
    for (key, value) in &invocation.env {
        tool = tool.env(key, value);
    }
    let name = invocation.runner.name();
    log::info(&format!(
        "running {name} in {}: {}",
        invocation.image,
        invocation.argv.join(" ")
    ));
    let output = tool.run()?;
    let code = output.exit_code;
    if let Some(problem) = exit_problem(invocation.runner, code) {
        return Err(StageError::ToolFailed(with_output(problem, &output)));
    }
    let shown = junit_path.display();
    let junit = match report_file::read_limited(&junit_path, MAX_REPORT_BYTES) {
        Ok(bytes) => bytes,
        Err(ReadError::Missing) => {
            return Err(StageError::ToolFailed(with_output(
                format!("{name} exited {code} without writing its JUnit report {shown}"),
                &output,
            )));
        }
        Err(e) => return Err(read_error(Some(name), "JUnit report", &junit_path, e)),
    };
    let coverage = match &coverage_path {
        None => None,
        Some(path) => match report_file::read_limited(path, MAX_REPORT_BYTES) {
            Ok(bytes) => Some(bytes),
            Err(ReadError::Missing) => {
                log::warn(&format!(
                    "{name} wrote no coverage report {}",
                    path.display()
                ));
                None
            }
            Err(e) => return Err(read_error(Some(name), "coverage report", path, e)),
        },
    };
    Ok(RunOutput {
        output,
        junit,
        coverage,
    })
}

/// The stage error for a report file that could not be read; `writer` is the runner
/// that wrote it, when one ran.
pub fn read_error(writer: Option<&str>, what: &str, path: &Path, error: ReadError) -> StageError {
    let shown = path.display();
    match error {
        ReadError::Missing => StageError::Io(format!("the {what} {shown} does not exist")),
        ReadError::TooLarge(size) => StageError::BadToolOutput(format!(
            "{}the {what} {shown} is {}, more than the {} the test stage reads",
            writer.map(|w| format!("{w}: ")).unwrap_or_default(),
            report_file::human_size(size),
            report_file::human_size(MAX_REPORT_BYTES)
        )),
        ReadError::Io(e) => StageError::Io(format!("reading the {what} {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests;
