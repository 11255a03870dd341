//! Built-in policy plugin `no-critical-vulns`: after a stage, deny when its report has
//! more findings at or above a severity than the tenant tolerates.
//!
//! Tenant settings: `threshold` (`info`, `low`, `medium`, `high` or `critical`; default
//! `critical`) and `max` (how many such findings are tolerated; default 0). A malformed
//! or unknown setting denies in either phase with a reason naming the key: the policy
//! fails closed rather than let a typo switch it off.

use bosun_sdk::prelude::*;

/// The settings this policy reads; any other key is a mistake the tenant must fix.
const KNOWN_SETTINGS: &[&str] = &["threshold", "max"];

/// How many offending findings a denial lists before `and N more`.
const MAX_LISTED: usize = 10;

/// The policy; public so native builds, which do not export it, still use it.
pub struct NoCriticalVulns;

impl Policy for NoCriticalVulns {
    fn evaluate(input: &PolicyInput) -> Decision {
        let decision = decide(input);
        if let Decision::Deny(reasons) = &decision {
            log::warn(&format!("stage {}: {}", input.stage, reasons.join("; ")));
        }
        decision
    }
}

/// This tenant's settings, parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Findings at this severity or above count.
    threshold: Severity,
    /// How many counted findings are tolerated.
    max: u64,
}

fn settings(input: &PolicyInput) -> Result<Settings, String> {
    input.check_settings(KNOWN_SETTINGS)?;
    let setting = |key: &str| input.setting(key);
    let threshold = match setting("threshold") {
        None => Severity::Critical,
        Some(raw) => parse_threshold(raw).ok_or_else(|| {
            format!(
                "setting `threshold` must be one of info, low, medium, high, critical; got {raw:?}"
            )
        })?,
    };
    let max = match setting("max") {
        None => 0,
        Some(raw) => raw
            .parse()
            .map_err(|_| format!("setting `max` must be a whole number; got {raw:?}"))?,
    };
    Ok(Settings { threshold, max })
}

