//! The audit log's event kinds and one event as the scheduler records it.
//!
//! The kinds are stored as text (`run.created`, `stage.dispatched`, …) and read back by
//! the dashboard, the API and the tests: [`EventKind::as_str`] is that text and must not
//! change for an existing kind.

/// What happened to a run, as stored in the event log's `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A trigger made a run (`run.created`).
    RunCreated,
    /// A fork's run waits for a tenant member (`run.awaiting-approval`).
    RunAwaitingApproval,
    /// A tenant member approved a fork's run (`run.approved`).
    RunApproved,
    /// The pipeline config could not be loaded or was refused (`run.config-error`).
    RunConfigError,
    /// The config arrived and the run began (`run.started`).
    RunStarted,
    /// Every stage passed or was allowed to fail (`run.passed`).
    RunPassed,
    /// A stage that must pass did not (`run.failed`).
    RunFailed,
    /// A policy or `max_failures` stopped the run (`run.halted`).
    RunHalted,
    /// A newer push or an operator cancelled the run (`run.cancelled`).
    RunCancelled,
    /// The run has a new owner among several orchestrators, with its lease token
    /// (`run.owner`).
    RunOwner,
    /// The run was made as a re-run of an earlier one (`run.rerun`).
    RunRerun,
    /// A re-run of this run was started (`run.rerun-started`, in the original's log).
    RunRerunStarted,
    /// A re-run reuses the stage's result from the run it repeats (`stage.reused`).
    StageReused,
    /// A stage will not run (`stage.skipped`).
    StageSkipped,
    /// The run's `when.paths` matching budget ran out at this stage: its and every later
    /// `paths` condition count as matched (`when.paths-undecided`).
    PathsUndecided,
    /// An attempt was sent to the agents (`stage.dispatched`).
    StageDispatched,
    /// An attempt was sent again after a restart (`stage.redispatched`).
    StageRedispatched,
    /// An attempt's result arrived (`stage.result`).
    StageResult,
    /// A failed attempt will be retried after a backoff (`stage.retry-scheduled`).
    StageRetryScheduled,
    /// An attempt passed its deadline without a result (`stage.deadline`).
    StageDeadline,
    /// A stage settled as passed (`stage.passed`).
    StagePassed,
    /// A stage settled as failed by its code (`stage.failed`).
    StageFailed,
    /// A stage settled as unable to run (`stage.errored`).
    StageErrored,
    /// A stage waits for its concurrency group, or takes it (`stage.waiting`).
    StageWaiting,
    /// A matrix instance was stopped because another failed, `fail_fast` (`stage.cancelled`).
    StageCancelled,
    /// A result for a settled or superseded attempt was dropped (`result.ignored`).
    ResultIgnored,
    /// Policies were asked, or a stage began to wait for an approval (`gate.requested`).
    GateRequested,
    /// Every policy allowed, or an approver approved (`gate.allowed`).
    GateAllowed,
    /// A policy warned (`gate.warned`).
    GateWarned,
    /// A policy denied, the gate timed out, or an approval was rejected or timed out
    /// (`gate.denied`).
    GateDenied,
    /// Someone who may not decide a stage's approval asked to (`approval.refused`).
    ApprovalRefused,
    /// A failed stage's rollback was sent (`rollback.dispatched`).
    RollbackDispatched,
    /// The rollback passed (`rollback.passed`).
    RollbackPassed,
    /// The rollback failed or timed out (`rollback.failed`).
    RollbackFailed,
    /// The notifier was asked to format the run's notification (`notify.requested`).
    NotifyRequested,
    /// A notification or commit status went out (`notify.sent`).
    NotifySent,
    /// A notification or commit status could not be sent (`notify.failed`).
    NotifyFailed,
    /// Retention dropped an attempt's logs to keep the tenant's log budget (`logs.pruned`).
    LogsPruned,
}

