//! Several orchestrators over one PostgreSQL store and one bus (`BOSUN_BENCH_ONLY=cluster`):
//! five-stage runs per minute (and the latency per stage of runs one at a time) with one
//! and with three orchestrators, against SQLite; and how long it takes another
//! orchestrator to take the runs of one that died over. Every run is checked afterwards:
//! passed, each stage settled exactly once. `BOSUN_BENCH_RUNS` (1,500) sets the burst,
//! `BOSUN_BENCH_TRIALS` (5) the deaths per kind of takeover (0: none).
//!
//! Each orchestrator runs on a tokio runtime of its own (two worker threads, as a
//! `bosun orchestrator` process on this machine has), so one's blocking store calls do
//! not hold the others' threads, and dying is that runtime shut down at once: every task
//! of it dropped where it stands, its bus subscriptions with them (what they held goes
//! back to the consumer group), nothing released in the store, so its leases expire.

use super::{STAGES, passed, repository, store_at, trigger};
use bosun_bus::messages::{self, TaskMessage};
use bosun_bus::{Bus, MemoryBus, topics};
use bosun_orchestrator::model::{RunStatus, RunTrigger};
use bosun_orchestrator::scheduler::Accepted;
use bosun_orchestrator::service::{Orchestrator, ServiceOptions, now_ms};
use bosun_orchestrator::settings::{ClusterSettings, ServerSettings};
use bosun_orchestrator::store::testing::PostgresSchema;
use bosun_orchestrator::store::{Store, StoreLocation};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Runs measured one at a time for the latency per stage.
const LATENCY_RUNS: usize = 40;

/// Repositories the runs are spread over, so the leases spread over the orchestrators.
const REPOSITORIES: usize = 30;

/// How often the store is read for runs settled (for the latency: every millisecond).
const POLL: Duration = Duration::from_millis(5);

/// One orchestrator on a runtime of its own.
struct Node {
    runtime: Option<tokio::runtime::Runtime>,
    orchestrator: Orchestrator,
    stop: watch::Sender<bool>,
}

impl Node {
    async fn start(
        work_dir: PathBuf,
        bus: Arc<dyn Bus>,
        store: StoreLocation,
        cluster: Option<ClusterSettings>,
    ) -> Node {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let settings = Arc::new(ServerSettings {
            store,
            work_dir,
            cluster,
            ..ServerSettings::default()
        });
        let (stop, stopped) = watch::channel(false);
        let options = ServiceOptions {
            tick: Duration::from_millis(5),
            ..ServiceOptions::default()
        };
        let started = runtime.spawn(Orchestrator::start(settings, bus, options, stopped));
        let (orchestrator, _worker) = started.await.expect("start").expect("orchestrator starts");
        Node {
            runtime: Some(runtime),
            orchestrator,
            stop,
        }
    }

