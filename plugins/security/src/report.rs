//! The stage report: outcome, a one-line summary, findings in order of urgency (cut at
//! the host's cap, saying how many were cut) and counts as metrics.

use crate::ignore::Ignore;
use crate::issue::{Issue, Kind};
use crate::verdict::{Status, Verdict};
use bosun_sdk::{Finding, Severity, StageReport};

/// Most findings a report lists: the host keeps at most this many by default
/// (`ReportCaps::findings` in `host/src/limits.rs`), and would cut silently past it.
pub const MAX_LISTED_FINDINGS: usize = 5_000;
/// Ids named in the summary before `+N more`.
const IDS_IN_SUMMARY: usize = 5;
/// Where the full SARIF file is written, relative to `/out`.
pub const SARIF_FILE: &str = "security.sarif";

/// Build the report. `cap` is how many findings to list (normally
/// [`MAX_LISTED_FINDINGS`]); the SARIF file always has them all.
pub fn build(issues: &[Issue], verdict: &Verdict, ignores: &[Ignore], cap: usize) -> StageReport {
    let summary = summary(issues, verdict, ignores, cap);
    let mut report = if verdict.blocks() {
        StageReport::failure(summary)
    } else {
        StageReport::success(summary)
    };
    report.findings = ordered_findings(issues, verdict, ignores, cap);
    let counted = |wanted: fn(&Status) -> bool| verdict.count(wanted) as f64;
    report = report
        .with_metric("findings", issues.len() as f64, "count")
        .with_metric("blocking", counted(|s| *s == Status::Blocking), "count")
        .with_metric(
            "below_threshold",
            below_threshold(issues, verdict) as f64,
            "count",
        )
        .with_metric(
            "ignored",
            counted(|s| matches!(s, Status::Ignored(_))),
            "count",
        )
        .with_metric("expired_ignores", verdict.expired.len() as f64, "count");
    for severity in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = issues.iter().filter(|i| i.severity() == severity).count();
        let name = format!("severity_{}", severity.as_str().to_ascii_lowercase());
        report = report.with_metric(&name, n as f64, "count");
    }
    report
}

/// Blocking first, then below the threshold, then ignored; most severe first within
/// each; cut at `cap`. Ignored findings say so in their message.
fn ordered_findings(
    issues: &[Issue],
    verdict: &Verdict,
    ignores: &[Ignore],
    cap: usize,
) -> Vec<Finding> {
    let group = |status: &Status| match status {
        Status::Blocking => 0u8,
        Status::Below => 1,
        Status::Ignored(_) => 2,
    };
    let mut order: Vec<(usize, &Status)> = verdict.statuses.iter().enumerate().collect();
    // Stable: report order breaks ties.
    order.sort_by_key(|(i, status)| {
        let rank = issues.get(*i).map_or(0, |issue| issue.severity().rank());
        (group(status), std::cmp::Reverse(rank))
    });
    order
        .into_iter()
        .take(cap)
        .filter_map(|(i, status)| {
            let mut finding = issues.get(i)?.finding.clone();
            if let Status::Ignored(index) = status
                && let Some(ignore) = ignores.get(*index)
            {
                finding.message = format!(
                    "ignored until {}: {} — {}",
                    ignore.until, ignore.reason, finding.message
                );
            }
            Some(finding)
        })
        .collect()
}

