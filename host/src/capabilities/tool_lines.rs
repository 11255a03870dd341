//! A tool's output as log lines: the bytes of one stream (stdout or stderr of a
//! container) split into lines as they arrive, each line handed to the attempt's
//! [`LogSink`] (which masks, caps and streams it live), so people read a tool's output
//! while it runs and in the attempt's log, in the order it was printed.

use super::log::LogSink;
use bosun_bus::LogLevel;

/// The source name tool output carries in the log.
pub const TOOL_SOURCE: &str = "tool";

/// One stream of one tool run, line by line.
pub struct ToolLines {
    sink: LogSink,
    level: LogLevel,
    line_cap: usize,
    partial: Vec<u8>,
}

impl ToolLines {
    /// Lines of one stream at `level` (stdout: info, stderr: warn), each kept up to
    /// `line_cap` bytes (the sink marks and counts the cut).
    pub fn new(sink: LogSink, level: LogLevel, line_cap: usize) -> ToolLines {
        ToolLines {
            sink,
            level,
            line_cap,
            partial: Vec::new(),
        }
    }

    /// Take the next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            let (body, ends_line) = match piece.split_last() {
                Some((b'\n', body)) => (body, true),
                _ => (piece, false),
            };
            // One byte over the cap is enough for the sink to see the line was longer.
            let room = (self.line_cap + 1).saturating_sub(self.partial.len());
            let kept = body.len().min(room);
            self.partial
                .extend_from_slice(body.get(..kept).unwrap_or(body));
            self.sink.count_dropped(body.len() - kept);
            if ends_line {
                self.flush();
            }
        }
    }

    /// The stream ended: a last line without a newline is a line too.
    pub fn finish(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.partial);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        self.sink.push(self.level, TOOL_SOURCE, text);
        self.partial.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_become_lines_in_order_and_long_lines_are_cut() {
        let sink = LogSink::new(16, 1 << 20, vec!["s3cret".into()]);
        let mut out = ToolLines::new(sink.clone(), LogLevel::Info, 16);
        out.feed(b"one\r\ntw");
        out.feed(b"o\n0123456789abcdefghij\nkey=s3cret\nlast");
        out.finish();
        let (lines, dropped) = sink.take();
        let texts: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(texts[..2], ["one", "two"]);
        assert!(texts[2].starts_with("0123456789abcdef") && texts[2].contains("truncated"));
        assert_eq!(texts[3..], ["key=***", "last"]);
        assert!(lines.iter().all(|l| l.source == TOOL_SOURCE));
        assert_eq!(dropped, 4, "the 4 bytes past the line cap");
    }
}
