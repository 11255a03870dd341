//! The custom-plugin walk-through: a stage that flags source files longer than `max_lines`.
use bosun_sdk::{fs, prelude::*};

struct LongFiles;

impl Stage for LongFiles {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let max = task.config_u64("max_lines", 300)?;
        let mut findings = Vec::new();
        for path in fs::walk_workspace(".")? {
            let Ok(text) = fs::read_workspace_string(&path) else {
                continue; // not text
            };
            let lines = text.lines().count() as u64;
            if lines > max {
                let message = format!("{lines} lines, more than {max}");
                findings.push(
                    Finding::new("long-files", "too-long", Severity::Low, message)
                        .at(path, None, None),
                );
            }
        }
        log::info(&format!("checked files against a limit of {max} lines"));
        let summary = format!("{} files longer than {max} lines", findings.len());
        let report = if findings.is_empty() {
            StageReport::success(summary)
        } else {
            StageReport::failure(summary)
        };
        Ok(report.with_findings(findings))
    }
}

bosun_sdk::export_stage!(LongFiles, name = "long-files");
