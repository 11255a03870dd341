//! The lint stage's `with:` settings, read once and checked, with errors naming the key.

use crate::detect::Language;
use crate::verdict::{FailOn, Thresholds};
use bosun_sdk::settings::check_relative;
use bosun_sdk::{StageError, Task};

/// Settings the stage knows; any other key is refused, so a typo is not silently ignored.
const KNOWN: &[&str] = &[
    "language",
    "paths",
    "fail_on",
    "max_warnings",
    "image",
    "timeout",
    "report",
    "sarif",
    "max_findings",
];

/// The host keeps this many findings of a report (`ReportCaps::findings`); the stage
/// cuts to it itself so it can say what it cut.
pub const DEFAULT_MAX_FINDINGS: u64 = 5000;

/// Tool timeout when `timeout` is not given, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// The stage's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `language`: `python` or `node`; detected from the workspace when absent.
    pub language: Option<Language>,
    /// `paths`: what to lint, relative to the workspace (comma-separated).
    pub paths: Vec<String>,
    /// `fail_on` (`error`, `warning`, `any`; default `error`) and `max_warnings`.
    pub thresholds: Thresholds,
    /// `image`: the tool image; the language's default image when absent.
    pub image: Option<String>,
    /// `timeout`: seconds the tool may run.
    pub timeout_secs: u32,
    /// `report`: read this workspace file as the tool's JSON report instead of running
    /// the tool (for repositories that lint in their own build).
    pub report: Option<String>,
    /// `sarif`: read these workspace files (comma-separated) as SARIF 2.1.0 logs from
    /// any tool (ruff, semgrep, hadolint, …) instead of running pylint or eslint.
    pub sarif: Vec<String>,
    /// `max_findings`: most findings listed in the report (at most the host's cap).
    pub max_findings: usize,
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
        let paths = task.config_list("paths");
        for path in &paths {
            check_relative(path).map_err(|why| invalid(format!("`paths`: {why}")))?;
        }
        let fail_on = match task.config("fail_on") {
            None => FailOn::Error,
            Some(raw) => FailOn::parse(raw).ok_or_else(|| {
                invalid(format!(
                    "`fail_on` must be error, warning or any, got {raw:?}"
                ))
            })?,
        };
        let max_warnings = task
            .config("max_warnings")
            .map(|_| task.config_u64("max_warnings", 0))
            .transpose()?;
        let timeout = task.config_u64("timeout", DEFAULT_TIMEOUT_SECS)?;
        if timeout == 0 {
            return Err(invalid("`timeout` must be at least 1 second".into()));
        }
        let max_findings = task.config_u64("max_findings", DEFAULT_MAX_FINDINGS)?;
        if max_findings > DEFAULT_MAX_FINDINGS {
            return Err(invalid(format!(
                "`max_findings` must be at most {DEFAULT_MAX_FINDINGS}, the host's report cap"
            )));
        }
        let report = task.config("report").map(str::trim).map(str::to_string);
        if let Some(report) = &report {
            check_relative(report).map_err(|why| invalid(format!("`report`: {why}")))?;
        }
        let sarif = task.config_list("sarif");
        for file in &sarif {
            check_relative(file).map_err(|why| invalid(format!("`sarif`: {why}")))?;
        }
        if report.is_some() && !sarif.is_empty() {
            return Err(invalid(
                "set `report` (the tool's JSON report) or `sarif` (SARIF logs), not both".into(),
            ));
        }
        let image = task
            .config("image")
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_string);
        Ok(Settings {
            language,
            paths,
            thresholds: Thresholds {
                fail_on,
                max_warnings,
            },
            image,
            timeout_secs: u32::try_from(timeout).unwrap_or(u32::MAX),
            report,
            sarif,
            max_findings: usize::try_from(max_findings).unwrap_or(usize::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(config: &[(&str, &str)]) -> Task {
        Task {
            run_id: "run-1".into(),
            stage: "lint".into(),
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
    fn defaults_fail_on_errors_without_a_warning_limit() {
        let settings = Settings::from_task(&task(&[])).unwrap();
        assert_eq!(settings.language, None);
        assert_eq!(settings.thresholds.fail_on, FailOn::Error);
        assert_eq!(settings.thresholds.max_warnings, None);
        assert_eq!(settings.timeout_secs, 600);
        assert_eq!(settings.max_findings, 5000);
    }

    #[test]
    fn every_setting_is_read() {
        let settings = Settings::from_task(&task(&[
            ("language", "node"),
            ("paths", "src, lib"),
            ("fail_on", "warning"),
            ("max_warnings", "10"),
            ("image", "acme/node:1"),
            ("timeout", "60"),
            ("report", "build/eslint.json"),
            ("max_findings", "100"),
        ]))
        .unwrap();
        assert_eq!(settings.language, Some(Language::Node));
        assert_eq!(settings.paths, ["src", "lib"]);
        assert_eq!(settings.thresholds.fail_on, FailOn::Warning);
        assert_eq!(settings.thresholds.max_warnings, Some(10));
        assert_eq!(settings.image.as_deref(), Some("acme/node:1"));
        assert_eq!(settings.timeout_secs, 60);
        assert_eq!(settings.report.as_deref(), Some("build/eslint.json"));
        assert_eq!(settings.max_findings, 100);
    }

    #[test]
    fn bad_values_name_the_stage_and_key() {
        assert_eq!(
            error(&[("fail_on", "errors")]),
            "stage lint: `fail_on` must be error, warning or any, got \"errors\""
        );
        assert!(error(&[("language", "rust")]).contains("`language` must be python or node"));
        assert!(
            error(&[("max_warnings", "ten")]).contains("`max_warnings` must be a whole number")
        );
        assert!(error(&[("fail-on", "any")]).starts_with("stage lint: unknown setting `fail-on`"));
        assert!(error(&[("max_findings", "9000")]).contains("at most 5000"));
        assert!(error(&[("timeout", "0")]).contains("at least 1 second"));
    }

    #[test]
    fn paths_cannot_escape_or_pose_as_options() {
        assert!(error(&[("paths", "src,../etc")]).contains("stay inside the workspace"));
        assert!(error(&[("paths", "/etc")]).contains("stay inside the workspace"));
        assert!(error(&[("paths", "--rcfile=/tmp/x")]).contains("would read as an option"));
        assert!(error(&[("report", "../x.json")]).contains("`report`"));
        assert!(error(&[("sarif", "ok.sarif,/etc/x.sarif")]).contains("`sarif`"));
    }

    #[test]
    fn sarif_files_are_a_list_and_exclude_a_tool_report() {
        let settings =
            Settings::from_task(&task(&[("sarif", "out/ruff.sarif, hadolint.sarif")])).unwrap();
        assert_eq!(settings.sarif, ["out/ruff.sarif", "hadolint.sarif"]);
        assert_eq!(
            error(&[("sarif", "a.sarif"), ("report", "b.json")]),
            "stage lint: set `report` (the tool's JSON report) or `sarif` (SARIF logs), not both"
        );
    }
}