/// `1 HIGH issue (B602) blocks; 5 below threshold; 1 ignored`.
pub fn summary(issues: &[Issue], verdict: &Verdict, ignores: &[Ignore], cap: usize) -> String {
    let mut blocking: Vec<&Issue> = issues
        .iter()
        .zip(&verdict.statuses)
        .filter(|(_, s)| **s == Status::Blocking)
        .map(|(i, _)| i)
        .collect();
    // Most severe first, so the summary names the worst ids.
    blocking.sort_by_key(|i| std::cmp::Reverse(i.severity().rank()));
    let scanned: Vec<&Issue> = issues
        .iter()
        .filter(|i| i.kind != Kind::ScanError)
        .collect();
    let mut parts = Vec::new();
    match verdict.threshold {
        None => parts.push(format!(
            "{} reported, none blocks (fail_on: none)",
            plural(scanned.len(), "finding", "findings")
        )),
        Some(threshold) if blocking.is_empty() => parts.push(format!(
            "nothing at or above {} blocks ({} in all)",
            threshold.as_str(),
            plural(scanned.len(), "finding", "findings")
        )),
        Some(_) => parts.push(blocking_part(&blocking)),
    }
    let below = below_threshold(issues, verdict);
    if verdict.threshold.is_some() && below > 0 {
        parts.push(format!("{below} below threshold"));
    }
    let ignored = verdict.count(|s| matches!(s, Status::Ignored(_)));
    if ignored > 0 {
        parts.push(format!("{ignored} ignored"));
    }
    let expired: Vec<String> = verdict
        .expired
        .iter()
        .filter_map(|i| ignores.get(*i))
        .map(|i| format!("{} (expired {})", i.id, i.until))
        .collect();
    if !expired.is_empty() {
        parts.push(format!(
            "ignore no longer applies to {}",
            listed(&expired, IDS_IN_SUMMARY)
        ));
    }
    // bandit names the files it could not read; `trivy k8s` names cluster resources.
    let unscanned = |file: bool| {
        issues
            .iter()
            .filter(|i| i.kind == Kind::ScanError && i.file.is_some() == file)
            .count()
    };
    let unscanned: Vec<String> = [
        (unscanned(true), "file", "files"),
        (unscanned(false), "resource", "resources"),
    ]
    .into_iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, one, many)| plural(n, one, many))
    .collect();
    if !unscanned.is_empty() {
        parts.push(format!("{} could not be scanned", unscanned.join(" and ")));
    }
    if issues.len() > cap {
        parts.push(format!(
            "{} of {} findings listed, {} cut at the report cap (all in {SARIF_FILE})",
            cap,
            issues.len(),
            issues.len() - cap
        ));
    }
    parts.join("; ")
}

/// Findings below the threshold; files a scanner could not read are counted apart.
fn below_threshold(issues: &[Issue], verdict: &Verdict) -> usize {
    issues
        .iter()
        .zip(&verdict.statuses)
        .filter(|(i, s)| i.kind != Kind::ScanError && **s == Status::Below)
        .count()
}

/// `1 CRITICAL and 2 HIGH vulnerabilities (CVE-…, CVE-…) block`.
fn blocking_part(blocking: &[&Issue]) -> String {
    let mut by_severity = Vec::new();
    for severity in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = blocking.iter().filter(|i| i.severity() == severity).count();
        if n > 0 {
            by_severity.push(format!("{n} {}", severity.as_str()));
        }
    }
    let all_vulnerabilities = blocking.iter().all(|i| i.kind == Kind::Vulnerability);
    let noun = match (all_vulnerabilities, blocking.len()) {
        (true, 1) => "vulnerability",
        (true, _) => "vulnerabilities",
        (false, 1) => "issue",
        (false, _) => "issues",
    };
    let mut ids: Vec<String> = Vec::new();
    for issue in blocking {
        if !ids.iter().any(|id| id == issue.id()) {
            ids.push(issue.id().to_string());
        }
    }
    let verb = if blocking.len() == 1 {
        "blocks"
    } else {
        "block"
    };
    format!(
        "{} {noun} ({}) {verb}",
        by_severity.join(" and "),
        listed(&ids, IDS_IN_SUMMARY)
    )
}

