//! The `log` capability, plugin stdout/stderr and tool output: capped, masked, into
//! `tracing`, and (for a stage the agent streams) into a live tap as each line is kept.

use bosun_bus::{LogLevel, LogLine};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// Where a sink hands each kept line as it is kept, with its index in the log: a
/// bounded channel. A full channel drops the line from the live view only (the log
/// keeps it), so nothing that reads the tap can slow the plugin or its tools down.
pub type LiveTap = mpsc::Sender<(u64, LogLine)>;

/// Room kept under the total cap for the one line that says the log was cut.
const CUT_NOTE_ROOM: usize = 64;

/// Log lines of one plugin call, shared by the `log` import, the stdio streams and the
/// tools' output.
#[derive(Clone)]
pub struct LogSink {
    inner: Arc<Mutex<LogBuffer>>,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink").finish_non_exhaustive()
    }
}

struct LogBuffer {
    started: Instant,
    line_cap: usize,
    total_cap: usize,
    kept_bytes: usize,
    dropped_bytes: u64,
    /// The agent's secrets, their forms worked out once for every line.
    masker: super::mask::Masker,
    lines: Vec<LogLine>,
    /// The log reached its cap and said so (once).
    cut: bool,
    /// Kept lines also go here while the call runs.
    live: Option<LiveTap>,
    /// Lines the live tap had no room for.
    live_skipped: u64,
}

/// Replace every occurrence of each secret, in every form it may take (encoded,
/// split across lines), with `***`.
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    super::mask::mask(text, secrets)
}

/// Cut `text` to at most `max` bytes on a character boundary.
pub fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

impl LogSink {
    /// A sink keeping at most `total_cap` bytes, each line cut at `line_cap` bytes.
    pub fn new(line_cap: usize, total_cap: usize, secrets: Vec<String>) -> LogSink {
        LogSink {
            inner: Arc::new(Mutex::new(LogBuffer {
                started: Instant::now(),
                line_cap,
                total_cap,
                kept_bytes: 0,
                dropped_bytes: 0,
                masker: super::mask::Masker::new(&secrets),
                lines: Vec::new(),
                cut: false,
                live: None,
                live_skipped: 0,
            })),
        }
    }

    /// Hand every line kept from now on to `tap` as well, until [`LogSink::take`].
    pub fn stream_to(&self, tap: LiveTap) {
        if let Ok(mut buf) = self.inner.lock() {
            buf.live = Some(tap);
        }
    }

    /// The longest line kept, in bytes.
    pub fn line_cap(&self) -> usize {
        self.inner.lock().map(|buf| buf.line_cap).unwrap_or(0)
    }

    /// Lines the live tap had no room for (they are in the log all the same).
    pub fn live_skipped(&self) -> u64 {
        self.inner.lock().map(|buf| buf.live_skipped).unwrap_or(0)
    }

    /// Record one line from `source` (`log`, `stdout`, `stderr`).
    pub fn push(&self, level: LogLevel, source: &str, message: &str) {
        let Ok(mut buf) = self.inner.lock() else {
            return;
        };
        if buf.cut {
            // Past the cap nothing more is kept: count it without the masking's cost.
            buf.dropped_bytes += message.len() as u64;
            return;
        }
        let line_cap = buf.line_cap;
        let mut text = buf.masker.mask(truncate_utf8(message, line_cap));
        if message.len() > line_cap {
            buf.dropped_bytes += (message.len() - line_cap) as u64;
            text.push_str(" …[line truncated]");
        }
        if buf.kept_bytes + text.len() > buf.total_cap.saturating_sub(CUT_NOTE_ROOM) {
            buf.dropped_bytes += text.len() as u64;
            if !buf.cut {
                // Said once, where the cut is, so a reader knows the rest is missing.
                buf.cut = true;
                let note = format!("… output cut at {}", human_cap(buf.total_cap));
                buf.kept_bytes += note.len();
                buf.keep(LogLevel::Warn, "host", note);
            }
            return;
        }
        buf.kept_bytes += text.len();
        buf.keep(level, source, text);
    }

    /// Count bytes a writer discarded before they became a line.
    pub fn count_dropped(&self, bytes: usize) {
        if let Ok(mut buf) = self.inner.lock() {
            buf.dropped_bytes += bytes as u64;
        }
    }

