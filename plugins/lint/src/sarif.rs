//! A SARIF 2.1.0 log of one lint run: every message the tool reported (the report's
//! findings may be cut; the SARIF file is not), with one rule descriptor per rule and
//! one run per tool (SARIF reports read by the stage may name several).
//!
//! URIs are percent-encoded as `uri-reference`s (spaces, `#`, non-ASCII), with
//! backslashes turned into `/`; paths under the tool container's `/workspace/` are
//! relative to `%SRCROOT%`, and any other absolute path is a `file:` URI of its own.

use crate::message::LintMessage;
use bosun_sdk::Severity;
use bosun_sdk::fs::WORKSPACE;
use serde::Serialize;
use std::collections::BTreeMap;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    original_uri_base_ids: BTreeMap<&'static str, Uri>,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Uri {
    uri: &'static str,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'a str,
    information_uri: &'static str,
    rules: Vec<Rule<'a>>,
}

#[derive(Serialize)]
struct Rule<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<RuleProperties<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleProperties<'a> {
    /// The tool's other name for the rule (pylint's `W0611`).
    tool_code: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location>,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<u32>,
}

/// SARIF's level for a severity: high and critical are errors, medium warnings, the
/// rest notes.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn information_uri(tool: &str) -> &'static str {
    match tool {
        "pylint" => "https://pylint.readthedocs.io",
        "eslint" => "https://eslint.org",
        _ => "https://github.com/",
    }
}

/// The SARIF log for `messages` from `tool` (or the tool each message names), as JSON
/// bytes: one run per tool, in the order the tools first appear.
pub fn to_sarif(tool: &str, messages: &[LintMessage]) -> Result<Vec<u8>, serde_json::Error> {
    // The stage's own tool has a run even when it found nothing; a tool a SARIF report
    // names has one when it has messages.
    let mut tools: Vec<&str> = Vec::new();
    if messages.is_empty() || messages.iter().any(|m| m.tool.is_none()) {
        tools.push(tool);
    }
    for message in messages {
        if let Some(named) = message.tool.as_deref()
            && !tools.contains(&named)
        {
            tools.push(named);
        }
    }
    let runs = tools.iter().map(|name| run(name, tool, messages)).collect();
    serde_json::to_vec(&Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs,
    })
}

/// The run of `tool`: the messages that name it (those naming no tool are the stage
/// tool's, `stage_tool`).
fn run<'a>(tool: &'a str, stage_tool: &str, messages: &'a [LintMessage]) -> Run<'a> {
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules = Vec::new();
    let mut results = Vec::new();
    for message in messages
        .iter()
        .filter(|m| m.tool.as_deref().unwrap_or(stage_tool) == tool)
    {
        let index = *rule_index.entry(&message.rule).or_insert_with(|| {
            rules.push(Rule {
                id: &message.rule,
                properties: message
                    .rule_code
                    .as_deref()
                    .map(|tool_code| RuleProperties { tool_code }),
            });
            rules.len() - 1
        });
        let locations = message
            .path
            .as_deref()
            .filter(|path| !path.is_empty())
            .map(|path| Location {
                physical_location: PhysicalLocation {
                    artifact_location: artifact_location(path),
                    region: message.line.map(|start_line| Region {
                        start_line,
                        start_column: message.column,
                    }),
                },
            })
            .into_iter()
            .collect();
        results.push(SarifResult {
            rule_id: &message.rule,
            rule_index: index,
            level: level(message.severity),
            message: Text {
                text: &message.message,
            },
            locations,
        });
    }
    Run {
        tool: Tool {
            driver: Driver {
                name: tool,
                information_uri: information_uri(tool),
                rules,
            },
        },
        original_uri_base_ids: BTreeMap::from([(
            "%SRCROOT%",
            Uri {
                uri: "file:///workspace/",
            },
        )]),
        results,
    }
}

/// Where a message's path points: relative to `%SRCROOT%` when it is in the
/// workspace (the tool container's `/workspace/` prefix is dropped), else a `file:` URI.
fn artifact_location(path: &str) -> ArtifactLocation {
    let path = path.replace('\\', "/");
    let relative = path
        .strip_prefix(WORKSPACE)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(&path);
    let relative = relative.trim_start_matches("./");
    let bytes = relative.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if relative.starts_with('/') || drive {
        let slash = if drive { "/" } else { "" };
        return ArtifactLocation {
            uri: format!("file://{slash}{}", encode(relative, b":")),
            uri_base_id: None,
        };
    }
    ArtifactLocation {
        uri: encode(relative, b""),
        uri_base_id: Some("%SRCROOT%"),
    }
}

