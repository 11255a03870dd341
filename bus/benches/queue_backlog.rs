//! What one queue measurement costs (`Bus::backlog`, which the orchestrator calls every
//! `queue_metrics_every_secs`): eight pools, half of them with tasks waiting, on the
//! in-memory bus and, when `BOSUN_TEST_KAFKA` is set, on Kafka (the first call, which
//! makes the clients, reported apart).
//!
//! Run with: `BOSUN_TEST_KAFKA=127.0.0.1:9092 cargo bench -p bosun-bus --bench queue_backlog`
//! (`BOSUN_BENCH_ROUNDS` changes the 50 measurements). Without `--bench` (as in
//! `cargo test --benches`) it only prints this and exits.

use bosun_bus::{Bus, KafkaBus, KafkaConfig, MemoryBus, Queue};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

use common::BenchResult;

/// Pools measured per call, as many as the built-in ones.
const POOLS: usize = 8;
/// Tasks waiting on each of the busy half of the pools.
const WAITING: usize = 20;

fn main() -> ExitCode {
    common::main("queue_backlog", run)
}

async fn run() -> BenchResult<()> {
    let rounds = common::rounds(50);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let queues: Vec<Queue> = (0..POOLS)
        .map(|i| Queue::agent_pool(&format!("bench-{}-{nanos:x}-{i}", std::process::id())))
        .collect();
    println!(
        "queue_backlog: {POOLS} pools, {WAITING} tasks on each of {}, {rounds} measurements",
        POOLS / 2
    );

    let memory = MemoryBus::new();
    let memory_times = measure(&memory, &queues, rounds).await?;
    print_stats("memory bus", &memory_times);

    let Some(address) = std::env::var("BOSUN_TEST_KAFKA")
        .ok()
        .filter(|a| !a.is_empty())
    else {
        println!("kafka: skipped (set BOSUN_TEST_KAFKA=127.0.0.1:9092 to measure Kafka)");
        return Ok(());
    };
    let mut config = KafkaConfig::new(address.split(','));
    config.client_id = "bosun-bench".to_owned();
    let partitions = config.topic_partitions;
    let bus = KafkaBus::connect(config).await?;
    let topics: Vec<String> = queues.iter().map(|q| q.topic.clone()).collect();
    bus.ensure_topics(&topics).await?;
    println!("kafka: {address}, {partitions} partitions per topic");
    let kafka_times = measure(&bus, &queues, rounds).await?;
    print_stats("kafka", &kafka_times);
    Ok(())
}

/// Publish the waiting tasks, check the answer, then time `rounds` measurements; the
/// first one is printed apart and left out.
async fn measure(bus: &dyn Bus, queues: &[Queue], rounds: usize) -> BenchResult<Vec<Duration>> {
    for queue in queues.iter().take(POOLS / 2) {
        for i in 0..WAITING {
            bus.publish(&queue.topic, &format!("run-{i}"), b"{}".to_vec())
                .await?;
        }
    }
    let started = Instant::now();
    let first = bus.backlog(queues).await?;
    println!("  first measurement: {:.2} ms", ms(started.elapsed()));
    for (i, backlog) in first.iter().enumerate() {
        let expected = if i < POOLS / 2 { WAITING as u64 } else { 0 };
        if backlog.lag != expected || (expected > 0) != backlog.oldest_unix_ms.is_some() {
            return Err(format!("pool {i}: expected lag {expected}, measured {backlog:?}").into());
        }
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        bus.backlog(queues).await?;
        times.push(started.elapsed());
    }
    Ok(times)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn print_stats(what: &str, times: &[Duration]) {
    let mut sorted: Vec<f64> = times.iter().map(|d| ms(*d)).collect();
    sorted.sort_by(f64::total_cmp);
    let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p / 100.0).round() as usize];
    println!(
        "{what}: one measurement p50 {:.3} ms, p99 {:.3} ms",
        at(50.0),
        at(99.0)
    );
}
