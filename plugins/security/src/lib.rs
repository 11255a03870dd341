//! Built-in stage plugin `security`: runs bandit (and Trivy, or reads Trivy and Snyk reports),
//! decides which findings block, and writes every finding to `/out/security.sarif`.
//!
//! `with:` settings (all optional):
//! - `bandit` (default `true`): run `bandit -r <bandit_target>` (default `.`) in
//!   `python_image` (default `bosun/python-tools:latest`).
//! - `trivy_image`: a tool image with `trivy`; runs `trivy <trivy_command> <trivy_target>`
//!   (`fs` of the workspace by default; `config` for Dockerfiles, Kubernetes manifests
//!   and Helm charts; or `image` with an image reference). A `trivy_target` folder or
//!   file narrows `fs` and `config`; findings still name paths from the workspace root.
//! - `trivy_scanners`: Trivy's `--scanners` for `fs`/`image` (`vuln`, `misconfig`,
//!   `secret`, `license`; Trivy's default is `vuln,secret`). Setting it alone runs
//!   Trivy in `bosun/trivy:latest`.
//!   Without `trivy_network: true` nothing is fetched: checks are Trivy's built-in ones,
//!   and a `vuln` scan needs its database inside the image. `bosun/trivy` carries none
//!   (it cannot be fetched on Bosun's test machines), so secret, misconfig and license
//!   scans are tested running for real, and vulnerability reading on real reports.
//! - `trivy_report`: a Trivy JSON report in the workspace to read instead (or as well);
//!   `trivy k8s` reports too.
//! - `snyk_report`: a Snyk JSON report (`snyk test --json`, one project or a list).
//! - `sarif_report`: a SARIF 2.1.0 report from any producer (read by `bosun-reports`);
//!   results their tool marks suppressed are not counted (use `ignore`).
//! - `fail_on` (default `HIGH,CRITICAL`): findings at or above the lowest severity
//!   listed fail the stage; `none` never fails.
//! - `ignore`: accepted finding ids, each with an expiry date and a reason; see
//!   [`ignore`] for the two spellings. An expired ignore no longer applies and the
//!   summary says so; an entry without a date or reason is a config error.
//! - `max_report_mb` (default 64, at most 192): larger reports are refused.
//! - `timeout_secs` (default 600): each tool's wall-clock limit.
//!
//! The report lists blocking findings first and at most 5,000 findings (the host's
//! cap), saying how many were cut; the SARIF file always has them all.

pub mod date;
pub mod ignore;
pub mod report;
pub mod sarif;
pub mod sarif_report;
pub mod scan;
pub mod settings;
pub mod verdict;

// The scanners' report parsers, shared with command steps (`bosun-formats`).
pub use bosun_formats::{bandit, issue, parse_error, snyk, trivy};

use bosun_sdk::fs;
use bosun_sdk::prelude::*;

/// The stage; public so native builds, which do not export it, still use it.
pub struct Security;

impl Stage for Security {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let settings = settings::parse(&task.config)
            .map_err(|e| StageError::InvalidConfig(format!("stage {}: {e}", task.stage)))?;
        let mut issues = Vec::new();
        let mut scanners = Vec::new();
        if let Some(run) = &settings.bandit {
            issues.extend(scan::bandit(run, &settings)?);
            scanners.push(bandit::TOOL);
        }
        if let Some(run) = &settings.trivy {
            issues.extend(scan::trivy(run, &settings)?);
            scanners.push(trivy::TOOL);
        }
        if let Some(path) = &settings.trivy_report {
            issues.extend(scan::trivy_report(path, &settings)?);
            if !scanners.contains(&trivy::TOOL) {
                scanners.push(trivy::TOOL);
            }
        }
        if let Some(path) = &settings.snyk_report {
            issues.extend(scan::snyk_report(path, &settings)?);
            scanners.push(snyk::TOOL);
        }
        if let Some(path) = &settings.sarif_report {
            // The SARIF writer gives each tool named in these findings a run of its own.
            issues.extend(scan::sarif_report(path, &settings)?);
        }
        let verdict = verdict::decide(
            &issues,
            settings.threshold,
            &settings.ignores,
            date::Date::today(),
        );
        for index in &verdict.unused {
            if let Some(ignore) = settings.ignores.get(*index) {
                log::warn(&format!(
                    "ignore of {} (until {}) matched no finding; remove it",
                    ignore.id, ignore.until
                ));
            }
        }
        let sarif = sarif::document(&scanners, &issues, &verdict.statuses, &settings.ignores);
        let text = serde_json::to_vec_pretty(&sarif)
            .map_err(|e| StageError::Other(format!("encoding SARIF: {e}")))?;
        let sarif_path = fs::write_out(report::SARIF_FILE, &text)?;
        let mut stage_report = report::build(
            &issues,
            &verdict,
            &settings.ignores,
            report::MAX_LISTED_FINDINGS,
        );
        stage_report.artifacts.push(Artifact {
            kind: "sarif".into(),
            name: report::SARIF_FILE.into(),
            reference: sarif_path,
            digest: None,
        });
        if settings.sarif_report.is_some() {
            scanners.push("sarif");
        }
        log::info(&format!("{}: {}", scanners.join("+"), stage_report.summary));
        Ok(stage_report)
    }
}

// Exported only in the component: native builds (unit tests, clippy) link the crate as
// a `cdylib` too, and the export symbols' names are not valid there.
#[cfg(target_arch = "wasm32")]
bosun_sdk::export_stage!(Security);
