//! The writer's own tests; the stages test the logs they write from real tool output.

use super::*;
use crate::sarif::parse;
use serde_json::Value;

fn json(log: &SarifLog<'_>) -> Value {
    serde_json::from_slice(&log.to_json().unwrap()).unwrap()
}

fn rule(id: &str) -> Rule<'_> {
    Rule {
        id,
        ..Rule::default()
    }
}

#[test]
fn a_log_names_the_official_schema_and_has_a_run_per_tool_in_order() {
    let mut log = SarifLog::new("/workspace");
    log.add_run("bandit");
    log.push("trivy", Entry::new(rule("CVE-1"), Severity::Medium, "old"));
    log.push("bandit", Entry::new(rule("B602"), Severity::High, "shell"));
    assert_eq!(log.add_run("trivy"), 1, "a named tool keeps its run");
    let doc = json(&log);
    assert_eq!(doc["$schema"], SCHEMA);
    assert_eq!(doc["version"], "2.1.0");
    let runs = doc["runs"].as_array().unwrap();
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["tool"]["driver"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bandit", "trivy"]);
    assert_eq!(
        runs[0]["tool"]["driver"]["informationUri"],
        "https://bandit.readthedocs.io/"
    );
    assert_eq!(
        runs[0]["originalUriBaseIds"]["%SRCROOT%"]["uri"],
        "file:///workspace/"
    );
    assert!(runs[0].get("columnKind").is_none());
    let mut code_points = SarifLog::new("/workspace").with_code_point_columns();
    code_points.add_run("bandit");
    assert_eq!(
        json(&code_points)["runs"][0]["columnKind"],
        "unicodeCodePoints"
    );
}

#[test]
fn rules_are_described_once_per_run() {
    let mut log = SarifLog::new("/workspace");
    let described = Rule {
        id: "W0611",
        title: Some("unused import"),
        default_severity: Some(Severity::Low),
        help_uri: Some("https://example.com/W0611"),
        tool_code: Some("unused-import"),
    };
    for _ in 0..3 {
        log.push("pylint", Entry::new(described, Severity::Low, "unused"));
    }
    log.push(
        "pylint",
        Entry::new(rule("E0602"), Severity::High, "undefined"),
    );
    log.push("ruff", Entry::new(rule("W0611"), Severity::Low, "unused"));
    let doc = json(&log);
    let pylint = &doc["runs"][0];
    let rules = pylint["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["shortDescription"]["text"], "unused import");
    assert_eq!(rules[0]["defaultConfiguration"]["level"], "note");
    assert_eq!(rules[0]["helpUri"], "https://example.com/W0611");
    assert_eq!(rules[0]["properties"]["toolCode"], "unused-import");
    assert!(rules[1].get("shortDescription").is_none());
    let indexes: Vec<u64> = pylint["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleIndex"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 0, 0, 1]);
    // Another tool's rule of the same id is its own.
    assert_eq!(doc["runs"][1]["results"][0]["ruleIndex"], 0);
}

#[test]
fn results_carry_level_place_package_and_suppression() {
    let mut log = SarifLog::new("/workspace");
    log.push(
        "trivy",
        Entry {
            path: Some("/workspace/app/my file.py"),
            line: Some(12),
            column: Some(0),
            module: Some(Module {
                name: "requirements.txt",
                full_name: "urllib3@1.0",
            }),
            fixed_version: Some("1.26.5"),
            target: Some("requirements.txt"),
            suppression: Some("not reachable (until 2026-12-31)".into()),
            ..Entry::new(rule("CVE-2"), Severity::Critical, "urllib3 flaw")
        },
    );
    log.push(
        "trivy",
        Entry {
            path: Some(""),
            line: Some(0),
            ..Entry::new(rule("CVE-3"), Severity::Low, "minor")
        },
    );
    let doc = json(&log);
    let first = &doc["runs"][0]["results"][0];
    assert_eq!(first["level"], "error");
    assert_eq!(first["properties"]["severity"], "CRITICAL");
    assert_eq!(first["properties"]["fixedVersion"], "1.26.5");
    let place = &first["locations"][0]["physicalLocation"];
    assert_eq!(place["artifactLocation"]["uri"], "app/my%20file.py");
    assert_eq!(place["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(place["region"]["startLine"], 12);
    assert!(place["region"].get("startColumn").is_none(), "0 is unknown");
    let module = &first["locations"][0]["logicalLocations"][0];
    assert_eq!(module["fullyQualifiedName"], "urllib3@1.0");
    assert_eq!(first["suppressions"][0]["status"], "accepted");
    let second = &doc["runs"][0]["results"][1];
    assert_eq!(second["level"], "note");
    assert!(second.get("locations").is_none(), "no path, no location");
    assert!(second.get("suppressions").is_none());
}

#[test]
fn what_is_written_reads_back_as_the_same_findings() {
    let mut log = SarifLog::new("/workspace");
    log.push(
        "pylint",
        Entry {
            path: Some("src/été/a b.py"),
            line: Some(3),
            column: Some(8),
            ..Entry::new(rule("E0602"), Severity::High, "undefined")
        },
    );
    log.push(
        "bandit",
        Entry {
            path: Some("/usr/lib/x.py"),
            suppression: Some("accepted".into()),
            ..Entry::new(rule("B101"), Severity::Medium, "assert")
        },
    );
    let findings = parse(&log.to_json().unwrap(), Some("/workspace")).unwrap();
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].tool, "pylint");
    assert_eq!(findings[0].rule, "E0602");
    assert_eq!(findings[0].severity, Severity::High);
    assert_eq!(findings[0].path.as_deref(), Some("src/été/a b.py"));
    assert_eq!((findings[0].line, findings[0].column), (Some(3), Some(8)));
    assert_eq!(findings[1].path.as_deref(), Some("/usr/lib/x.py"));
    assert_eq!(findings[1].severity, Severity::Medium);
    assert!(findings[1].suppressed);
}
