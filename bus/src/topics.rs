//! Topic names, as fixed by the design: one task topic per stage plus results and events.

/// Run lifecycle events published by the orchestrator.
pub const PIPELINE_EVENTS: &str = "pipeline.events";
/// Stage results published by agents.
pub const AGENT_RESULTS: &str = "agent.results";
/// Policy evaluations.
pub const AGENT_POLICY: &str = "agent.policy";
/// Notification requests (the run summary, formatted by a notifier plugin).
pub const AGENT_NOTIFY: &str = "agent.notify";
/// Live log chunks of running attempts, published by agents (see [`crate::logs`]).
pub const AGENT_LOGS: &str = "agent.logs";
/// Tasks that failed delivery too many times.
pub const DEAD_LETTER: &str = "agent.dead-letter";

/// The task topic for a stage: `agent.<stage>`.
pub fn stage_topic(stage: &str) -> String {
    format!("agent.{stage}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_topic_prefixes_agent() {
        assert_eq!(stage_topic("lint"), "agent.lint");
        assert_eq!(stage_topic("security"), "agent.security");
    }
}
