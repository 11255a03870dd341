//! pylint's JSON report (`--output-format=json`): an array of messages with `type`,
//! `symbol`, `message-id`, `path`, 1-based `line` and 0-based `column`.

use crate::json_error::ReportError;
use crate::message::{LintMessage, position, workspace_relative};
use bosun_sdk::Severity;
use serde::Deserialize;

/// The tool name used in findings, SARIF and messages.
pub const TOOL: &str = "pylint";

/// pylint's exit status is a bit set: these bits mean messages of that kind were
/// emitted; 32 means it could not run as asked.
const FATAL: i32 = 1;
const USAGE_ERROR: i32 = 32;

#[derive(Deserialize)]
struct RawMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    symbol: Option<String>,
    #[serde(rename = "message-id", default)]
    message_id: Option<String>,
    message: String,
    #[serde(default)]
    line: Option<i64>,
    #[serde(default)]
    column: Option<i64>,
}

/// Parse a pylint JSON report.
pub fn parse(json: &[u8]) -> Result<Vec<LintMessage>, ReportError> {
    ReportError::check_not_empty(json)?;
    let raw: Vec<RawMessage> =
        serde_json::from_slice(json).map_err(|e| ReportError::from_serde(json, &e))?;
    Ok(raw.into_iter().map(convert).collect())
}

fn convert(raw: RawMessage) -> LintMessage {
    let code = raw.message_id.filter(|id| !id.is_empty());
    let rule = match raw.symbol.filter(|s| !s.is_empty()) {
        Some(symbol) => symbol,
        None => code.clone().unwrap_or_else(|| raw.kind.clone()),
    };
    LintMessage {
        rule,
        rule_code: code,
        severity: severity(&raw.kind),
        path: raw
            .path
            .filter(|p| !p.is_empty())
            .map(|p| workspace_relative(&p)),
        line: position(raw.line),
        // pylint counts columns from 0; reports and SARIF count from 1.
        column: raw
            .column
            .and_then(|c| c.checked_add(1))
            .and_then(|c| position(Some(c))),
        message: raw.message,
    }
}

/// fatal/error → high, warning → medium, refactor/convention → low, info → info.
fn severity(kind: &str) -> Severity {
    match kind {
        "fatal" | "error" => Severity::High,
        "warning" => Severity::Medium,
        "refactor" | "convention" => Severity::Low,
        _ => Severity::Info,
    }
}

/// Why pylint's exit status means it did not lint, or `None` when the status only
/// says which kinds of messages it emitted.
pub fn exit_problem(code: i32) -> Option<String> {
    if !(0..64).contains(&code) {
        return Some(format!(
            "pylint crashed (exit {code}), which is not one of its lint statuses"
        ));
    }
    if code & USAGE_ERROR != 0 {
        return Some(format!(
            "pylint refused its command line (exit {code}: usage error)"
        ));
    }
    None
}

/// Whether pylint's status says it emitted a fatal message (the report then names it).
pub fn reported_fatal(code: i32) -> bool {
    (0..64).contains(&code) && code & FATAL != 0
}

#[cfg(test)]
mod tests;
