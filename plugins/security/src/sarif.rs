//! SARIF 2.1.0 for every issue (never cut): one run per scanner, rules deduplicated,
//! ignored issues carried as accepted external suppressions with their reason.

use crate::ignore::Ignore;
use crate::issue::Issue;
use crate::verdict::Status;
use bosun_sdk::Severity;
use serde::Serialize;
use std::collections::HashMap;

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Where each scanner documents itself.
fn information_uri(tool: &str) -> &'static str {
    match tool {
        "bandit" => "https://bandit.readthedocs.io/",
        "trivy" => "https://trivy.dev/",
        "snyk" => "https://snyk.io/",
        _ => "https://github.com/",
    }
}

/// SARIF's levels: `error` blocks in most viewers, `warning` and `note` inform.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// A SARIF log, borrowing from the issues it describes; serialise it with serde.
#[derive(Debug, Serialize)]
pub struct Log<'a> {
    version: &'static str,
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    column_kind: &'static str,
    results: Vec<SarifResult<'a>>,
}

#[derive(Debug, Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'a str,
    information_uri: &'static str,
    rules: Vec<Rule<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule<'a> {
    id: &'a str,
    short_description: Text<'a>,
    default_configuration: Configuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Debug, Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location<'a>>,
    properties: Properties<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    uri_base_id: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    name: &'a str,
    fully_qualified_name: &'a str,
    kind: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Properties<'a> {
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fixed_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Suppression {
    kind: &'static str,
    status: &'static str,
    justification: String,
}

/// The SARIF log for `issues`, whose statuses are `statuses` (same order): one run per
/// scanner in `scanners` (a scanner that found nothing still shows it ran), then any
/// other scanner an issue names.
pub fn document<'a>(
    scanners: &[&'a str],
    issues: &'a [Issue],
    statuses: &[Status],
    ignores: &[Ignore],
) -> Log<'a> {
    let mut tools: Vec<&'a str> = scanners.to_vec();
    for issue in issues {
        if !tools.contains(&issue.finding.tool.as_str()) {
            tools.push(&issue.finding.tool);
        }
    }
    let mut runs: Vec<Run<'a>> = tools
        .iter()
        .map(|tool| Run {
            tool: Tool {
                driver: Driver {
                    name: tool,
                    information_uri: information_uri(tool),
                    rules: Vec::new(),
                },
            },
            column_kind: "unicodeCodePoints",
            results: Vec::new(),
        })
        .collect();
    // One pass over the issues; rules indexed by (run, id) so 50,000 distinct ids stay
    // linear.
    let mut rule_index: HashMap<(usize, &str), usize> = HashMap::new();
    for (issue, status) in issues.iter().zip(statuses) {
        let Some(run_at) = tools.iter().position(|t| *t == issue.finding.tool) else {
            continue;
        };
        let Some(run) = runs.get_mut(run_at) else {
            continue;
        };
        let index = *rule_index.entry((run_at, issue.id())).or_insert_with(|| {
            run.tool.driver.rules.push(rule(issue));
            run.tool.driver.rules.len() - 1
        });
        run.results.push(result(issue, index, *status, ignores));
    }
    Log {
        version: "2.1.0",
        schema: SCHEMA,
        runs,
    }
}

fn rule(issue: &Issue) -> Rule<'_> {
    Rule {
        id: issue.id(),
        short_description: Text {
            text: non_blank(&issue.title, issue.id()),
        },
        default_configuration: Configuration {
            level: level(issue.severity()),
        },
        help_uri: issue.help_uri.as_deref(),
    }
}

