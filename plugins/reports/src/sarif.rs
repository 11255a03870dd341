//! SARIF 2.1.0 reader: the results of every run of any producer (ruff, eslint, semgrep,
//! hadolint, bandit, trivy, snyk, gitleaks, …) as plain findings; [`write`] is the
//! writer Bosun's own stages use.
//!
//! The log is checked before it is believed: input that is not JSON, JSON that is not a
//! SARIF 2.1.0 log (no `runs`, another `version`) and cut input are errors naming what
//! was found, so garbage never reads as "no findings". Within a log, producers are read
//! leniently: missing optional parts fall back the way SARIF and GitHub define them.

mod model;
mod result;
mod uri;
pub mod write;

pub use uri::{ArtifactUri, artifact_uri, percent_decode, percent_encode, workspace_path};

use crate::Severity;
use model::{Run, SarifResult};
use result::RunContext;
use serde_json::{Map, Value};
use std::fmt;

/// One result of a SARIF run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SarifFinding {
    /// `tool.driver.name` of the run.
    pub tool: String,
    /// The rule id (`ruleId`, `rule.id`, or the id of the rule an index points at).
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// Workspace-relative path of the first location, when it has one.
    pub path: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// The version that fixes a vulnerability, when the producer says.
    pub fixed_version: Option<String>,
    /// The producer says the result is suppressed (an accepted suppression, e.g. an
    /// `eslint-disable` comment); callers decide whether it still counts.
    pub suppressed: bool,
}

/// Why a SARIF report could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SarifError {
    /// Nothing but whitespace.
    Empty,
    /// Not JSON at `line`:`column`.
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// The JSON ends before the document does.
    Truncated { line: usize, column: usize },
    /// JSON, but not a SARIF log; `found` says what it is instead.
    NotSarif { found: String },
    /// A SARIF log of another version (`found` is the value, or "no version").
    WrongVersion { found: String },
    /// A run (counted from 1) that cannot be read.
    InvalidRun { run: usize, message: String },
    /// A result (counted from 1 within its run) that cannot be read.
    InvalidResult {
        run: usize,
        result: usize,
        message: String,
    },
}

impl fmt::Display for SarifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SarifError::Empty => write!(f, "empty SARIF report: expected a JSON object"),
            SarifError::NotJson {
                line,
                column,
                message,
            } => write!(
                f,
                "SARIF report is not JSON at line {line} column {column}: {message}"
            ),
            SarifError::Truncated { line, column } => write!(
                f,
                "truncated SARIF report: the JSON ends at line {line} column {column} before the document does"
            ),
            SarifError::NotSarif { found } => write!(
                f,
                "not a SARIF log: expected an object with \"version\" and \"runs\", found {found}"
            ),
            SarifError::WrongVersion { found } => {
                write!(f, "unsupported SARIF version {found}: expected \"2.1.0\"")
            }
            SarifError::InvalidRun { run, message } => {
                write!(f, "invalid SARIF run {run}: {message}")
            }
            SarifError::InvalidResult {
                run,
                result,
                message,
            } => write!(f, "invalid SARIF result {result} of run {run}: {message}"),
        }
    }
}

impl std::error::Error for SarifError {}

/// Reads every result of every run of a SARIF 2.1.0 log. Absolute paths are made
/// relative to `workspace_root` (the folder the tool saw as the workspace, e.g.
/// `/workspace`) or to the run's `originalUriBaseIds`.
pub fn parse(bytes: &[u8], workspace_root: Option<&str>) -> Result<Vec<SarifFinding>, SarifError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SarifError::Empty);
    }
    let document: Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            SarifError::Truncated {
                line: e.line(),
                column: e.column(),
            }
        } else {
            SarifError::NotJson {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            }
        }
    })?;
    let runs = runs_of(&document)?;
    let mut findings = Vec::new();
    for (run_at, run_value) in runs.iter().enumerate() {
        read_run(run_at + 1, run_value, workspace_root, &mut findings)?;
    }
    Ok(findings)
}

/// The `runs` array of a SARIF 2.1.0 log, or what the document is instead.
fn runs_of(document: &Value) -> Result<&Vec<Value>, SarifError> {
    let Some(object) = document.as_object() else {
        return Err(SarifError::NotSarif {
            found: describe(document),
        });
    };
    let runs = match object.get("runs") {
        Some(Value::Array(runs)) => runs,
        Some(other) => {
            return Err(SarifError::NotSarif {
                found: format!("\"runs\" as {}", describe(other)),
            });
        }
        None => {
            return Err(SarifError::NotSarif {
                found: format!("an object with {}", keys(object)),
            });
        }
    };
    match object.get("version") {
        Some(Value::String(version)) if version == "2.1.0" => Ok(runs),
        Some(other) => Err(SarifError::WrongVersion {
            found: other.to_string(),
        }),
        None => Err(SarifError::WrongVersion {
            found: "missing (no \"version\")".into(),
        }),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(object) => format!("an object with {}", keys(object)),
    }
}

/// Up to five keys of an object, quoted, so the error shows what the file is.
fn keys(object: &Map<String, Value>) -> String {
    if object.is_empty() {
        return "no keys".into();
    }
    let mut names: Vec<String> = object.keys().take(5).map(|k| format!("\"{k}\"")).collect();
    if object.len() > 5 {
        names.push(format!("{} more", object.len() - 5));
    }
    format!("keys {}", names.join(", "))
}

fn read_run(
    run_at: usize,
    value: &Value,
    workspace_root: Option<&str>,
    findings: &mut Vec<SarifFinding>,
) -> Result<(), SarifError> {
    let invalid = |message: String| SarifError::InvalidRun {
        run: run_at,
        message,
    };
    let run: Run = serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
    let Some(driver) = run.tool.as_ref().and_then(|t| t.driver.as_ref()) else {
        return Err(invalid("no tool.driver".into()));
    };
    if driver.name.trim().is_empty() {
        return Err(invalid("tool.driver has no name".into()));
    }
    let results = match value.get("results") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(results)) => results,
        Some(other) => return Err(invalid(format!("\"results\" is {}", describe(other)))),
    };
    let context = RunContext::new(&run, driver, workspace_root);
    for (result_at, result_value) in results.iter().enumerate() {
        let result: SarifResult = serde_json::from_value(result_value.clone()).map_err(|e| {
            SarifError::InvalidResult {
                run: run_at,
                result: result_at + 1,
                message: e.to_string(),
            }
        })?;
        if let Some(finding) = context.finding(&result) {
            findings.push(finding);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
