//! SARIF 2.1.0 for every issue (never cut), written by the shared writer
//! (`bosun_reports::sarif::write`): one run per scanner, rules deduplicated, ignored
//! issues carried as accepted external suppressions with their reason.

use crate::ignore::Ignore;
use crate::issue::Issue;
use crate::verdict::Status;
use bosun_reports::sarif::write::{Entry, Module, Rule, SarifLog};
use bosun_sdk::Severity;
use bosun_sdk::fs::WORKSPACE;

/// The SARIF log for `issues`, whose statuses are `statuses` (same order): one run per
/// scanner in `scanners` (a scanner that found nothing still shows it ran), then any
/// other scanner an issue names. Serialise it with serde.
pub fn document<'a>(
    scanners: &[&'a str],
    issues: &'a [Issue],
    statuses: &[Status],
    ignores: &[Ignore],
) -> SarifLog<'a> {
    let mut log = SarifLog::new(WORKSPACE).with_code_point_columns();
    for scanner in scanners {
        log.add_run(scanner);
    }
    for (issue, status) in issues.iter().zip(statuses) {
        log.push(&issue.finding.tool, entry(issue, *status, ignores));
    }
    log
}

fn entry<'a>(issue: &'a Issue, status: Status, ignores: &[Ignore]) -> Entry<'a> {
    let finding = &issue.finding;
    let rule = Rule {
        id: issue.id(),
        title: Some(non_blank(&issue.title, issue.id())),
        default_severity: Some(severity(issue.severity())),
        help_uri: issue.help_uri.as_deref(),
        tool_code: None,
    };
    let suppression = match status {
        Status::Ignored(index) => ignores
            .get(index)
            .map(|ignore| format!("{} (until {})", ignore.reason, ignore.until)),
        _ => None,
    };
    Entry {
        path: issue.file.as_deref(),
        line: finding.line,
        column: finding.column,
        module: issue.package.as_deref().map(|package| Module {
            name: finding.path.as_deref().unwrap_or(package),
            full_name: package,
        }),
        fixed_version: finding.fixed_version.as_deref(),
        target: issue.target.as_deref(),
        suppression,
        ..Entry::new(
            rule,
            severity(finding.severity),
            non_blank(&finding.message, issue.id()),
        )
    }
}

/// The writer's severity for the SDK's (the same five, in the same order).
fn severity(severity: Severity) -> bosun_reports::Severity {
    bosun_reports::Severity::from_rank(severity.rank())
}

fn non_blank<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    if text.trim().is_empty() {
        fallback
    } else {
        text
    }
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
    }

    #[test]
    fn a_scanner_that_found_nothing_still_has_its_run() {
        let doc = serde_json::to_value(document(&["bandit"], &[], &[], &[])).unwrap();
        assert_valid_sarif(&doc);
        assert_eq!(doc["runs"].as_array().unwrap().len(), 1);
        assert_eq!(doc["runs"][0]["results"].as_array().unwrap().len(), 0);
    }
}
