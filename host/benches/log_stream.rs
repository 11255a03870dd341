//! The agent's cost of live logs: tool output pushed line by line through the attempt's
//! log (split, masked with two secrets held, capped) the old way, kept for the result
//! only, against the same with every line also streamed in chunks on the in-memory bus,
//! with nobody reading the logs topic and with a reader draining it. Interleaved rounds
//! in one run; the time is until the last chunk is out.
//!
//! Run with `cargo bench -p bosun-host --bench log_stream`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_bus::{Bus, LogLevel, MemoryBus, Task, topics};
use bosun_host::agent::live_logs::LiveLog;
use bosun_host::capabilities::log::LogSink;
use bosun_host::capabilities::tool_lines::ToolLines;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LINES: usize = 100_000;

fn p50(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn task(n: usize) -> Task {
    Task {
        run_id: format!("bench-{n}"),
        stage: "lint".into(),
        attempt: 1,
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        commit: "0".repeat(40),
        branch: "main".into(),
        event: "push".into(),
        commit_message: String::new(),
        config: Default::default(),
    }
}

fn sink() -> LogSink {
    // A cap that keeps every line: the cost per line is what is measured.
    LogSink::new(
        8 << 10,
        64 << 20,
        vec![
            "ghs_16C7e42F292c6912E7710c838347Ae178B4a".into(),
            "hunter2-but-longer".into(),
        ],
    )
}

/// Feed the output in 64 KiB reads, as the runner gets it from the engine.
fn feed(sink: &LogSink, output: &[u8]) {
    let mut lines = ToolLines::new(sink.clone(), LogLevel::Info, 8 << 10);
    for piece in output.chunks(64 << 10) {
        lines.feed(piece);
    }
    lines.finish();
}

async fn streamed(bus: &MemoryBus, output: &[u8], n: usize) -> (Duration, u64) {
    let sink = sink();
    let start = Instant::now();
    let (tap, live) = LiveLog::start(Arc::new(bus.clone()), "bench-agent", &task(n));
    sink.stream_to(tap);
    feed(&sink, output);
    let (lines, _) = sink.take();
    live.finish().await;
    let elapsed = start.elapsed();
    assert_eq!(lines.len(), LINES);
    (elapsed, sink.live_skipped())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("log_stream bench: run with `cargo bench -p bosun-host --bench log_stream`");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let line = "src/shop/cart.py:42:8: W0612: Unused variable 'total' (unused-variable)\n";
    let output = line.repeat(LINES).into_bytes();
    let rounds = 15;
    let (mut old, mut alone, mut watched) = (Vec::new(), Vec::new(), Vec::new());
    let (mut skipped_alone, mut skipped_watched) = (0, 0);
    runtime.block_on(async {
        // Nobody reads this bus's logs topic: the agent's side alone.
        let unread = MemoryBus::with_retention(0);
        // This one has a reader that takes every chunk as it comes.
        let read = MemoryBus::new();
        let mut reader = read
            .subscribe("viewer", &[topics::AGENT_LOGS.to_string()])
            .await
            .unwrap();
        tokio::spawn(async move {
            while let Ok(delivery) = reader.next().await {
                let _ = reader.ack(&delivery).await;
            }
        });
        for round in 0..rounds {
            let sink = sink();
            let start = Instant::now();
            feed(&sink, &output);
            let (lines, _) = sink.take();
            old.push(start.elapsed());
            assert_eq!(lines.len(), LINES);
            let (took, skipped) = streamed(&unread, &output, round).await;
            alone.push(took);
            skipped_alone += skipped;
            let (took, skipped) = streamed(&read, &output, round).await;
            watched.push(took);
            skipped_watched += skipped;
        }
    });
    let (old, alone, watched) = (p50(&mut old), p50(&mut alone), p50(&mut watched));
    let rate = |d: Duration| LINES as f64 / d.as_secs_f64();
    println!(
        "{LINES} lines ({:.1} MiB) of tool output through the attempt's log, 2 secrets held, p50 of {rounds} interleaved rounds:",
        output.len() as f64 / (1 << 20) as f64
    );
    println!(
        "  end-of-attempt only (before)        {old:>10.2?}  {:>12.0} lines/s",
        rate(old)
    );
    println!(
        "  streamed, nobody reading the topic  {alone:>10.2?}  {:>12.0} lines/s  {:.2}x  (lines left out of the live view: {skipped_alone} in all rounds)",
        rate(alone),
        alone.as_secs_f64() / old.as_secs_f64()
    );
    println!(
        "  streamed, a reader draining it      {watched:>10.2?}  {:>12.0} lines/s  {:.2}x  (left out: {skipped_watched})",
        rate(watched),
        watched.as_secs_f64() / old.as_secs_f64()
    );
}
