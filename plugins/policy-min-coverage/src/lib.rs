//! Built-in policy plugin `min-coverage`: after a stage that measured coverage, deny (or
//! warn) when its line coverage is below the tenant's minimum.
//!
//! Tenant settings: `min` (percent, 0 to 100, decimals allowed; default 80) and
//! `warn_only` (`true` turns the denial into a warning; default `false`). A report
//! without coverage is allowed. A malformed or unknown setting denies in either phase
//! with a reason naming the key: the policy fails closed.

use bosun_sdk::prelude::*;

/// The settings this policy reads; any other key is a mistake the tenant must fix.
const KNOWN_SETTINGS: &[&str] = &["min", "warn_only"];

/// The minimum when the tenant sets none, in percent.
const DEFAULT_MIN_PERCENT: f64 = 80.0;

/// The policy; public so native builds, which do not export it, still use it.
pub struct MinCoverage;

impl Policy for MinCoverage {
    fn evaluate(input: &PolicyInput) -> Decision {
        let decision = decide(input);
        match &decision {
            Decision::Deny(reasons) | Decision::Warn(reasons) => {
                log::warn(&format!("stage {}: {}", input.stage, reasons.join("; ")));
            }
            Decision::Allow => {}
        }
        decision
    }
}

/// This tenant's settings, parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    /// Lowest acceptable line coverage, in percent.
    min_percent: f64,
    /// Warn instead of deny.
    warn_only: bool,
}

fn settings(input: &PolicyInput) -> Result<Settings, String> {
    input.check_settings(KNOWN_SETTINGS)?;
    let setting = |key: &str| input.setting(key);
    let min_percent = match setting("min") {
        None => DEFAULT_MIN_PERCENT,
        Some(raw) => raw
            .trim_end_matches('%')
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=100.0).contains(p))
            .ok_or_else(|| {
                format!("setting `min` must be a percentage from 0 to 100; got {raw:?}")
            })?,
    };
    let warn_only = match setting("warn_only") {
        None | Some("false") => false,
        Some("true") => true,
        Some(raw) => {
            return Err(format!(
                "setting `warn_only` must be true or false; got {raw:?}"
            ));
        }
    };
    Ok(Settings {
        min_percent,
        warn_only,
    })
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
    let Some(coverage) = input.report.as_ref().and_then(|r| r.coverage.as_ref()) else {
        return Decision::Allow;
    };
    if coverage.lines_total == 0 {
        return Decision::Allow; // nothing measurable to hold to a minimum
    }
    let percent = coverage.lines_covered as f64 * 100.0 / coverage.lines_total as f64;
    if percent >= settings.min_percent {
        return Decision::Allow;
    }
    // Rounded down, so 79.96% never shows as the 80% it failed to reach.
    let shown = (percent * 10.0).floor() / 10.0;
    let reason = format!(
        "stage {}: line coverage {shown:.1}% ({} of {} lines) is below the minimum of {}%",
        input.stage, coverage.lines_covered, coverage.lines_total, settings.min_percent
    );
    if settings.warn_only {
        Decision::Warn(vec![reason])
    } else {
        Decision::Deny(vec![reason])
    }
}

bosun_sdk::export_policy!(MinCoverage, name = "min-coverage");

#[cfg(test)]
mod tests {
    use super::*;

    fn input(covered: Option<(u64, u64)>, config: &[(&str, &str)]) -> PolicyInput {
        let mut report = StageReport::success("tested");
        report.coverage = covered.map(|(lines_covered, lines_total)| Coverage {
            lines_covered,
            lines_total,
        });
        PolicyInput {
            tenant: "acme".into(),
            run_id: "run-42".into(),
            repository: "acme/app".into(),
            stage: "test".into(),
            phase: Phase::AfterStage,
            branch: "main".into(),
            default_branch: "main".into(),
            event: "push".into(),
            fork: false,
            environment: None,
            report: Some(report),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn coverage_below_default_minimum_is_denied_with_both_numbers() {
        match decide(&input(Some((7996, 10_000)), &[])) {
            Decision::Deny(reasons) => assert_eq!(
                reasons,
                [
                    "stage test: line coverage 79.9% (7996 of 10000 lines) is below the minimum of 80%"
                ]
            ),
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn coverage_at_or_above_minimum_is_allowed() {
        assert!(matches!(
            decide(&input(Some((80, 100)), &[])),
            Decision::Allow
        ));
        let lower = [("min", "72.5")];
        assert!(matches!(
            decide(&input(Some((73, 100)), &lower)),
            Decision::Allow
        ));
    }

    #[test]
    fn warn_only_turns_the_denial_into_a_warning() {
        let config = [("min", "90"), ("warn_only", "true")];
        match decide(&input(Some((85, 100)), &config)) {
            Decision::Warn(reasons) => {
                assert!(reasons[0].contains("85.0% (85 of 100 lines)"));
                assert!(reasons[0].contains("minimum of 90%"));
            }
            other => panic!("expected a warning, got {other:?}"),
        }
    }

    #[test]
    fn reports_without_coverage_and_before_stage_are_allowed() {
        assert!(matches!(decide(&input(None, &[])), Decision::Allow));
        assert!(matches!(decide(&input(Some((0, 0)), &[])), Decision::Allow));
        let mut before = input(Some((1, 100)), &[]);
        before.phase = Phase::BeforeStage;
        before.report = None;
        assert!(matches!(decide(&before), Decision::Allow));
    }

    #[test]
    fn invalid_settings_deny_naming_the_key() {
        for (config, key) in [
            (("min", "eighty"), "`min`"),
            (("min", "120"), "`min`"),
            (("warn_only", "yes"), "`warn_only`"),
            (("minimum", "80"), "`minimum`"),
        ] {
            match decide(&input(None, &[config])) {
                Decision::Deny(reasons) => assert!(reasons[0].contains(key), "{reasons:?}"),
                other => panic!("{config:?}: expected a denial, got {other:?}"),
            }
        }
    }
}
