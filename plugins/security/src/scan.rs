//! Running the scanners through the `containers` capability and reading their reports,
//! with errors that name the tool, the image and the file.
//!
//! Tools write their JSON to a file under `/out` rather than to stdout: the host caps
//! captured stdout (4 MiB by default), and a report cut there would be unreadable.

use crate::issue::Issue;
use crate::parse_error::ParseError;
use crate::settings::{BanditRun, Settings, TrivyRun};
use crate::{bandit, snyk, trivy};
use bosun_sdk::containers::Tool;
use bosun_sdk::{ContainerOutput, StageError, fs};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// bandit's report, relative to `/out`.
pub const BANDIT_OUT: &str = "bandit.json";
/// Trivy's report, relative to `/out`.
pub const TRIVY_OUT: &str = "trivy.json";
/// Lines of a crashed tool's stderr kept in the error.
const STDERR_LINES: usize = 20;

/// bandit's argv: recursive, JSON, to `/out/bandit.json`, quiet.
pub fn bandit_argv(run: &BanditRun) -> Vec<String> {
    [
        "bandit",
        "-r",
        run.target.as_str(),
        "-f",
        "json",
        "-o",
        "/out/bandit.json",
        "-q",
    ]
    .map(String::from)
    .to_vec()
}

/// Trivy's argv for `fs`, `config` or `image`, JSON to `/out/trivy.json`. Its caches go
/// to `/tmp` (the tool's root file system is read-only). Without network nothing is
/// fetched: the checks are the ones built into Trivy, and a `vuln` scan must find its
/// database already in the image (`bosun/trivy` has none, so its offline scans are
/// `secret`, `misconfig` and `license`).
pub fn trivy_argv(run: &TrivyRun) -> Vec<String> {
    let mut argv: Vec<String> = [
        "trivy",
        "--cache-dir",
        "/tmp/trivy-cache",
        run.command.as_str(),
        "--format",
        "json",
        "--output",
        "/out/trivy.json",
        "--exit-code",
        "0",
    ]
    .map(String::from)
    .to_vec();
    if !run.scanners.is_empty() {
        argv.push("--scanners".into());
        argv.push(run.scanners.join(","));
    }
    if !run.network {
        if run.command != "config" {
            for flag in [
                "--skip-db-update",
                "--skip-java-db-update",
                "--offline-scan",
            ] {
                argv.push(flag.into());
            }
        }
        argv.push("--skip-check-update".into());
    }
    argv.push(match run.command.as_str() {
        "image" => run.target.clone(),
        _ if run.target == "." => "/workspace".into(),
        _ => format!("/workspace/{}", run.target.trim_end_matches('/')),
    });
    argv
}

/// Run bandit and parse its report.
pub fn bandit(run: &BanditRun, settings: &Settings) -> Result<Vec<Issue>, StageError> {
    let argv = bandit_argv(run);
    let output = run_tool(bandit::TOOL, &run.image, argv, settings.timeout_secs, false)?;
    // 0: nothing found, 1: issues found; anything else is bandit failing.
    check_exit(bandit::TOOL, &run.image, &output, &[0, 1])?;
    let report = open_tool_report(bandit::TOOL, &run.image, BANDIT_OUT, settings)?;
    bandit::parse_reader(report).map_err(|e| bad_output(bandit::TOOL, "/out/bandit.json", e))
}

/// Run Trivy and parse its report.
pub fn trivy(run: &TrivyRun, settings: &Settings) -> Result<Vec<Issue>, StageError> {
    let argv = trivy_argv(run);
    let output = run_tool(
        trivy::TOOL,
        &run.image,
        argv,
        settings.timeout_secs,
        run.network,
    )?;
    check_exit(trivy::TOOL, &run.image, &output, &[0])?;
    let report = open_tool_report(trivy::TOOL, &run.image, TRIVY_OUT, settings)?;
    let issues =
        trivy::parse_reader(report).map_err(|e| bad_output(trivy::TOOL, "/out/trivy.json", e))?;
    if run.command == "image" {
        return Ok(issues);
    }
    let target_is_folder = fs::workspace_path(&run.target).is_ok_and(|path| path.is_dir());
    Ok(relative_to_workspace(issues, &run.target, target_is_folder))
}

