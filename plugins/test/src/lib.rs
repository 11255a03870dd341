//! Built-in stage plugin `test`: runs pytest (with coverage), mocha or jest in a tool
//! container and reports test totals, each failure (suite, name, message, file, line),
//! line coverage and a pass/fail verdict.
//!
//! `with:` settings:
//! - `language`: `python` or `node`; detected from the workspace when absent.
//! - `runner`: `pytest`, `mocha` or `jest`; pytest for Python; for Node jest when the
//!   `package.json` uses `jest-junit` (jest must be in `node_modules`), else mocha.
//! - `paths`: test files or folders, comma-separated (the runner's default otherwise).
//! - `source`: what pytest-cov measures (default `src/`, else the top-level packages).
//! - `min_coverage`: fail when line coverage is below this percentage.
//! - `image`, `timeout` (seconds, default 1200), `max_failures` (default and most: 1000,
//!   the host's cap).
//! - `report` and `coverage_report`: read these workspace files (JUnit XML, Cobertura
//!   XML) instead of running tests.
//!
//! The host sets `BOSUN_ATTEMPT` (and the other CI variables) in every tool container,
//! so tests can see which attempt they are. Failures keep the runner's suite (pytest's
//! module, mocha's describe titles) and test name, which stay the same across attempts.
//! A runner that did not run the tests (a usage error, a crash, no report, a report that
//! cannot be read or that contradicts its exit status) is a stage error naming the
//! runner and the problem, never a pass.

pub use bosun_reports::cobertura;
pub mod detect;
use bosun_sdk::report_file;
pub mod runners;
pub mod settings;
pub mod verdict;

use bosun_sdk::ContainerOutput;
use bosun_sdk::fs;
use bosun_sdk::prelude::*;
use detect::{Language, Runner};
use settings::Settings;
use std::path::Path;

/// The stage; public so that native builds, which do not export it, still use it.
pub struct TestStage;

/// What was read, from a runner or from the workspace.
pub struct Reports {
    /// Who wrote them, for messages (`pytest`), when a runner ran here.
    pub writer: Option<&'static str>,
    pub junit: Vec<u8>,
    /// Where the JUnit report is (`/out/junit.xml`).
    pub junit_at: String,
    /// The coverage report and where it is.
    pub coverage: Option<(Vec<u8>, String)>,
    /// The runner and what it returned, when it ran here.
    pub ran: Option<(Runner, ContainerOutput)>,
}

impl Stage for TestStage {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let settings = Settings::from_task(task)?;
        let root = Path::new(fs::WORKSPACE);
        let invalid =
            |why: String| StageError::InvalidConfig(format!("stage {}: {why}", task.stage));
        let reports = match &settings.report {
            Some(report) => read_workspace_reports(report, settings.coverage_report.as_deref())?,
            None => {
                let runner = choose_runner(&settings, root).map_err(invalid)?;
                if settings.min_coverage.is_some() && runner == Runner::Mocha {
                    return Err(invalid(
                        "`min_coverage` needs coverage, and mocha measures none; use jest or \
                         drop `min_coverage`"
                            .into(),
                    ));
                }
                let invocation =
                    runners::invocation(runner, &settings, root).map_err(StageError::ToolFailed)?;
                let out = runners::run(&invocation, settings.timeout_secs)?;
                let out_file = |name: &str| format!("{}/{name}", fs::OUT);
                Reports {
                    writer: Some(runner.name()),
                    junit: out.junit,
                    junit_at: out_file(runners::JUNIT_FILE),
                    coverage: out.coverage.zip(invocation.coverage.map(out_file)),
                    ran: Some((runner, out.output)),
                }
            }
        };
        let report = assess(&reports, &settings, &task.stage)?;
        log::info(&report.summary);
        Ok(report)
    }
}

