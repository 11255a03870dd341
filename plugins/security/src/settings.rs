//! The stage's `with:` block, parsed once into typed settings with errors naming the key.

use crate::ignore::{Ignore, parse_ignores};
use bosun_sdk::Severity;
use bosun_sdk::settings::check_relative_setting;

/// The image bandit runs in unless `python_image` says otherwise (built by
/// `scripts/services.sh`).
pub const DEFAULT_PYTHON_IMAGE: &str = "bosun/python-tools:latest";
/// The image Trivy runs in when `trivy_scanners` is set without `trivy_image` (built by
/// `scripts/services.sh`: bosun/base plus Trivy 0.59.1).
pub const DEFAULT_TRIVY_IMAGE: &str = "bosun/trivy:latest";
/// What `trivy_scanners` may list (Trivy's `--scanners`).
pub const TRIVY_SCANNERS: &[&str] = &["vuln", "misconfig", "secret", "license"];
/// Reports larger than this many MiB are refused unless `max_report_mb` raises it.
pub const DEFAULT_MAX_REPORT_MB: u64 = 64;
/// Most `max_report_mb` may be: the plugin holds a report in its sandbox memory.
pub const MAX_REPORT_MB_LIMIT: u64 = 192;

/// Keys this stage reads (`ignore.<id>.until`/`.reason` besides); `environment` is set
/// by the orchestrator on stages that have one.
const KNOWN_KEYS: &[&str] = &[
    "bandit",
    "bandit_target",
    "python_image",
    "trivy_image",
    "trivy_command",
    "trivy_target",
    "trivy_network",
    "trivy_scanners",
    "trivy_report",
    "snyk_report",
    "sarif_report",
    "fail_on",
    "ignore",
    "max_report_mb",
    "timeout_secs",
    "environment",
];

/// Everything the security stage was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Run bandit (default), and where.
    pub bandit: Option<BanditRun>,
    /// Run Trivy in a tool image.
    pub trivy: Option<TrivyRun>,
    /// Read a Trivy JSON report from this workspace path.
    pub trivy_report: Option<String>,
    /// Read a Snyk JSON report (`snyk test --json`) from this workspace path.
    pub snyk_report: Option<String>,
    /// Read a SARIF 2.1.0 report (any producer) from this workspace path.
    pub sarif_report: Option<String>,
    /// Findings at or above this severity fail the stage; `None` never fails.
    pub threshold: Option<Severity>,
    /// Accepted finding ids.
    pub ignores: Vec<Ignore>,
    /// Largest report read, in bytes.
    pub max_report_bytes: u64,
    /// Wall-clock limit for each tool, in seconds.
    pub timeout_secs: u32,
}

/// A bandit run.
#[derive(Debug, Clone, PartialEq)]
pub struct BanditRun {
    /// Tool image with bandit.
    pub image: String,
    /// Workspace-relative folder or file to scan.
    pub target: String,
}

/// A Trivy run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrivyRun {
    /// Tool image with `trivy` on its PATH.
    pub image: String,
    /// `fs` (default), `config` or `image`.
    pub command: String,
    /// For `fs`/`config`: a workspace-relative path; for `image`: an image reference.
    pub target: String,
    /// Let Trivy download its vulnerability database (and pull images).
    pub network: bool,
    /// Trivy's `--scanners` for `fs` and `image`; empty keeps Trivy's default
    /// (`vuln,secret`). Only `vuln` needs the vulnerability database.
    pub scanners: Vec<String>,
}