/// Trivy names the files it scanned relative to its target (a file target by its own
/// name); findings name them relative to the workspace, as every other stage's do.
fn relative_to_workspace(mut issues: Vec<Issue>, target: &str, is_folder: bool) -> Vec<Issue> {
    let target = target.trim_start_matches("./").trim_end_matches('/');
    if target.is_empty() || target == "." {
        return issues;
    }
    for issue in &mut issues {
        // Only workspace files move; a package or an image layer is no path.
        let Some(file) = issue.file.take() else {
            continue;
        };
        let moved = if is_folder {
            format!("{target}/{file}")
        } else {
            target.to_string()
        };
        if issue.finding.path.as_deref() == Some(file.as_str()) {
            issue.finding.path = Some(moved.clone());
        }
        issue.file = Some(moved);
    }
    issues
}

/// Parse a Trivy report the workspace holds (committed, or left by an earlier step).
pub fn trivy_report(relative: &str, settings: &Settings) -> Result<Vec<Issue>, StageError> {
    let path = fs::workspace_path(relative)?;
    if !path.is_file() {
        return Err(StageError::InvalidConfig(format!(
            "`trivy_report` names {relative}, which is not a file in the workspace"
        )));
    }
    let what = format!("trivy report {relative}");
    let report = open_capped(&path, &what, settings.max_report_bytes)?;
    trivy::parse_reader(report).map_err(|e| bad_output(trivy::TOOL, relative, e))
}

/// Parse a Snyk report (`snyk test --json`) the workspace holds.
pub fn snyk_report(relative: &str, settings: &Settings) -> Result<Vec<Issue>, StageError> {
    let path = fs::workspace_path(relative)?;
    if !path.is_file() {
        return Err(StageError::InvalidConfig(format!(
            "`snyk_report` names {relative}, which is not a file in the workspace"
        )));
    }
    let what = format!("snyk report {relative}");
    let report = open_capped(&path, &what, settings.max_report_bytes)?;
    snyk::parse_reader(report).map_err(|e| bad_output(snyk::TOOL, relative, e))
}

/// Parse a SARIF 2.1.0 report the workspace holds. Read whole: `bosun-reports` takes
/// bytes, and the size cap bounds them.
pub fn sarif_report(relative: &str, settings: &Settings) -> Result<Vec<Issue>, StageError> {
    let path = fs::workspace_path(relative)?;
    if !path.is_file() {
        return Err(StageError::InvalidConfig(format!(
            "`sarif_report` names {relative}, which is not a file in the workspace"
        )));
    }
    let what = format!("sarif report {relative}");
    let mut bytes = Vec::new();
    open_capped(&path, &what, settings.max_report_bytes)?
        .read_to_end(&mut bytes)
        .map_err(|e| StageError::Io(format!("{what}: {e}")))?;
    let read = crate::sarif_report::parse(&bytes)
        .map_err(|e| StageError::BadToolOutput(format!("{what}: {e}")))?;
    if read.suppressed > 0 {
        bosun_sdk::log::info(&format!(
            "{what}: {} results suppressed by their tool are not counted; accept findings \
             with `ignore` (an expiry and a reason) instead",
            read.suppressed
        ));
    }
    Ok(read.issues)
}

fn run_tool(
    tool: &str,
    image: &str,
    argv: Vec<String>,
    timeout_secs: u32,
    network: bool,
) -> Result<ContainerOutput, StageError> {
    bosun_sdk::log::info(&format!("running {tool} in {image}: {}", argv.join(" ")));
    Tool::new(image, argv)
        .timeout_secs(timeout_secs)
        .network(network)
        .run()
        .map_err(|e| match e {
            StageError::ToolFailed(why) => StageError::ToolFailed(format!("{tool}: {why}")),
            other => other,
        })
}

