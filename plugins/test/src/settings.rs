//! The test stage's `with:` settings, read once and checked, with errors naming the key.

use crate::detect::{Language, Runner};
use bosun_sdk::settings::check_relative;
use bosun_sdk::{StageError, Task};

/// Settings the stage knows; any other key is refused, so a typo is not silently ignored.
const KNOWN: &[&str] = &[
    "language",
    "runner",
    "paths",
    "source",
    "min_coverage",
    "image",
    "timeout",
    "report",
    "coverage_report",
    "max_failures",
];

/// The host keeps this many test failures of a report (`ReportCaps::test_failures`).
pub const DEFAULT_MAX_FAILURES: u64 = 1000;

/// Runner timeout when `timeout` is not given, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 1200;

/// The stage's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `language`: `python` or `node`; detected when absent.
    pub language: Option<Language>,
    /// `runner`: `pytest`, `mocha` or `jest`; chosen from the language (and, for Node,
    /// the `package.json`) when absent.
    pub runner: Option<Runner>,
    /// `paths`: test files or folders, comma-separated; the runner's own default when
    /// absent.
    pub paths: Vec<String>,
    /// `source`: what coverage measures in a Python project, comma-separated.
    pub source: Vec<String>,
    /// `min_coverage`: the lowest line coverage, in percent, that passes.
    pub min_coverage: Option<f64>,
    /// `image`: the tool image; the language's default image when absent.
    pub image: Option<String>,
    /// `timeout`: seconds the runner may take.
    pub timeout_secs: u32,
    /// `report`: a JUnit XML file in the workspace, read instead of running tests.
    pub report: Option<String>,
    /// `coverage_report`: a Cobertura XML file in the workspace, with `report`.
    pub coverage_report: Option<String>,
    /// `max_failures`: most failures listed in the report (at most the host's cap).
    pub max_failures: usize,
}

impl Settings {
    /// Read and check `task`'s settings.
    pub fn from_task(task: &Task) -> Result<Settings, StageError> {
        let invalid =
            |message: String| StageError::InvalidConfig(format!("stage {}: {message}", task.stage));
        bosun_sdk::settings::check_known(&task.config, KNOWN).map_err(invalid)?;
        let language = task
            .config("language")
            .map(|raw| {
                Language::parse(raw).ok_or_else(|| {
                    invalid(format!("`language` must be python or node, got {raw:?}"))
                })
            })
            .transpose()?;
        let runner = task
            .config("runner")
            .map(|raw| {
                Runner::parse(raw).ok_or_else(|| {
                    invalid(format!(
                        "`runner` must be pytest, mocha or jest, got {raw:?}"
                    ))
                })
            })
            .transpose()?;
        if let (Some(language), Some(runner)) = (language, runner)
            && runner.language() != language
        {
            return Err(invalid(format!(
                "`runner: {}` does not run {} tests",
                runner.name(),
                match language {
                    Language::Python => "Python",
                    Language::Node => "Node",
                }
            )));
        }
        let paths = checked_list(task, "paths", &invalid)?;
        let source = checked_list(task, "source", &invalid)?;
        let min_coverage = task
            .config("min_coverage")
            .map(|raw| {
                raw.trim()
                    .trim_end_matches('%')
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .ok_or_else(|| {
                        invalid(format!(
                            "`min_coverage` must be a percentage from 0 to 100, got {raw:?}"
                        ))
                    })
            })
            .transpose()?;
        let timeout = task.config_u64("timeout", DEFAULT_TIMEOUT_SECS)?;
        if timeout == 0 {
            return Err(invalid("`timeout` must be at least 1 second".into()));
        }
        let max_failures = task.config_u64("max_failures", DEFAULT_MAX_FAILURES)?;
        if max_failures > DEFAULT_MAX_FAILURES {
            return Err(invalid(format!(
                "`max_failures` must be at most {DEFAULT_MAX_FAILURES}, the host's report cap"
            )));
        }
        let single = |key: &str| -> Result<Option<String>, StageError> {
            let Some(raw) = task.config(key).map(str::trim) else {
                return Ok(None);
            };
            check_relative(raw).map_err(|why| invalid(format!("`{key}`: {why}")))?;
            Ok(Some(raw.to_string()))
        };
        let report = single("report")?;
        let coverage_report = single("coverage_report")?;
        if coverage_report.is_some() && report.is_none() {
            return Err(invalid(
                "`coverage_report` is read only with `report`; without it the runner's own \
                 coverage is used"
                    .into(),
            ));
        }
        Ok(Settings {
            language,
            runner,
            paths,
            source,
            min_coverage,
            image: task
                .config("image")
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_string),
            timeout_secs: u32::try_from(timeout).unwrap_or(u32::MAX),
            report,
            coverage_report,
            max_failures: usize::try_from(max_failures).unwrap_or(usize::MAX),
        })
    }
}

