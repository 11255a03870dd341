//! Agent metrics in the Prometheus text format, served on `/metrics`.

use crate::bindings::{ContainerRequest, ImageBuildRequest, StepRequest};
use crate::capabilities::containers::{
    BuildFuture, ContainerContext, ContainerRunner, RunFuture, StepFuture, StopFuture,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    /// Tool containers (or processes) from start to exit, logs collected, by stage.
    pub container_seconds: Family<StageLabels, Histogram>,
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
        let container_seconds = Family::<StageLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
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
        registry.register(
            "container_seconds",
            "Run time of a tool container (or process), start to exit, by stage",
            container_seconds.clone(),
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
            container_seconds,
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

    /// `inner`, with every tool run timed into [`AgentMetrics::container_seconds`].
    /// The plugin runtime is built before the agent, so the agent's metrics wrap the
    /// runner the runtime is given.
    pub fn timed_runner(&self, inner: Arc<dyn ContainerRunner>) -> Arc<dyn ContainerRunner> {
        Arc::new(TimedRunner {
            inner,
            seconds: self.container_seconds.clone(),
        })
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

/// A runner that records how long each tool run took; failures are timed too, since a
/// tool killed at its deadline is exactly what the histogram should show.
struct TimedRunner {
    inner: Arc<dyn ContainerRunner>,
    seconds: Family<StageLabels, Histogram>,
}

impl ContainerRunner for TimedRunner {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn image_registry(&self) -> Option<String> {
        self.inner.image_registry()
    }

    fn run<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: ContainerRequest,
    ) -> RunFuture<'a> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.inner.run(context, request).await;
            self.seconds
                .get_or_create(&StageLabels {
                    stage: context.stage.clone(),
                })
                .observe(started.elapsed().as_secs_f64());
            result
        })
    }

    fn build_image<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: ImageBuildRequest,
    ) -> BuildFuture<'a> {
        self.inner.build_image(context, request)
    }

    fn run_step<'a>(
        &'a self,
        context: &'a ContainerContext,
        request: StepRequest,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.inner.run_step(context, request).await;
            self.seconds
                .get_or_create(&StageLabels {
                    stage: context.stage.clone(),
                })
                .observe(started.elapsed().as_secs_f64());
            result
        })
    }

    fn stop_run<'a>(&'a self, run_id: &'a str) -> StopFuture<'a> {
        self.inner.stop_run(run_id)
    }

    fn stop_stage<'a>(&'a self, run_id: &'a str, stage: &'a str) -> StopFuture<'a> {
        self.inner.stop_stage(run_id, stage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::process::ProcessRunner;
    use std::time::Duration;

    #[tokio::test]
    async fn timed_runner_records_each_tool_run_by_stage() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = AgentMetrics::default();
        let runner = metrics.timed_runner(Arc::new(ProcessRunner::default()));
        let context = ContainerContext {
            run_id: "r1".into(),
            stage: "lint".into(),
            attempt: 1,
            commit: "abc".into(),
            branch: "main".into(),
            commit_message: String::new(),
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            event: "push".into(),
            workspace: dir.path().to_path_buf(),
            out: dir.path().join("out"),
            network_allowed: false,
            deadline: Instant::now() + Duration::from_secs(30),
            secrets: vec![],
            secrets_granted: Vec::new(),
            secrets_withheld: Vec::new(),
            push_repository: None,
            image_repository: None,
            artifacts: None,
            tool_log: None,
        };
        let request = ContainerRequest {
            image: "any".into(),
            argv: vec!["sleep".into(), "0.2".into()],
            env: vec![],
            workdir: None,
            timeout_ms: 10_000,
            network: false,
        };
        runner.run(&context, request).await.unwrap();
        let text = metrics.render();
        let count = text
            .lines()
            .find(|l| l.starts_with("bosun_agent_container_seconds_count{stage=\"lint\"}"))
            .unwrap_or_else(|| panic!("no container count for lint in:\n{text}"));
        assert!(count.ends_with(" 1"), "{count}");
        let sum: f64 = text
            .lines()
            .find(|l| l.starts_with("bosun_agent_container_seconds_sum{stage=\"lint\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(sum >= 0.2, "the run took at least the tool's sleep: {sum}");
        assert_eq!(runner.describe(), ProcessRunner::default().describe());
    }
}
