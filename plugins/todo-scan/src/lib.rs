//! Built-in stage plugin: reports TODO and FIXME markers in the workspace as findings.
//!
//! `with:` settings: `path` (folder to scan, default the whole workspace),
//! `max_markers` (fail when more are found; default: never fail).

use bosun_sdk::fs;
use bosun_sdk::prelude::*;

struct TodoScan;

impl Stage for TodoScan {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let root = task.config("path").unwrap_or(".");
        let limit = task
            .config("max_markers")
            .map(|_| task.config_u64("max_markers", 0))
            .transpose()?;
        let mut findings = Vec::new();
        for file in fs::walk_workspace(root)? {
            let Ok(text) = fs::read_workspace_string(&file) else {
                continue; // binary files are not source
            };
            for (index, line) in text.lines().enumerate() {
                for marker in ["TODO", "FIXME"] {
                    if let Some(col) = line.find(marker) {
                        let line_no = u32::try_from(index + 1).ok();
                        let column = u32::try_from(col + 1).ok();
                        findings.push(
                            Finding::new("todo-scan", marker, Severity::Info, line.trim()).at(
                                file.clone(),
                                line_no,
                                column,
                            ),
                        );
                    }
                }
            }
        }
        let count = findings.len() as u64;
        log::info(&format!("found {count} markers under {root}"));
        let summary = format!("{count} TODO/FIXME markers");
        let report = match limit {
            Some(max) if count > max => StageReport::failure(format!("{summary} (limit {max})")),
            _ => StageReport::success(summary),
        };
        Ok(report
            .with_findings(findings)
            .with_metric("markers", count as f64, "count"))
    }
}

bosun_sdk::export_stage!(TodoScan);
