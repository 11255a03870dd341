//! The `log` capability and plugin stdout/stderr: capped, masked, into `tracing`.

use bosun_bus::{LogLevel, LogLine};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Log lines of one plugin call, shared by the `log` import and the stdio streams.
#[derive(Clone)]
pub struct LogSink {
    inner: Arc<Mutex<LogBuffer>>,
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
            })),
        }
    }

    /// Record one line from `source` (`log`, `stdout`, `stderr`).
    pub fn push(&self, level: LogLevel, source: &str, message: &str) {
        let Ok(mut buf) = self.inner.lock() else {
            return;
        };
        let line_cap = buf.line_cap;
        let mut text = buf.masker.mask(truncate_utf8(message, line_cap));
        if message.len() > line_cap {
            buf.dropped_bytes += (message.len() - line_cap) as u64;
            text.push_str(" …[line truncated]");
        }
        if buf.kept_bytes + text.len() > buf.total_cap {
            buf.dropped_bytes += text.len() as u64;
            return;
        }
        buf.kept_bytes += text.len();
        emit(level, source, &text);
        let at_ms = buf.started.elapsed().as_millis() as u64;
        buf.lines.push(LogLine {
            at_ms,
            level,
            source: source.to_string(),
            message: text,
        });
    }

    /// Count bytes a writer discarded before they became a line.
    pub fn count_dropped(&self, bytes: usize) {
        if let Ok(mut buf) = self.inner.lock() {
            buf.dropped_bytes += bytes as u64;
        }
    }

    /// The kept lines and the number of bytes dropped at the caps.
    pub fn take(&self) -> (Vec<LogLine>, u64) {
        match self.inner.lock() {
            Ok(mut buf) => (std::mem::take(&mut buf.lines), buf.dropped_bytes),
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
        let sink = LogSink::new(10, 40, vec![]);
        sink.push(LogLevel::Info, "log", "0123456789abcdef");
        sink.push(LogLevel::Info, "log", "short");
        sink.push(LogLevel::Info, "log", "this one no longer fits");
        let (lines, dropped) = sink.take();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].message.starts_with("0123456789"));
        assert!(lines[0].message.contains("truncated"));
        assert!(dropped >= 6 + 10);
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