/// The five severity names, in any case. Tool-specific words (`error`, `moderate`) are
/// refused: a tenant setting a gate should say exactly which level it means.
fn parse_threshold(raw: &str) -> Option<Severity> {
    match raw.to_ascii_lowercase().as_str() {
        "info" => Some(Severity::Info),
        "low" => Some(Severity::Low),
        "medium" => Some(Severity::Medium),
        "high" => Some(Severity::High),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

/// The verdict for one evaluation.
pub fn decide(input: &PolicyInput) -> Decision {
    let settings = match settings(input) {
        Ok(settings) => settings,
        Err(reason) => return Decision::Deny(vec![reason]),
    };
    if !matches!(input.phase, Phase::AfterStage) {
        return Decision::Allow;
    }
    let Some(report) = &input.report else {
        return Decision::Allow;
    };
    let mut offending: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity.rank() >= settings.threshold.rank())
        .collect();
    let count = offending.len();
    if u64::try_from(count).unwrap_or(u64::MAX) <= settings.max {
        return Decision::Allow;
    }
    // The most severe first, so the listed ones are the ones to fix first.
    offending.sort_by_key(|f| std::cmp::Reverse(f.severity.rank()));
    let noun = if count == 1 { "finding" } else { "findings" };
    let mut reasons = vec![format!(
        "stage {}: {count} {noun} at or above {}, at most {} allowed",
        input.stage,
        settings.threshold.as_str().to_ascii_lowercase(),
        settings.max
    )];
    reasons.extend(offending.iter().take(MAX_LISTED).map(|f| describe(f)));
    if count > MAX_LISTED {
        reasons.push(format!("and {} more", count - MAX_LISTED));
    }
    Decision::Deny(reasons)
}

/// `CVE-2023-0286 (HIGH) in openssl, fixed in 3.0.8`.
fn describe(finding: &Finding) -> String {
    let mut text = format!("{} ({})", finding.rule, finding.severity.as_str());
    if let Some(path) = &finding.path {
        text.push_str(&format!(" in {path}"));
    }
    if let Some(fixed) = &finding.fixed_version {
        text.push_str(&format!(", fixed in {fixed}"));
    }
    text
}

bosun_sdk::export_policy!(NoCriticalVulns, name = "no-critical-vulns");

#[cfg(test)]
mod tests {
    use super::*;

    fn input(phase: Phase, findings: Vec<Finding>, config: &[(&str, &str)]) -> PolicyInput {
        PolicyInput {
            tenant: "acme".into(),
            run_id: "run-42".into(),
            repository: "acme/app".into(),
            stage: "security".into(),
            phase,
            branch: "main".into(),
            default_branch: "main".into(),
            event: "push".into(),
            fork: false,
            environment: None,
            report: Some(StageReport::success("scanned").with_findings(findings)),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn vuln(id: &str, severity: Severity) -> Finding {
        let mut finding =
            Finding::new("trivy", id, severity, "vulnerable").at("openssl", None, None);
        finding.fixed_version = Some("3.0.8".into());
        finding
    }

    fn reasons(decision: Decision) -> Vec<String> {
        match decision {
            Decision::Deny(reasons) => reasons,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn critical_finding_is_denied_by_default() {
        let findings = vec![
            vuln("CVE-1", Severity::High),
            vuln("CVE-2", Severity::Critical),
        ];
        let reasons = reasons(decide(&input(Phase::AfterStage, findings, &[])));
        assert_eq!(
            reasons,
            [
                "stage security: 1 finding at or above critical, at most 0 allowed",
                "CVE-2 (CRITICAL) in openssl, fixed in 3.0.8",
            ]
        );
    }

    #[test]
    fn findings_below_threshold_or_within_max_are_allowed() {
        let high = vec![vuln("CVE-1", Severity::High)];
        let decision = decide(&input(Phase::AfterStage, high.clone(), &[]));
        assert!(matches!(decision, Decision::Allow));
        let tolerant = [("threshold", "HIGH"), ("max", "1")];
        let decision = decide(&input(Phase::AfterStage, high, &tolerant));
        assert!(matches!(decision, Decision::Allow));
    }

    #[test]
    fn lower_threshold_counts_more_and_lists_the_worst_first() {
        let findings = vec![
            vuln("CVE-LOW", Severity::Low),
            vuln("CVE-MED", Severity::Medium),
            vuln("CVE-CRIT", Severity::Critical),
        ];
        let config = [("threshold", "medium"), ("max", "1")];
        let reasons = reasons(decide(&input(Phase::AfterStage, findings, &config)));
        assert_eq!(reasons.len(), 3);
        assert!(reasons[0].contains("2 findings at or above medium, at most 1 allowed"));
        assert!(reasons[1].starts_with("CVE-CRIT (CRITICAL)"));
        assert!(reasons[2].starts_with("CVE-MED (MEDIUM)"));
    }

    #[test]
    fn long_lists_are_capped_at_ten_ids() {
        let findings = (0..25)
            .map(|i| vuln(&format!("CVE-{i}"), Severity::Critical))
            .collect();
        let reasons = reasons(decide(&input(Phase::AfterStage, findings, &[])));
        assert_eq!(reasons.len(), 12);
        assert!(reasons[10].starts_with("CVE-9 "));
        assert_eq!(reasons[11], "and 15 more");
    }

    #[test]
    fn before_stage_and_missing_report_are_allowed() {
        let findings = vec![vuln("CVE-1", Severity::Critical)];
        let decision = decide(&input(Phase::BeforeStage, findings, &[]));
        assert!(matches!(decision, Decision::Allow));
        let mut no_report = input(Phase::AfterStage, Vec::new(), &[]);
        no_report.report = None;
        assert!(matches!(decide(&no_report), Decision::Allow));
    }

    #[test]
    fn invalid_settings_deny_naming_the_key() {
        for (config, key) in [
            (("threshold", "severe"), "`threshold`"),
            (("max", "-1"), "`max`"),
            (("treshold", "high"), "`treshold`"),
        ] {
            let reasons = reasons(decide(&input(Phase::BeforeStage, Vec::new(), &[config])));
            assert_eq!(reasons.len(), 1);
            assert!(reasons[0].contains(key), "{reasons:?} should name {key}");
        }
    }
}
