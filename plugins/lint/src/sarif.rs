//! A SARIF 2.1.0 log of one lint run: every message the tool reported (the report's
//! findings may be cut; the SARIF file is not), with one rule descriptor per rule.

use crate::message::LintMessage;
use bosun_sdk::Severity;
use serde::Serialize;
use std::collections::BTreeMap;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
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
    locations: Vec<Location<'a>>,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation<'a> {
    artifact_location: ArtifactLocation<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation<'a> {
    uri: &'a str,
    uri_base_id: &'static str,
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

/// The SARIF log for `messages` from `tool`, as JSON bytes. Paths are relative to the
/// `%SRCROOT%` base, the repository root.
pub fn to_sarif(tool: &str, messages: &[LintMessage]) -> Result<Vec<u8>, serde_json::Error> {
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules = Vec::new();
    let mut results = Vec::with_capacity(messages.len());
    for message in messages {
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
            .map(|uri| Location {
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation {
                        uri,
                        uri_base_id: "%SRCROOT%",
                    },
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
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
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
        }],
    };
    serde_json::to_vec(&log)
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
}
