//! Applying an attempt's result: stale and duplicate results are ignored, a pass goes
//! to the after-stage gate or settles, a failure is retried with backoff, settles, halts
//! the run at `max_failures`, or starts the stage's rollback.

use super::{ROLLBACK_SUFFIX, Step, result_summary};
use crate::metrics::StageLabels;
use crate::model::StageState;
use crate::scheduler::event::{Event, EventKind};
use crate::scheduler::journal::Write;
use crate::scheduler::{CheckPhase, StatusState};
use bosun_bus::policy::PolicyPhase;
use bosun_bus::{Outcome, StageReport, StageResult};

/// What a stage attempt's result means for the schedule.
enum Verdict {
    Passed,
    /// Failed; `retryable` says whether another attempt could plausibly pass.
    Failed {
        retryable: bool,
        errored: bool,
    },
}

fn classify(result: &StageResult) -> Verdict {
    match (&result.report, &result.failure) {
        (Some(report), _) => match report.outcome {
            Outcome::Success | Outcome::Skipped => Verdict::Passed,
            // Failing tests may be flaky: another attempt can tell. Findings of a
            // linter or scanner are deterministic: retrying them wastes the agent.
            Outcome::Failure => Verdict::Failed {
                retryable: has_test_failures(report),
                errored: false,
            },
        },
        (None, Some(failure)) => Verdict::Failed {
            retryable: failure.kind.is_retryable(),
            errored: true,
        },
        (None, None) => Verdict::Failed {
            retryable: true,
            errored: true,
        },
    }
}

fn has_test_failures(report: &StageReport) -> bool {
    !report.test_failures.is_empty()
        || report
            .tests
            .map(|t| t.failed + t.errors > 0)
            .unwrap_or(false)
}

impl Step<'_> {
    /// Apply an attempt's result; `false` when it is stale or a duplicate.
    pub fn apply_result(
        &mut self,
        agent_id: &str,
        stage_name: &str,
        attempt: u32,
        result: StageResult,
        retry_allowed: bool,
    ) -> bool {
        if let Some(base) = stage_name.strip_suffix(ROLLBACK_SUFFIX)
            && self.run.stage(stage_name).is_none()
        {
            return self.apply_rollback_result(agent_id, base, attempt, result);
        }
        let Some(stage) = self.run.stage(stage_name) else {
            return false;
        };
        if stage.state != StageState::Running
            || stage.attempt != attempt
            || self.run.status.is_final()
        {
            let ignored = format!(
                "result for {stage_name} attempt {attempt} from {agent_id} ignored: the attempt is already settled or superseded"
            );
            self.record(
                Event::new(EventKind::ResultIgnored, ignored)
                    .stage(stage_name)
                    .attempt(attempt),
            );
            return false;
        }
        let Some(spec) = self.stage_spec(stage_name).cloned() else {
            return false;
        };
        if agent_id != "orchestrator"
            && agent_id != "dead-letter"
            && let Some(deadline) = self.run.stage(stage_name).and_then(|s| s.deadline_ms)
        {
            let dispatched = deadline.saturating_sub(spec.timeout.as_millis() as u64);
            let waited = self
                .now
                .saturating_sub(dispatched)
                .saturating_sub(result.duration_ms);
            self.metrics
                .task_wait_seconds
                .get_or_create(&StageLabels {
                    stage: stage_name.to_string(),
                })
                .observe(waited as f64 / 1000.0);
        }
        let verdict = classify(&result);
        let summary = result_summary(&result);
        let plugin = result
            .plugin
            .as_ref()
            .map(|p| format!("{}@{} ({})", p.name, p.version, p.digest));
        let arrived = format!("{stage_name} attempt {attempt} from {agent_id}: {summary}");
        let data = serde_json::json!({ "agent": agent_id, "plugin": plugin, "duration_ms": result.duration_ms });
        self.record(
            Event::new(EventKind::StageResult, arrived)
                .stage(stage_name)
                .attempt(attempt)
                .data(data),
        );
        let report = result.report.clone();
        self.journal.writes.push(Write::Settled {
            run_id: self.run.id.clone(),
            stage: stage_name.to_string(),
            attempt,
            agent_id: agent_id.to_string(),
            result: Box::new(result),
            at_ms: self.now,
        });
        if let Some(stage) = self.run.stage_mut(stage_name) {
            stage.summary = summary.clone();
            stage.deadline_ms = None;
        }
        match verdict {
            Verdict::Passed => {
                let policies = self.policies(stage_name, PolicyPhase::AfterStage);
                if policies.is_empty() {
                    self.settle(stage_name, StageState::Success, summary);
                } else {
                    self.request_gate(&spec, attempt, PolicyPhase::AfterStage, policies, report);
                }
            }
            Verdict::Failed { retryable, errored } => {
                self.run.failures += 1;
                let state = if errored {
                    StageState::Errored
                } else {
                    StageState::Failure
                };
                if let Some(max) = self.config.max_failures
                    && self.run.failures >= max
                {
                    self.settle(stage_name, state, summary);
                    self.halt(format!(
                        "halted after {} failed attempts (max_failures: {max}); last: {stage_name}",
                        self.run.failures
                    ));
                } else if retryable && retry_allowed && attempt <= spec.retries {
                    let delay = spec.backoff.delay(attempt);
                    let at = self.now + delay.as_millis() as u64;
                    if let Some(stage) = self.run.stage_mut(stage_name) {
                        stage.state = StageState::RetryWait;
                        stage.next_attempt_ms = Some(at);
                    }
                    self.metrics
                        .retries
                        .get_or_create(&StageLabels {
                            stage: stage_name.to_string(),
                        })
                        .inc();
                    let scheduled = format!(
                        "{stage_name} attempt {} in {} ms (retry {attempt} of {})",
                        attempt + 1,
                        delay.as_millis(),
                        spec.retries
                    );
                    let data = serde_json::json!({ "delay_ms": delay.as_millis() as u64 });
                    self.record(
                        Event::new(EventKind::StageRetryScheduled, scheduled)
                            .stage(stage_name)
                            .attempt(attempt + 1)
                            .data(data),
                    );
                } else {
                    self.settle(stage_name, state, summary);
                    if spec.rollback.is_some() {
                        self.dispatch_rollback(&spec);
                    }
                }
            }
        }
        self.advance();
        true
    }

    /// Settle the stage as `state`: metrics, the stage record, its event and its
    /// commit status.
    pub(super) fn settle(&mut self, stage_name: &str, state: StageState, summary: String) {
        if let Some(started) = self.run.stage(stage_name).and_then(|s| s.started_ms) {
            self.metrics
                .stage_seconds
                .get_or_create(&StageLabels {
                    stage: stage_name.to_string(),
                })
                .observe(self.now.saturating_sub(started) as f64 / 1000.0);
        }
        if let Some(stage) = self.run.stage_mut(stage_name) {
            stage.state = state;
            stage.finished_ms = Some(self.now);
            stage.gate = None;
            stage.deadline_ms = None;
            stage.summary = summary.clone();
        }
        let (kind, status) = match state {
            StageState::Success => (EventKind::StagePassed, StatusState::Success),
            StageState::Failure => (EventKind::StageFailed, StatusState::Failure),
            _ => (EventKind::StageErrored, StatusState::Error),
        };
        self.record(Event::new(kind, format!("{stage_name}: {summary}")).stage(stage_name));
        self.status(&format!("bosun/{stage_name}"), status, summary);
        self.check(stage_name, CheckPhase::Completed { at_ms: self.now });
        if matches!(state, StageState::Failure | StageState::Errored) {
            self.matrix_fail_fast(stage_name);
        }
    }
}
