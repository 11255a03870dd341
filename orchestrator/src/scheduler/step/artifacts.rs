//! What a stage task says about artifacts: the files its step keeps, the attempts of
//! the stages it needs whose files it reads, and the token that allows both.

use super::Step;
use crate::artifacts::TokenScope;
use crate::config::StageSpec;
use crate::model::StageState;
use bosun_bus::artifacts::{ArtifactInput, TaskArtifacts};

impl Step<'_> {
    /// The artifacts part of `stage_name`'s task: `None` unless the stage is a command
    /// step that keeps files or needs a stage that kept some (a rollback never does).
    pub(super) fn task_artifacts(
        &self,
        spec: &StageSpec,
        stage_name: &str,
        attempt: u32,
    ) -> Option<TaskArtifacts> {
        let step = spec.step.as_ref().filter(|_| stage_name == spec.name)?;
        // Only a stage that passed is read; one allowed to fail offers nothing.
        let inputs: Vec<ArtifactInput> = spec
            .needs
            .iter()
            .filter(|need| {
                self.stage_spec(need)
                    .and_then(|needed| needed.step.as_ref())
                    .is_some_and(|needed| !needed.artifacts.is_empty())
            })
            .filter_map(|need| {
                let record = self.run.stage(need)?;
                (record.state == StageState::Success).then(|| ArtifactInput {
                    stage: need.clone(),
                    attempt: record.attempt,
                })
            })
            .collect();
        if step.artifacts.is_empty() && inputs.is_empty() {
            return None;
        }
        let scope = TokenScope {
            run: self.run.id.clone(),
            stage: stage_name.to_string(),
            attempt,
            reads: inputs.clone(),
        };
        Some(TaskArtifacts {
            keep: step.artifacts.clone(),
            inputs,
            token: scope.mint(self.artifact_key),
            max_run_bytes: self.settings.artifacts.max_run_bytes(),
        })
    }
}
