//! The SARIF 2.1.0 log of one lint run, written by the shared writer
//! (`bosun_reports::sarif::write`): every message the tool reported (the report's
//! findings may be cut; the SARIF file is not), with one rule descriptor per rule and
//! one run per tool (SARIF reports read by the stage may name several).

use crate::message::LintMessage;
use bosun_reports::sarif::write::{Entry, Rule, SarifLog};
use bosun_sdk::fs::WORKSPACE;

/// The SARIF log for `messages` from `tool` (or the tool each message names), as JSON
/// bytes: one run per tool, in the order the tools first appear.
pub fn to_sarif(tool: &str, messages: &[LintMessage]) -> Result<Vec<u8>, serde_json::Error> {
    let mut log = SarifLog::new(WORKSPACE);
    // The stage's own tool has a run even when it found nothing; a tool a SARIF report
    // names has one when it has messages.
    if messages.is_empty() || messages.iter().any(|m| m.tool.is_none()) {
        log.add_run(tool);
    }
    for message in messages {
        let rule = Rule {
            id: &message.rule,
            tool_code: message.rule_code.as_deref(),
            ..Rule::default()
        };
        let severity = bosun_reports::Severity::from_rank(message.severity.rank());
        let entry = Entry {
            path: message.path.as_deref(),
            line: message.line,
            column: message.column,
            ..Entry::new(rule, severity, &message.message)
        };
        log.push(message.tool.as_deref().unwrap_or(tool), entry);
    }
    log.to_json()
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