    /// The kept lines and the number of bytes dropped at the caps; the live tap, if
    /// any, is closed (its reader sees the end).
    pub fn take(&self) -> (Vec<LogLine>, u64) {
        match self.inner.lock() {
            Ok(mut buf) => {
                buf.live = None;
                (std::mem::take(&mut buf.lines), buf.dropped_bytes)
            }
            Err(_) => (Vec::new(), 0),
        }
    }

    /// The last `n` lines from one source, joined (used to recover panic messages).
    pub fn tail(&self, source: &str, n: usize) -> String {
        let Ok(buf) = self.inner.lock() else {
            return String::new();
        };
        let lines: Vec<&str> = buf
            .lines
            .iter()
            .filter(|l| l.source == source)
            .map(|l| l.message.as_str())
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl LogBuffer {
    /// Keep one line (already masked and counted): to `tracing`, the log and the tap.
    fn keep(&mut self, level: LogLevel, source: &str, message: String) {
        emit(level, source, &message);
        let line = LogLine {
            at_ms: self.started.elapsed().as_millis() as u64,
            level,
            source: source.to_string(),
            message,
        };
        if let Some(tap) = &self.live {
            let index = self.lines.len() as u64;
            match tap.try_send((index, line.clone())) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => self.live_skipped += 1,
                // Nobody streams this call any more: stop trying.
                Err(mpsc::error::TrySendError::Closed(_)) => self.live = None,
            }
        }
        self.lines.push(line);
    }
}

/// A cap for people: `1 MB`, `1.5 MB`, `512 KB`.
pub fn human_cap(bytes: usize) -> String {
    const MIB: usize = 1 << 20;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MB", bytes as f64 / MIB as f64)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// Forward a plugin line to `tracing`, inside the caller's run/stage/attempt span.
fn emit(level: LogLevel, source: &str, message: &str) {
    match level {
        LogLevel::Trace => tracing::trace!(target: "bosun::plugin", source, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "bosun::plugin", source, "{message}"),
        LogLevel::Info => tracing::info!(target: "bosun::plugin", source, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "bosun::plugin", source, "{message}"),
        LogLevel::Error => tracing::error!(target: "bosun::plugin", source, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_capped_and_counted() {
        let sink = LogSink::new(10, 40 + CUT_NOTE_ROOM, vec![]);
        sink.push(LogLevel::Info, "log", "0123456789abcdef");
        sink.push(LogLevel::Info, "log", "short");
        sink.push(LogLevel::Info, "log", "this one no longer fits");
        sink.push(LogLevel::Info, "log", "nor this one, and no second note");
        let (lines, dropped) = sink.take();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].message.starts_with("0123456789"));
        assert!(lines[0].message.contains("truncated"));
        assert_eq!(lines[2].message, "… output cut at 1 KB");
        assert_eq!(lines[2].source, "host");
        assert!(dropped >= 6 + 10);
    }

    #[test]
    fn caps_read_as_people_say_them() {
        assert_eq!(human_cap(1 << 20), "1 MB");
        assert_eq!(human_cap(3 << 19), "1.5 MB");
        assert_eq!(human_cap(512 << 10), "512 KB");
    }

    #[tokio::test]
    async fn kept_lines_reach_the_tap_with_their_index_and_a_full_tap_never_blocks() {
        let sink = LogSink::new(100, 1 << 20, vec!["hunter2".into()]);
        let (tap, mut live) = mpsc::channel(2);
        sink.stream_to(tap);
        for n in 0..5 {
            sink.push(LogLevel::Info, "tool", &format!("line {n} hunter2"));
        }
        let (lines, _) = sink.take();
        assert_eq!(lines.len(), 5, "the log keeps what the tap had no room for");
        assert_eq!(sink.live_skipped(), 3);
        let (first, line) = live.recv().await.unwrap();
        assert_eq!((first, line.message.as_str()), (0, "line 0 ***"));
        assert_eq!(live.recv().await.unwrap().0, 1);
        assert!(live.recv().await.is_none(), "take closes the tap");
    }

    #[test]
    fn secrets_are_masked() {
        let sink = LogSink::new(100, 1000, vec!["hunter2".into()]);
        sink.push(LogLevel::Warn, "stderr", "token=hunter2 used");
        let (lines, _) = sink.take();
        assert_eq!(lines[0].message, "token=*** used");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }
}
