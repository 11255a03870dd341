//! Built-in stage plugin `lint`: runs pylint (Python) or eslint (Node) in a tool
//! container and turns its JSON report into findings, a pass/fail verdict and a SARIF
//! file at `/out/lint.sarif`.
//!
//! `with:` settings:
//! - `language`: `python` or `node`; detected from the workspace when absent.
//! - `paths`: what to lint, comma-separated; pylint's default is `src/` and every
//!   top-level package (else the top-level `.py` files), eslint's is `.`. eslint reads
//!   the repository's own `.eslintrc*`.
//! - `fail_on`: `error` (default: fail on any error-level finding), `warning`, `any`.
//! - `max_warnings`: fail when there are more warnings than this.
//! - `image`: the tool image (default `bosun/python-tools:latest` or
//!   `bosun/node-tools:latest`); `timeout`: seconds the tool may run (default 600).
//! - `report`: a workspace file holding the tool's JSON report (pylint `json` or
//!   `json2`, eslint `json` or `json-with-metadata`), read instead of running the tool.
//! - `sarif`: workspace files (comma-separated) holding SARIF 2.1.0 logs from any tool
//!   (ruff, semgrep, hadolint, …), read instead of running pylint or eslint; findings
//!   keep the tool their run names, severities follow SARIF's levels (and GitHub's
//!   `security-severity`). Not together with `report`.
//! - `max_findings`: most findings listed in the report (default and most: 5000, the
//!   host's cap); the rest are counted, cut from the report (worst kept) and kept in SARIF.
//!
//! Severities: pylint fatal/error → high, warning → medium, refactor/convention → low;
//! eslint 2 → high, 1 → medium. A tool that did not lint (pylint status 32 or outside
//! its bit set, eslint 2, no report, a report that is not its JSON) is a stage error
//! naming the tool and the problem, never a pass.

pub mod detect;
use bosun_sdk::report_file;
pub mod sarif;
pub mod sarif_input;
pub mod settings;
pub mod tools;
pub mod verdict;

// The tools' report parsers, shared with command steps (`bosun-formats`).
pub use bosun_formats::{eslint, json_error, message, pylint};

use bosun_sdk::fs;
use bosun_sdk::prelude::*;
use detect::Language;
use message::LintMessage;
use settings::Settings;
use std::path::Path;

/// Where the SARIF log goes, under `/out`.
pub const SARIF_FILE: &str = "lint.sarif";

/// The stage; public so that native builds, which do not export it, still use it.
pub struct Lint;

impl Stage for Lint {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let settings = Settings::from_task(task)?;
        if !settings.sarif.is_empty() {
            let files = settings
                .sarif
                .iter()
                .map(|file| read_workspace_file("SARIF", file))
                .collect::<Result<Vec<_>, _>>()?;
            let assessment = sarif_input::assess(&files, &settings)?;
            return finish(assessment);
        }
        let root = Path::new(fs::WORKSPACE);
        let language = match settings.language {
            Some(language) => language,
            None => detect::language(root)
                .map_err(|why| StageError::InvalidConfig(format!("stage {}: {why}", task.stage)))?,
        };
        let (json, source) = match &settings.report {
            Some(report) => read_workspace_report(language, report)?,
            None => {
                let paths = match (language, settings.paths.is_empty()) {
                    (Language::Python, true) => default_python_targets(root, &task.stage)?,
                    _ => settings.paths.clone(),
                };
                let invocation = tools::invocation(language, settings.image.as_deref(), &paths);
                let json = tools::run(&invocation, settings.timeout_secs)?;
                let source = format!("{}/{}", fs::OUT, invocation.report);
                (json, source)
            }
        };
        finish(assess(language, &json, &source, &settings)?)
    }
}

/// Write the SARIF log and list it first among the report's artifacts.
fn finish(mut assessment: Assessment) -> Result<StageReport, StageError> {
    let sarif_path = fs::write_out(SARIF_FILE, &assessment.sarif)?;
    assessment.report.artifacts.insert(
        0,
        Artifact {
            kind: "sarif".into(),
            name: SARIF_FILE.into(),
            reference: sarif_path,
            digest: None,
        },
    );
    log::info(&assessment.report.summary);
    Ok(assessment.report)
}

