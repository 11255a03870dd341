//! Task → result round trip over the bus: the caller publishes a `TaskMessage`, an agent
//! task consumes it, publishes a `ResultMessage` and acks, the caller receives the
//! result and acks. Reports p50/p99 for `MemoryBus`, and for Kafka when
//! `BOSUN_TEST_KAFKA` is set, next to the raw Kafka produce → consume time (one hop)
//! so the bus overhead shows as "bus round trip / two raw hops".
//!
//! Run with: `BOSUN_TEST_KAFKA=127.0.0.1:9092 cargo bench -p bosun-bus --bench bus_round_trip`
//! (`BOSUN_BENCH_ROUNDS` changes the 2000 round trips; `BOSUN_BENCH_FETCH_WAIT_MS` sets
//! `fetch.wait.max.ms`). Without `--bench` (as in `cargo test --benches`) it only prints
//! this and exits.

use bosun_bus::kafka::DEFAULT_FETCH_WAIT_MS;
use bosun_bus::messages::{MESSAGE_VERSION, ResultMessage, TaskMessage, encode};
use bosun_bus::{Bus, BusError, KafkaBus, KafkaConfig, MemoryBus, StageResult, Task};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

mod common;

use common::BenchResult;

const WARM_UP: usize = 50;

fn main() -> ExitCode {
    common::main("bus_round_trip", run)
}

