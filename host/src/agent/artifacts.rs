//! A stage task's artifacts on the agent: before the plugin runs, the files of the
//! stages the step needs are downloaded (and checked) into the task's folder; after it,
//! the files the step kept are uploaded, before the result is published, so a later
//! stage never starts without them. The token stays here: the plugin and the step
//! never see it.

use super::Agent;
use super::workspace::Workspace;
use crate::artifacts::{ArtifactClient, StepArtifacts, TransferError};
use bosun_bus::messages::TaskMessage;
use bosun_bus::{LogLevel, LogLine, Outcome, StageFailure, StageFailureKind, StageResult};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Most lines about skipped files added to an attempt's log.
const MAX_SKIPPED_LINES: usize = 20;

impl Agent {
    /// The client artifacts go through, when the agent knows the orchestrator's URL.
    pub(super) fn artifact_client(&self) -> Option<&ArtifactClient> {
        self.artifacts.as_ref()
    }

    /// Download the needed stages' files and make the folder the step keeps files in;
    /// `Err` is the failure the attempt ends with.
    pub(super) async fn prepare_artifacts(
        &self,
        message: &TaskMessage,
        workspace: &Workspace,
    ) -> Result<Option<Arc<StepArtifacts>>, StageFailure> {
        let Some(plan) = &message.artifacts else {
            return Ok(None);
        };
        let task = &message.task;
        let infrastructure = |text: String| StageFailure {
            kind: StageFailureKind::Infrastructure,
            message: text,
        };
        let Some(client) = self.artifact_client() else {
            return Err(infrastructure(format!(
                "agent {} was started without the orchestrator's URL (--orchestrator-url), and stage {} keeps or reads artifacts",
                self.settings.agent_id, task.stage
            )));
        };
        let folder = |name: &str| {
            workspace
                .own_folder(name)
                .map_err(|e| infrastructure(e.to_string()))
        };
        let inputs = if plan.inputs.is_empty() {
            None
        } else {
            let into = folder("artifacts")?;
            let mut budget = plan.max_run_bytes;
            for input in &plan.inputs {
                let (files, bytes) = client
                    .download(&task.run_id, &plan.token, input, &into, &mut budget)
                    .await
                    .map_err(|e| {
                        infrastructure(format!(
                            "the artifacts of {} could not be read: {e}",
                            input.stage
                        ))
                    })?;
                tracing::info!(from = %input.stage, files, bytes, "artifacts downloaded");
            }
            let readable = into.clone();
            tokio::task::spawn_blocking(move || open_to_step(&readable))
                .await
                .map_err(|e| infrastructure(e.to_string()))?
                .map_err(|e| infrastructure(format!("artifacts folder: {e}")))?;
            Some(into)
        };
        Ok(Some(Arc::new(StepArtifacts::new(
            inputs,
            plan.keep.clone(),
            folder("kept")?,
            plan.max_run_bytes,
            self.settings
                .secrets
                .iter()
                .map(|(_, v)| v.clone())
                .collect(),
        ))))
    }

    /// Upload what the step kept and say so in the attempt's log; a step that kept too
    /// much, or whose files the orchestrator refused, fails; one whose upload could not
    /// get through fails as infrastructure (tried again).
    pub(super) async fn upload_artifacts(
        &self,
        message: &TaskMessage,
        artifacts: &StepArtifacts,
        result: &mut StageResult,
    ) {
        let (Some(plan), Some(client)) = (&message.artifacts, self.artifact_client()) else {
            return;
        };
        let Some(kept) = artifacts.take() else {
            return;
        };
        let task = &message.task;
        let at_ms = result.duration_ms;
        let mut say = |level, text: String| {
            result.logs.push(LogLine {
                at_ms,
                level,
                source: "log".into(),
                message: text,
            });
        };
        for skipped in kept.skipped.iter().take(MAX_SKIPPED_LINES) {
            say(LogLevel::Warn, format!("artifact not kept: {skipped}"));
        }
        if let Some(why) = &kept.over_cap {
            say(LogLevel::Error, format!("artifacts: {why}"));
            fail(result, format!("artifacts not kept: {why}"));
            return;
        }
        if kept.files.is_empty() {
            return;
        }
        let left = message
            .deadline_unix_ms
            .saturating_sub(super::now_unix_ms());
        let limit = if message.deadline_unix_ms == 0 {
            Duration::from_secs(3600)
        } else {
            Duration::from_millis(left.max(1_000))
        };
        let upload = client.upload(
            (&task.run_id, &task.stage, task.attempt),
            &plan.token,
            &artifacts.kept,
            &kept.files,
        );
        let outcome = match tokio::time::timeout(limit, upload).await {
            Ok(outcome) => outcome,
            Err(_) => Err(TransferError::Unreachable {
                what: "the artifacts' upload".into(),
                message: "it did not finish before the stage's deadline".into(),
            }),
        };
        match outcome {
            Ok(bytes) => {
                let names: Vec<&str> = kept
                    .files
                    .iter()
                    .take(10)
                    .map(|f| f.path.as_str())
                    .collect();
                let more = kept.files.len().saturating_sub(names.len());
                let tail = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                result.logs.push(LogLine {
                    at_ms,
                    level: LogLevel::Info,
                    source: "log".into(),
                    message: format!(
                        "kept {} artifact files ({} KiB): {}{tail}",
                        kept.files.len(),
                        bytes.div_ceil(1024),
                        names.join(", ")
                    ),
                });
            }
            Err(e) if e.is_refusal() => {
                tracing::warn!(error = %e, "artifacts refused");
                fail(result, format!("artifacts not kept: {e}"));
            }
            Err(e) => {
                tracing::warn!(error = %e, "artifacts not uploaded");
                result.report = None;
                result.failure = Some(StageFailure {
                    kind: StageFailureKind::Infrastructure,
                    message: format!("the step's artifacts could not be uploaded: {e}"),
                });
            }
        }
    }
}

/// Turn a result into a failure that says `why`, keeping its report (tests, findings).
fn fail(result: &mut StageResult, why: String) {
    match &mut result.report {
        Some(report) => {
            report.outcome = Outcome::Failure;
            report.summary = format!("{why}; {}", report.summary);
        }
        None if result.failure.is_none() => {
            result.failure = Some(StageFailure {
                kind: StageFailureKind::BadToolOutput,
                message: why,
            });
        }
        None => {}
    }
}

/// Folders `0755` and files `0644` under `dir`: the step's user reads them, whatever
/// the agent's umask.
fn open_to_step(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            open_to_step(&entry.path())?;
        } else if kind.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}