fn default_python_targets(root: &Path, stage: &str) -> Result<Vec<String>, StageError> {
    let targets: Vec<String> = detect::python_targets(root)
        .into_iter()
        .filter(|t| bosun_sdk::settings::check_relative(t).is_ok())
        .collect();
    if targets.is_empty() {
        return Err(StageError::InvalidConfig(format!(
            "stage {stage}: nothing for pylint to lint: no src/ folder, package or .py file \
             at the top of the workspace; set `paths`"
        )));
    }
    Ok(targets)
}

fn read_workspace_report(
    language: Language,
    report: &str,
) -> Result<(Vec<u8>, String), StageError> {
    read_workspace_file(tool_of(language), report)
}

/// A report file in the workspace and the path it was read from; `tool` names the kind
/// of report in errors.
fn read_workspace_file(tool: &str, report: &str) -> Result<(Vec<u8>, String), StageError> {
    let path = fs::workspace_path(report)?;
    let shown = path.display().to_string();
    let json =
        report_file::read_limited(&path, report_file::MAX_REPORT_BYTES).map_err(|e| match e {
            report_file::ReadError::Missing => {
                StageError::Io(format!("the {tool} report {shown} does not exist"))
            }
            report_file::ReadError::TooLarge(size) => StageError::BadToolOutput(format!(
                "the {tool} report {shown} is {}, more than the {} the lint stage reads",
                report_file::human_size(size),
                report_file::human_size(report_file::MAX_REPORT_BYTES)
            )),
            report_file::ReadError::Io(e) => StageError::Io(format!("reading {shown}: {e}")),
        })?;
    Ok((json, shown))
}

/// Parse `json` as `language`'s tool report.
pub fn parse(language: Language, json: &[u8]) -> Result<Vec<LintMessage>, json_error::ReportError> {
    match language {
        Language::Python => pylint::parse(json),
        Language::Node => eslint::parse(json),
    }
}

/// A judged lint run: the stage report (without the SARIF artifact, which exists only
/// once written) and the SARIF log to write.
pub struct Assessment {
    pub report: StageReport,
    pub sarif: Vec<u8>,
}

/// Read `json` as `language`'s tool report found at `source` and judge it against
/// `settings`. A report that cannot be read is a `BadToolOutput` error naming the tool,
/// what was wrong, the byte, and `source`.
pub fn assess(
    language: Language,
    json: &[u8],
    source: &str,
    settings: &Settings,
) -> Result<Assessment, StageError> {
    let tool = tool_of(language);
    let messages = parse(language, json).map_err(|e| {
        StageError::BadToolOutput(if source.starts_with(fs::OUT) {
            // The tool ran here and wrote this report.
            format!("{tool} {e} (in {source})")
        } else {
            // The repository's own file: nobody "printed" it in this stage.
            format!("the {tool} report file {source} {}", e.in_file())
        })
    })?;
    let verdict = verdict::judge(tool, &messages, settings.thresholds, settings.max_findings);
    let sarif = sarif::to_sarif(tool, &messages)
        .map_err(|e| StageError::Other(format!("encoding the SARIF log of {tool}: {e}")))?;
    let mut report = StageReport::new(verdict.outcome, verdict.summary);
    report.findings = verdict.findings;
    report.metrics = verdict.metrics;
    if source.starts_with(fs::OUT) {
        let name = source.rsplit('/').next().unwrap_or(source);
        report.artifacts.push(Artifact {
            kind: "file".into(),
            name: name.to_string(),
            reference: source.to_string(),
            digest: None,
        });
    }
    Ok(Assessment { report, sarif })
}

/// The tool that lints `language`.
pub fn tool_of(language: Language) -> &'static str {
    match language {
        Language::Python => pylint::TOOL,
        Language::Node => eslint::TOOL,
    }
}

#[cfg(test)]
mod tests;

// Exported only in the component: the export symbols are named like
// `bosun:agent/stage-plugin@0.2.0#run`, which native linkers reject when the crate is
// linked as a `cdylib` for the host (`cargo test`, `cargo build --workspace`).
#[cfg(target_arch = "wasm32")]
bosun_sdk::export_stage!(Lint);
