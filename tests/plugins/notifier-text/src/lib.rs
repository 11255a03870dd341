//! Notifier fixture: a run summary as a small Slack Block Kit message.

use bosun_sdk::prelude::*;

/// The notifier; public so native builds, which do not export it, still use it.
pub struct Text;

impl Notifier for Text {
    fn format(summary: &RunSummary) -> Result<String, String> {
        if summary.run_id.is_empty() {
            return Err("the run summary has no run id".into());
        }
        let status = match summary.status {
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::Halted => "halted",
            RunStatus::Cancelled => "cancelled",
        };
        let mut lines = vec![format!(
            "*{}* on `{}`: {status}",
            summary.repository, summary.branch
        )];
        for stage in &summary.stages {
            let outcome = match stage.status {
                StageStatus::Success => "passed",
                StageStatus::Failure => "failed",
                StageStatus::Errored => "errored",
                StageStatus::Skipped => "skipped",
                StageStatus::Cancelled => "cancelled",
            };
            lines.push(format!(
                "• {} {outcome} in {} ms ({} attempts)",
                stage.name, stage.duration_ms, stage.attempts
            ));
        }
        lines.extend(summary.flaky_tests.iter().map(|t| format!("flaky: {t}")));
        let blocks = serde_json::json!({
            "text": format!("{} {status}", summary.repository),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}],
        });
        Ok(blocks.to_string())
    }
}

bosun_sdk::export_notifier!(Text, name = "notifier-text");