    /// Die: every task dropped mid-step, no lease released.
    fn kill(mut self) {
        // A dropped stop sender is a graceful stop (leases released): keep it alive
        // while the runtime goes, as a killed process never says goodbye.
        let stop = std::mem::replace(&mut self.stop, watch::channel(false).0);
        std::mem::forget(stop);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Shut down gracefully (its leases released), then let the runtime go.
    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.kill();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn member(id: &str, lease_ms: u64) -> ClusterSettings {
    ClusterSettings {
        id: Some(id.to_string()),
        lease_ms,
        ..ClusterSettings::default()
    }
}

/// Stand-in agents that pass every task `delay` after it came, once `gate` is open (held
/// until then, so runs stay in flight), counting the tasks they answer.
async fn gated_agents(
    bus: Arc<dyn Bus>,
    consumers: usize,
    (gate, delay): (watch::Receiver<bool>, Duration),
    answered: Arc<AtomicUsize>,
) {
    for stage in STAGES {
        for _ in 0..consumers {
            let (bus, mut gate, answered) = (Arc::clone(&bus), gate.clone(), Arc::clone(&answered));
            let topic = vec![topics::stage_topic(stage)];
            let mut sub = bus
                .subscribe("bench-agents", &topic)
                .await
                .expect("subscribe");
            tokio::spawn(async move {
                while let Ok(delivery) = sub.next().await {
                    let _ = gate.wait_for(|open| *open).await;
                    let task: TaskMessage =
                        messages::decode(&delivery.record.payload).expect("task");
                    let reply = passed(&task);
                    let answer = {
                        let (bus, answered) = (Arc::clone(&bus), Arc::clone(&answered));
                        async move {
                            if !delay.is_zero() {
                                // A zero sleep still waits for the timer's next tick (1 ms).
                                tokio::time::sleep(delay).await;
                            }
                            let run = &task.task.run_id;
                            let _ = bus.publish(topics::AGENT_RESULTS, run, reply).await;
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                    };
                    if delay.is_zero() {
                        answer.await;
                    } else {
                        // Many tasks at work at once, as a pool of agents would have.
                        tokio::spawn(answer);
                    }
                    let _ = sub.ack(&delivery).await;
                }
            });
        }
    }
}

/// Run `i` of the part: its own branch, in repository `repo` (of [`REPOSITORIES`] or more).
fn repo_trigger(url: &str, sha: &str, repo: usize, i: usize) -> RunTrigger {
    RunTrigger {
        repository: format!("acme/repo-{repo:02}"),
        ..trigger(url, sha, format!("b{i}"))
    }
}

/// Trigger `runs` runs at once, round-robin over `nodes`; the ids of those accepted.
async fn trigger_all(nodes: &[Node], url: &str, sha: &str, runs: usize) -> Vec<String> {
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..runs {
        let handle = nodes[i % nodes.len()].orchestrator.clone();
        let t = repo_trigger(url, sha, i % REPOSITORIES, i);
        pending.spawn(async move { handle.trigger(t, None).await });
    }
    let mut ids = Vec::with_capacity(runs);
    while let Some(done) = pending.join_next().await {
        match done.expect("trigger task") {
            Ok(Accepted::Queued { run_id }) => ids.push(run_id),
            Ok(other) => println!("  a trigger was not queued: {other:?}"),
            Err(e) => println!("  a trigger failed: {e}"),
        }
    }
    ids
}

/// Wait until every run is where `until` says, reading the store every `poll`; how many
/// did not pass.
async fn wait_all(
    store: &Store,
    ids: &[String],
    until: impl Fn(RunStatus) -> bool,
    poll: Duration,
) -> usize {
    let mut not_passed = 0;
    for id in ids {
        loop {
            if let Ok(Some(run)) = store.run(id)
                && until(run.status)
            {
                not_passed += usize::from(run.status != RunStatus::Success);
                break;
            }
            tokio::time::sleep(poll).await;
        }
    }
    not_passed
}

/// Each run settled each of its five stages once, on its first attempt: the runs whose
/// attempts say otherwise (a lost or a doubled stage).
fn stages_not_once(store: &Store, ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter(|id| {
            let attempts = store.attempts(id).unwrap_or_default();
            let settled = |stage: &str| {
                attempts
                    .iter()
                    .filter(|a| a.stage == stage && a.settled_ms.is_some())
                    .count()
            };
            attempts.len() != STAGES.len() || STAGES.iter().any(|s| settled(s) != 1)
        })
        .cloned()
        .collect()
}

/// One measured set-up: the latency per stage of runs one at a time, then five-stage runs
/// per minute with `runs` triggered together.
async fn runs_per_minute(
    label: &str,
    runs: usize,
    postgres: Option<&PostgresSchema>,
    (members, inbox_poll_ms): (usize, u64),
) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, sha) = repository(&dir.path().join("repo"));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let (_open, gate) = watch::channel(true);
    gated_agents(Arc::clone(&bus), 2, (gate, Duration::ZERO), Arc::default()).await;
    let location = store_at(dir.path(), postgres);
    let clustered = members > 0;
    let mut nodes = Vec::new();
    for k in 0..members.max(1) {
        let cluster = clustered.then(|| ClusterSettings {
            inbox_poll_ms,
            ..member(&format!("orchestrator-{k}"), 10_000)
        });
        let work = dir.path().join(format!("work-{k}"));
        nodes.push(Node::start(work, Arc::clone(&bus), location.clone(), cluster).await);
    }
    let store = Store::open(&location).expect("store");
    // One run at a time first: what a run waits for, hand-overs included.
    let mut per_stage = Vec::new();
    for i in 0..LATENCY_RUNS + 5 {
        let started = Instant::now();
        let node = &nodes[i % nodes.len()];
        let Some(id) = trigger_in(node, &url, &sha, i % REPOSITORIES, runs + i).await else {
            continue;
        };
        wait_all(&store, &[id], RunStatus::is_final, Duration::from_millis(1)).await;
        if i >= 5 {
            per_stage.push(started.elapsed().as_secs_f64() * 1000.0 / STAGES.len() as f64);
        }
    }
    per_stage.sort_by(f64::total_cmp);
    let p50 = super::percentile(&per_stage, 0.5);
    println!(
        "cluster latency, {label}: per stage p50 {p50:.2} ms, p90 {:.2} ms over {LATENCY_RUNS} five-stage runs one at a time, triggered round-robin",
        super::percentile(&per_stage, 0.9)
    );
    let started = Instant::now();
    let ids = trigger_all(&nodes, &url, &sha, runs).await;
    let accepted = started.elapsed().as_secs_f64();
    // Who owns what while the runs are in flight.
    let held: Vec<String> = nodes
        .iter()
        .map(|n| n.orchestrator.metrics().leases_held.get().to_string())
        .collect();
    let not_passed = wait_all(&store, &ids, RunStatus::is_final, POLL).await;
    let elapsed = started.elapsed().as_secs_f64();
    let per_minute = ids.len() as f64 * 60.0 / elapsed;
    let handed_over: u64 = nodes
        .iter()
        .map(|n| n.orchestrator.metrics().inbox_forwarded.get())
        .sum();
    let odd = stages_not_once(&store, &ids);
    println!(
        "cluster throughput, {label}: {} five-stage runs over {REPOSITORIES} repositories in {elapsed:.2} s = {per_minute:.0} runs/min (all accepted after {accepted:.2} s; {not_passed} not passed; {} with a stage not settled exactly once; inputs handed over through the inbox: {handed_over}; leases held by each while in flight: [{}])",
        ids.len(),
        odd.len(),
        held.join(", ")
    );
    if let Some(id) = odd.first() {
        println!(
            "  e.g. run {id}: {:?}",
            store.attempts(id).unwrap_or_default()
        );
    }
    for node in nodes {
        node.stop().await;
    }
    (per_minute, p50)
}

/// Runs per minute on SQLite, then PostgreSQL alone, in cluster mode, and three together
/// (with the default inbox reading, every 50 ms, and every 10 ms).
async fn throughput(url: &str, runs: usize) {
    let sqlite = runs_per_minute("SQLite, one orchestrator", runs, None, (0, 0)).await;
    let schema = |part: &str| PostgresSchema::create(url, part).expect("PostgreSQL schema");
    let mut measured = Vec::new();
    for (label, cluster) in [
        ("PostgreSQL, one orchestrator", (0, 0)),
        ("PostgreSQL, one in cluster mode", (1, 50)),
        ("PostgreSQL, three in cluster mode", (3, 50)),
        ("PostgreSQL, three, inbox_poll_ms 10", (3, 10)),
    ] {
        let schema = schema("bench_cluster");
        let measure = runs_per_minute(label, runs, Some(&schema), cluster);
        measured.push((label, measure.await));
    }
    let pg = measured[0].1;
    println!("against SQLite (one orchestrator) / against PostgreSQL (one orchestrator):");
    for (label, (rate, p50)) in measured {
        println!(
            "  {label}: runs per minute x{:.2} / x{:.2}; latency per stage x{:.2} / x{:.2}",
            rate / sqlite.0,
            rate / pg.0,
            p50 / sqlite.1,
            p50 / pg.1
        );
    }
}

/// How runs are in flight when A dies.
#[derive(Clone, Copy)]
enum InFlight {
    /// Every run of A at its first stage, the agents holding the tasks until A died.
    Held,
    /// Runs of A and of B at any stage, agents answering each task after 300 ms.
    Flowing,
}

/// Trigger run `i` of repository `repo` through `node`.
async fn trigger_in(node: &Node, url: &str, sha: &str, repo: usize, i: usize) -> Option<String> {
    let t = repo_trigger(url, sha, repo, i);
    match node.orchestrator.trigger(t, None).await {
        Ok(Accepted::Queued { run_id }) => Some(run_id),
        _ => None,
    }
}

/// One takeover: A owns the runs of six repositories, in flight, and dies; the seconds
/// from its death until B's takeover is in the log of every run of A, and until every
/// run settled.
async fn takeover_once(url: &str, lease_ms: u64, in_flight: InFlight) -> (f64, f64) {
    let schema = PostgresSchema::create(url, "bench_takeover").expect("PostgreSQL schema");
    let dir = tempfile::tempdir().expect("tempdir");
    let (clone_url, sha) = repository(&dir.path().join("repo"));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let held = matches!(in_flight, InFlight::Held);
    let (open, gate) = watch::channel(!held);
    let delay = Duration::from_millis(if held { 0 } else { 300 });
    let answered = Arc::new(AtomicUsize::new(0));
    gated_agents(Arc::clone(&bus), 1, (gate, delay), Arc::clone(&answered)).await;
    let location = schema.location().clone();
    let start = |name: &str| {
        let cluster = Some(member(name, lease_ms));
        let work = dir.path().join(format!("work-{name}"));
        Node::start(work, Arc::clone(&bus), location.clone(), cluster)
    };
    let (a, b) = (start("a").await, start("b").await);
    let store = Store::open(&location).expect("store");
    // Each orchestrator takes the leases of the repositories triggered through it.
    let (mut of_a, mut of_b) = (Vec::new(), Vec::new());
    for i in 0..30 {
        of_a.extend(trigger_in(&a, &clone_url, &sha, i % 6, i).await);
        if !held {
            of_b.extend(trigger_in(&b, &clone_url, &sha, 6 + i % 6, i).await);
        }
    }
    // Die at some point of A's renewal period, not right after a renewal.
    let jitter = Duration::from_millis(now_ms() % (lease_ms / 4));
    if held {
        wait_all(&store, &of_a, |s| s == RunStatus::Running, POLL).await;
        tokio::time::sleep(Duration::from_millis(150) + jitter).await;
    } else {
        tokio::time::sleep(Duration::from_millis(700) + jitter).await;
    }
    let died = Instant::now();
    let died_ms = now_ms();
    a.kill();
    let _ = open.send(true);
    let mut taken_at = vec![None; of_a.len()];
    while taken_at.iter().any(Option::is_none) {
        for (id, at) in of_a.iter().zip(&mut taken_at) {
            if at.is_none() {
                let events = store.events(id).unwrap_or_default();
                *at = events
                    .iter()
                    .find(|e| e.kind == "run.owner" && e.message.contains("taken over from a "))
                    .map(|e| e.at_ms);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let taken = taken_at.iter().flatten().max().copied().unwrap_or(died_ms);
    let taken = taken.saturating_sub(died_ms) as f64 / 1000.0;
    let ids: Vec<String> = of_a.into_iter().chain(of_b).collect();
    let not_passed = wait_all(&store, &ids, RunStatus::is_final, POLL).await;
    let settled = died.elapsed().as_secs_f64();
    let odd = stages_not_once(&store, &ids);
    println!(
        "  {} runs ({} of A): taken over by B in {taken:.2} s, all settled {settled:.2} s after A died ({not_passed} not passed; {} with a stage not settled exactly once; tasks answered {} for {} stages)",
        ids.len(),
        taken_at.len(),
        odd.len(),
        answered.load(Ordering::Relaxed),
        ids.len() * STAGES.len()
    );
    if let Some(id) = odd.first() {
        println!(
            "  e.g. run {id}: {:?}",
            store.attempts(id).unwrap_or_default()
        );
    }
    b.stop().await;
    (taken, settled)
}

/// Takeover times over `trials`, as min / median / max against the target.
async fn takeover(url: &str, trials: usize, in_flight: InFlight) {
    let lease_ms = 2_000;
    let target = lease_ms as f64 / 1000.0 + 2.0;
    let how = match in_flight {
        InFlight::Held => "A's runs held at their first stage",
        InFlight::Flowing => "runs of A and B flowing, 300 ms per task",
    };
    println!("takeover, lease {lease_ms} ms, {how}:");
    let (mut taken, mut settled) = (Vec::new(), Vec::new());
    for _ in 0..trials {
        let (t, s) = takeover_once(url, lease_ms, in_flight).await;
        taken.push(t);
        settled.push(s);
    }
    for (label, mut figures) in [("taken over", taken), ("all settled", settled)] {
        figures.sort_by(f64::total_cmp);
        println!(
            "  {label}: min {:.2} s, median {:.2} s, max {:.2} s over {trials} deaths (target for the takeover: <= lease + 2 s = {target:.1} s)",
            figures[0],
            figures[figures.len() / 2],
            figures[figures.len() - 1],
        );
    }
}

/// The cluster part: throughput, then takeover time.
pub(super) async fn cluster() {
    let Ok(url) = std::env::var("BOSUN_TEST_POSTGRES") else {
        println!(
            "cluster part skipped: BOSUN_TEST_POSTGRES is not set (bash scripts/services.sh postgres)"
        );
        return;
    };
    let runs = std::env::var("BOSUN_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1500);
    let trials = std::env::var("BOSUN_BENCH_TRIALS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    throughput(&url, runs).await;
    if trials > 0 {
        takeover(&url, trials, InFlight::Held).await;
        takeover(&url, trials, InFlight::Flowing).await;
    }
}