/// Read the reports, check them against the runner's exit status, and judge them
/// against `settings`. A report that cannot be read or contradicts the exit status is a
/// stage error naming the runner (or file), what was wrong and where.
pub fn assess(
    reports: &Reports,
    settings: &Settings,
    stage: &str,
) -> Result<StageReport, StageError> {
    let label = |what: &str, at: &str| match reports.writer {
        Some(writer) => format!("{writer}'s {what} {at}"),
        None => format!("the {what} {at}"),
    };
    let run = bosun_junit::parse(&reports.junit).map_err(|e| {
        StageError::BadToolOutput(format!(
            "{} cannot be read: {e}",
            label("JUnit report", &reports.junit_at)
        ))
    })?;
    if let Some((runner, output)) = &reports.ran {
        runners::check_consistent(*runner, output.exit_code, &run)
            .map_err(|problem| StageError::ToolFailed(runners::with_output(problem, output)))?;
    }
    let coverage = match &reports.coverage {
        None => None,
        Some((xml, at)) => Some(cobertura::parse(xml).map_err(|e| {
            StageError::BadToolOutput(format!(
                "{} cannot be read: {e}",
                label("coverage report", at)
            ))
        })?),
    };
    if settings.min_coverage.is_some() && coverage.is_none() {
        return Err(StageError::BadToolOutput(format!(
            "stage {}: `min_coverage` is set but {} no coverage report",
            stage,
            match reports.writer {
                Some(writer) => format!("{writer} wrote"),
                None => "`coverage_report` names".to_string(),
            }
        )));
    }
    let verdict = verdict::judge(&run, coverage, settings.min_coverage, settings.max_failures);
    let mut report = StageReport::new(verdict.outcome, verdict.summary);
    report.tests = Some(verdict.tests);
    report.test_failures = verdict.failures;
    report.coverage = verdict.coverage;
    report.metrics = verdict.metrics;
    if reports.ran.is_some() {
        report.artifacts.push(Artifact {
            kind: "junit".into(),
            name: runners::JUNIT_FILE.into(),
            reference: reports.junit_at.clone(),
            digest: None,
        });
        if let Some((_, at)) = &reports.coverage {
            report.artifacts.push(Artifact {
                kind: "file".into(),
                name: at.rsplit('/').next().unwrap_or(at).to_string(),
                reference: at.clone(),
                digest: None,
            });
        }
    }
    Ok(report)
}

/// The runner from `runner`, else from `language` (given or detected).
fn choose_runner(settings: &Settings, root: &Path) -> Result<Runner, String> {
    if let Some(runner) = settings.runner {
        return Ok(runner);
    }
    let language = match settings.language {
        Some(language) => language,
        None => detect::language(root)?,
    };
    Ok(match language {
        Language::Python => Runner::Pytest,
        Language::Node => detect::node_runner(root),
    })
}

fn read_workspace_reports(report: &str, coverage: Option<&str>) -> Result<Reports, StageError> {
    let read = |relative: &str, what: &str| -> Result<(Vec<u8>, String), StageError> {
        let path = fs::workspace_path(relative)?;
        let bytes = report_file::read_limited(&path, report_file::MAX_REPORT_BYTES)
            .map_err(|e| runners::read_error(None, what, &path, e))?;
        Ok((bytes, path.display().to_string()))
    };
    let (junit, junit_at) = read(report, "JUnit report")?;
    let coverage = coverage
        .map(|relative| read(relative, "coverage report"))
        .transpose()?;
    Ok(Reports {
        writer: None,
        junit,
        junit_at,
        coverage,
        ran: None,
    })
}

// Exported only in the component: the export symbols are named like
// `bosun:agent/stage-plugin@0.2.0#run`, which native linkers reject when the crate is
// linked as a `cdylib` for the host (`cargo test`, `cargo build --workspace`).
#[cfg(target_arch = "wasm32")]
bosun_sdk::export_stage!(TestStage, name = "test");

#[cfg(test)]
mod tests;