/// Parse the stage's `with:` pairs.
pub fn parse(config: &[(String, String)]) -> Result<Settings, String> {
    bosun_sdk::settings::check_known(
        config,
        &[KNOWN_KEYS, &["ignore.<id>.until", "ignore.<id>.reason"]].concat(),
    )?;
    let get = |key: &str| bosun_sdk::settings::value(config, key);
    let bandit = if flag(get("bandit"), "bandit", true)? {
        let target = get("bandit_target").unwrap_or(".");
        check_relative_setting("bandit_target", target)?;
        Some(BanditRun {
            image: non_empty("python_image", get("python_image"))?
                .unwrap_or(DEFAULT_PYTHON_IMAGE)
                .to_string(),
            target: target.to_string(),
        })
    } else {
        None
    };
    let scanners = trivy_scanners(get("trivy_scanners"))?;
    let image = non_empty("trivy_image", get("trivy_image"))?
        .or((!scanners.is_empty()).then_some(DEFAULT_TRIVY_IMAGE));
    let trivy = match image {
        None => None,
        Some(image) => {
            let command = get("trivy_command").unwrap_or("fs");
            if !["fs", "config", "image"].contains(&command) {
                return Err(format!(
                    "`trivy_command` must be fs, config or image, got {command:?}"
                ));
            }
            let target = match (command, get("trivy_target")) {
                ("image", None) => {
                    return Err(
                        "`trivy_command: image` needs `trivy_target` (an image reference)".into(),
                    );
                }
                ("image", Some(reference)) => reference.to_string(),
                (_, target) => {
                    let target = target.unwrap_or(".");
                    check_relative_setting("trivy_target", target)?;
                    target.to_string()
                }
            };
            if command == "config" && !scanners.is_empty() {
                return Err(
                    "`trivy_scanners` applies to `trivy_command` fs or image; `config` checks \
                     misconfigurations only"
                        .into(),
                );
            }
            Some(TrivyRun {
                image: image.to_string(),
                command: command.to_string(),
                target,
                network: flag(get("trivy_network"), "trivy_network", false)?,
                scanners,
            })
        }
    };
    let trivy_report = non_empty("trivy_report", get("trivy_report"))?;
    if let Some(path) = trivy_report {
        check_relative_setting("trivy_report", path)?;
    }
    let snyk_report = non_empty("snyk_report", get("snyk_report"))?;
    if let Some(path) = snyk_report {
        check_relative_setting("snyk_report", path)?;
    }
    let sarif_report = non_empty("sarif_report", get("sarif_report"))?;
    if let Some(path) = sarif_report {
        check_relative_setting("sarif_report", path)?;
    }
    let reports = [trivy_report, snyk_report, sarif_report];
    if bandit.is_none() && trivy.is_none() && reports.iter().all(Option::is_none) {
        return Err(
            "nothing to scan: `bandit` is false and none of `trivy_image`, \
             `trivy_scanners`, `trivy_report`, `snyk_report` or `sarif_report` is set"
                .into(),
        );
    }
    let max_mb = number(get("max_report_mb"), "max_report_mb", DEFAULT_MAX_REPORT_MB)?;
    if !(1..=MAX_REPORT_MB_LIMIT).contains(&max_mb) {
        return Err(format!(
            "`max_report_mb` must be between 1 and {MAX_REPORT_MB_LIMIT}, got {max_mb}"
        ));
    }
    let timeout = number(get("timeout_secs"), "timeout_secs", 600)?;
    Ok(Settings {
        bandit,
        trivy,
        trivy_report: trivy_report.map(str::to_string),
        snyk_report: snyk_report.map(str::to_string),
        sarif_report: sarif_report.map(str::to_string),
        threshold: threshold(get("fail_on"))?,
        ignores: parse_ignores(config)?,
        max_report_bytes: max_mb << 20,
        timeout_secs: u32::try_from(timeout)
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| format!("`timeout_secs` must be 1 to {}, got {timeout}", u32::MAX))?,
    })
}

/// `fail_on`: severities that block, e.g. `HIGH,CRITICAL` (the default). The lowest one
/// listed is the threshold: everything at or above it blocks. `none` never blocks.
fn threshold(raw: Option<&str>) -> Result<Option<Severity>, String> {
    let Some(raw) = raw else {
        return Ok(Some(Severity::High));
    };
    if raw.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let mut lowest: Option<Severity> = None;
    for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let severity = match word.to_ascii_uppercase().as_str() {
            "UNKNOWN" | "INFO" => Severity::Info,
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => {
                return Err(format!(
                    "`fail_on` lists {word:?}; use UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL or none"
                ));
            }
        };
        if lowest.is_none_or(|l| severity.rank() < l.rank()) {
            lowest = Some(severity);
        }
    }
    lowest
        .map(Some)
        .ok_or_else(|| "`fail_on` is empty; list severities or write `none`".to_string())
}

