//! Several `bosun orchestrator` processes sharing one PostgreSQL store and the Tansu
//! broker (`cluster:` in their settings), with `bosun agent` processes, as an operator
//! runs them for no single point of failure:
//!
//! - runs pushed through all three orchestrators complete when the one owning most of
//!   them is killed with SIGKILL mid-run: each stage settled once, every run's owners in
//!   its audit log with growing lease tokens, the takeover time printed;
//! - an owner paused with SIGSTOP past its lease and resumed writes nothing more: its
//!   repository went to the other, which finishes the run;
//! - one webhook delivered to two orchestrators at once makes one run;
//! - a re-run, an approval and a cancel sent to an orchestrator that does not own the
//!   run are handed to its owner through the store's inbox, take effect once, and are
//!   answered with the owner's answer.
//!
//! The stages run the `scripted` fixture plugin (a set sleep, then a report), so what is
//! exercised is the orchestrators. Needs `bash scripts/services.sh up` (Tansu and
//! PostgreSQL); under `CI=true` a missing service fails the test, elsewhere it skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_orchestrator::model::StageState;
use bosun_orchestrator::store::testing::PostgresSchema;
use bosun_orchestrator::store::{Store, StoreLocation, repository_key};
use bosun_test_support::{git_repo, missing_service, serve_git, sign};
use common::cluster::kafka_or_skip;
use common::process::Process;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const OWNER: &str = "acme";
const SECRET: &str = "scale-out-webhook-secret";
const TOKEN: &str = "scale-out-api-token";
/// Short, so a takeover comes within seconds.
const LEASE_MS: u64 = 2_000;

/// Orchestrators on one broker share the replies' consumer group: one fleet at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn postgres_or_skip(test: &str) -> Option<PostgresSchema> {
    let url = std::env::var("BOSUN_TEST_POSTGRES").ok();
    let schema = url.and_then(|url| PostgresSchema::create(&url, test).ok());
    schema.or_else(|| {
        missing_service(
            test,
            "needs BOSUN_TEST_POSTGRES (start PostgreSQL with `bash scripts/services.sh up`)",
        )
    })
}

/// A pool of its own per test, so no task left on the broker by another run is taken.
fn unique_pool() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("so{}x{nanos:x}", std::process::id())
}

/// Three stages in a row on `pool`, each taking `sleep_ms`.
fn pipeline(pool: &str, sleep_ms: u64, timeout: &str) -> String {
    let stage = |name: &str, needs: &str| {
        format!(
            "    - name: {name}\n      agent: {pool}\n      plugin: scripted\n      timeout: {timeout}\n{needs}      with: {{ sleep_ms: \"{sleep_ms}\", summary: \"{name} done\" }}\n"
        )
    };
    format!(
        "pipeline:\n  stages:\n{}{}{}",
        stage("one", ""),
        stage("two", "      needs: [one]\n"),
        stage("three", "      needs: [two]\n")
    )
}

struct Orchestrator {
    id: String,
    base: String,
    process: Process,
}

