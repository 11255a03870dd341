//! How far a consumer group is behind on a topic: the numbers an autoscaler reads.
//!
//! A queue's **lag** is the number of records on its topic that the group has not
//! committed: tasks waiting for an agent, and tasks an agent has taken but not finished
//! (an agent commits only after it has published the result, so a running task still
//! counts). The **oldest** is when the oldest of those records was published. Both
//! transports answer the same way, so nothing above the bus can tell which one it is.

/// A consumer group reading one topic: agents read `agent.<pool>` in `bosun-agent-<pool>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Queue {
    /// The consumer group whose progress is measured.
    pub group: String,
    /// The topic it reads.
    pub topic: String,
}

impl Queue {
    /// The queue of an agent pool: topic `agent.<pool>`, group `bosun-agent-<pool>`.
    pub fn agent_pool(pool: &str) -> Queue {
        Queue {
            group: format!("bosun-agent-{pool}"),
            topic: crate::topics::stage_topic(pool),
        }
    }
}

/// How far one group is behind on one topic, as measured now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Records on the topic the group has not committed (waiting or being worked on).
    /// A topic that does not exist yet has none.
    pub lag: u64,
    /// When the oldest of them was published, milliseconds since the Unix epoch; `None`
    /// when there are none, or the transport could not read the record in time.
    pub oldest_unix_ms: Option<u64>,
}

impl Backlog {
    /// Seconds the oldest unsettled record has waited at `now_unix_ms` (0 with none,
    /// and never negative when clocks disagree a little).
    pub fn oldest_seconds(&self, now_unix_ms: u64) -> f64 {
        self.oldest_unix_ms
            .map_or(0.0, |at| now_unix_ms.saturating_sub(at) as f64 / 1000.0)
    }
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before it).
pub(crate) fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_agent_pool_names_topic_and_group() {
        let queue = Queue::agent_pool("test");
        assert_eq!(queue.topic, "agent.test");
        assert_eq!(queue.group, "bosun-agent-test");
    }

    #[test]
    fn backlog_oldest_seconds_from_publish_time() {
        let backlog = Backlog {
            lag: 2,
            oldest_unix_ms: Some(10_000),
        };
        assert_eq!(backlog.oldest_seconds(12_500), 2.5);
        // A broker clock slightly ahead of ours is not a negative age.
        assert_eq!(backlog.oldest_seconds(9_000), 0.0);
        assert_eq!(Backlog::default().oldest_seconds(12_500), 0.0);
    }
}