fn checked_list(
    task: &Task,
    key: &str,
    invalid: &dyn Fn(String) -> StageError,
) -> Result<Vec<String>, StageError> {
    let list = task.config_list(key);
    for item in &list {
        check_relative(item).map_err(|why| invalid(format!("`{key}`: {why}")))?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(config: &[(&str, &str)]) -> Task {
        Task {
            run_id: "run-1".into(),
            stage: "test".into(),
            attempt: 1,
            tenant: "acme".into(),
            repository: "acme/app".into(),
            commit: "0".repeat(40),
            branch: "main".into(),
            event: "push".into(),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn error(config: &[(&str, &str)]) -> String {
        match Settings::from_task(&task(config)) {
            Err(StageError::InvalidConfig(message)) => message,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let settings = Settings::from_task(&task(&[])).unwrap();
        assert_eq!((settings.language, settings.runner), (None, None));
        assert_eq!(settings.min_coverage, None);
        assert_eq!(settings.timeout_secs, 1200);
        assert_eq!(settings.max_failures, 1000);
    }

    #[test]
    fn every_setting_is_read() {
        let settings = Settings::from_task(&task(&[
            ("language", "python"),
            ("runner", "pytest"),
            ("paths", "tests/unit,tests/api"),
            ("source", "shop"),
            ("min_coverage", "82.5%"),
            ("image", "acme/py:3"),
            ("timeout", "90"),
            ("report", "build/junit.xml"),
            ("coverage_report", "build/coverage.xml"),
            ("max_failures", "50"),
        ]))
        .unwrap();
        assert_eq!(settings.runner, Some(Runner::Pytest));
        assert_eq!(settings.paths, ["tests/unit", "tests/api"]);
        assert_eq!(settings.source, ["shop"]);
        assert_eq!(settings.min_coverage, Some(82.5));
        assert_eq!(settings.image.as_deref(), Some("acme/py:3"));
        assert_eq!(settings.timeout_secs, 90);
        assert_eq!(settings.report.as_deref(), Some("build/junit.xml"));
        assert_eq!(
            settings.coverage_report.as_deref(),
            Some("build/coverage.xml")
        );
        assert_eq!(settings.max_failures, 50);
    }

    #[test]
    fn bad_values_name_the_stage_and_key() {
        assert_eq!(
            error(&[("min_coverage", "lots")]),
            "stage test: `min_coverage` must be a percentage from 0 to 100, got \"lots\""
        );
        assert!(error(&[("min_coverage", "120")]).contains("from 0 to 100"));
        assert!(error(&[("runner", "nose")]).contains("`runner` must be pytest, mocha or jest"));
        assert!(
            error(&[("language", "python"), ("runner", "mocha")])
                .contains("`runner: mocha` does not run Python tests")
        );
        assert!(error(&[("paths", "../x")]).contains("stay inside the workspace"));
        assert!(error(&[("source", "--cov-fail-under=0")]).contains("would read as an option"));
        assert!(error(&[("min-coverage", "80")]).contains("unknown setting `min-coverage`"));
        assert!(error(&[("coverage_report", "c.xml")]).contains("only with `report`"));
        assert!(error(&[("max_failures", "5000")]).contains("at most 1000"));
    }
}