/// Orchestrators and agents sharing one store and one broker.
struct Fleet {
    dir: PathBuf,
    kafka: String,
    schema: PostgresSchema,
    pool: String,
    orchestrators: Vec<Orchestrator>,
    agents: Vec<Process>,
    client: reqwest::Client,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Fleet {
    async fn start(test: &str, dir: &Path, orchestrators: usize, agents: usize) -> Option<Fleet> {
        let kafka = kafka_or_skip(test)?;
        let schema = postgres_or_skip(test)?;
        let turn = ONE_AT_A_TIME.lock().await;
        let mut fleet = Fleet {
            dir: dir.to_path_buf(),
            kafka,
            schema,
            pool: unique_pool(),
            orchestrators: Vec::new(),
            agents: Vec::new(),
            client: reqwest::Client::new(),
            _turn: turn,
        };
        for index in 0..orchestrators {
            fleet.start_orchestrator(&format!("orch-{index}")).await;
        }
        let plugins = dir.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::copy(bosun_test_plugins::SCRIPTED, plugins.join("scripted.wasm")).unwrap();
        for index in 0..agents {
            fleet.start_agent(&format!("agent-{index}"), &plugins);
        }
        Some(fleet)
    }

    async fn start_orchestrator(&mut self, id: &str) {
        let settings = self.dir.join(format!("{id}.yaml"));
        let store = match self.schema.location() {
            StoreLocation::Postgres(url) => url.clone(),
            other => panic!("not PostgreSQL: {other}"),
        };
        std::fs::write(
            &settings,
            format!(
                "listen: 127.0.0.1:0
bus: kafka://{kafka}
store: '{store}'
work_dir: {work}
clone_schemes: [https, http]
cluster: {{ id: {id}, lease_ms: {LEASE_MS}, inbox_poll_ms: 20 }}
tenants:
  - owner: {OWNER}
    webhook_secret: {{ value: {SECRET} }}
    api_token: {{ value: {TOKEN} }}
",
                kafka = self.kafka,
                work = self.dir.join(id).display(),
            ),
        )
        .unwrap();
        let process = Process::start(&["orchestrator", "--config", settings.to_str().unwrap()]);
        let base = process.printed_url("bosun orchestrator on").await;
        self.orchestrators.push(Orchestrator {
            id: id.to_string(),
            base,
            process,
        });
    }

    fn start_agent(&mut self, id: &str, plugins: &Path) {
        let work = self.dir.join(id);
        std::fs::create_dir_all(&work).unwrap();
        let bus = format!("kafka://{}", self.kafka);
        let base = self.orchestrators[0].base.clone();
        self.agents.push(Process::start(&[
            "agent",
            "--bus",
            &bus,
            "--stages",
            &self.pool,
            "--agent-id",
            id,
            "--plugins",
            plugins.to_str().unwrap(),
            "--containers",
            "none",
            "--concurrency",
            "2",
            "--listen",
            "127.0.0.1:0",
            "--work-dir",
            work.to_str().unwrap(),
            "--orchestrator-url",
            &base,
        ]));
    }

    fn store(&self) -> Store {
        Store::open(self.schema.location()).unwrap()
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for o in &self.orchestrators {
            text.push_str(&format!("\n{}:\n{}", o.id, o.process.log()));
        }
        for (i, agent) in self.agents.iter().enumerate() {
            text.push_str(&format!("\nagent-{i}:\n{}", agent.log()));
        }
        text
    }

    /// A repository `acme/NAME` with the fleet's pipeline, served over HTTP.
    fn repository(&self, name: &str, sleep_ms: u64, timeout: &str) -> (String, String) {
        let dir = self.dir.join("repos").join(name);
        let pipeline = pipeline(&self.pool, sleep_ms, timeout);
        let (_, sha) = git_repo(&dir, &[(".bosun.yml", &pipeline), ("README.md", "app\n")]);
        (serve_git(&dir, &format!("{OWNER}/{name}")), sha)
    }

    /// Deliver a signed push through orchestrator `via`: the status and the answer.
    async fn push(
        &self,
        via: usize,
        delivery: &str,
        (url, sha): &(String, String),
        name: &str,
        branch: &str,
    ) -> (u16, serde_json::Value) {
        let body = push_payload(url, sha, name, branch);
        let response = self
            .client
            .post(format!("{}/webhook/github", self.orchestrators[via].base))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", sign(SECRET, &body))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    async fn pushed(
        &self,
        via: usize,
        delivery: &str,
        repo: &(String, String),
        name: &str,
        branch: &str,
    ) -> String {
        let (status, answer) = self.push(via, delivery, repo, name, branch).await;
        assert_eq!(status, 202, "{answer}\n{}", self.logs());
        answer["run_id"].as_str().unwrap().to_string()
    }

    /// The run's status from the store once it has finished.
    async fn settled(&self, run_id: &str, limit: Duration) -> String {
        let store = self.store();
        let start = Instant::now();
        loop {
            let status = store
                .run(run_id)
                .unwrap()
                .map(|r| r.status.as_str().to_string());
            match status.as_deref() {
                Some("queued" | "running" | "awaiting-approval") | None => {}
                Some(done) => return done.to_string(),
            }
            assert!(
                start.elapsed() < limit,
                "run {run_id} still {status:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST path` on orchestrator `via` with the tenant's token: the status and answer.
    async fn api(
        &self,
        via: usize,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.orchestrators[via].base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    fn signal(&self, index: usize, signal: &str) {
        let pid = self.orchestrators[index].process.id().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    async fn metric(&self, index: usize, name: &str) -> f64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.orchestrators[index].base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|line| line.starts_with(name) && !line.starts_with('#'))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
    }
}

/// GitHub's push example, made a push of `sha` to `branch` of acme/NAME.
fn push_payload(clone_url: &str, sha: &str, name: &str, branch: &str) -> Vec<u8> {
    let text =
        include_str!("../orchestrator/tests/fixtures/github/push-with-new-branch.payload.json");
    let mut payload: serde_json::Value = serde_json::from_str(text).unwrap();
    payload["ref"] = format!("refs/heads/{branch}").into();
    payload["after"] = sha.into();
    payload["head_commit"]["id"] = sha.into();
    payload["repository"]["full_name"] = format!("{OWNER}/{name}").into();
    payload["repository"]["name"] = name.into();
    payload["repository"]["owner"]["login"] = OWNER.into();
    payload["repository"]["clone_url"] = clone_url.into();
    payload["repository"]["default_branch"] = "main".into();
    serde_json::to_vec(&payload).unwrap()
}

/// `(owner, token, at_ms)` of each `run.owner` event, in order.
fn owners(store: &Store, run_id: &str) -> Vec<(String, u64, u64, String)> {
    store
        .events(run_id)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "run.owner")
        .map(|e| {
            let owner = e
                .message
                .split_whitespace()
                .nth(3)
                .unwrap_or_default()
                .to_string();
            let token = e
                .message
                .split("lease token ")
                .nth(1)
                .and_then(|t| t.split(')').next())
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            (owner, token, e.at_ms, e.message)
        })
        .collect()
}

/// Each stage of the run passed exactly once, on attempt 1.
fn settled_once(store: &Store, run_id: &str, logs: &dyn Fn() -> String) {
    let events = store.events(run_id).unwrap();
    for stage in ["one", "two", "three"] {
        let passed: Vec<_> = events
            .iter()
            .filter(|e| e.kind == "stage.passed" && e.stage.as_deref() == Some(stage))
            .collect();
        assert_eq!(
            passed.len(),
            1,
            "run {run_id} stage {stage}: {events:#?}\n{}",
            logs()
        );
        let attempts: Vec<_> = store
            .attempts(run_id)
            .unwrap()
            .into_iter()
            .filter(|a| a.stage == stage)
            .collect();
        assert_eq!(
            attempts.len(),
            1,
            "run {run_id} stage {stage}: {attempts:?}"
        );
        assert!(attempts[0].settled_ms.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_orchestrators_lose_no_run_and_settle_each_stage_once_when_one_is_killed() {
    let test = "three_orchestrators_sigkill";
    let dir = tempfile::tempdir().unwrap();
    let Some(mut fleet) = Fleet::start(test, dir.path(), 3, 2).await else {
        return;
    };
    let names = ["shop", "billing", "search"];
    let repos: Vec<_> = names
        .iter()
        .map(|name| fleet.repository(name, 1_200, "2m"))
        .collect();
    // Two branches of each repository, each pushed through another orchestrator.
    let mut runs = Vec::new();
    for (r, name) in names.iter().enumerate() {
        for (b, branch) in ["main", "feature"].iter().enumerate() {
            let via = (r * 2 + b) % 3;
            let delivery = format!("{name}-{branch}-{}", unique_pool());
            let run_id = fleet.pushed(via, &delivery, &repos[r], name, branch).await;
            runs.push((run_id, repository_key(OWNER, &format!("{OWNER}/{name}"))));
        }
    }
    // Mid-run: once stages are under way, kill the orchestrator owning the most runs.
    let store = fleet.store();
    let start = Instant::now();
    loop {
        let dispatched = runs.iter().all(|(run_id, _)| {
            store
                .events(run_id)
                .unwrap()
                .iter()
                .any(|e| e.kind == "stage.dispatched")
        });
        if dispatched {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "runs never started\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut owned: Vec<(usize, String)> = fleet
        .orchestrators
        .iter()
        .enumerate()
        .map(|(i, o)| (i, o.id.clone()))
        .collect();
    let count = |id: &str| {
        runs.iter()
            .filter(|(_, key)| store.lease(key).unwrap().is_some_and(|l| l.owner == id))
            .count()
    };
    owned.sort_by_key(|(_, id)| std::cmp::Reverse(count(id)));
    let (victim, victim_id) = owned[0].clone();
    assert!(count(&victim_id) > 0, "someone owns the runs");
    fleet.orchestrators[victim].process.child().kill().unwrap();
    fleet.orchestrators[victim].process.child().wait().unwrap();
    let killed_at = now_ms();

    for (run_id, _) in &runs {
        let status = fleet.settled(run_id, Duration::from_secs(120)).await;
        let events: Vec<String> = store
            .events(run_id)
            .unwrap()
            .into_iter()
            .map(|e| {
                format!(
                    "{} {} {:?} {:?} {}",
                    e.at_ms, e.kind, e.stage, e.attempt, e.message
                )
            })
            .collect();
        assert_eq!(
            status,
            "success",
            "run {run_id}: {events:#?}\n{}",
            fleet.logs()
        );
        settled_once(&store, run_id, &|| fleet.logs());
        let owners = owners(&store, run_id);
        assert!(!owners.is_empty(), "run {run_id} names its owner");
        for pair in owners.windows(2) {
            assert!(
                pair[0].1 < pair[1].1,
                "a new owner has a larger token: {owners:#?}"
            );
        }
    }
    // The killed orchestrator's runs were taken over by the others.
    let takeovers: Vec<u64> = runs
        .iter()
        .flat_map(|(run_id, _)| owners(&store, run_id))
        .filter(|(_, _, _, message)| message.contains(&format!("taken over from {victim_id}")))
        .map(|(_, _, at_ms, _)| at_ms.saturating_sub(killed_at))
        .collect();
    assert!(!takeovers.is_empty(), "{}", fleet.logs());
    let slowest = takeovers.iter().max().unwrap();
    println!(
        "takeover after SIGKILL of {victim_id}: {} runs, slowest {slowest} ms after the kill (lease {LEASE_MS} ms)",
        takeovers.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_paused_past_its_lease_writes_nothing_when_it_resumes() {
    let test = "stale_owner_sigstop";
    let dir = tempfile::tempdir().unwrap();
    let Some(fleet) = Fleet::start(test, dir.path(), 2, 1).await else {
        return;
    };
    let repo = fleet.repository("shop", 1_500, "2m");
    let run_id = fleet.pushed(0, &unique_pool(), &repo, "shop", "main").await;
    let store = fleet.store();
    let key = repository_key(OWNER, "acme/shop");
    let start = Instant::now();
    while !store
        .events(&run_id)
        .unwrap()
        .iter()
        .any(|e| e.kind == "stage.dispatched")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.lease(&key).unwrap().unwrap().owner, "orch-0");

    fleet.signal(0, "STOP");
    let start = Instant::now();
    let owner_now = |store: &Store| store.lease(&key).unwrap().map(|l| l.owner);
    while owner_now(&store).as_deref() != Some("orch-1") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no takeover\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = store.lease(&key).unwrap().unwrap().token;
    // Let the new owner make progress the stale one does not know of, then resume it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    fleet.signal(0, "CONT");

    let status = fleet.settled(&run_id, Duration::from_secs(90)).await;
    assert_eq!(status, "success", "{}", fleet.logs());
    settled_once(&store, &run_id, &|| fleet.logs());
    let owners = owners(&store, &run_id);
    let names: Vec<&str> = owners.iter().map(|o| o.0.as_str()).collect();
    assert_eq!(names, ["orch-0", "orch-1"], "{owners:#?}");
    // The resumed orchestrator found its lease gone (a renewal or a write refused) and
    // dropped the run; the lease stayed with the new owner.
    let start = Instant::now();
    while fleet.metric(0, "bosun_leases_lost_total").await < 1.0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lease = store.lease(&key).unwrap();
    assert!(
        lease
            .as_ref()
            .is_none_or(|l| l.owner == "orch-1" && l.token == token),
        "{lease:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_webhook_delivered_to_two_orchestrators_at_once_makes_one_run_and_api_calls_reach_the_owner()
 {
    let test = "one_webhook_two_orchestrators";
    let dir = tempfile::tempdir().unwrap();
    let Some(fleet) = Fleet::start(test, dir.path(), 2, 1).await else {
        return;
    };
    let repo = fleet.repository("shop", 10, "2m");
    for round in 0..5 {
        let delivery = format!("twice-{round}-{}", unique_pool());
        let branch = format!("b{round}");
        let ((s0, a0), (s1, a1)) = tokio::join!(
            fleet.push(0, &delivery, &repo, "shop", &branch),
            fleet.push(1, &delivery, &repo, "shop", &branch),
        );
        let mut statuses = [s0, s1];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 202],
            "one run, one duplicate: {a0} {a1}\n{}",
            fleet.logs()
        );
        assert_eq!(
            a0["run_id"], a1["run_id"],
            "both name the one run: {a0} {a1}"
        );
        let duplicate = if s0 == 200 { &a0 } else { &a1 };
        assert_eq!(duplicate["duplicate"], true);
        let run_id = a0["run_id"].as_str().unwrap();
        assert_eq!(
            fleet.settled(run_id, Duration::from_secs(60)).await,
            "success"
        );
    }
    let store = fleet.store();
    let runs = store.list_runs(&Default::default()).unwrap();
    assert_eq!(runs.len(), 5, "{runs:?}");

    api_calls_to_another_orchestrator_reach_the_runs_owner(&fleet).await;
}

/// A stage on the fleet's pool running the `scripted` fixture with `with`.
fn scripted_stage(pool: &str, name: &str, extra: &str, with: &str) -> String {
    format!(
        "    - name: {name}\n      agent: {pool}\n      plugin: scripted\n      timeout: 2m\n{extra}      with: {{ {with} }}\n"
    )
}

/// Orchestrator 0 owns the repository `acme/handover` (its runs were pushed through
/// it, one of them waits for an approval, so the lease stays); re-run, approve and
/// cancel are sent to orchestrator 1, which hands each to the owner through the store's
/// inbox and answers with the owner's answer. Each takes effect once.
async fn api_calls_to_another_orchestrator_reach_the_runs_owner(fleet: &Fleet) {
    let pool = &fleet.pool;
    let one = scripted_stage(pool, "one", "", "sleep_ms: \"10\"");
    let failing = format!(
        "pipeline:\n  stages:\n{one}{}{}",
        scripted_stage(pool, "two", "      needs: [one]\n", "outcome: failure"),
        scripted_stage(pool, "three", "      needs: [two]\n", "summary: three"),
    );
    let held = format!(
        "pipeline:\n  stages:\n{one}{}{}",
        scripted_stage(
            pool,
            "gate",
            "      needs: [one]\n      approval: { timeout: 1h }\n",
            "summary: gate"
        ),
        // Long enough to be cancelled while it runs (the fixture sleeps at most 60 s).
        scripted_stage(pool, "slow", "      needs: [gate]\n", "sleep_ms: \"60000\""),
    );
    // Both commits exist before the first push: the owner's mirror has them.
    let dir = fleet.dir.join("repos").join("handover");
    let (_, failing_sha) = git_repo(&dir, &[(".bosun.yml", &failing)]);
    std::fs::write(dir.join(".bosun.yml"), &held).unwrap();
    let held_sha = bosun_test_support::commit_all(&dir, "wait for an approval");
    let url = serve_git(&dir, &format!("{OWNER}/handover"));
    let store = fleet.store();
    let key = repository_key(OWNER, "acme/handover");
    let forwarded_before = fleet.metric(1, "bosun_inbox_forwarded_total").await;

    let failed = fleet
        .pushed(
            0,
            &unique_pool(),
            &(url.clone(), failing_sha),
            "handover",
            "fails",
        )
        .await;
    assert_eq!(
        fleet.settled(&failed, Duration::from_secs(60)).await,
        "failure"
    );
    let held_run = fleet
        .pushed(0, &unique_pool(), &(url, held_sha), "handover", "held")
        .await;
    let started = Instant::now();
    let waiting = |store: &Store| {
        store.run(&held_run).unwrap().is_some_and(|run| {
            run.stages
                .iter()
                .any(|s| s.name == "gate" && s.state == StageState::AwaitingApproval)
        })
    };
    while !waiting(&store) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the gate never waited: {:#?}\n{}",
            store.run(&held_run).unwrap(),
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.lease(&key).unwrap().map(|l| l.owner).as_deref(),
        Some("orch-0"),
        "orchestrator 0 owns the repository while its run waits"
    );

    // A re-run of the failed run, asked of orchestrator 1: the owner starts it.
    let asked = Instant::now();
    let (status, answer) = fleet
        .api(
            1,
            &format!("/api/runs/{failed}/rerun"),
            serde_json::json!({}),
        )
        .await;
    println!(
        "re-run through orchestrator 1 answered in {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 202, "{answer}\n{}", fleet.logs());
    assert_eq!(
        answer["rerun"],
        serde_json::json!(["two", "three"]),
        "{answer}"
    );
    assert_eq!(answer["reused"], serde_json::json!(["one"]), "{answer}");
    let rerun = answer["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        fleet.settled(&rerun, Duration::from_secs(60)).await,
        "failure",
        "stage two fails again"
    );
    let reruns: Vec<String> = store
        .list_runs(&Default::default())
        .unwrap()
        .into_iter()
        .filter(|r| {
            store
                .run(&r.id)
                .unwrap()
                .and_then(|run| run.rerun_of)
                .is_some_and(|of| of.run_id == failed)
        })
        .map(|r| r.id)
        .collect();
    assert_eq!(reruns, std::slice::from_ref(&rerun), "one re-run");
    let dispatched: Vec<String> = store
        .events(&rerun)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "stage.dispatched")
        .filter_map(|e| e.stage)
        .collect();
    assert_eq!(dispatched, ["two"], "one reused, three skipped after two");

    // The approval, asked of orchestrator 1: decided once, by the owner.
    let approve = format!("/api/runs/{held_run}/stages/gate/approve");
    let asked = Instant::now();
    let (status, answer) = fleet
        .api(
            1,
            &approve,
            serde_json::json!({ "by": "alice", "reason": "ship it" }),
        )
        .await;
    println!(
        "approval through orchestrator 1 answered in {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 200, "{answer}\n{}", fleet.logs());
    assert_eq!(answer["approved"], true, "{answer}");
    assert_eq!(answer["run_id"], serde_json::json!(held_run));
    let (status, again) = fleet
        .api(1, &approve, serde_json::json!({ "reason": "again" }))
        .await;
    assert_eq!(status, 409, "decided once, the owner says: {again}");
    let decision = store
        .run(&held_run)
        .unwrap()
        .unwrap()
        .stages
        .into_iter()
        .find(|s| s.name == "gate")
        .unwrap()
        .approval
        .unwrap()
        .decision
        .unwrap();
    assert!(
        decision.approved && decision.by.contains("alice"),
        "{decision:?}"
    );
    assert_eq!(decision.reason, "ship it");

    // Cancel, asked of orchestrator 1 while the last stage runs: cancelled once.
    let started = Instant::now();
    while !store
        .events(&held_run)
        .unwrap()
        .iter()
        .any(|e| e.kind == "stage.dispatched" && e.stage.as_deref() == Some("slow"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "slow never started\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancel = format!("/api/runs/{held_run}/cancel");
    let asked = Instant::now();
    let (status, answer) = fleet.api(1, &cancel, serde_json::json!({})).await;
    println!(
        "cancel through orchestrator 1 answered in {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 200, "{answer}\n{}", fleet.logs());
    assert_eq!(answer["cancelled"], serde_json::json!(held_run));
    assert_eq!(
        fleet.settled(&held_run, Duration::from_secs(30)).await,
        "cancelled"
    );
    let (status, again) = fleet.api(1, &cancel, serde_json::json!({})).await;
    assert_eq!(status, 409, "cancelled once: {again}");
    let cancelled = store
        .events(&held_run)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "run.cancelled")
        .count();
    assert_eq!(cancelled, 1);

    // Orchestrator 0 owned every one of these runs throughout; 1 handed the calls over.
    for run_id in [&failed, &held_run, &rerun] {
        let owners = owners(&store, run_id);
        assert!(
            !owners.is_empty() && owners.iter().all(|o| o.0 == "orch-0"),
            "run {run_id}: {owners:#?}"
        );
    }
    let forwarded = fleet.metric(1, "bosun_inbox_forwarded_total").await - forwarded_before;
    assert!(
        forwarded >= 3.0,
        "re-run, approval and cancel handed over: {forwarded}"
    );
}