async fn run() -> BenchResult<()> {
    let rounds = common::rounds(2000);
    println!("bus_round_trip: {rounds} round trips after {WARM_UP} warm-up rounds");

    let memory = round_trip(Arc::new(MemoryBus::new()), rounds).await?;
    print_stats("memory bus: task -> result round trip", &memory);

    let Some(address) = std::env::var("BOSUN_TEST_KAFKA")
        .ok()
        .filter(|a| !a.is_empty())
    else {
        println!("kafka: skipped (set BOSUN_TEST_KAFKA=127.0.0.1:9092 to measure Kafka)");
        return Ok(());
    };
    let mut config = KafkaConfig::new(address.split(','));
    config.client_id = "bosun-bench".to_owned();
    let fetch_wait = std::env::var("BOSUN_BENCH_FETCH_WAIT_MS")
        .unwrap_or_else(|_| DEFAULT_FETCH_WAIT_MS.to_string());
    config
        .extra
        .push(("fetch.wait.max.ms".to_owned(), fetch_wait.clone()));
    println!("kafka: {address}, fetch.wait.max.ms={fetch_wait}");
    let bus = Arc::new(KafkaBus::connect(config.clone()).await?);

    let raw = raw_one_hop(&config, &fetch_wait, rounds).await?;
    print_stats("kafka raw: produce -> consume (one hop)", &raw);
    let kafka = round_trip(bus, rounds).await?;
    print_stats("kafka bus: task -> result round trip", &kafka);
    let ratio = percentile(&kafka, 50.0) / (2.0 * percentile(&raw, 50.0));
    let ratio99 = percentile(&kafka, 99.0) / (2.0 * percentile(&raw, 99.0));
    println!("kafka: bus round trip / two raw hops = {ratio:.2} at p50, {ratio99:.2} at p99");
    Ok(())
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

fn task(run_id: &str) -> TaskMessage {
    TaskMessage {
        version: MESSAGE_VERSION,
        task: Task {
            run_id: run_id.to_owned(),
            stage: "lint".to_owned(),
            attempt: 1,
            tenant: "acme".to_owned(),
            repository: "acme/app".to_owned(),
            commit: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            branch: "main".to_owned(),
            event: "push".to_owned(),
            commit_message: "Fix the cart total".to_owned(),
            config: vec![("strict".to_owned(), "true".to_owned())],
        },
        plugin: None,
        clone_url: "file:///srv/repos/app".to_owned(),
        deadline_unix_ms: 4_102_444_800_000,
        network_allowed: false,
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
        plugin_digest: None,
        artifacts: None,
    }
}

/// The agent side: answer every task with a result, then ack the task.
async fn agent(
    bus: Arc<dyn Bus>,
    group: String,
    topics: Vec<String>,
    results: String,
) -> Result<(), BusError> {
    let mut sub = bus.subscribe(&group, &topics).await?;
    loop {
        let delivery = sub.next().await?;
        let message: TaskMessage = delivery.decode()?;
        let result = ResultMessage {
            version: MESSAGE_VERSION,
            agent_id: "bench-agent".to_owned(),
            result: StageResult {
                task_id: message.task.id(),
                plugin: None,
                report: None,
                failure: None,
                logs: Vec::new(),
                logs_dropped_bytes: 0,
                duration_ms: 0,
            },
        };
        bus.publish(&results, &message.task.run_id, encode(&result))
            .await?;
        sub.ack(&delivery).await?;
    }
}

/// Round trips through an agent task that answers every task with a result.
async fn round_trip(bus: Arc<dyn Bus>, rounds: usize) -> BenchResult<Vec<f64>> {
    let tasks = unique("bench.tasks");
    let results = unique("bench.results");
    bus.ensure_topics(&[tasks.clone(), results.clone()]).await?;

    let agent_bus = Arc::clone(&bus);
    let agent_topics = vec![tasks.clone()];
    let results_topic = results.clone();
    let agent_group = unique("bench-agent");
    let agent = tokio::spawn(agent(agent_bus, agent_group, agent_topics, results_topic));

    let mut sub = bus
        .subscribe(&unique("bench-orchestrator"), &[results])
        .await?;
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..WARM_UP + rounds {
        let run_id = format!("run-{round}");
        let started = Instant::now();
        bus.publish(&tasks, &run_id, encode(&task(&run_id))).await?;
        let expected = format!("{run_id}/lint/1");
        loop {
            let delivery = tokio::time::timeout(Duration::from_secs(60), sub.next())
                .await
                .map_err(|_| format!("no result for {run_id} within 60 s"))??;
            let message: ResultMessage = delivery.decode()?;
            sub.ack(&delivery).await?;
            if message.result.task_id == expected {
                break;
            }
        }
        if round >= WARM_UP {
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    agent.abort();
    Ok(samples)
}

/// Produce → consume with plain rdkafka: the same producer settings as the bus, a
/// consumer assigned to the partition directly (no group, no commits).
async fn raw_one_hop(
    config: &KafkaConfig,
    fetch_wait: &str,
    rounds: usize,
) -> BenchResult<Vec<f64>> {
    let topic = unique("bench.raw");
    let mut one = config.clone();
    one.topic_partitions = 1;
    let creator = KafkaBus::connect(one).await?;
    creator.ensure_topics(std::slice::from_ref(&topic)).await?;
    drop(creator);

    let producer: FutureProducer = producer_config(config).create()?;
    let mut consumer_config = ClientConfig::new();
    consumer_config
        .set("bootstrap.servers", config.bootstrap_servers())
        .set("socket.nagle.disable", "true")
        .set("enable.partition.eof", "false")
        // `assign` needs a group id, though the consumer never joins the group.
        .set("group.id", unique("bench-raw"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", fetch_wait);
    let consumer: BaseConsumer = consumer_config.create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(&topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;

    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_poller = Arc::clone(&stop);
    let poller = std::thread::spawn(move || {
        while !stop_poller.load(Ordering::Relaxed) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100))
                && message.payload().is_some()
                && tx.send(Instant::now()).is_err()
            {
                break;
            }
        }
    });

    let payload = encode(&task("run-raw"));
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..WARM_UP + rounds {
        let started = Instant::now();
        let record = FutureRecord::to(&topic).key("run-raw").payload(&payload);
        let (sent, received) = tokio::join!(
            producer.send(record, Duration::from_secs(5)),
            tokio::time::timeout(Duration::from_secs(60), rx.recv())
        );
        sent.map_err(|(e, _)| e)?;
        let received = received
            .map_err(|_| "raw consumer received nothing within 60 s")?
            .ok_or("raw consumer stopped")?;
        if round >= WARM_UP {
            samples.push(received.duration_since(started).as_secs_f64() * 1000.0);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    Ok(samples)
}

fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut producer = ClientConfig::new();
    producer
        .set("bootstrap.servers", config.bootstrap_servers())
        .set("socket.nagle.disable", "true")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "0");
    producer
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn print_stats(label: &str, samples: &[f64]) {
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    println!(
        "{label:<42} n={:<5} p50={:>8.3} ms  p99={:>8.3} ms  mean={:>8.3} ms  max={:>8.3} ms",
        samples.len(),
        percentile(samples, 50.0),
        percentile(samples, 99.0),
        mean,
        samples.iter().copied().fold(0.0, f64::max),
    );
}
