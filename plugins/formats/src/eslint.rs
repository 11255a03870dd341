//! eslint's JSON reports: `-f json`, an array of files, each with its `filePath` and
//! `messages` (`ruleId`, `severity` 1 or 2, 1-based `line` and `column`, `fatal` for
//! parse errors); and `-f json-with-metadata`, an object with those files as `results`
//! and a `metadata` object whose `cwd` is where eslint ran (absolute paths under it are
//! made relative, for reports written outside a container; paths under `/workspace`
//! are made relative to the checkout, wherever in it eslint ran).

use crate::json_error::ReportError;
use crate::message::{LintMessage, position, workspace_relative};
use bosun_sdk::Severity;
use bosun_sdk::fs::WORKSPACE;
use serde::Deserialize;

/// The tool name used in findings, SARIF and messages.
pub const TOOL: &str = "eslint";

/// The rule given to a message without a rule id that stopped eslint reading the file.
pub const PARSE_ERROR_RULE: &str = "parse-error";
/// The rule given to any other message without a rule id (config and directive notes).
pub const NO_RULE: &str = "eslint";

#[derive(Deserialize)]
struct RawFile {
    #[serde(rename = "filePath")]
    file_path: String,
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(rename = "ruleId", default)]
    rule_id: Option<String>,
    severity: u8,
    message: String,
    #[serde(default)]
    line: Option<i64>,
    #[serde(default)]
    column: Option<i64>,
    #[serde(default)]
    fatal: bool,
}

/// `-f json-with-metadata`.
#[derive(Deserialize)]
struct WithMetadata {
    results: Vec<RawFile>,
    metadata: Metadata,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    cwd: Option<String>,
}

/// Parse an eslint JSON report, `json` (an array) or `json-with-metadata` (an object).
pub fn parse(json: &[u8]) -> Result<Vec<LintMessage>, ReportError> {
    ReportError::check_not_empty(json)?;
    let object = json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let (files, cwd) = if object {
        serde_json::from_slice::<WithMetadata>(json).map(|r| (r.results, r.metadata.cwd))
    } else {
        serde_json::from_slice::<Vec<RawFile>>(json).map(|files| (files, None))
    }
    .map_err(|e| ReportError::from_serde(json, &e))?;
    let mut messages = Vec::new();
    for file in files {
        // A file in the checkout is relative to it even when eslint ran in a folder of
        // it (`cd web && eslint …` has `cwd` `/workspace/web`); `cwd` serves reports
        // written elsewhere (a CI machine's `/home/runner/work/…`).
        let in_checkout = under(&file.file_path, WORKSPACE).is_some();
        let path = match cwd.as_deref().and_then(|cwd| under(&file.file_path, cwd)) {
            Some(relative) if !in_checkout => relative.to_string(),
            _ => workspace_relative(&file.file_path),
        };
        messages.extend(file.messages.into_iter().map(|raw| convert(raw, &path)));
    }
    Ok(messages)
}

/// `path` relative to the folder `cwd`, when it is inside it.
fn under<'a>(path: &'a str, cwd: &str) -> Option<&'a str> {
    let cwd = cwd.trim_end_matches(['/', '\\']);
    let rest = path.strip_prefix(cwd)?;
    rest.strip_prefix(['/', '\\']).filter(|r| !r.is_empty())
}

fn convert(raw: RawMessage, path: &str) -> LintMessage {
    let rule = match raw.rule_id.filter(|id| !id.is_empty()) {
        Some(id) => id,
        None if raw.fatal => PARSE_ERROR_RULE.to_string(),
        None => NO_RULE.to_string(),
    };
    LintMessage {
        rule,
        rule_code: None,
        severity: severity(raw.severity, raw.fatal),
        path: Some(path.to_string()),
        line: position(raw.line),
        column: position(raw.column),
        message: raw.message,
        tool: None,
    }
}

/// 2 (and fatal parse errors) → high, 1 → medium.
fn severity(level: u8, fatal: bool) -> Severity {
    match level {
        _ if fatal => Severity::High,
        2.. => Severity::High,
        1 => Severity::Medium,
        0 => Severity::Info,
    }
}

/// Why eslint's exit status means it did not lint: 0 is clean, 1 means lint errors,
/// 2 means a bad config or a crash.
pub fn exit_problem(code: i32) -> Option<String> {
    match code {
        0 | 1 => None,
        2 => Some("eslint could not lint (exit 2: configuration problem or crash)".into()),
        other => Some(format!("eslint crashed (exit {other})")),
    }
}

#[cfg(test)]
mod tests;
