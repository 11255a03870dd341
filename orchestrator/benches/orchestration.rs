//! Orchestration overhead, measured end to end through the running orchestrator with
//! stand-in agents that answer every task at once (no plugin, no tool):
//! - per-stage overhead of five-stage runs, one run at a time, on the in-memory bus and
//!   (when `BOSUN_TEST_KAFKA` names a broker) over Kafka on loopback;
//! - five-stage runs per minute with many runs in flight, in-memory;
//! - the same two on the PostgreSQL run store (when `BOSUN_TEST_POSTGRES` names a
//!   server, `scripts/services.sh postgres`), against SQLite, as ratios;
//! - scheduler memory per active run (resident set growth over 20,000 runs in flight);
//! - several orchestrators sharing one PostgreSQL store (`orchestration/cluster.rs`).
//!
//! `cargo bench -p bosun-orchestrator --bench orchestration`; `BOSUN_BENCH_ONLY=memory|
//! overhead|throughput|kafka|postgres|cluster` picks one part.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "orchestration/cluster.rs"]
mod cluster;

use bosun_bus::messages::{self, AgentReply, MESSAGE_VERSION, ResultMessage, TaskMessage};
use bosun_bus::{Bus, MemoryBus, Outcome, StageReport, StageResult, topics};
use bosun_orchestrator::model::{LoadedConfig, RunTrigger};
use bosun_orchestrator::scheduler::{Accepted, Scheduler};
use bosun_orchestrator::service::{Orchestrator, ServiceOptions, now_ms};
use bosun_orchestrator::settings::ServerSettings;
use bosun_orchestrator::store::testing::PostgresSchema;
use bosun_orchestrator::store::{LeaseClaim, Store, StoreLocation, repository_key};
use bosun_test_support::git_repo;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const PIPELINE: &str = "pipeline:\n  stages: [lint, test, build, security, deploy]\n";
const STAGES: [&str; 5] = ["lint", "test", "build", "security", "deploy"];

fn repository(dir: &Path) -> (String, String) {
    git_repo(dir, &[(".bosun.yml", PIPELINE)])
}

fn trigger(url: &str, sha: &str, branch: String) -> RunTrigger {
    RunTrigger {
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        clone_url: url.into(),
        default_branch: "main".into(),
        commit: sha.into(),
        branch,
        event: "manual".into(),
        changed_paths: None,
        pull_request: None,
        sender: "bench".into(),
        message: None,
        fork: false,
    }
}

/// A stand-in agent's answer to `task`: passed, at once, with nothing to report.
fn passed(task: &TaskMessage) -> Vec<u8> {
    messages::encode(&AgentReply::Stage(ResultMessage {
        version: MESSAGE_VERSION,
        agent_id: "bench".into(),
        result: StageResult {
            task_id: task.task.id(),
            plugin: None,
            report: Some(StageReport {
                outcome: Outcome::Success,
                summary: "ok".into(),
                findings: vec![],
                tests: None,
                test_failures: vec![],
                coverage: None,
                artifacts: vec![],
                metrics: vec![],
                truncated: false,
            }),
            failure: None,
            logs: vec![],
            logs_dropped_bytes: 0,
            duration_ms: 0,
        },
    }))
}

/// Agents that answer every task with a pass, immediately.
async fn stand_in_agents(bus: Arc<dyn Bus>, consumers: usize) {
    for stage in STAGES {
        for _ in 0..consumers {
            let bus = Arc::clone(&bus);
            let topic = vec![topics::stage_topic(stage)];
            let mut sub = bus
                .subscribe("bench-agents", &topic)
                .await
                .expect("subscribe");
            tokio::spawn(async move {
                while let Ok(delivery) = sub.next().await {
                    let task: TaskMessage =
                        messages::decode(&delivery.record.payload).expect("task");
                    let _ = bus
                        .publish(topics::AGENT_RESULTS, &task.task.run_id, passed(&task))
                        .await;
                    let _ = sub.ack(&delivery).await;
                }
            });
        }
    }
}

/// The run store a part measures on: a SQLite file under `dir`, or a PostgreSQL schema.
fn store_at(dir: &Path, postgres: Option<&PostgresSchema>) -> StoreLocation {
    match postgres {
        Some(schema) => schema.location().clone(),
        None => dir.join("runs.db").into(),
    }
}

async fn start(
    dir: &Path,
    bus: Arc<dyn Bus>,
    store: StoreLocation,
) -> (Orchestrator, Store, watch::Sender<bool>) {
    let settings = Arc::new(ServerSettings {
        store,
        work_dir: dir.join("work"),
        ..ServerSettings::default()
    });
    let (stop, stopped) = watch::channel(false);
    let options = ServiceOptions {
        tick: Duration::from_millis(5),
        ..ServiceOptions::default()
    };
    let (orchestrator, _worker) = Orchestrator::start(Arc::clone(&settings), bus, options, stopped)
        .await
        .expect("orchestrator starts");
    (
        orchestrator,
        Store::open(&settings.store).expect("store"),
        stop,
    )
}

