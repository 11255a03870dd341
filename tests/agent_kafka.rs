//! `bosun agent` processes over the real Kafka-protocol broker (Tansu): shared work,
//! hand-over of a task in flight at shutdown, dead letters, an unreachable broker, a
//! running stage's live log going through the broker in order, and a pool's queue (lag,
//! oldest task) on a `bosun orchestrator`'s `/metrics`.
//!
//! Needs `BOSUN_TEST_KAFKA` (set by `bash scripts/services.sh`). Under `CI=true` a missing
//! broker fails the test; elsewhere it skips, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_test_support::{git_repo, missing_service};
use common::process::Process;

use bosun_bus::messages::{self, DeadLetter, MESSAGE_VERSION, ResultMessage, TaskMessage};
use bosun_bus::{Bus, KafkaBus, KafkaConfig, Subscription, Task, topics};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn broker_or_skip(test: &str) -> Option<String> {
    match std::env::var("BOSUN_TEST_KAFKA") {
        Ok(addr) if std::net::TcpStream::connect(&addr).is_ok() => Some(addr),
        Ok(addr) => missing_service(test, &format!("no Kafka broker answers on {addr}")),
        Err(_) => missing_service(test, "BOSUN_TEST_KAFKA (the Kafka broker) is not set"),
    }
}

/// A running `bosun agent` serving `stage` as `id`, its stderr (the log) kept.
fn start_agent(
    broker: &str,
    stage: &str,
    id: &str,
    plugins: &Path,
    work: &Path,
    extra: &[&str],
) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bosun"));
    command
        .args([
            "agent",
            "--bus",
            &format!("kafka://{broker}"),
            "--stages",
            stage,
            "--agent-id",
            id,
        ])
        .args([
            "--plugins",
            plugins.to_str().unwrap(),
            "--work-dir",
            work.to_str().unwrap(),
        ])
        .args([
            "--containers",
            "none",
            "--listen",
            "127.0.0.1:0",
            "--shutdown-grace",
            "2",
        ])
        .args(extra)
        .env("RUST_LOG", "bosun_host=info,bosun_bus=info")
        .env("BOSUN_CACHE_DIR", common::artifact_cache())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Process::spawn(command)
}

fn unique_stage() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("kt{}x{nanos:x}", std::process::id())
}

fn plugin_folder(dir: &Path) -> std::path::PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(bosun_test_plugins::HOSTILE, plugins.join("hostile.wasm")).unwrap();
    plugins
}

/// A repository with one commit, as the agents fetch it.
fn repo(dir: &Path) -> (String, String) {
    git_repo(&dir.join("repo"), &[("README", "sample\n")])
}

fn task(run_id: &str, stage: &str, attempt: u32, commit: &str, config: &[(&str, &str)]) -> Task {
    Task {
        run_id: run_id.to_string(),
        stage: stage.to_string(),
        attempt,
        tenant: "acme".into(),
        repository: "acme/app".into(),
        commit: commit.to_string(),
        branch: "main".into(),
        event: "push".into(),
        commit_message: String::new(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

async fn publish(bus: &KafkaBus, url: &str, task: Task) {
    let message = TaskMessage {
        version: MESSAGE_VERSION,
        plugin: Some("hostile".into()),
        clone_url: url.to_string(),
        deadline_unix_ms: 0,
        network_allowed: false,
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
        plugin_digest: None,
        artifacts: None,
        task,
    };
    let key = message.task.run_id.clone();
    bus.publish(
        &topics::stage_topic(&message.task.stage),
        &key,
        messages::encode(&message),
    )
    .await
    .unwrap();
}

/// Collect messages on `topic` whose key starts with `prefix` until `done` says so.
async fn collect<T: for<'a> serde::Deserialize<'a> + messages::Versioned>(
    sub: &mut Box<dyn Subscription>,
    prefix: &str,
    within: Duration,
    mut done: impl FnMut(&[T]) -> bool,
) -> Vec<T> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting on messages for {prefix}"
        );
        let Ok(next) = tokio::time::timeout(left, sub.next()).await else {
            continue;
        };
        let delivery = next.unwrap();
        sub.ack(&delivery).await.unwrap();
        if delivery.record.key.starts_with(prefix) {
            seen.push(messages::decode(&delivery.record.payload).unwrap());
        }
    }
    seen
}

async fn bus(broker: &str) -> KafkaBus {
    KafkaBus::connect(KafkaConfig::new([broker.to_string()]))
        .await
        .unwrap()
}

/// Two agent processes serving one fresh stage over the broker, both holding
/// partitions, and a subscription to the results.
struct Pair {
    bus: KafkaBus,
    results: Box<dyn Subscription>,
    a: Process,
    b: Process,
    stage: String,
    url: String,
    commit: String,
    _dir: tempfile::TempDir,
}

