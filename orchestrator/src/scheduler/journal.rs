//! Writes a scheduling step makes, buffered so they commit in one transaction after the
//! in-memory state has changed, and before any effect (a published task, a status) leaves.

use super::event::Event;
use crate::model::RunRecord;
use crate::store::{StoreError, Writer};
use bosun_bus::StageResult;
use bosun_bus::messages::DeadLetter;

/// One buffered write.
#[derive(Debug)]
pub enum Write {
    /// Save a run's state document.
    SaveRun(Box<RunRecord>),
    /// Append to the audit log.
    Event {
        /// The run.
        run_id: String,
        /// When, ms since the epoch.
        at_ms: u64,
        /// What happened.
        event: Event,
    },
    /// An attempt went out.
    Dispatched {
        /// The run the attempt belongs to.
        run_id: String,
        /// Stage (or `<stage>-rollback`).
        stage: String,
        /// The attempt number, from 1.
        attempt: u32,
        /// When it was sent (ms since the epoch).
        at_ms: u64,
        /// Its deadline.
        deadline_ms: u64,
    },
    /// An attempt's result.
    Settled {
        /// The run the attempt belongs to.
        run_id: String,
        /// The stage it ran.
        stage: String,
        /// The attempt number, from 1.
        attempt: u32,
        /// The agent.
        agent_id: String,
        /// The result.
        result: Box<StageResult>,
        /// When the result arrived (ms since the epoch).
        at_ms: u64,
    },
    /// A policy question.
    GateRequested {
        /// Request id.
        request_id: String,
        /// The run the gate belongs to.
        run_id: String,
        /// The stage it guards.
        stage: String,
        /// Phase name.
        phase: &'static str,
        /// When it was decided (ms since the epoch).
        at_ms: u64,
    },
    /// A policy answer.
    GateAnswered {
        /// Request id.
        request_id: String,
        /// Verdicts as JSON.
        verdicts: serde_json::Value,
        /// When it was recorded (ms since the epoch).
        at_ms: u64,
    },
    /// A notification's outcome.
    Notification {
        /// The run the notification is about.
        run_id: String,
        /// `slack`, `email` or `github`.
        channel: String,
        /// `sent` or `failed`.
        status: String,
        /// HTTP attempts.
        attempts: u32,
        /// What the notifier or the receiver answered.
        detail: String,
        /// When it was sent (ms since the epoch).
        at_ms: u64,
    },
    /// A dead letter.
    DeadLetter(Box<DeadLetter>, u64),
    /// A re-run reuses a stage: its attempts are copied from the run that ran them.
    ReuseAttempts {
        /// The run it re-runs.
        from: String,
        /// The re-run.
        to: String,
        /// The stage carried over from the original run.
        stage: String,
    },
}

/// The writes of one step, in order.
#[derive(Debug, Default)]
pub struct Journal {
    /// Buffered writes.
    pub writes: Vec<Write>,
}

impl Journal {
    /// Append `event` to run `run_id`'s audit log, at `at_ms`.
    pub fn event(&mut self, run_id: &str, at_ms: u64, event: Event) {
        self.writes.push(Write::Event {
            run_id: run_id.to_string(),
            at_ms,
            event,
        });
    }

    /// Save the run's state document as it is now.
    pub fn save_run(&mut self, run: &RunRecord) {
        self.writes.push(Write::SaveRun(Box::new(run.clone())));
    }

    /// Apply every write inside one transaction.
    pub fn apply(self, w: &Writer<'_>) -> Result<(), StoreError> {
        for write in self.writes {
            match write {
                Write::SaveRun(run) => w.save_run(&run)?,
                Write::Event {
                    run_id,
                    at_ms,
                    event,
                } => w.event(
                    &run_id,
                    at_ms,
                    event.kind.as_str(),
                    event.stage.as_deref(),
                    event.attempt,
                    &event.message,
                    event.data.as_ref(),
                )?,
                Write::Dispatched {
                    run_id,
                    stage,
                    attempt,
                    at_ms,
                    deadline_ms,
                } => w.insert_attempt(&run_id, &stage, attempt, at_ms, deadline_ms)?,
                Write::Settled {
                    run_id,
                    stage,
                    attempt,
                    agent_id,
                    result,
                    at_ms,
                } => {
                    w.settle_attempt(&run_id, &stage, attempt, &agent_id, &result, at_ms)?;
                }
                Write::GateRequested {
                    request_id,
                    run_id,
                    stage,
                    phase,
                    at_ms,
                } => w.gate_requested(&request_id, &run_id, &stage, phase, at_ms)?,
                Write::GateAnswered {
                    request_id,
                    verdicts,
                    at_ms,
                } => {
                    w.gate_answered(&request_id, &verdicts, at_ms)?;
                }
                Write::Notification {
                    run_id,
                    channel,
                    status,
                    attempts,
                    detail,
                    at_ms,
                } => w.notification(&run_id, &channel, &status, attempts, &detail, at_ms)?,
                Write::DeadLetter(letter, at_ms) => w.dead_letter(&letter, at_ms)?,
                Write::ReuseAttempts { from, to, stage } => {
                    let rollback = format!("{stage}{}", super::ROLLBACK_SUFFIX);
                    w.copy_attempts(&from, &to, &stage, &rollback)?;
                }
            }
        }
        Ok(())
    }
}