async fn wait_finished(store: &Store, run_id: &str) {
    loop {
        if let Ok(Some(run)) = store.run(run_id)
            && run.status.is_final()
        {
            return;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Per-stage overhead: one five-stage run at a time; the run's wall time from trigger
/// to settled, divided by five (the stand-in agents answer in microseconds).
async fn overhead(
    label: &str,
    bus: Arc<dyn Bus>,
    runs: usize,
    postgres: Option<&PostgresSchema>,
) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, sha) = repository(&dir.path().join("repo"));
    stand_in_agents(Arc::clone(&bus), 1).await;
    let (orchestrator, store, stop) = start(dir.path(), bus, store_at(dir.path(), postgres)).await;
    let mut per_stage = Vec::new();
    for i in 0..runs + 5 {
        let started = Instant::now();
        let accepted = orchestrator
            .trigger(trigger(&url, &sha, format!("b{i}")), None)
            .await
            .expect("trigger");
        let Accepted::Queued { run_id } = accepted else {
            continue;
        };
        // Completion is observed by polling the store, which adds up to 0.2 ms per run.
        wait_finished(&store, &run_id).await;
        if i >= 5 {
            per_stage.push(started.elapsed().as_secs_f64() * 1000.0 / 5.0);
        }
    }
    // Stopped, not left behind: a worker whose stop sender is gone spins on it.
    let _ = stop.send(true);
    per_stage.sort_by(|a, b| a.total_cmp(b));
    let p50 = percentile(&per_stage, 0.5);
    println!(
        "overhead per stage, {label}: p50 {p50:.3} ms, p99 {:.3} ms over {runs} five-stage runs (includes reading .bosun.yml from a cached git mirror and polling the store)",
        percentile(&per_stage, 0.99)
    );
    p50
}

/// Five-stage runs per minute with `runs` in flight together, in-memory bus.
async fn throughput(label: &str, runs: usize, postgres: Option<&PostgresSchema>) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, sha) = repository(&dir.path().join("repo"));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    stand_in_agents(Arc::clone(&bus), 2).await;
    let (orchestrator, store, stop) = start(dir.path(), bus, store_at(dir.path(), postgres)).await;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(runs);
    for i in 0..runs {
        if let Ok(Accepted::Queued { run_id }) = orchestrator
            .trigger(trigger(&url, &sha, format!("b{i}")), None)
            .await
        {
            ids.push(run_id);
        }
    }
    for id in &ids {
        wait_finished(&store, id).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let per_minute = runs as f64 * 60.0 / elapsed;
    println!(
        "throughput, in-memory, {label}: {runs} five-stage runs in {elapsed:.2} s = {per_minute:.0} runs/min ({:.0} stages/s)",
        runs as f64 * 5.0 / elapsed
    );
    per_minute
}