fn result<'a>(
    issue: &'a Issue,
    rule_index: usize,
    status: Status,
    ignores: &[Ignore],
) -> SarifResult<'a> {
    let finding = &issue.finding;
    let physical_location = issue.file.as_ref().map(|file| PhysicalLocation {
        artifact_location: ArtifactLocation {
            uri: uri_reference(file),
            uri_base_id: "%SRCROOT%",
        },
        region: finding.line.filter(|l| *l > 0).map(|line| Region {
            start_line: line,
            start_column: finding.column.filter(|c| *c > 0),
        }),
    });
    let logical_locations = issue
        .package
        .as_deref()
        .map(|package| LogicalLocation {
            name: finding.path.as_deref().unwrap_or(package),
            fully_qualified_name: package,
            kind: "module",
        })
        .into_iter()
        .collect::<Vec<_>>();
    let locations = if physical_location.is_none() && logical_locations.is_empty() {
        Vec::new()
    } else {
        vec![Location {
            physical_location,
            logical_locations,
        }]
    };
    let suppressions = match status {
        Status::Ignored(index) => ignores
            .get(index)
            .map(|ignore| Suppression {
                kind: "external",
                status: "accepted",
                justification: format!("{} (until {})", ignore.reason, ignore.until),
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    SarifResult {
        rule_id: issue.id(),
        rule_index,
        level: level(finding.severity),
        message: Text {
            text: non_blank(&finding.message, issue.id()),
        },
        locations,
        properties: Properties {
            severity: finding.severity.as_str(),
            fixed_version: finding.fixed_version.as_deref(),
            target: issue.target.as_deref(),
        },
        suppressions,
    }
}

fn non_blank<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    if text.trim().is_empty() {
        fallback
    } else {
        text
    }
}

/// A relative path as a URI reference: unreserved characters and `/` stay, the rest is
/// percent-encoded (spaces, `#`, `?`, non-ASCII).
fn uri_reference(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
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
    use crate::date::Date;
    use crate::ignore::parse_ignores;
    use crate::verdict::decide;
    use serde_json::Value;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// Structural checks of SARIF 2.1.0 that viewers rely on.
    fn assert_valid_sarif(doc: &Value) {
        assert_eq!(doc["version"], "2.1.0");
        assert!(
            doc["$schema"]
                .as_str()
                .unwrap()
                .ends_with("sarif-schema-2.1.0.json")
        );
        let runs = doc["runs"].as_array().unwrap();
        assert!(!runs.is_empty());
        for run in runs {
            let driver = &run["tool"]["driver"];
            assert!(!driver["name"].as_str().unwrap().is_empty());
            let rules = driver["rules"].as_array().unwrap();
            let mut ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), rules.len(), "rule ids are unique");
            for result in run["results"].as_array().unwrap() {
                let rule_id = result["ruleId"].as_str().unwrap();
                let index = result["ruleIndex"].as_u64().unwrap() as usize;
                assert_eq!(rules[index]["id"], rule_id, "ruleIndex points at ruleId");
                assert!(
                    ["none", "note", "warning", "error"]
                        .contains(&result["level"].as_str().unwrap())
                );
                assert!(!result["message"]["text"].as_str().unwrap().is_empty());
                for location in result["locations"].as_array().into_iter().flatten() {
                    if let Some(physical) = location.get("physicalLocation") {
                        let uri = physical["artifactLocation"]["uri"].as_str().unwrap();
                        assert!(!uri.is_empty() && !uri.contains(' '), "{uri}");
                        if let Some(region) = physical.get("region") {
                            assert!(region["startLine"].as_u64().unwrap() >= 1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bandit_and_trivy_issues_become_two_valid_runs() {
        let mut issues = crate::bandit::parse(&fixture("bandit/bandit-mixed.json")).unwrap();
        issues.extend(crate::trivy::parse(&fixture("trivy/alpine-310.json")).unwrap());
        let today = Date::parse("2026-06-01").unwrap();
        let ignores = parse_ignores(&[(
            "ignore".to_string(),
            "CVE-2019-1551 until 2026-12-31: RSAZ is not used on this CPU".to_string(),
        )])
        .unwrap();
        let verdict = decide(&issues, Some(Severity::High), &ignores, today);
        let doc = serde_json::to_value(document(
            &["bandit", "trivy"],
            &issues,
            &verdict.statuses,
            &ignores,
        ))
        .unwrap();
        assert_valid_sarif(&doc);
        let runs = doc["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["tool"]["driver"]["name"], "bandit");
        assert_eq!(runs[0]["results"].as_array().unwrap().len(), 8);
        let b602 = &runs[0]["results"][2];
        assert_eq!(b602["ruleId"], "B602");
        assert_eq!(b602["level"], "error");
        let physical = &b602["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], "app/tasks.py");
        assert_eq!(physical["region"]["startLine"], 12);

        let trivy = &runs[1];
        assert_eq!(trivy["tool"]["driver"]["name"], "trivy");
        // Four results over two CVEs: rules are shared.
        assert_eq!(trivy["results"].as_array().unwrap().len(), 4);
        assert_eq!(
            trivy["tool"]["driver"]["rules"].as_array().unwrap().len(),
            2
        );
        let first = &trivy["results"][0];
        assert_eq!(first["level"], "warning");
        assert_eq!(first["properties"]["fixedVersion"], "1.1.1d-r0");
        assert_eq!(
            first["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "libcrypto1.1@1.1.1c-r0"
        );
        assert!(first.get("suppressions").is_none());
        let suppressed = &trivy["results"][1];
        assert_eq!(suppressed["ruleId"], "CVE-2019-1551");
        assert_eq!(suppressed["suppressions"][0]["status"], "accepted");
        assert_eq!(
            suppressed["suppressions"][0]["justification"],
            "RSAZ is not used on this CPU (until 2026-12-31)"
        );
    }

    #[test]
    fn misconfigurations_point_at_their_file_and_paths_are_encoded() {
        let issues = crate::trivy::parse(&fixture("trivy/dockerfile.json")).unwrap();
        let doc = serde_json::to_value(document(&[], &issues, &[Status::Blocking], &[])).unwrap();
        assert_valid_sarif(&doc);
        let result = &doc["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "DS-0002");
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "Dockerfile"
        );
        assert_eq!(uri_reference("docs/my file#1.py"), "docs/my%20file%231.py");
        assert_eq!(uri_reference("src/é.py"), "src/%C3%A9.py");
    }

    #[test]
    fn a_scanner_that_found_nothing_still_has_its_run() {
        let doc = serde_json::to_value(document(&["bandit"], &[], &[], &[])).unwrap();
        assert_valid_sarif(&doc);
        assert_eq!(doc["runs"].as_array().unwrap().len(), 1);
        assert_eq!(doc["runs"][0]["results"].as_array().unwrap().len(), 0);
    }
}
