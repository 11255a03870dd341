//! Live logs from the agent: while a stage runs, the lines its log keeps (tool output
//! as the tools print it, the plugin's log lines) go out on `agent.logs` in chunks,
//! keyed by run, so the orchestrator can store them and people can follow the attempt.
//!
//! The log sink hands lines over a bounded channel and never waits on it: when the bus
//! is behind, lines are left out of the live view (the chunks then skip ahead; the
//! result's log, published when the attempt ends, has every line). A chunk goes out when
//! it holds [`CHUNK_LINES`] lines or [`CHUNK_BYTES`] bytes, or [`CHUNK_WAIT`] after its
//! first line, whichever comes first.

use crate::capabilities::log::LiveTap;
use bosun_bus::logs::LogChunkMessage;
use bosun_bus::messages::{self, MESSAGE_VERSION};
use bosun_bus::{Bus, LogLine, Task, topics};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Lines the sink may hand over before the publisher takes them; past that, lines skip
/// the live view rather than hold up the plugin.
pub const TAP_LINES: usize = 1024;
/// Most lines in one chunk.
pub const CHUNK_LINES: usize = 256;
/// Most bytes of messages in one chunk (a line may take it a little past).
pub const CHUNK_BYTES: usize = 64 << 10;
/// Longest a line waits in a chunk before the chunk goes out.
pub const CHUNK_WAIT: Duration = Duration::from_millis(200);
/// Longest the agent waits, after the plugin returned, for the last chunks to go out
/// before it publishes the result.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// The publisher of one attempt's live log.
pub struct LiveLog {
    publisher: tokio::task::JoinHandle<u64>,
}

impl LiveLog {
    /// Start publishing `task`'s lines on `bus`; the sink takes the returned tap.
    pub fn start(bus: Arc<dyn Bus>, agent_id: &str, task: &Task) -> (LiveTap, LiveLog) {
        let (tap, lines) = mpsc::channel(TAP_LINES);
        let template = LogChunkMessage {
            version: MESSAGE_VERSION,
            agent_id: agent_id.to_string(),
            run_id: task.run_id.clone(),
            stage: task.stage.clone(),
            attempt: task.attempt,
            seq: 0,
            first_line: 0,
            lines: Vec::new(),
        };
        let publisher = tokio::spawn(publish_chunks(bus, template, lines));
        (tap, LiveLog { publisher })
    }

    /// Wait (a bounded time) for the chunks still in hand to go out: the tap is closed
    /// once the call ended, so this is short. Returns how many chunks went out.
    pub async fn finish(self) -> u64 {
        match tokio::time::timeout(FLUSH_WAIT, self.publisher).await {
            Ok(Ok(sent)) => sent,
            _ => {
                tracing::warn!("the last live log chunks did not go out in time");
                0
            }
        }
    }
}

/// Gather lines into chunks and publish them until the tap closes; returns the number
/// of chunks published.
pub async fn publish_chunks(
    bus: Arc<dyn Bus>,
    template: LogChunkMessage,
    mut lines: mpsc::Receiver<(u64, LogLine)>,
) -> u64 {
    let mut seq = 0u64;
    let mut carried: Option<(u64, LogLine)> = None;
    let mut warned = false;
    loop {
        let first = match carried.take() {
            Some(line) => line,
            None => match lines.recv().await {
                Some(line) => line,
                None => return seq,
            },
        };
        let mut chunk = template.clone();
        chunk.seq = seq;
        chunk.first_line = first.0;
        let mut bytes = first.1.message.len();
        chunk.lines.push(first.1);
        let due = Instant::now() + CHUNK_WAIT;
        let mut closed = false;
        while chunk.lines.len() < CHUNK_LINES && bytes < CHUNK_BYTES {
            match tokio::time::timeout_at(due, lines.recv()).await {
                // A line after a gap starts a chunk of its own: a chunk's lines are
                // consecutive in the attempt's log.
                Ok(Some((index, line))) if index != chunk.end_line() => {
                    carried = Some((index, line));
                    break;
                }
                Ok(Some((_, line))) => {
                    bytes += line.message.len();
                    chunk.lines.push(line);
                }
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let key = chunk.run_id.clone();
        match bus
            .publish(topics::AGENT_LOGS, &key, messages::encode(&chunk))
            .await
        {
            Ok(()) => seq += 1,
            // The live view misses these lines; the result's log keeps them.
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(error = %e, "could not publish live log lines; the attempt's log keeps them");
            }
            Err(_) => {}
        }
        if closed && carried.is_none() {
            return seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_bus::{LogLevel, MemoryBus};

    fn line(text: &str) -> LogLine {
        LogLine {
            at_ms: 0,
            level: LogLevel::Info,
            source: "tool".into(),
            message: text.into(),
        }
    }

    fn task() -> Task {
        Task {
            run_id: "r1".into(),
            stage: "test".into(),
            attempt: 1,
            tenant: "acme".into(),
            repository: "acme/app".into(),
            commit: "0".repeat(40),
            branch: "main".into(),
            event: "push".into(),
            commit_message: String::new(),
            config: Default::default(),
        }
    }

    #[tokio::test]
    async fn lines_go_out_in_order_in_chunks_and_a_gap_starts_a_new_chunk() {
        let bus = MemoryBus::new();
        let mut logs = bus
            .subscribe("viewer", &[topics::AGENT_LOGS.to_string()])
            .await
            .unwrap();
        let (tap, live) = LiveLog::start(Arc::new(bus.clone()), "agent-1", &task());
        for n in 0..300u64 {
            tap.send((n, line(&format!("line {n}")))).await.unwrap();
        }
        tap.send((305, line("after a gap"))).await.unwrap();
        drop(tap);
        assert_eq!(live.finish().await, 3);
        let mut chunks = Vec::new();
        for _ in 0..3 {
            let delivery = logs.next().await.unwrap();
            assert_eq!(delivery.record.key, "r1");
            chunks.push(messages::decode::<LogChunkMessage>(&delivery.record.payload).unwrap());
            logs.ack(&delivery).await.unwrap();
        }
        let spans: Vec<(u64, u64, u64)> = chunks
            .iter()
            .map(|c| (c.seq, c.first_line, c.end_line()))
            .collect();
        assert_eq!(spans, [(0, 0, 256), (1, 256, 300), (2, 305, 306)]);
        assert_eq!(chunks[1].lines[0].message, "line 256");
    }
}