fn listed(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    match items.len().saturating_sub(max) {
        0 => shown.join(", "),
        more => format!("{}, +{more} more", shown.join(", ")),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Date;
    use crate::ignore::parse_ignores;
    use crate::verdict::decide;
    use bosun_sdk::Outcome;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn ignores(raw: &str) -> Vec<Ignore> {
        parse_ignores(&[("ignore".to_string(), raw.to_string())]).unwrap()
    }

    fn day() -> Date {
        Date::parse("2026-06-01").unwrap()
    }

    #[test]
    fn python_app_summary_names_the_one_high_issue() {
        let issues = crate::bandit::parse(&fixture("bandit/bandit-python-app.json")).unwrap();
        let verdict = decide(&issues, Some(Severity::High), &[], day());
        let report = build(&issues, &verdict, &[], MAX_LISTED_FINDINGS);
        assert_eq!(report.outcome, Outcome::Failure);
        let below = issues.len() - 1;
        assert_eq!(
            report.summary,
            format!("1 HIGH issue (B602) blocks; {below} below threshold")
        );
        assert_eq!(report.findings[0].rule, "B602", "blocking first");
        let metric = |name: &str| {
            report
                .metrics
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.value)
                .unwrap()
        };
        assert_eq!(metric("blocking"), 1.0);
        assert_eq!(metric("severity_high"), 1.0);
        assert_eq!(metric("findings"), issues.len() as f64);
    }

    #[test]
    fn a_cluster_scan_blocks_on_its_high_check_and_names_the_unscanned_resource() {
        let issues = crate::trivy::parse(&fixture("trivy/k8s-cluster-all.json")).unwrap();
        let verdict = decide(&issues, Some(Severity::High), &[], day());
        let report = build(&issues, &verdict, &[], MAX_LISTED_FINDINGS);
        assert_eq!(report.outcome, Outcome::Failure);
        assert_eq!(
            report.summary,
            "1 CRITICAL and 1 HIGH issues (CVE-2019-18224, KSV017) block; 1 below threshold; \
             1 resource could not be scanned"
        );
    }

    #[test]
    fn vulnerabilities_ignored_and_expired_are_all_in_the_summary() {
        let mut issues = crate::trivy::parse(&fixture("trivy/busybox-with-lockfile.json")).unwrap();
        issues.extend(crate::trivy::parse(&fixture("trivy/debian-buster.json")).unwrap());
        let list = ignores(
            "CVE-2019-18224 until 2026-01-31: libidn2 never sees user input; \
             CVE-2021-38193 until 2027-01-31: ammonia output is re-sanitised",
        );
        let verdict = decide(&issues, Some(Severity::High), &list, day());
        let report = build(&issues, &verdict, &list, MAX_LISTED_FINDINGS);
        assert_eq!(
            report.summary,
            "1 CRITICAL and 1 HIGH vulnerabilities (CVE-2019-18224, CVE-2019-15542) block; \
             1 below threshold; 1 ignored; ignore no longer applies to CVE-2019-18224 \
             (expired 2026-01-31)"
        );
        let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            [
                "CVE-2019-18224",
                "CVE-2019-15542",
                "CVE-2019-18276",
                "CVE-2021-38193"
            ]
        );
        assert!(
            report.findings[3]
                .message
                .starts_with("ignored until 2027-01-31: ammonia output is re-sanitised — ammonia"),
            "{}",
            report.findings[3].message
        );
        assert_eq!(
            report.findings[3].severity,
            Severity::Medium,
            "kept as reported"
        );
    }

    #[test]
    fn clean_and_below_threshold_reports_pass() {
        let issues = crate::trivy::parse(&fixture("trivy/alpine-310.json")).unwrap();
        let verdict = decide(&issues, Some(Severity::High), &[], day());
        let report = build(&issues, &verdict, &[], MAX_LISTED_FINDINGS);
        assert_eq!(report.outcome, Outcome::Success);
        assert_eq!(
            report.summary,
            "nothing at or above HIGH blocks (4 findings in all); 4 below threshold"
        );
        let none = decide(&issues, None, &[], day());
        assert_eq!(
            build(&issues, &none, &[], MAX_LISTED_FINDINGS).summary,
            "4 findings reported, none blocks (fail_on: none)"
        );
        let empty = build(&[], &decide(&[], Some(Severity::High), &[], day()), &[], 10);
        assert_eq!(
            empty.summary,
            "nothing at or above HIGH blocks (0 findings in all)"
        );
    }

    #[test]
    fn unscanned_files_are_counted_apart() {
        let issues = crate::bandit::parse(&fixture("bandit/bandit-mixed.json")).unwrap();
        let verdict = decide(&issues, Some(Severity::High), &[], day());
        assert_eq!(
            summary(&issues, &verdict, &[], MAX_LISTED_FINDINGS),
            "1 HIGH issue (B602) blocks; 6 below threshold; 1 file could not be scanned"
        );
    }

    #[test]
    fn ten_thousand_findings_are_cut_to_the_cap_keeping_the_blocking_ones() {
        let one = crate::trivy::parse(&fixture("trivy/debian-buster.json")).unwrap();
        // 5,000 copies of the LOW, then 5,000 of the CRITICAL: the blocking ones come
        // last in report order but first in the list.
        let mut issues: Vec<Issue> = std::iter::repeat_n(one[0].clone(), 5_000).collect();
        issues.extend(std::iter::repeat_n(one[1].clone(), 5_000));
        let verdict = decide(&issues, Some(Severity::High), &[], day());
        let report = build(&issues, &verdict, &[], MAX_LISTED_FINDINGS);
        assert_eq!(report.findings.len(), MAX_LISTED_FINDINGS);
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.severity == Severity::Critical)
        );
        assert_eq!(
            report.summary,
            "5000 CRITICAL vulnerabilities (CVE-2019-18224) block; 5000 below threshold; \
             5000 of 10000 findings listed, 5000 cut at the report cap (all in security.sarif)"
        );
        assert!(
            report.summary.len() < 16 << 10,
            "within the host's text cap"
        );
    }
}
