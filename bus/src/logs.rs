//! Live logs on the bus: while a stage runs, its agent publishes the attempt's log lines
//! (tool output and plugin log lines, masked and capped as the result's log is) in
//! chunks on `agent.logs`, keyed by run so one run's chunks stay in order. The result's
//! log, published when the attempt ends, stays the authority; the chunks let people
//! follow the attempt before that.

use crate::messages::Versioned;
use crate::types::LogLine;
use serde::{Deserialize, Serialize};

/// A run of consecutive lines of one attempt's log, published on `agent.logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogChunkMessage {
    /// Message format version.
    pub version: u32,
    /// Which agent runs the attempt.
    pub agent_id: String,
    /// The run.
    pub run_id: String,
    /// The stage.
    pub stage: String,
    /// The attempt.
    pub attempt: u32,
    /// This chunk's number among the attempt's chunks from this agent, from 0.
    pub seq: u64,
    /// Where `lines[0]` is in the attempt's log (the result's `logs`), from 0. Lines
    /// the agent could not stream (the bus was behind) leave a gap before it; the
    /// result's log has them.
    pub first_line: u64,
    /// The lines, in order.
    pub lines: Vec<LogLine>,
}

impl LogChunkMessage {
    /// The index after this chunk's last line.
    pub fn end_line(&self) -> u64 {
        self.first_line + self.lines.len() as u64
    }
}

impl Versioned for LogChunkMessage {
    fn version(&self) -> u32 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{self, MESSAGE_VERSION};
    use crate::types::LogLevel;

    #[test]
    fn a_chunk_round_trips_and_says_where_it_ends() {
        let chunk = LogChunkMessage {
            version: MESSAGE_VERSION,
            agent_id: "agent-1".into(),
            run_id: "r1".into(),
            stage: "test".into(),
            attempt: 2,
            seq: 3,
            first_line: 10,
            lines: vec![LogLine {
                at_ms: 5,
                level: LogLevel::Info,
                source: "tool".into(),
                message: "collected 3 items".into(),
            }],
        };
        let back: LogChunkMessage = messages::decode(&messages::encode(&chunk)).unwrap();
        assert_eq!(back, chunk);
        assert_eq!(back.end_line(), 11);
    }

    #[test]
    fn a_newer_chunk_version_is_refused() {
        let text = br#"{"version":99,"agent_id":"a","run_id":"r","stage":"s","attempt":1,"seq":0,"first_line":0,"lines":[]}"#;
        assert!(messages::decode::<LogChunkMessage>(text).is_err());
    }
}
