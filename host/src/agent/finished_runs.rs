//! Stop the tools of runs that end while their tasks still run here. The orchestrator
//! announces every finished run on `pipeline.events`; when a run is cancelled,
//! superseded or halted with a task of it in flight on this agent, the task's tool
//! containers are killed at once instead of running on to their own end. A stage
//! cancelled while its run goes on (a matrix instance stopped by `fail_fast`) is
//! announced as `stage.cancelled`: only its tools are stopped.

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

/// What an announcement on `pipeline.events` stops here.
#[derive(Debug, PartialEq)]
enum Ended {
    /// `run.finished`: every tool of the run.
    Run(String),
    /// `stage.cancelled`: the tools of one stage of a run that goes on.
    Stage { run_id: String, stage: String },
}

impl Ended {
    fn run_id(&self) -> &str {
        match self {
            Ended::Run(run_id) | Ended::Stage { run_id, .. } => run_id,
        }
    }

    /// Whether this ends `stage` of `run_id`.
    fn covers(&self, run: &str, stage_name: &str) -> bool {
        match self {
            Ended::Run(run_id) => run_id == run,
            Ended::Stage { run_id, stage } => run_id == run && stage == stage_name,
        }
    }
}

/// How many announcements [`RecentlyEnded`] keeps: a task queued behind this many
/// later ends is started anyway (its result is ignored, as any late one).
const REMEMBERED: usize = 4096;

/// The latest announced ends, oldest first.
#[derive(Default)]
pub(super) struct RecentlyEnded(std::collections::VecDeque<Ended>);

impl RecentlyEnded {
    fn remember(&mut self, ended: Ended) {
        if self.0.len() == REMEMBERED {
            self.0.pop_front();
        }
        self.0.push_back(ended);
    }

    fn find(&self, run_id: &str, stage: &str) -> Option<&Ended> {
        self.0.iter().rev().find(|e| e.covers(run_id, stage))
    }
}

/// What a `run.finished` or `stage.cancelled` announcement ends, if it is one made
/// after `since_ms`.
fn ended(payload: &[u8], since_ms: u64) -> Option<Ended> {
    let event: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let kind = event.get("kind")?.as_str()?;
    if kind != "run.finished" && kind != "stage.cancelled" {
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
    let run_id = event.get("run_id")?.as_str()?.to_string();
    if kind == "run.finished" {
        return Some(Ended::Run(run_id));
    }
    let stage = event.get("stage")?.as_str()?.to_string();
    Some(Ended::Stage { run_id, stage })
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

    /// Why a task of `stage` of `run_id` is not to start: its run ended, or the stage
    /// was cancelled, while it waited.
    pub(super) fn ended_before_start(&self, run_id: &str, stage: &str) -> Option<String> {
        let ended = self.ended.lock().ok()?;
        Some(match ended.find(run_id, stage)? {
            Ended::Run(_) => {
                format!("not started: run {run_id} ended before an agent took {stage} up")
            }
            Ended::Stage { .. } => {
                format!(
                    "not started: {stage} of run {run_id} was cancelled before an agent took it up"
                )
            }
        })
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
            if let Some(ended) = ended(&delivery.record.payload, since_ms) {
                self.stop_ended(&ended).await;
                if let Ok(mut remembered) = self.ended.lock() {
                    remembered.remember(ended);
                }
            }
            subscription.ack(&delivery).await?;
        }
    }
}

impl Agent {
    /// Stop the tools `ended` ends, when a task of its run runs here.
    async fn stop_ended(&self, ended: &Ended) {
        if !self.is_running(ended.run_id()) {
            return;
        }
        let containers = self.registry.runtime().containers();
        let stopped = match ended {
            Ended::Run(run_id) => containers.stop_run(run_id).await,
            Ended::Stage { run_id, stage } => containers.stop_stage(run_id, stage).await,
        };
        match stopped {
            Ok(stopped) => tracing::info!(?ended, stopped, "its tools here were stopped"),
            Err(e) => tracing::warn!(?ended, error = %e, "could not stop its tools"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Ended, REMEMBERED, RecentlyEnded, ended};

    #[test]
    fn remembered_ends_cover_their_run_or_only_their_stage() {
        let mut recent = RecentlyEnded::default();
        recent.remember(Ended::Stage {
            run_id: "r1".into(),
            stage: "test-3_12".into(),
        });
        recent.remember(Ended::Run("r2".into()));
        assert!(recent.find("r1", "test-3_12").is_some());
        assert!(
            recent.find("r1", "test-3_11").is_none(),
            "a sibling goes on"
        );
        assert!(
            recent.find("r2", "build").is_some(),
            "every stage of an ended run"
        );
        for n in 0..REMEMBERED {
            recent.remember(Ended::Run(format!("later-{n}")));
        }
        assert!(
            recent.find("r2", "build").is_none(),
            "the oldest are forgotten"
        );
        assert!(recent.find("later-0", "lint").is_some());
    }

    #[test]
    fn only_finished_runs_and_cancelled_stages_announced_since_start_are_read() {
        let event = |kind: &str, at: u64| {
            serde_json::to_vec(&serde_json::json!({
                "version": 1, "kind": kind, "run_id": "r1", "stage": "test-3_12",
                "status": "cancelled", "at_ms": at,
            }))
            .unwrap()
        };
        assert_eq!(
            ended(&event("run.finished", 200), 100),
            Some(Ended::Run("r1".into()))
        );
        assert_eq!(
            ended(&event("stage.cancelled", 200), 100),
            Some(Ended::Stage {
                run_id: "r1".into(),
                stage: "test-3_12".into()
            })
        );
        assert_eq!(ended(&event("run.finished", 50), 100), None);
        assert_eq!(ended(&event("stage.cancelled", 50), 100), None);
        assert_eq!(ended(&event("run.created", 200), 100), None);
        assert_eq!(ended(b"not json", 100), None);
        let no_stage = br#"{"kind": "stage.cancelled", "run_id": "r1", "at_ms": 200}"#;
        assert_eq!(ended(no_stage, 100), None);
    }
}
