//! pylint's JSON reports: `--output-format=json`, an array of messages with `type`,
//! `symbol`, `message-id`, `path`, 1-based `line` and 0-based `column`; and pylint 3's
//! `--output-format=json2`, an object whose `messages` have `messageId`, `path` and
//! `absolutePath` beside the same fields, with `statistics` next to them.

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
    /// `message-id` in `json`, `messageId` in `json2`.
    #[serde(rename = "message-id", alias = "messageId", default)]
    message_id: Option<String>,
    /// `json2` only: the path as pylint resolved it, for when `path` is empty.
    #[serde(rename = "absolutePath", default)]
    absolute_path: Option<String>,
    message: String,
    #[serde(default)]
    line: Option<i64>,
    #[serde(default)]
    column: Option<i64>,
}

/// pylint 3's `json2` report; `statistics` must be there too, so that an object with
/// some other `messages` is not taken for it.
#[derive(Deserialize)]
struct Json2 {
    messages: Vec<RawMessage>,
    #[serde(rename = "statistics")]
    _statistics: serde::de::IgnoredAny,
}

/// Parse a pylint JSON report, `json` (an array) or `json2` (an object).
pub fn parse(json: &[u8]) -> Result<Vec<LintMessage>, ReportError> {
    ReportError::check_not_empty(json)?;
    let object = json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let raw: Vec<RawMessage> = if object {
        serde_json::from_slice::<Json2>(json).map(|report| report.messages)
    } else {
        serde_json::from_slice(json)
    }
    .map_err(|e| ReportError::from_serde(json, &e))?;
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
            .or(raw.absolute_path.filter(|p| !p.is_empty()))
            .map(|p| workspace_relative(&p)),
        line: position(raw.line),
        // pylint counts columns from 0; reports and SARIF count from 1.
        column: raw
            .column
            .and_then(|c| c.checked_add(1))
            .and_then(|c| position(Some(c))),
        message: raw.message,
        tool: None,
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
