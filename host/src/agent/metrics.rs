//! Agent metrics in the Prometheus text format, served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

/// Labels of a finished task.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    /// Stage name.
    pub stage: String,
    /// `success`, `failure`, `skipped`, or the failure kind.
    pub outcome: String,
}

/// Labels naming a stage.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// Stage name.
    pub stage: String,
}

/// Labels of one policy verdict.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// `allow`, `warn` or `deny`.
    pub verdict: String,
    /// `plugin` when the policy decided, `host` when the host denied because the policy
    /// could not be evaluated (gates fail closed).
    pub decided_by: String,
}

/// Labels of one notification.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    /// `formatted` or `failed`.
    pub result: String,
}

/// Everything the agent counts.
pub struct AgentMetrics {
    registry: Mutex<Registry>,
    /// Tasks finished, by stage and outcome.
    pub tasks: Family<TaskLabels, Counter>,
    /// Tasks running now (stages, policy requests and notifications).
    pub in_flight: Gauge,
    /// Wall-clock time of a task, workspace fetch included.
    pub task_seconds: Family<StageLabels, Histogram>,
    /// Plugin call time alone.
    pub plugin_seconds: Family<StageLabels, Histogram>,
    /// Deliveries sent to the dead-letter topic.
    pub dead_lettered: Counter,
    /// Deliveries released for redelivery.
    pub released: Counter,
    /// Policy evaluations, by verdict and by who decided it.
    pub policy_verdicts: Family<VerdictLabels, Counter>,
    /// Notifications formatted or failed.
    pub notifications: Family<NotificationLabels, Counter>,
}

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 14))
}

impl Default for AgentMetrics {
    fn default() -> Self {
        let tasks = Family::<TaskLabels, Counter>::default();
        let in_flight = Gauge::default();
        let task_seconds = Family::<StageLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        let plugin_seconds = Family::<StageLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        let dead_lettered = Counter::default();
        let released = Counter::default();
        let policy_verdicts = Family::<VerdictLabels, Counter>::default();
        let notifications = Family::<NotificationLabels, Counter>::default();
        let mut registry = Registry::with_prefix("bosun_agent");
        registry.register(
            "tasks",
            "Stage tasks finished, by stage and outcome",
            tasks.clone(),
        );
        registry.register(
            "tasks_in_flight",
            "Tasks running now: stages, policy requests and notifications",
            in_flight.clone(),
        );
        registry.register(
            "task_seconds",
            "Wall-clock time of a stage task",
            task_seconds.clone(),
        );
        registry.register(
            "plugin_call_seconds",
            "Time spent in the stage plugin",
            plugin_seconds.clone(),
        );
        registry.register(
            "dead_lettered",
            "Tasks sent to the dead-letter topic",
            dead_lettered.clone(),
        );
        registry.register(
            "released",
            "Tasks released for redelivery",
            released.clone(),
        );
        registry.register(
            "policy_verdicts",
            "Policy evaluations, by verdict and by who decided (plugin, or host failing closed)",
            policy_verdicts.clone(),
        );
        registry.register(
            "notifications",
            "Notifications formatted by notifier plugins, or failed",
            notifications.clone(),
        );
        AgentMetrics {
            registry: Mutex::new(registry),
            tasks,
            in_flight,
            task_seconds,
            plugin_seconds,
            dead_lettered,
            released,
            policy_verdicts,
            notifications,
        }
    }
}

impl AgentMetrics {
    /// Count one policy verdict; `by_plugin` is false when the host failed closed.
    pub fn count_verdict(&self, decision: &bosun_bus::policy::Decision, by_plugin: bool) {
        use bosun_bus::policy::Decision;
        let verdict = match decision {
            Decision::Allow => "allow",
            Decision::Warn(_) => "warn",
            Decision::Deny(_) => "deny",
        };
        self.policy_verdicts
            .get_or_create(&VerdictLabels {
                verdict: verdict.into(),
                decided_by: if by_plugin { "plugin" } else { "host" }.into(),
            })
            .inc();
    }

    /// Count one notification, formatted or failed.
    pub fn count_notification(&self, formatted: bool) {
        let result = if formatted { "formatted" } else { "failed" };
        self.notifications
            .get_or_create(&NotificationLabels {
                result: result.into(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        }
        text
    }
}