/// Unreserved characters, `/` and `also` stay; every other byte is percent-encoded
/// (spaces, `#`, `?`, `%`, non-ASCII), as the security stage's SARIF does.
fn encode(path: &str, also: &[u8]) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) || also.contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pylint;
    use serde_json::Value;

    const PYLINT_SAMPLES: &[u8] = include_bytes!("../tests/fixtures/pylint-samples.json");

    #[test]
    fn every_message_becomes_a_result_with_its_rule_and_place() {
        let messages = pylint::parse(PYLINT_SAMPLES).unwrap();
        let sarif: Value = serde_json::from_slice(&to_sarif("pylint", &messages).unwrap()).unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        let run = &sarif["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "pylint");
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 8);
        let undefined = results
            .iter()
            .find(|r| r["ruleId"] == "undefined-variable")
            .unwrap();
        assert_eq!(undefined["level"], "error");
        assert_eq!(undefined["message"]["text"], "Undefined variable 'totl'");
        let place = &undefined["locations"][0]["physicalLocation"];
        assert_eq!(place["artifactLocation"]["uri"], "inventory/stock.py");
        assert_eq!(place["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(place["region"]["startLine"], 19);
        assert_eq!(place["region"]["startColumn"], 12);
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        let index = undefined["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], "undefined-variable");
        assert_eq!(rules[index]["properties"]["toolCode"], "E0602");
        let levels: Vec<&str> = results
            .iter()
            .map(|r| r["level"].as_str().unwrap())
            .collect();
        assert_eq!(levels.iter().filter(|l| **l == "note").count(), 3);
        assert_eq!(levels.iter().filter(|l| **l == "warning").count(), 1);
    }

    #[test]
    fn repeated_rules_share_one_descriptor() {
        let messages: Vec<_> = pylint::parse(PYLINT_SAMPLES)
            .unwrap()
            .into_iter()
            .cycle()
            .take(24)
            .collect();
        let sarif: Value = serde_json::from_slice(&to_sarif("pylint", &messages).unwrap()).unwrap();
        assert_eq!(
            sarif["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            8
        );
        assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 24);
    }

    #[test]
    fn uris_are_encoded_and_relative_to_the_workspace() {
        let uri = |path: &str| {
            let location = artifact_location(path);
            (location.uri, location.uri_base_id)
        };
        assert_eq!(
            uri("/workspace/docs/my file#1.py"),
            ("docs/my%20file%231.py".to_string(), Some("%SRCROOT%"))
        );
        assert_eq!(
            uri("src\\été\\a.py"),
            ("src/%C3%A9t%C3%A9/a.py".to_string(), Some("%SRCROOT%"))
        );
        assert_eq!(
            uri("./lib/100%.js"),
            ("lib/100%25.js".to_string(), Some("%SRCROOT%"))
        );
        // Outside the workspace: its own absolute URI, no base.
        assert_eq!(
            uri("/usr/lib/x.py"),
            ("file:///usr/lib/x.py".to_string(), None)
        );
        assert_eq!(
            uri("C:\\ci\\a b.py"),
            ("file:///C:/ci/a%20b.py".to_string(), None)
        );
    }

    #[test]
    fn messages_of_other_tools_get_runs_of_their_own() {
        let mut messages = pylint::parse(PYLINT_SAMPLES).unwrap();
        messages.truncate(2);
        messages[1].tool = Some("ruff".into());
        messages[1].path = Some("/workspace/src/ä b.py".into());
        let sarif: Value = serde_json::from_slice(&to_sarif("pylint", &messages).unwrap()).unwrap();
        let runs = sarif["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1]["tool"]["driver"]["name"], "ruff");
        assert_eq!(runs[1]["results"].as_array().unwrap().len(), 1);
        assert_eq!(
            runs[1]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "src/%C3%A4%20b.py"
        );
        // Only named tools: no empty run for the stage's own tool.
        messages[0].tool = Some("ruff".into());
        let sarif: Value = serde_json::from_slice(&to_sarif("sarif", &messages).unwrap()).unwrap();
        assert_eq!(sarif["runs"].as_array().unwrap().len(), 1);
    }
}
