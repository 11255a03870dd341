//! Orchestrator metrics in the Prometheus text format, served on `/metrics`: runs by
//! status, stage durations, time tasks wait for an agent, retries, halts, dead letters,
//! webhook deliveries by result, runs in flight, and each agent pool's queue (lag and
//! oldest task, refreshed by `service/queues.rs`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

/// A label naming a status or result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// The status.
    pub status: String,
}

/// A label naming a stage.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// The stage.
    pub stage: String,
}

/// A label naming an agent pool (tasks on `agent.<pool>`, agents in `bosun-agent-<pool>`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// The pool.
    pub pool: String,
}

/// A label naming a webhook outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `accepted`, `duplicate`, `ignored`, `ping`, `unauthorized`, `bad-request`,
    /// `forbidden`, `too-large`, `busy`, `timeout`, `unavailable`.
    pub result: String,
}

/// Everything the orchestrator counts.
pub struct OrchestratorMetrics {
    registry: Mutex<Registry>,
    /// Finished runs by status.
    pub runs: Family<StatusLabels, Counter>,
    /// Runs in flight.
    pub active_runs: Gauge,
    /// Wall-clock time of settled stages, first dispatch to settlement.
    pub stage_seconds: Family<StageLabels, Histogram>,
    /// Time from dispatch to result, less the plugin's own time: queueing, pickup,
    /// workspace fetch and the bus.
    pub task_wait_seconds: Family<StageLabels, Histogram>,
    /// Retries scheduled.
    pub retries: Family<StageLabels, Counter>,
    /// Runs halted (policy deny or `max_failures`).
    pub halts: Counter,
    /// Dead letters recorded.
    pub dead_letters: Counter,
    /// Webhook deliveries by result.
    pub webhooks: Family<ResultLabels, Counter>,
    /// Tasks on each pool's topic its agents have not committed (waiting or running).
    pub queue_lag: Family<PoolLabels, Gauge>,
    /// Age of the oldest of those tasks, in seconds (0 when there are none).
    pub queue_oldest_seconds: Family<PoolLabels, Gauge<f64, AtomicU64>>,
    /// Queue measurements that failed (the last values stay).
    pub queue_refresh_failures: Counter,
    /// Repositories this orchestrator holds the lease of (several orchestrators).
    pub leases_held: Gauge,
    /// Repositories taken over from an owner whose lease expired.
    pub lease_takeovers: Counter,
    /// Leases found taken over by another orchestrator (renewal or a write refused):
    /// their runs left this one's memory, nothing of its stale writes applied.
    pub leases_lost: Counter,
    /// Inputs handed to another orchestrator, the owner of their repository.
    pub inbox_forwarded: Counter,
}

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 16))
}

impl Default for OrchestratorMetrics {
    fn default() -> Self {
        let runs = Family::<StatusLabels, Counter>::default();
        let active_runs = Gauge::default();
        let stage_seconds = Family::<StageLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        let task_wait_seconds = Family::<StageLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        let retries = Family::<StageLabels, Counter>::default();
        let halts = Counter::default();
        let dead_letters = Counter::default();
        let webhooks = Family::<ResultLabels, Counter>::default();
        let queue_lag = Family::<PoolLabels, Gauge>::default();
        let queue_oldest_seconds = Family::<PoolLabels, Gauge<f64, AtomicU64>>::default();
        let queue_refresh_failures = Counter::default();
        let leases_held = Gauge::default();
        let lease_takeovers = Counter::default();
        let leases_lost = Counter::default();
        let inbox_forwarded = Counter::default();
        let mut registry = Registry::with_prefix("bosun");
        registry.register("runs", "Finished runs by status", runs.clone());
        registry.register("active_runs", "Runs in flight", active_runs.clone());
        registry.register(
            "stage_seconds",
            "Wall-clock time of settled stages, first dispatch to settlement",
            stage_seconds.clone(),
        );
        registry.register(
            "task_wait_seconds",
            "Dispatch to result, less the plugin's own time (queue, pickup, workspace, bus)",
            task_wait_seconds.clone(),
        );
        registry.register("retries", "Retries scheduled, by stage", retries.clone());
        registry.register(
            "halts",
            "Runs halted by a policy deny or max_failures",
            halts.clone(),
        );
        registry.register(
            "dead_letters",
            "Dead-lettered tasks recorded",
            dead_letters.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "GitHub webhook deliveries by result",
            webhooks.clone(),
        );
        registry.register(
            "stage_queue_lag",
            "Tasks on the pool's topic its agents have not committed (waiting or running)",
            queue_lag.clone(),
        );
        registry.register(
            "stage_queue_oldest_seconds",
            "Age of the oldest task on the pool's topic its agents have not committed",
            queue_oldest_seconds.clone(),
        );
        registry.register(
            "stage_queue_refresh_failures",
            "Queue measurements that failed (the gauges keep their last values)",
            queue_refresh_failures.clone(),
        );
        registry.register(
            "leases_held",
            "Repositories whose runs this orchestrator owns (several orchestrators)",
            leases_held.clone(),
        );
        registry.register(
            "lease_takeovers",
            "Repositories taken over from an orchestrator whose lease expired",
            lease_takeovers.clone(),
        );
        registry.register(
            "leases_lost",
            "Leases found taken over by another orchestrator; nothing stale was written",
            leases_lost.clone(),
        );
        registry.register(
            "inbox_forwarded",
            "Inputs handed to the orchestrator that owns their repository",
            inbox_forwarded.clone(),
        );
        OrchestratorMetrics {
            registry: Mutex::new(registry),
            runs,
            active_runs,
            stage_seconds,
            task_wait_seconds,
            retries,
            halts,
            dead_letters,
            webhooks,
            queue_lag,
            queue_oldest_seconds,
            queue_refresh_failures,
            leases_held,
            lease_takeovers,
            leases_lost,
            inbox_forwarded,
        }
    }
}

impl OrchestratorMetrics {
    /// Count a webhook delivery.
    pub fn webhook(&self, result: &str) {
        self.webhooks
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}