/// `trivy_scanners`: a comma list (a YAML list arrives joined) of Trivy's scanners.
fn trivy_scanners(raw: Option<&str>) -> Result<Vec<String>, String> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let mut scanners: Vec<String> = Vec::new();
    for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let word = word.to_ascii_lowercase();
        if !TRIVY_SCANNERS.contains(&word.as_str()) {
            return Err(format!(
                "`trivy_scanners` lists {word:?}; use {}",
                TRIVY_SCANNERS.join(", ")
            ));
        }
        if !scanners.contains(&word) {
            scanners.push(word);
        }
    }
    if scanners.is_empty() {
        return Err("`trivy_scanners` is empty; list vuln, misconfig, secret or license".into());
    }
    Ok(scanners)
}

fn flag(raw: Option<&str>, key: &str, default: bool) -> Result<bool, String> {
    match raw {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!("`{key}` must be true or false, got {other:?}")),
    }
}

fn number(raw: Option<&str>, key: &str, default: u64) -> Result<u64, String> {
    match raw {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("`{key}` must be a whole number, got {text:?}")),
    }
}

fn non_empty<'a>(key: &str, raw: Option<&'a str>) -> Result<Option<&'a str>, String> {
    match raw {
        Some("") => Err(format!("`{key}` is empty")),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pairs(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let config: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&config)
    }

    #[test]
    fn defaults_run_bandit_on_the_workspace_and_block_at_high() {
        let settings = parse_pairs(&[]).unwrap();
        assert_eq!(
            settings.bandit,
            Some(BanditRun {
                image: DEFAULT_PYTHON_IMAGE.into(),
                target: ".".into()
            })
        );
        assert_eq!(settings.trivy, None);
        assert_eq!(settings.threshold, Some(Severity::High));
        assert_eq!(settings.max_report_bytes, 64 << 20);
        assert!(settings.ignores.is_empty());
    }

    #[test]
    fn fail_on_takes_the_lowest_listed_severity_or_none() {
        let at = |raw: &str| parse_pairs(&[("fail_on", raw)]).map(|s| s.threshold);
        assert_eq!(at("HIGH,CRITICAL"), Ok(Some(Severity::High)));
        assert_eq!(at("critical"), Ok(Some(Severity::Critical)));
        assert_eq!(at("CRITICAL, MEDIUM"), Ok(Some(Severity::Medium)));
        assert_eq!(at("none"), Ok(None));
        assert!(at("SEVERE").unwrap_err().contains("\"SEVERE\""));
        assert!(at(" , ").unwrap_err().contains("empty"));
    }

    #[test]
    fn trivy_runs_and_reports_are_configured() {
        let settings = parse_pairs(&[
            ("bandit", "false"),
            ("trivy_image", "aquasec/trivy:0.58.0"),
            ("trivy_report", "reports/trivy.json"),
        ])
        .unwrap();
        assert_eq!(settings.bandit, None);
        let trivy = settings.trivy.unwrap();
        assert_eq!(
            (trivy.command.as_str(), trivy.target.as_str(), trivy.network),
            ("fs", ".", false)
        );
        assert_eq!(settings.trivy_report.as_deref(), Some("reports/trivy.json"));
        let image = parse_pairs(&[
            ("trivy_image", "aquasec/trivy"),
            ("trivy_command", "image"),
            ("trivy_target", "127.0.0.1:5000/acme/app:abc"),
            ("trivy_network", "true"),
        ])
        .unwrap()
        .trivy
        .unwrap();
        assert_eq!(image.target, "127.0.0.1:5000/acme/app:abc");
        assert!(image.network);
        assert!(image.scanners.is_empty(), "Trivy's own default");
    }

    #[test]
    fn trivy_scanners_alone_run_the_default_trivy_image() {
        let settings = parse_pairs(&[
            ("bandit", "false"),
            ("trivy_scanners", "secret, Misconfig,secret"),
            ("snyk_report", "reports/snyk.json"),
        ])
        .unwrap();
        let trivy = settings.trivy.unwrap();
        assert_eq!(trivy.image, DEFAULT_TRIVY_IMAGE);
        assert_eq!(trivy.scanners, ["secret", "misconfig"]);
        assert_eq!(trivy.command, "fs");
        assert_eq!(settings.snyk_report.as_deref(), Some("reports/snyk.json"));
        let chosen = parse_pairs(&[("trivy_image", "acme/trivy:1"), ("trivy_scanners", "vuln")])
            .unwrap()
            .trivy
            .unwrap();
        assert_eq!(
            (chosen.image.as_str(), chosen.scanners.len()),
            ("acme/trivy:1", 1)
        );
        // A Snyk or SARIF report alone is something to scan.
        assert!(parse_pairs(&[("bandit", "false"), ("snyk_report", "s.json")]).is_ok());
        let sarif = parse_pairs(&[("bandit", "false"), ("sarif_report", "out/semgrep.sarif")]);
        assert_eq!(
            sarif.unwrap().sarif_report.as_deref(),
            Some("out/semgrep.sarif")
        );
    }

    #[test]
    fn a_path_starting_with_a_dash_is_refused_as_an_option() {
        for (key, path) in [
            ("trivy_report", "--output=/etc/x"),
            ("bandit_target", "-r"),
            ("snyk_report", "-s.json"),
            ("sarif_report", "-o"),
        ] {
            let err = parse_pairs(&[(key, path)]).unwrap_err();
            assert!(
                err.contains(&format!("`{key}` must be a relative path"))
                    && err.contains("would read as an option"),
                "{err}"
            );
        }
        let err = parse_pairs(&[("trivy_image", "t"), ("trivy_target", "-x")]).unwrap_err();
        assert!(err.contains("`trivy_target`"), "{err}");
    }

    #[test]
    fn bad_settings_name_the_key() {
        for (pairs, expected) in [
            (vec![("fail-on", "HIGH")], "unknown setting `fail-on`"),
            (vec![("bandit", "yes")], "`bandit` must be true or false"),
            (
                vec![("bandit", "false")],
                "nothing to scan: `bandit` is false",
            ),
            (
                vec![("trivy_report", "../x.json")],
                "`trivy_report` must be a relative path",
            ),
            (
                vec![("bandit_target", "/etc")],
                "`bandit_target` must be a relative path",
            ),
            (vec![("trivy_image", "")], "`trivy_image` is empty"),
            (
                vec![("trivy_image", "t"), ("trivy_command", "sbom")],
                "`trivy_command` must be fs, config or image",
            ),
            (
                vec![("trivy_image", "t"), ("trivy_command", "image")],
                "needs `trivy_target`",
            ),
            (
                vec![("trivy_scanners", "vuln,sbom")],
                "`trivy_scanners` lists \"sbom\"; use vuln, misconfig, secret, license",
            ),
            (vec![("trivy_scanners", " , ")], "`trivy_scanners` is empty"),
            (
                vec![("trivy_scanners", "secret"), ("trivy_command", "config")],
                "`trivy_scanners` applies to `trivy_command` fs or image",
            ),
            (
                vec![("snyk_report", "/tmp/snyk.json")],
                "`snyk_report` must be a relative path",
            ),
            (vec![("max_report_mb", "1000")], "between 1 and 192"),
            (vec![("max_report_mb", "lots")], "whole number"),
            (vec![("timeout_secs", "0")], "`timeout_secs` must be 1"),
            (
                vec![("ignore", "CVE-1: no date")],
                "needs an id and an expiry date",
            ),
        ] {
            let err = parse_pairs(&pairs).unwrap_err();
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
        assert!(parse_pairs(&[("environment", "staging")]).is_ok());
    }
}