impl EventKind {
    /// The text stored in the event log (fixed: the dashboard and tests read it).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RunCreated => "run.created",
            EventKind::RunAwaitingApproval => "run.awaiting-approval",
            EventKind::RunApproved => "run.approved",
            EventKind::RunConfigError => "run.config-error",
            EventKind::RunStarted => "run.started",
            EventKind::RunPassed => "run.passed",
            EventKind::RunFailed => "run.failed",
            EventKind::RunHalted => "run.halted",
            EventKind::RunCancelled => "run.cancelled",
            EventKind::RunOwner => "run.owner",
            EventKind::RunRerun => "run.rerun",
            EventKind::RunRerunStarted => "run.rerun-started",
            EventKind::StageReused => "stage.reused",
            EventKind::StageSkipped => "stage.skipped",
            EventKind::PathsUndecided => "when.paths-undecided",
            EventKind::StageDispatched => "stage.dispatched",
            EventKind::StageRedispatched => "stage.redispatched",
            EventKind::StageResult => "stage.result",
            EventKind::StageRetryScheduled => "stage.retry-scheduled",
            EventKind::StageDeadline => "stage.deadline",
            EventKind::StagePassed => "stage.passed",
            EventKind::StageFailed => "stage.failed",
            EventKind::StageErrored => "stage.errored",
            EventKind::StageCancelled => "stage.cancelled",
            EventKind::StageWaiting => "stage.waiting",
            EventKind::ResultIgnored => "result.ignored",
            EventKind::GateRequested => "gate.requested",
            EventKind::GateAllowed => "gate.allowed",
            EventKind::GateWarned => "gate.warned",
            EventKind::GateDenied => "gate.denied",
            EventKind::ApprovalRefused => "approval.refused",
            EventKind::RollbackDispatched => "rollback.dispatched",
            EventKind::RollbackPassed => "rollback.passed",
            EventKind::RollbackFailed => "rollback.failed",
            EventKind::NotifyRequested => "notify.requested",
            EventKind::NotifySent => "notify.sent",
            EventKind::NotifyFailed => "notify.failed",
            EventKind::LogsPruned => "logs.pruned",
        }
    }
}

/// One entry for the audit log; the run and the time are added where it is recorded.
///
/// Built as `Event::new(kind, message)`, with `.stage(…)`, `.attempt(…)` and `.data(…)`
/// when the event is about one stage attempt or carries details.
#[derive(Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The stage it happened to, if any.
    pub stage: Option<String>,
    /// The attempt it happened to, if any.
    pub attempt: Option<u32>,
    /// One line for people.
    pub message: String,
    /// Details for the dashboard and API, as JSON.
    pub data: Option<serde_json::Value>,
}

impl Event {
    /// A run-level event.
    pub fn new(kind: EventKind, message: String) -> Event {
        Event {
            kind,
            stage: None,
            attempt: None,
            message,
            data: None,
        }
    }

    /// About `stage`.
    pub fn stage(mut self, stage: &str) -> Event {
        self.stage = Some(stage.to_string());
        self
    }

    /// About attempt `attempt` (of the stage).
    pub fn attempt(mut self, attempt: u32) -> Event {
        self.attempt = Some(attempt);
        self
    }

