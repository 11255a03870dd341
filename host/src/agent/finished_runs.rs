//! Stop the tools of runs that end while their tasks still run here. The orchestrator
//! announces every finished run on `pipeline.events`; when a run is cancelled,
//! superseded or halted with a task of it in flight on this agent, the task's tool
//! containers are killed at once instead of running on to their own end.

use super::Agent;
use bosun_bus::{BusError, topics};
use std::sync::Arc;
use tokio::sync::watch;

/// Counts a task of a run in flight on this agent until dropped.
pub(super) struct RunGuard<'a> {
    agent: &'a Agent,
    run_id: String,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.agent.running.lock()
            && let Some(count) = running.get_mut(&self.run_id)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.run_id);
            }
        }
    }
}

/// The run a `run.finished` announcement names, if it is one made after `since_ms`.
fn finished_run(payload: &[u8], since_ms: u64) -> Option<String> {
    let event: serde_json::Value = serde_json::from_slice(payload).ok()?;
    if event.get("kind")?.as_str()? != "run.finished" {
        return None;
    }
    // Announcements from before this agent started name no task of its.
    if event
        .get("at_ms")
        .and_then(|v| v.as_u64())
        .unwrap_or(u64::MAX)
        < since_ms
    {
        return None;
    }
    event.get("run_id")?.as_str().map(str::to_string)
}

impl Agent {
    /// Count a task of `run_id` as in flight here while the guard lives.
    pub(super) fn track(&self, run_id: &str) -> RunGuard<'_> {
        if let Ok(mut running) = self.running.lock() {
            *running.entry(run_id.to_string()).or_default() += 1;
        }
        RunGuard {
            agent: self,
            run_id: run_id.to_string(),
        }
    }

    fn is_running(&self, run_id: &str) -> bool {
        self.running
            .lock()
            .map(|running| running.contains_key(run_id))
            .unwrap_or(false)
    }

    /// Read `pipeline.events` in a group of this agent's own (every agent sees every
    /// announcement) and stop the tools of finished runs that still run here.
    pub(super) async fn watch_finished_runs(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), BusError> {
        let since_ms = super::now_unix_ms();
        let group = format!("bosun-agent-watch-{}", self.settings.agent_id);
        let topic = vec![topics::PIPELINE_EVENTS.to_string()];
        let mut subscription = self.bus.subscribe(&group, &topic).await?;
        loop {
            let delivery = tokio::select! {
                next = subscription.next() => next?,
                _ = shutdown.changed() => return Ok(()),
            };
            if let Some(run_id) = finished_run(&delivery.record.payload, since_ms)
                && self.is_running(&run_id)
            {
                match self.registry.runtime().containers().stop_run(&run_id).await {
                    Ok(stopped) => {
                        tracing::info!(run = %run_id, stopped, "run finished: its tools here were stopped");
                    }
                    Err(e) => {
                        tracing::warn!(run = %run_id, error = %e, "run finished: could not stop its tools");
                    }
                }
            }
            subscription.ack(&delivery).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::finished_run;

    #[test]
    fn only_finished_runs_announced_since_start_are_read() {
        let event = |kind: &str, at: u64| {
            serde_json::to_vec(&serde_json::json!({
                "version": 1, "kind": kind, "run_id": "r1", "status": "cancelled", "at_ms": at,
            }))
            .unwrap()
        };
        assert_eq!(
            finished_run(&event("run.finished", 200), 100).as_deref(),
            Some("r1")
        );
        assert_eq!(finished_run(&event("run.finished", 50), 100), None);
        assert_eq!(finished_run(&event("run.created", 200), 100), None);
        assert_eq!(finished_run(b"not json", 100), None);
    }
}
