//! The `escape` mode: tries each way out of the filesystem sandbox and reports, one
//! finding per attempt, whether the host allowed it.
//!
//! The test that runs this mode creates `/workspace/link-to-passwd` (a symlink to
//! `/etc/passwd`) and `/workspace/link-to-etc` (a symlink to `/etc`) first.

use bosun_sdk::prelude::*;

/// Try everything; the outcome is a failure when any attempt was allowed.
pub(crate) fn attempt_all() -> StageReport {
    let findings = vec![
        read("etc-passwd", "/etc/passwd"),
        read("dotdot", "/workspace/../etc/passwd"),
        read("relative-dotdot", "../etc/passwd"),
        read("symlink-file", "/workspace/link-to-passwd"),
        read("symlink-dir", "/workspace/link-to-etc/passwd"),
        finding(
            "write-workspace",
            std::fs::write("/workspace/new-file", b"written by hostile")
                .map(|()| "wrote 18 bytes to /workspace/new-file".to_string())
                .map_err(|e| format!("writing /workspace/new-file: {e}")),
        ),
        finding("list-root", list("/")),
        finding("env", environment()),
    ];
    let allowed = findings
        .iter()
        .filter(|f| f.message.starts_with("allowed:"))
        .count();
    let summary = format!("{allowed} of {} escape attempts allowed", findings.len());
    let report = if allowed == 0 {
        StageReport::success(summary)
    } else {
        StageReport::failure(summary)
    };
    report.with_findings(findings)
}

/// `allowed: <detail>` (critical) or `denied: <detail>` (info).
fn finding(rule: &str, result: Result<String, String>) -> Finding {
    let (severity, message) = match result {
        Ok(detail) => (Severity::Critical, format!("allowed: {detail}")),
        Err(detail) => (Severity::Info, format!("denied: {detail}")),
    };
    Finding::new("hostile", rule, severity, message)
}

fn read(rule: &str, path: &str) -> Finding {
    let result = std::fs::read(path)
        .map(|bytes| {
            let text = String::from_utf8_lossy(&bytes);
            let first: String = text.lines().next().unwrap_or("").chars().take(80).collect();
            format!(
                "read {} bytes from {path}, first line {first:?}",
                bytes.len()
            )
        })
        .map_err(|e| format!("reading {path}: {e}"));
    finding(rule, result)
}

fn list(path: &str) -> Result<String, String> {
    let entries = std::fs::read_dir(path).map_err(|e| format!("listing {path}: {e}"))?;
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    Ok(format!(
        "listed {} entries in {path}: {}",
        names.len(),
        names.join(", ")
    ))
}

/// Anything in the environment or argv could leak host secrets; names only, no values.
fn environment() -> Result<String, String> {
    let names: Vec<String> = std::env::vars_os()
        .map(|(key, _)| key.to_string_lossy().into_owned())
        .collect();
    let args = std::env::args_os().count();
    let vars = match names.len() {
        0 => "no environment variables".to_string(),
        n => format!("{n} environment variables ({})", names.join(", ")),
    };
    let detail = format!("{vars} and {args} arguments visible");
    if names.is_empty() && args == 0 {
        Err(detail)
    } else {
        Ok(detail)
    }
}
