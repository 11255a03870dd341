//! The email notifier on run summaries: reasons first in both bodies, the subject
//! naming the failed stages, cut lists counted, run text escaped in the HTML.

use super::*;
use serde_json::Value;

fn stage(name: &str, status: StageStatus, reasons: &[&str]) -> StageSummary {
    StageSummary {
        name: name.into(),
        status,
        duration_ms: 12_300,
        attempts: 1,
        summary: "summary".into(),
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
    }
}

fn run(status: RunStatus) -> RunSummary {
    RunSummary {
        run_id: "run-42".into(),
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        branch: "main".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        status,
        url: "https://bosun.example/runs/run-42".into(),
        duration_ms: 192_000,
        stages: vec![stage("lint", StageStatus::Success, &[])],
        failed_tests: Vec::new(),
        flaky_tests: Vec::new(),
        blocking_findings: Vec::new(),
        policy_denials: Vec::new(),
    }
}

fn failed_security() -> RunSummary {
    let mut summary = run(RunStatus::Failure);
    summary.stages.push(stage(
        "security",
        StageStatus::Failure,
        &[
            "HIGH B602 src/shop/app.py:12: subprocess call with shell=True",
            "HIGH B605 src/shop/run.py:3: shell\n    | os.system(cmd)",
        ],
    ));
    summary
}

fn formatted(summary: &RunSummary) -> Value {
    serde_json::from_str(&Email::format(summary).unwrap()).unwrap()
}

#[test]
fn a_failed_run_names_the_failed_stage_in_the_subject_and_leads_with_why() {
    let email = formatted(&failed_security());
    assert_eq!(
        email["subject"],
        "Failure: acme/shop on main (0123456): security failed"
    );
    let text = email["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "Failure of acme/shop on main at 0123456, in 3m 12s\n\
             View run run-42: https://bosun.example/runs/run-42\n\
             \nWhy it failed\n  security:\n\
             \x20 - HIGH B602 src/shop/app.py:12: subprocess call with shell=True\n\
             \x20 - HIGH B605 src/shop/run.py:3: shell\n      | os.system(cmd)\n\
             \nStages\n"
        ),
        "{text}"
    );
    let html = email["html"].as_str().unwrap();
    let why = html.find("Why it failed").unwrap();
    let stages = html.find("Stages").unwrap();
    assert!(why < stages, "{html}");
    assert!(
        html.contains("<li>HIGH B602 src/shop/app.py:12: subprocess call with shell=True</li>")
    );
    assert!(html.contains("<pre style=\"margin: 2px 0;\">| os.system(cmd)</pre>"));
    assert!(html.contains("<a href=\"https://bosun.example/runs/run-42\">View run run-42</a>"));
}

#[test]
fn a_passed_run_has_no_why_section() {
    let email = formatted(&run(RunStatus::Success));
    assert_eq!(email["subject"], "Success: acme/shop on main (0123456)");
    assert!(!email["text"].as_str().unwrap().contains("Why it failed"));
    assert!(!email["html"].as_str().unwrap().contains("Why it failed"));
}

#[test]
fn run_text_is_escaped_in_the_html_and_only_web_links_are_made() {
    let mut summary = failed_security();
    summary.branch = "fix/<script>alert(1)</script>".into();
    summary.policy_denials = vec!["deploy \"denied\" & <b>halted</b>".into()];
    summary.url = "javascript:alert(1)".into();
    let email = formatted(&summary);
    let html = email["html"].as_str().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("fix/&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("deploy &quot;denied&quot; &amp; &lt;b&gt;halted&lt;/b&gt;"));
    assert!(!html.contains("href=\"javascript"), "{html}");
    // The text body is plain text: shown as written.
    assert!(email["text"].as_str().unwrap().contains("fix/<script>"));
}

#[test]
fn long_lists_are_cut_and_the_orchestrators_count_is_added() {
    let mut summary = run(RunStatus::Failure);
    summary.failed_tests = (0..30)
        .map(|i| TestFailure {
            suite: "tests.test_cart".into(),
            name: format!("test_{i}"),
            message: "\nassert 3 == 4".into(),
            path: None,
            line: None,
        })
        .collect();
    summary.blocking_findings = (0..20)
        .map(|i| Finding::new("trivy", format!("CVE-2024-{i:04}"), Severity::High, "x"))
        .collect();
    summary.blocking_findings.push(Finding::new(
        bosun_sdk::notify::MORE_FINDINGS_TOOL,
        bosun_sdk::notify::MORE_FINDINGS_RULE,
        Severity::High,
        "… and 7 more blocking findings",
    ));
    let text = formatted(&summary)["text"].as_str().unwrap().to_string();
    assert!(text.contains("Failed tests (30)\n  - tests.test_cart::test_0: assert 3 == 4\n"));
    assert!(text.contains("  - … and 10 more\n"), "{text}");
    assert!(text.contains("Blocking findings (27)\n  - HIGH CVE-2024-0000\n"));
    assert!(text.contains("  - … and 7 more\n"), "{text}");
    assert!(!text.contains("bosun/more-findings"));
}
