//! The agent pools' queues on `/metrics`: every `queue_metrics_every_secs`, on a task
//! of its own (never the scheduler's), one bus measurement of every known pool sets
//! `bosun_stage_queue_lag` and `bosun_stage_queue_oldest_seconds`.
//!
//! The orchestrator exports them, not the agents: it is the one process that is always
//! there and knows every pool (the built-in ones, the pools it sends tasks to, and the
//! stages agents announce), so each series has one exporter per orchestrator, and a
//! pool with no agent running (the case an autoscaler must scale up from zero) is still
//! measured. The numbers are the group's, not a process's: every orchestrator of an
//! installation reports the same ones.

use crate::metrics::{OrchestratorMetrics, PoolLabels};
use bosun_bus::{Bus, Queue, topics};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Pools every installation has: the built-in stages, command steps, gates and
/// notifications (`agent.<pool>` for each).
const BUILT_IN_POOLS: [&str; 8] = [
    "lint",
    "test",
    "build",
    "security",
    "deploy",
    crate::config::COMMANDS_POOL,
    "policy",
    "notify",
];

/// At most this many pools are measured: names come from the pipelines' `agent` keys
/// and the agents' flags, and a measurement's cost grows with them.
const MAX_POOLS: usize = 256;

/// The pools whose queues are measured; grows as pools are seen, never shrinks.
pub(crate) struct QueuePools {
    pools: Mutex<BTreeSet<String>>,
}

impl QueuePools {
    /// The built-in pools and `known` (the pools this process's agents serve).
    pub(crate) fn new<'a>(known: impl IntoIterator<Item = &'a String>) -> Self {
        let pools = BUILT_IN_POOLS.iter().map(|p| p.to_string());
        QueuePools {
            pools: Mutex::new(pools.chain(known.into_iter().cloned()).collect()),
        }
    }

    /// A task went out on `topic`: remember its pool (results, events and dead
    /// letters are not pools).
    pub(crate) fn note_topic(&self, topic: &str) {
        if [topics::AGENT_RESULTS, topics::DEAD_LETTER].contains(&topic) {
            return;
        }
        if let Some(pool) = topic.strip_prefix("agent.") {
            self.note(pool);
        }
    }

    /// An agent announced the pools (stages) it serves.
    pub(crate) fn note_all(&self, pools: &[String]) {
        for pool in pools {
            self.note(pool);
        }
    }

    fn note(&self, pool: &str) {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.is_empty() || pools.contains(pool) {
            return;
        }
        if pools.len() >= MAX_POOLS {
            tracing::warn!(
                pool,
                MAX_POOLS,
                "too many agent pools; this one's queue is not measured"
            );
            return;
        }
        pools.insert(pool.to_owned());
    }

    /// The pools now, in name order.
    pub(crate) fn snapshot(&self) -> Vec<String> {
        let pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        pools.iter().cloned().collect()
    }
}

/// Measure every pool's queue each `every` until `shutdown`; a failed measurement is
/// counted and logged, and the gauges keep their last values (an autoscaler should not
/// scale down because the broker did not answer once).
pub(crate) async fn refresh(
    bus: Arc<dyn Bus>,
    pools: Arc<QueuePools>,
    metrics: Arc<OrchestratorMetrics>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                // A dropped sender stops it too, rather than waking this loop forever.
                if changed.is_err() || *shutdown.borrow() { return; }
            }
            _ = ticker.tick() => {
                let names = pools.snapshot();
                let queues: Vec<Queue> = names.iter().map(|p| Queue::agent_pool(p)).collect();
                // Bounded by the transport's own request timeouts; never cut short
                // here, so measurements never pile up behind a slow broker.
                match bus.backlog(&queues).await {
                    Ok(backlogs) => {
                        if failing {
                            tracing::info!("agent queues measured again");
                            failing = false;
                        }
                        let now = super::now_ms();
                        for (pool, backlog) in names.into_iter().zip(backlogs) {
                            let labels = PoolLabels { pool };
                            let lag = i64::try_from(backlog.lag).unwrap_or(i64::MAX);
                            metrics.queue_lag.get_or_create(&labels).set(lag);
                            metrics
                                .queue_oldest_seconds
                                .get_or_create(&labels)
                                .set(backlog.oldest_seconds(now));
                        }
                    }
                    Err(e) => {
                        metrics.queue_refresh_failures.inc();
                        if !failing {
                            tracing::warn!(error = %e, "could not measure the agent queues; keeping the last values");
                            failing = true;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_pools_from_tasks_and_announcements() {
        let pools = QueuePools::new(&["gpu".to_string()]);
        pools.note_topic("agent.arm64");
        pools.note_topic(topics::AGENT_RESULTS);
        pools.note_topic(topics::DEAD_LETTER);
        pools.note_topic(topics::PIPELINE_EVENTS);
        pools.note_all(&["windows".to_string(), "test".to_string()]);
        let seen = pools.snapshot();
        for pool in [
            "arm64", "gpu", "windows", "test", "policy", "notify", "commands",
        ] {
            assert!(seen.contains(&pool.to_string()), "{pool} missing: {seen:?}");
        }
        for topic in ["results", "dead-letter", "events", "pipeline.events"] {
            assert!(!seen.contains(&topic.to_string()), "{topic}: {seen:?}");
        }
        assert_eq!(seen.len(), BUILT_IN_POOLS.len() + 3, "{seen:?}");
    }

    #[tokio::test]
    async fn queues_metrics_show_each_pools_backlog() {
        let bus = bosun_bus::MemoryBus::new();
        for i in 0..3 {
            bus.publish("agent.test", &format!("run-{i}"), b"{}".to_vec())
                .await
                .unwrap();
        }
        let metrics = Arc::new(OrchestratorMetrics::default());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(refresh(
            Arc::new(bus),
            Arc::new(QueuePools::new(std::iter::empty())),
            Arc::clone(&metrics),
            Duration::from_millis(10),
            stopped,
        ));
        let lag = |pool: &str| {
            let labels = PoolLabels { pool: pool.into() };
            metrics.queue_lag.get_or_create(&labels).get()
        };
        for _ in 0..500 {
            if lag("test") == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(lag("test"), 3);
        assert_eq!(lag("lint"), 0);
        let text = metrics.render();
        assert!(
            text.contains("bosun_stage_queue_lag{pool=\"test\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("bosun_stage_queue_oldest_seconds{pool=\"test\"}"),
            "{text}"
        );
        assert!(
            text.contains("bosun_stage_queue_oldest_seconds{pool=\"lint\"} 0"),
            "{text}"
        );
    }
}
