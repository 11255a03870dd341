//! Plugin stdout/stderr: line-buffered into the log sink, never failing the writer.
//!
//! A plugin that prints 100 MB must not crash the host nor itself: bytes past the cap
//! are accepted and dropped (and counted), so `println!` never panics in the guest.

use super::log::LogSink;
use bosun_bus::LogLevel;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// A WASI output stream feeding a [`LogSink`] under one source name.
#[derive(Clone)]
pub struct CapturedOutput {
    sink: LogSink,
    source: &'static str,
    level: LogLevel,
    line_cap: usize,
}

impl CapturedOutput {
    /// Capture into `sink`, labelled `source` (`stdout` or `stderr`).
    pub fn new(sink: LogSink, source: &'static str, level: LogLevel, line_cap: usize) -> Self {
        CapturedOutput {
            sink,
            source,
            level,
            line_cap,
        }
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            out: self.clone(),
            partial: Vec::new(),
        })
    }
}

struct LineWriter {
    out: CapturedOutput,
    partial: Vec<u8>,
}

impl LineWriter {
    fn flush_line(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.partial).into_owned();
        self.out.sink.push(self.out.level, self.out.source, &text);
        self.partial.clear();
    }

    fn accept(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let (body, ends_line) = match chunk.split_last() {
                Some((b'\n', body)) => (body, true),
                _ => (chunk, false),
            };
            // Keep at most one line's worth; the sink records how much was cut.
            let room = (self.out.line_cap + 1).saturating_sub(self.partial.len());
            let kept = body.len().min(room);
            self.partial.extend_from_slice(&body[..kept]);
            self.out.sink.count_dropped(body.len() - kept);
            if ends_line || self.partial.len() > self.out.line_cap {
                self.flush_line();
            }
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_line();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_line();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn output_is_split_into_lines() {
        let sink = LogSink::new(64, 1 << 20, vec![]);
        let out = CapturedOutput::new(sink.clone(), "stdout", LogLevel::Info, 64);
        let mut w = Box::into_pin(out.async_stream());
        w.write_all(b"first\nsec").await.unwrap();
        w.write_all(b"ond\nthird").await.unwrap();
        drop(w);
        let (lines, _) = sink.take();
        let texts: Vec<_> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(texts, ["first", "second", "third"]);
    }
}
