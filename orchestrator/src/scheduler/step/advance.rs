//! Starting a run and moving it on: every pending stage whose needs are met is begun,
//! skipped (a `when` that does not match, a pull request's withheld stage) or blocked
//! (a need that did not pass); the run finishes when nothing is left in flight.

use super::Step;
use crate::config::StageSpec;
use crate::model::{RunStatus, StageState};
use crate::scheduler::event::{Event, EventKind};

/// Where a pending stage's `needs` stand.
enum NeedsStatus {
    /// A need is still in flight.
    Waiting,
    /// Every need passed (or may fail): the stage can begin.
    Ready,
    /// The named need did not pass: the stage will not run.
    Blocked(String),
}

impl Step<'_> {
    /// Start the run: mark it running and dispatch what is ready.
    pub fn start(&mut self) {
        self.run.status = RunStatus::Running;
        let waves: Vec<String> = self.config.waves().iter().map(|w| w.join(", ")).collect();
        let message = format!(
            "pipeline with {} stages: {}",
            self.config.stages.len(),
            waves.join(" → ")
        );
        let origin = serde_json::json!({ "origin": self.run.config_origin });
        self.record(Event::new(EventKind::RunStarted, message).data(origin));
        self.advance();
    }

    /// Dispatch every stage whose needs are met; skip those that cannot run; finish the
    /// run when nothing is left.
    pub fn advance(&mut self) {
        if self.run.status.is_final() {
            self.save();
            return;
        }
        // Settling one stage can unblock or block others: repeat until nothing changes.
        loop {
            let mut changed = false;
            for index in 0..self.run.stages.len() {
                if self.run.stages[index].state != StageState::Pending {
                    continue;
                }
                let name = self.run.stages[index].name.clone();
                let Some(spec) = self.stage_spec(&name).cloned() else {
                    continue;
                };
                match self.needs_status(&spec) {
                    NeedsStatus::Waiting => {}
                    NeedsStatus::Ready if !self.matrix_has_room(&spec) => {}
                    NeedsStatus::Blocked(by) => {
                        let stage = &mut self.run.stages[index];
                        stage.state = StageState::Skipped;
                        stage.blocked = true;
                        stage.finished_ms = Some(self.now);
                        stage.summary = format!("not run: {by} did not pass");
                        let message = format!("{name} not run: {by} did not pass");
                        self.record(Event::new(EventKind::StageSkipped, message).stage(&name));
                        changed = true;
                    }
                    NeedsStatus::Ready => {
                        let withheld =
                            crate::trust::withheld_from_pull_request(&spec, &self.run.trigger);
                        if let Some(why) = withheld {
                            let stage = &mut self.run.stages[index];
                            stage.state = StageState::Skipped;
                            stage.finished_ms = Some(self.now);
                            stage.summary = why.clone();
                            let message = format!("{name} {why}");
                            self.record(Event::new(EventKind::StageSkipped, message).stage(&name));
                        } else if !self.when_matches(&spec) {
                            let t = &self.run.trigger;
                            let message = format!(
                                "{name} skipped: `when` does not match branch {}, event {}",
                                t.branch, t.event
                            );
                            let stage = &mut self.run.stages[index];
                            stage.state = StageState::Skipped;
                            stage.finished_ms = Some(self.now);
                            stage.summary = "skipped: its `when` does not match".into();
                            self.record(Event::new(EventKind::StageSkipped, message).stage(&name));
                        } else if self.hold_for_approval(&spec) {
                            // Waits for a person: its state says so.
                        } else if self.group_admits(&spec, index) {
                            self.begin_attempt(&spec, 1);
                        } else if self.run.stages[index].state == StageState::Pending {
                            // Waits for its concurrency group: nothing changed.
                            continue;
                        }
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let busy = self
            .run
            .stages
            .iter()
            .any(|s| !s.state.is_settled() || matches!(s.rollback, Some(StageState::Running)));
        if !busy {
            self.finish();
        }
        self.save();
    }

    /// Whether `spec`'s `when` matches the run, drawing its `paths` check on the run's
    /// budget; when that runs out, says so once in the run's events and the log.
    fn when_matches(&mut self, spec: &StageSpec) -> bool {
        let mut budget = bosun_config::PathsBudget::per_run(self.run.paths_budget_spent);
        let was_spent = budget.is_spent();
        let t = &self.run.trigger;
        let matched =
            spec.when
                .matches(&t.branch, &t.event, t.changed_paths.as_deref(), &mut budget);
        self.run.paths_budget_spent = budget.spent();
        if budget.is_spent() && !was_spent {
            let changed = t.changed_paths.as_ref().map_or(0, Vec::len);
            let message = format!(
                "stage {}: `when.paths` could not be decided within the run's budget of {} \
                 matching steps for {changed} changed paths; this stage and every later \
                 `paths` condition of the run count as matched",
                spec.name,
                budget.limit()
            );
            tracing::warn!(run_id = %self.run.id, stage = %spec.name, "{message}");
            self.record(Event::new(EventKind::PathsUndecided, message).stage(&spec.name));
        }
        matched
    }

    fn needs_status(&self, spec: &StageSpec) -> NeedsStatus {
        let mut waiting = false;
        for need in &spec.needs {
            let Some(stage) = self.run.stage(need) else {
                continue;
            };
            let allow_failure = self
                .stage_spec(need)
                .map(|s| s.allow_failure)
                .unwrap_or(false);
            match stage.state {
                StageState::Success => {}
                StageState::Skipped if !stage.blocked => {}
                StageState::Failure | StageState::Errored if allow_failure => {}
                StageState::Failure
                | StageState::Errored
                | StageState::Skipped
                | StageState::Cancelled => return NeedsStatus::Blocked(need.clone()),
                _ => waiting = true,
            }
        }
        if waiting {
            NeedsStatus::Waiting
        } else {
            NeedsStatus::Ready
        }
    }
}