async fn two_agents(broker: &str) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let (url, commit) = repo(dir.path());
    let plugins = plugin_folder(dir.path());
    let stage = unique_stage();
    let bus = bus(broker).await;
    let stage_topic = topics::stage_topic(&stage);
    bus.ensure_topics(&[stage_topic.clone(), topics::AGENT_RESULTS.to_string()])
        .await
        .unwrap();
    let results = bus
        .subscribe(
            &format!("test-{stage}"),
            &[topics::AGENT_RESULTS.to_string()],
        )
        .await
        .unwrap();

    let a = start_agent(
        broker,
        &stage,
        "agent-a",
        &plugins,
        &dir.path().join("a"),
        &[],
    );
    let b = start_agent(
        broker,
        &stage,
        "agent-b",
        &plugins,
        &dir.path().join("b"),
        &[],
    );
    // Both members must hold partitions before work is published.
    let wait_assigned = Instant::now();
    while !(a.saw("partitions assigned") && b.saw("partitions assigned")) {
        assert!(
            wait_assigned.elapsed() < Duration::from_secs(90),
            "agents never joined:\n{}\n{}",
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Pair {
        bus,
        results,
        a,
        b,
        stage,
        url,
        commit,
        _dir: dir,
    }
}

/// Publish a 5 s task as `run_id` and wait until one agent starts it: true when that
/// is `pair.a`.
async fn start_long_task(pair: &Pair, run_id: &str) -> bool {
    let task_id = format!("{run_id}/{}/1", pair.stage);
    publish(
        &pair.bus,
        &pair.url,
        task(
            run_id,
            &pair.stage,
            1,
            &pair.commit,
            &[("mode", "sleep"), ("ms", "5000")],
        ),
    )
    .await;
    let started = Instant::now();
    loop {
        if pair.a.saw(&task_id) {
            return true;
        }
        if pair.b.saw(&task_id) {
            return false;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no agent started the long task"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_in_one_group_share_tasks_and_hand_over_work_on_shutdown() {
    let Some(broker) =
        broker_or_skip("agents_in_one_group_share_tasks_and_hand_over_work_on_shutdown")
    else {
        return;
    };
    let mut pair = two_agents(&broker).await;
    // Shared work: twelve runs spread over the partitions.
    let prefix = format!("{}-share-", pair.stage);
    for i in 0..12 {
        publish(
            &pair.bus,
            &pair.url,
            task(
                &format!("{prefix}{i}"),
                &pair.stage,
                1,
                &pair.commit,
                &[("mode", "echo")],
            ),
        )
        .await;
    }
    let done: Vec<ResultMessage> = collect(
        &mut pair.results,
        &prefix,
        Duration::from_secs(120),
        |r: &[ResultMessage]| r.len() >= 12,
    )
    .await;
    let mut by_agent: HashMap<String, usize> = HashMap::new();
    for r in &done {
        assert!(r.result.report.is_some(), "{:?}", r.result.failure);
        *by_agent.entry(r.agent_id.clone()).or_default() += 1;
    }
    assert_eq!(by_agent.len(), 2, "both agents took tasks: {by_agent:?}");

    // A long task; stop whichever agent starts it, mid-task.
    let long_run = format!("{}-stop-0", pair.stage);
    let a_started_it = start_long_task(&pair, &long_run).await;
    let (victim, survivor) = if a_started_it {
        (&mut pair.a, &pair.b)
    } else {
        (&mut pair.b, &pair.a)
    };
    // SIGTERM: the agent stops taking work, waits its 2 s grace period, then releases
    // the 5 s task for redelivery instead of finishing it.
    let status = Command::new("kill")
        .args(["-TERM", &victim.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = victim.child().wait().unwrap();
    assert!(
        exited.success(),
        "graceful shutdown exits 0:\n{}",
        victim.log()
    );
    assert!(victim.saw("releasing a task in flight"), "{}", victim.log());
    let survivor_id = if a_started_it { "agent-b" } else { "agent-a" };
    let survivor_log = survivor.log();
    expect_one_result(&mut pair, &long_run, survivor_id, &survivor_log).await;
}

/// The long task `run_id` settles exactly once, run by `survivor_id` to the end.
async fn expect_one_result(pair: &mut Pair, run_id: &str, survivor_id: &str, survivor_log: &str) {
    let task_id = format!("{run_id}/{}/1", pair.stage);
    let settled = tokio::time::timeout(
        Duration::from_secs(90),
        collect(
            &mut pair.results,
            run_id,
            Duration::from_secs(600),
            |r: &[ResultMessage]| !r.is_empty(),
        ),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("{task_id} was not redelivered; survivor log (at the stop):\n{survivor_log}")
    });
    assert_eq!(settled[0].result.task_id, task_id);
    assert_eq!(settled[0].agent_id, survivor_id);
    assert_eq!(
        settled[0].result.report.as_ref().unwrap().summary,
        "slept 5000 ms"
    );
    // Exactly one result for the attempt: nothing else arrives for it.
    let late = tokio::time::timeout(Duration::from_secs(8), async {
        collect(
            &mut pair.results,
            run_id,
            Duration::from_secs(600),
            |r: &[ResultMessage]| !r.is_empty(),
        )
        .await
    })
    .await;
    assert!(late.is_err(), "a second result for {task_id} arrived");
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_killed_mid_task_has_its_task_redelivered_to_the_other() {
    let Some(broker) =
        broker_or_skip("agent_killed_mid_task_has_its_task_redelivered_to_the_other")
    else {
        return;
    };
    let mut pair = two_agents(&broker).await;
    let long_run = format!("{}-kill-0", pair.stage);
    let a_started_it = start_long_task(&pair, &long_run).await;
    let (victim, survivor) = if a_started_it {
        (&mut pair.a, &pair.b)
    } else {
        (&mut pair.b, &pair.a)
    };
    // SIGKILL: no release, no commit, no leaving the group. The broker expires the
    // member after the session timeout and the task goes to the other agent.
    victim.child().kill().unwrap();
    let status = victim.child().wait().unwrap();
    assert!(!status.success(), "killed, not exited");
    let survivor_id = if a_started_it { "agent-b" } else { "agent-a" };
    let survivor_log = survivor.log();
    expect_one_result(&mut pair, &long_run, survivor_id, &survivor_log).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_dead_letters_a_task_that_keeps_failing() {
    let Some(broker) = broker_or_skip("agent_dead_letters_a_task_that_keeps_failing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_folder(dir.path());
    let stage = unique_stage();
    let bus = bus(&broker).await;
    bus.ensure_topics(&[topics::stage_topic(&stage), topics::DEAD_LETTER.to_string()])
        .await
        .unwrap();
    let mut dead = bus
        .subscribe(
            &format!("test-dl-{stage}"),
            &[topics::DEAD_LETTER.to_string()],
        )
        .await
        .unwrap();
    let agent = start_agent(
        &broker,
        &stage,
        "agent-dl",
        &plugins,
        &dir.path().join("a"),
        &["--max-deliveries", "3"],
    );
    let run_id = format!("{stage}-poison");
    // The repository does not exist: every delivery fails before the plugin runs.
    publish(
        &bus,
        "file:///nonexistent/bosun/repo",
        task(&run_id, &stage, 1, "abcdef0", &[("mode", "echo")]),
    )
    .await;
    let letters: Vec<DeadLetter> = collect(
        &mut dead,
        &run_id,
        Duration::from_secs(120),
        |l: &[DeadLetter]| !l.is_empty(),
    )
    .await;
    assert_eq!(letters[0].topic, topics::stage_topic(&stage));
    assert_eq!(letters[0].deliveries, 3, "{}", agent.log());
    assert!(
        letters[0].reason.contains("git clone"),
        "{}",
        letters[0].reason
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_streams_a_running_stages_log_through_kafka_in_order_before_its_result() {
    let Some(broker) = broker_or_skip("agent_streams_a_running_stages_log_through_kafka_in_order")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_folder(dir.path());
    let (url, commit) = repo(dir.path());
    let stage = unique_stage();
    let bus = bus(&broker).await;
    bus.ensure_topics(&[
        topics::stage_topic(&stage),
        topics::AGENT_LOGS.to_string(),
        topics::AGENT_RESULTS.to_string(),
    ])
    .await
    .unwrap();
    let mut logs = bus
        .subscribe(
            &format!("test-logs-{stage}"),
            &[topics::AGENT_LOGS.to_string()],
        )
        .await
        .unwrap();
    let mut results = bus
        .subscribe(
            &format!("test-results-{stage}"),
            &[topics::AGENT_RESULTS.to_string()],
        )
        .await
        .unwrap();
    let agent = start_agent(
        &broker,
        &stage,
        "agent-logs",
        &plugins,
        &dir.path().join("a"),
        &[],
    );
    let run_id = format!("{stage}-logs");
    // 100 log lines of 1 MiB, each cut to the line cap: many chunks.
    publish(
        &bus,
        &url,
        task(&run_id, &stage, 1, &commit, &[("mode", "log-flood")]),
    )
    .await;
    let result = collect(
        &mut results,
        &run_id,
        Duration::from_secs(120),
        |r: &[ResultMessage]| !r.is_empty(),
    )
    .await
    .remove(0)
    .result;
    assert!(
        result.report.is_some(),
        "{result:?}; agent log:\n{}",
        agent.log()
    );
    let lines = result.logs.len() as u64;
    let chunks: Vec<bosun_bus::logs::LogChunkMessage> = collect(
        &mut logs,
        &run_id,
        Duration::from_secs(60),
        |c: &[bosun_bus::logs::LogChunkMessage]| c.last().is_some_and(|c| c.end_line() >= lines),
    )
    .await;
    assert!(chunks.len() > 1, "{} chunk(s)", chunks.len());
    let mut end = 0;
    for (n, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.seq, n as u64, "chunks arrive in order");
        assert_eq!(chunk.first_line, end, "each chunk follows the one before");
        assert_eq!((chunk.stage.as_str(), chunk.attempt), (stage.as_str(), 1));
        end = chunk.end_line();
    }
    let streamed: Vec<&str> = chunks
        .iter()
        .flat_map(|c| c.lines.iter().map(|l| l.message.as_str()))
        .collect();
    let logged: Vec<&str> = result.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(logged.len(), 100);
    assert!(
        streamed == logged,
        "the chunks carry the result's log, line for line"
    );
}

#[test]
fn agent_retries_an_unreachable_broker_without_crashing() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_folder(dir.path());
    // Port 1 on loopback: nothing listens there.
    let mut agent = start_agent(
        "127.0.0.1:1",
        "lint",
        "agent-down",
        &plugins,
        &dir.path().join("a"),
        &[],
    );
    let started = Instant::now();
    while agent.count("retrying") < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no retry messages:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        agent.child().try_wait().unwrap().is_none(),
        "the agent must keep retrying, not exit"
    );
    assert!(
        agent.saw("127.0.0.1:1"),
        "the error names the broker:\n{}",
        agent.log()
    );
    assert!(agent.saw("unreachable"), "{}", agent.log());
}

/// The value of `series{pool="POOL"}` on the orchestrator's `/metrics`, if shown.
async fn pool_metric(base: &str, series: &str, pool: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("{series}{{pool=\"{pool}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

/// Poll `/metrics` until `check` holds for `series` of `pool`, within 90 s.
async fn until_metric(
    orchestrator: &Process,
    series: &str,
    pool: &str,
    what: &str,
    check: impl Fn(f64) -> bool,
) {
    let base = orchestrator.printed_url("bosun orchestrator on").await;
    let started = Instant::now();
    loop {
        let value = pool_metric(&base, series, pool).await;
        if value.is_some_and(&check) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{series} of {pool} never {what} (last {value:?}):\n{}",
            orchestrator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_metrics_show_a_pools_waiting_tasks_until_an_agent_takes_them() {
    let Some(broker) =
        broker_or_skip("queue_metrics_show_a_pools_waiting_tasks_until_an_agent_takes_them")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, commit) = repo(dir.path());
    let plugins = plugin_folder(dir.path());
    // A pool of its own: topics and groups are shared by every test on this broker.
    let stage = unique_stage();
    let bus = bus(&broker).await;
    bus.ensure_topics(&[topics::stage_topic(&stage)])
        .await
        .unwrap();
    // The pool is named in the settings: announcements go to whichever orchestrator of
    // the broker holds the agent's partition of `agent.results`, maybe another test's.
    let settings = dir.path().join("bosun-server.yaml");
    std::fs::write(
        &settings,
        format!(
            "listen: 127.0.0.1:0\nbus: kafka://{broker}\nstore: {}\nwork_dir: {}\n\
             queue_metrics_every_secs: 1\nqueue_pools: [{stage}]\n",
            dir.path().join("runs.db").display(),
            dir.path().join("orchestrator").display(),
        ),
    )
    .unwrap();
    let orchestrator = Process::start(&["orchestrator", "--config", settings.to_str().unwrap()]);
    let lag = "bosun_stage_queue_lag";
    let oldest = "bosun_stage_queue_oldest_seconds";
    until_metric(&orchestrator, lag, &stage, "appeared at 0", |v| v == 0.0).await;

    // Tasks pile up with no agent to take them.
    let prefix = format!("{stage}-queued-");
    for i in 0..4 {
        let run = format!("{prefix}{i}");
        publish(
            &bus,
            &url,
            task(&run, &stage, 1, &commit, &[("mode", "echo")]),
        )
        .await;
    }
    until_metric(&orchestrator, lag, &stage, "reached 4", |v| v == 4.0).await;
    until_metric(&orchestrator, oldest, &stage, "grew past 0", |v| v > 0.0).await;

    // An agent comes, runs them all and commits: nothing waits any more.
    let agent = start_agent(
        &broker,
        &stage,
        "agent-a",
        &plugins,
        &dir.path().join("a"),
        &[],
    );
    until_metric(&orchestrator, lag, &stage, "went back to 0", |v| v == 0.0).await;
    until_metric(&orchestrator, oldest, &stage, "went back to 0", |v| {
        v == 0.0
    })
    .await;
    for i in 0..4 {
        assert!(agent.saw(&format!("{prefix}{i}")), "{}", agent.log());
    }
}