/// A tool's exit code must be one of `ok`; otherwise the error carries the end of its
/// stderr.
pub fn check_exit(
    tool: &str,
    image: &str,
    output: &ContainerOutput,
    ok: &[i32],
) -> Result<(), StageError> {
    if ok.contains(&output.exit_code) {
        return Ok(());
    }
    let lines: Vec<&str> = output.stderr.lines().collect();
    let tail = lines
        .get(lines.len().saturating_sub(STDERR_LINES)..)
        .unwrap_or_default()
        .join("\n");
    let detail = if tail.trim().is_empty() {
        "no output on stderr".to_string()
    } else {
        tail
    };
    Err(StageError::ToolFailed(format!(
        "{tool} (image {image}) exited with code {}: {detail}",
        output.exit_code
    )))
}

fn open_tool_report(
    tool: &str,
    image: &str,
    relative: &str,
    settings: &Settings,
) -> Result<BufReader<File>, StageError> {
    let path = Path::new(fs::OUT).join(relative);
    if !path.is_file() {
        return Err(StageError::ToolFailed(format!(
            "{tool} (image {image}) exited without writing its report {}",
            path.display()
        )));
    }
    let what = format!("{tool} report {}", path.display());
    open_capped(&path, &what, settings.max_report_bytes)
}

/// Open a report no larger than `limit` bytes for streaming; `what` names the tool and
/// file. Streaming keeps the sandbox's memory for the issues, not the report's text.
fn open_capped(path: &Path, what: &str, limit: u64) -> Result<BufReader<File>, StageError> {
    let file = File::open(path).map_err(|e| StageError::Io(format!("{what}: {e}")))?;
    let size = file
        .metadata()
        .map_err(|e| StageError::Io(format!("{what}: {e}")))?
        .len();
    if let Some(message) = size_error(what, size, limit) {
        return Err(StageError::BadToolOutput(message));
    }
    Ok(BufReader::with_capacity(64 << 10, file))
}

/// The error for a report over the size limit, if it is.
pub fn size_error(what: &str, size: u64, limit: u64) -> Option<String> {
    let mib = |bytes: u64| bytes as f64 / f64::from(1u32 << 20);
    (size > limit).then(|| {
        format!(
            "{what} is {:.1} MiB, over the {:.0} MiB limit (raise `max_report_mb`, up to {})",
            mib(size),
            mib(limit),
            crate::settings::MAX_REPORT_MB_LIMIT
        )
    })
}