/// The same runs on PostgreSQL and on SQLite, one after the other, as ratios.
async fn postgres_against_sqlite() {
    let Ok(url) = std::env::var("BOSUN_TEST_POSTGRES") else {
        println!(
            "PostgreSQL part skipped: BOSUN_TEST_POSTGRES is not set (bash scripts/services.sh postgres)"
        );
        return;
    };
    let schema = |part: &str| match PostgresSchema::create(&url, part) {
        Ok(schema) => Some(schema),
        Err(e) => {
            println!("PostgreSQL part skipped: {e}");
            None
        }
    };
    let Some(one) = schema("bench_overhead") else {
        return;
    };
    let sqlite_overhead = overhead("SQLite", Arc::new(MemoryBus::new()), 300, None).await;
    let pg_overhead = overhead("PostgreSQL", Arc::new(MemoryBus::new()), 300, Some(&one)).await;
    let Some(many) = schema("bench_throughput") else {
        return;
    };
    let sqlite_rate = throughput("SQLite", 3000, None).await;
    let pg_rate = throughput("PostgreSQL", 3000, Some(&many)).await;
    println!(
        "PostgreSQL against SQLite: per-stage overhead (p50) x{:.2}, runs per minute x{:.2}",
        pg_overhead / sqlite_overhead,
        pg_rate / sqlite_rate
    );
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory per run in flight on one store: `owner` opens the scheduler in
/// cluster mode, holding the repository's lease as an orchestrator among several does.
fn memory(label: &str, location: StoreLocation, owner: Option<&str>, runs: usize) {
    let settings = Arc::new(ServerSettings {
        store: location.clone(),
        ..ServerSettings::default()
    });
    let store = Store::open(&location).expect("store");
    let mut scheduler = match owner {
        Some(owner) => {
            let mut scheduler =
                Scheduler::open_shared(store, settings, owner.into()).expect("scheduler");
            let key = repository_key("acme", "acme/shop");
            let now = now_ms();
            let claim = scheduler
                .store()
                .acquire_lease(&key, owner, now, 3_600_000)
                .expect("lease");
            let LeaseClaim::Acquired(lease) = claim else {
                panic!("the repository's lease is held by another")
            };
            scheduler.adopt(lease, None, now).expect("adopt");
            scheduler
        }
        None => Scheduler::open(store, settings).expect("scheduler"),
    };
    // Warm up allocator arenas and the config cache before measuring.
    let start_runs = |scheduler: &mut Scheduler, n: usize, offset: usize| {
        for i in 0..n {
            let now = now_ms();
            let t = trigger(
                "file:///srv/shop",
                "0123456789abcdef0123456789abcdef01234567",
                format!("branch-{}", i + offset),
            );
            if let Ok(Accepted::Queued { run_id }) = scheduler.accept(t, None, now) {
                let _ = scheduler.config_loaded(
                    &run_id,
                    Ok(LoadedConfig::new(PIPELINE, ".bosun.yml")),
                    now,
                );
            }
        }
    };
    start_runs(&mut scheduler, 1000, 0);
    let before = resident_kib();
    start_runs(&mut scheduler, runs, 1000);
    let after = resident_kib();
    println!(
        "memory per active run, {label}: {:.2} KiB ({} runs in flight, resident set +{} KiB; the lint task of each is out)",
        (after.saturating_sub(before)) as f64 / runs as f64,
        scheduler.active_runs(),
        after.saturating_sub(before)
    );
}

/// Memory per run in flight on SQLite, and on PostgreSQL alone and in cluster mode when
/// `BOSUN_TEST_POSTGRES` names a server. Each is measured in a process of its own
/// (this bench again, with `BOSUN_BENCH_MEMORY` naming the set-up): memory the one
/// before freed would otherwise be reused and hide the growth.
fn memory_on_each_store() {
    let postgres = std::env::var("BOSUN_TEST_POSTGRES").is_ok();
    if !postgres {
        println!(
            "PostgreSQL memory skipped: BOSUN_TEST_POSTGRES is not set (bash scripts/services.sh)"
        );
    }
    let exe = std::env::current_exe().expect("this bench's path");
    for setup in ["sqlite", "postgres", "cluster"] {
        if setup != "sqlite" && !postgres {
            continue;
        }
        let status = std::process::Command::new(&exe)
            .arg("--bench")
            .env("BOSUN_BENCH_ONLY", "memory-one")
            .env("BOSUN_BENCH_MEMORY", setup)
            .status()
            .expect("run the memory measure");
        assert!(status.success(), "the {setup} memory measure failed");
    }
}

/// One memory measure, in this process: `BOSUN_BENCH_MEMORY` = sqlite, postgres or
/// cluster.
fn memory_one() {
    let setup = std::env::var("BOSUN_BENCH_MEMORY").unwrap_or_default();
    let dir = tempfile::tempdir().expect("tempdir");
    if setup == "sqlite" {
        return memory("SQLite", dir.path().join("runs.db").into(), None, 20_000);
    }
    let url = std::env::var("BOSUN_TEST_POSTGRES").expect("BOSUN_TEST_POSTGRES");
    let schema = PostgresSchema::create(&url, "bench_memory").expect("PostgreSQL schema");
    match setup.as_str() {
        "postgres" => memory("PostgreSQL", schema.location().clone(), None, 5_000),
        "cluster" => memory(
            "PostgreSQL, cluster mode",
            schema.location().clone(),
            Some("bench-a"),
            5_000,
        ),
        other => panic!("BOSUN_BENCH_MEMORY={other:?}: expected sqlite, postgres or cluster"),
    }
}

fn main() {
    let only = std::env::var("BOSUN_BENCH_ONLY").unwrap_or_default();
    let wants = |part: &str| only.is_empty() || only == part;
    if only == "memory-one" {
        return memory_one();
    }
    if wants("memory") {
        memory_on_each_store();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if wants("overhead") {
            overhead("in-memory bus", Arc::new(MemoryBus::new()), 300, None).await;
        }
        if wants("throughput") {
            throughput("SQLite", 3000, None).await;
        }
        if wants("kafka") {
            match std::env::var("BOSUN_TEST_KAFKA") {
                Ok(broker) => match bosun_bus::connect_url(&format!("kafka://{broker}")).await {
                    Ok(bus) => {
                        overhead("Kafka on loopback (Tansu)", bus, 60, None).await;
                    }
                    Err(e) => println!("Kafka part skipped: {e}"),
                },
                Err(_) => println!(
                    "Kafka part skipped: BOSUN_TEST_KAFKA is not set (bash scripts/services.sh)"
                ),
            }
        }
        if wants("postgres") {
            postgres_against_sqlite().await;
        }
        if wants("cluster") {
            cluster::cluster().await;
        }
    });
}