    /// With details.
    pub fn data(mut self, data: serde_json::Value) -> Event {
        self.data = Some(data);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The stored text of every kind, written out again: changing one breaks stored
    /// runs' event logs as the dashboard and API read them. Exhaustive, so a new kind
    /// must be added here (and to [`ALL`]) to compile.
    fn stored_text(kind: EventKind) -> &'static str {
        match kind {
            EventKind::RunCreated => "run.created",
            EventKind::RunAwaitingApproval => "run.awaiting-approval",
            EventKind::RunApproved => "run.approved",
            EventKind::RunConfigError => "run.config-error",
            EventKind::RunStarted => "run.started",
            EventKind::RunPassed => "run.passed",
            EventKind::RunFailed => "run.failed",
            EventKind::RunHalted => "run.halted",
            EventKind::RunCancelled => "run.cancelled",
            EventKind::RunOwner => "run.owner",
            EventKind::RunRerun => "run.rerun",
            EventKind::RunRerunStarted => "run.rerun-started",
            EventKind::StageReused => "stage.reused",
            EventKind::StageSkipped => "stage.skipped",
            EventKind::PathsUndecided => "when.paths-undecided",
            EventKind::StageDispatched => "stage.dispatched",
            EventKind::StageRedispatched => "stage.redispatched",
            EventKind::StageResult => "stage.result",
            EventKind::StageRetryScheduled => "stage.retry-scheduled",
            EventKind::StageDeadline => "stage.deadline",
            EventKind::StagePassed => "stage.passed",
            EventKind::StageFailed => "stage.failed",
            EventKind::StageErrored => "stage.errored",
            EventKind::StageCancelled => "stage.cancelled",
            EventKind::StageWaiting => "stage.waiting",
            EventKind::ResultIgnored => "result.ignored",
            EventKind::GateRequested => "gate.requested",
            EventKind::GateAllowed => "gate.allowed",
            EventKind::GateWarned => "gate.warned",
            EventKind::GateDenied => "gate.denied",
            EventKind::ApprovalRefused => "approval.refused",
            EventKind::RollbackDispatched => "rollback.dispatched",
            EventKind::RollbackPassed => "rollback.passed",
            EventKind::RollbackFailed => "rollback.failed",
            EventKind::NotifyRequested => "notify.requested",
            EventKind::NotifySent => "notify.sent",
            EventKind::NotifyFailed => "notify.failed",
            EventKind::LogsPruned => "logs.pruned",
        }
    }

    /// Every kind, in declaration order.
    const ALL: [EventKind; 38] = [
        EventKind::RunCreated,
        EventKind::RunAwaitingApproval,
        EventKind::RunApproved,
        EventKind::RunConfigError,
        EventKind::RunStarted,
        EventKind::RunPassed,
        EventKind::RunFailed,
        EventKind::RunHalted,
        EventKind::RunCancelled,
        EventKind::RunOwner,
        EventKind::RunRerun,
        EventKind::RunRerunStarted,
        EventKind::StageReused,
        EventKind::StageSkipped,
        EventKind::PathsUndecided,
        EventKind::StageDispatched,
        EventKind::StageRedispatched,
        EventKind::StageResult,
        EventKind::StageRetryScheduled,
        EventKind::StageDeadline,
        EventKind::StagePassed,
        EventKind::StageFailed,
        EventKind::StageErrored,
        EventKind::StageCancelled,
        EventKind::StageWaiting,
        EventKind::ResultIgnored,
        EventKind::GateRequested,
        EventKind::GateAllowed,
        EventKind::GateWarned,
        EventKind::GateDenied,
        EventKind::ApprovalRefused,
        EventKind::RollbackDispatched,
        EventKind::RollbackPassed,
        EventKind::RollbackFailed,
        EventKind::NotifyRequested,
        EventKind::NotifySent,
        EventKind::NotifyFailed,
        EventKind::LogsPruned,
    ];

    #[test]
    fn every_event_kind_keeps_its_stored_text() {
        for kind in ALL {
            assert_eq!(kind.as_str(), stored_text(kind), "{kind:?}");
        }
        let distinct: HashSet<EventKind> = ALL.into_iter().collect();
        assert_eq!(distinct.len(), ALL.len(), "a kind is listed twice in ALL");
    }

    #[test]
    fn event_kinds_store_distinct_text() {
        let texts: HashSet<&str> = ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(texts.len(), ALL.len());
    }

    #[test]
    fn an_event_carries_only_what_its_builder_was_given() {
        let run = Event::new(EventKind::RunPassed, "every stage passed".into());
        assert_eq!((run.stage, run.attempt, run.data), (None, None, None));
        let stage = Event::new(EventKind::StageResult, "ok".into())
            .stage("test")
            .attempt(2)
            .data(serde_json::json!({ "agent": "a" }));
        assert_eq!(stage.stage.as_deref(), Some("test"));
        assert_eq!(stage.attempt, Some(2));
        assert_eq!(stage.data, Some(serde_json::json!({ "agent": "a" })));
    }
}