fn bad_output(tool: &str, file: &str, error: ParseError) -> StageError {
    StageError::BadToolOutput(format!("{tool} report {file}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(exit_code: i32, stderr: &str) -> ContainerOutput {
        ContainerOutput {
            exit_code,
            stdout: String::new(),
            stderr: stderr.to_string(),
            truncated: false,
            duration_ms: 10,
        }
    }

    #[test]
    fn bandit_writes_json_to_out() {
        let run = BanditRun {
            image: "bosun/python-tools:latest".into(),
            target: "src".into(),
        };
        assert_eq!(
            bandit_argv(&run).join(" "),
            "bandit -r src -f json -o /out/bandit.json -q"
        );
    }

    #[test]
    fn trivy_scans_the_workspace_offline_unless_allowed_the_network() {
        let mut run = TrivyRun {
            image: "aquasec/trivy:0.58.0".into(),
            command: "fs".into(),
            target: ".".into(),
            network: false,
            scanners: Vec::new(),
        };
        assert_eq!(
            trivy_argv(&run).join(" "),
            "trivy --cache-dir /tmp/trivy-cache fs --format json --output /out/trivy.json \
             --exit-code 0 --skip-db-update --skip-java-db-update --offline-scan \
             --skip-check-update /workspace"
        );
        run.scanners = vec!["secret".into(), "misconfig".into()];
        assert!(
            trivy_argv(&run)
                .join(" ")
                .contains(" --exit-code 0 --scanners secret,misconfig --skip-db-update "),
            "{:?}",
            trivy_argv(&run)
        );
        run.command = "config".into();
        run.scanners.clear();
        assert!(
            trivy_argv(&run)
                .join(" ")
                .ends_with("--exit-code 0 --skip-check-update /workspace"),
            "config takes no database flags: {:?}",
            trivy_argv(&run)
        );
        run.command = "fs".into();
        run.network = true;
        run.target = "services/api/".into();
        assert!(
            trivy_argv(&run)
                .join(" ")
                .ends_with("--exit-code 0 /workspace/services/api")
        );
        run.command = "image".into();
        run.target = "127.0.0.1:5000/acme/app:abc".into();
        assert_eq!(
            trivy_argv(&run).last().unwrap(),
            "127.0.0.1:5000/acme/app:abc"
        );
    }

    #[test]
    fn trivy_paths_under_a_target_become_workspace_relative() {
        let fixture = |name: &str| {
            let path = format!("{}/tests/fixtures/trivy/{name}", env!("CARGO_MANIFEST_DIR"));
            trivy::parse_reader(BufReader::new(File::open(&path).unwrap())).unwrap()
        };
        // A folder target: Trivy's `Dockerfile` is the folder's.
        let issues = relative_to_workspace(fixture("dockerfile.json"), "./docker/", true);
        assert_eq!(issues[0].finding.path.as_deref(), Some("docker/Dockerfile"));
        assert_eq!(issues[0].file.as_deref(), Some("docker/Dockerfile"));
        // A file target: Trivy names it by its base name.
        let issues =
            relative_to_workspace(fixture("dockerfile.json"), "ops/Dockerfile.prod", false);
        assert_eq!(
            issues[0].finding.path.as_deref(),
            Some("ops/Dockerfile.prod")
        );
        // The workspace itself: nothing moves.
        let issues = relative_to_workspace(fixture("dockerfile.json"), ".", true);
        assert_eq!(issues[0].finding.path.as_deref(), Some("Dockerfile"));
        // A package keeps its name; the lock file it is in moves.
        let issues = relative_to_workspace(fixture("npm-licenses.json"), "web", true);
        assert_eq!(issues[0].finding.path.as_deref(), Some("gpl-thing"));
        assert_eq!(issues[0].file.as_deref(), Some("web/package-lock.json"));
    }

    #[test]
    fn a_crashed_tool_is_a_tool_error_with_its_stderr() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let code: i32 =
            std::fs::read_to_string(format!("{dir}/tests/fixtures/bandit/bandit-crash.exit"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
        let stderr =
            std::fs::read_to_string(format!("{dir}/tests/fixtures/bandit/bandit-crash.stderr"))
                .unwrap();
        match check_exit(
            "bandit",
            "bosun/python-tools:x",
            &output(code, &stderr),
            &[0, 1],
        ) {
            Err(StageError::ToolFailed(why)) => {
                assert!(
                    why.starts_with("bandit (image bosun/python-tools:x) exited with code 2: "),
                    "{why}"
                );
                assert!(why.contains("Could not read config file"), "{why}");
            }
            other => panic!("expected a tool error, got {other:?}"),
        }
        assert!(check_exit("bandit", "i", &output(1, ""), &[0, 1]).is_ok());
        match check_exit("trivy", "i", &output(139, ""), &[0]) {
            Err(StageError::ToolFailed(why)) => {
                assert!(
                    why.ends_with("exited with code 139: no output on stderr"),
                    "{why}"
                );
            }
            other => panic!("expected a tool error, got {other:?}"),
        }
    }

    #[test]
    fn reports_over_the_limit_are_refused_by_size() {
        let limit = 64 << 20;
        assert_eq!(size_error("trivy report r.json", limit, limit), None);
        assert_eq!(
            size_error("trivy report r.json", 100 << 20, limit).unwrap(),
            "trivy report r.json is 100.0 MiB, over the 64 MiB limit (raise `max_report_mb`, up to 192)"
        );
    }
}
