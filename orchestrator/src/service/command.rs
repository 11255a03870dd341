//! What the scheduler's owner task is asked to do: requests from the [`Orchestrator`]
//! handle (each with a reply channel) and reports from the tasks it spawned (a config
//! read, a notification sent, a scheduled run started).
//!
//! [`Orchestrator`]: super::Orchestrator

use super::WebhookDelivery;
use crate::model::{LoadedConfig, RunTrigger};
use crate::schedule::Due;
use crate::scheduler::{
    Accepted, Decided, RerunRefused, RerunRequest, RerunStarted, SchedulerError, StageDecision,
};
use tokio::sync::oneshot;

/// Where the owner task sends its answer to a request.
pub(super) type Reply<T> = oneshot::Sender<Result<T, SchedulerError>>;

// Commands are few and short-lived; boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Command {
    Trigger {
        trigger: RunTrigger,
        delivery: Option<WebhookDelivery>,
        reply: Reply<Accepted>,
    },
    Delivery {
        delivery_id: String,
        tenant: String,
        event: String,
        outcome: String,
        reply: Reply<bool>,
    },
    ConfigLoaded {
        run_id: String,
        loaded: Result<LoadedConfig, String>,
    },
    NotificationDone {
        run_id: String,
        channel: &'static str,
        sent: bool,
        attempts: u32,
        detail: String,
    },
    /// A GitHub object was made (a check run, a summary comment): keep its id.
    GitHubObject {
        run_id: String,
        kind: crate::store::GitHubObject,
        key: String,
        id: u64,
    },
    /// A due schedule's run was recorded (`Ok(run id)`) or could not be started.
    ScheduleSettled {
        due: Due,
        outcome: Result<Option<String>, String>,
    },
    Cancel {
        run_id: String,
        reason: String,
        reply: Reply<bool>,
    },
    Approve {
        run_id: String,
        approver: String,
        /// `Err(why)` when the run does not wait for an approval.
        reply: Reply<Result<(), String>>,
    },
    Rerun {
        request: RerunRequest,
        /// `Err(why)` when the re-run was refused.
        reply: Reply<Result<RerunStarted, RerunRefused>>,
    },
    Decide {
        run_id: String,
        stage: String,
        decision: StageDecision,
        reply: Reply<Decided>,
    },
}
