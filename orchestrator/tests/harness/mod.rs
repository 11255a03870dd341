//! Test harness for the orchestrator: a real server on 127.0.0.1:0 over the in-memory
//! bus and a SQLite store in a temp folder, local git repositories, signed webhook
//! deliveries, and a stand-in agent that answers tasks from a script (the real agent
//! host runs plugins in WebAssembly; the root crate's tests use it).

#![allow(dead_code)]

#[allow(unused_imports)]
pub use bosun_test_support::{git, git_repo, serve_git, serve_private_git, sign};

use bosun_bus::messages::{self, AgentReply, MESSAGE_VERSION, ResultMessage, TaskMessage};
use bosun_bus::{Bus, MemoryBus, Outcome, StageReport, StageResult, topics};
use bosun_orchestrator::server::{AppState, GuardedListener, router};
use bosun_orchestrator::service::{Orchestrator, ServiceOptions};
use bosun_orchestrator::settings::{CloneScheme, Secret, ServerSettings, TenantSettings};
use bosun_orchestrator::store::Store;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub const SECRET: &str = "It's a Secret to Everybody";

/// A push payload (from GitHub's documented example) pointed at a local repository:
/// a `file://` URL is served over HTTP at `/OWNER/shop.git`, since webhooks may not
/// name local paths.
pub fn push_payload(owner: &str, clone_url: &str, sha: &str, branch: &str) -> Vec<u8> {
    let clone_url = match clone_url.strip_prefix("file://") {
        Some(dir) => serve_git(Path::new(dir), &format!("{owner}/shop")),
        None => clone_url.to_string(),
    };
    let text = include_str!("../fixtures/github/push-with-new-branch.payload.json");
    let mut payload: serde_json::Value = serde_json::from_str(text).unwrap();
    payload["ref"] = format!("refs/heads/{branch}").into();
    payload["after"] = sha.into();
    payload["head_commit"]["id"] = sha.into();
    payload["repository"]["full_name"] = format!("{owner}/shop").into();
    payload["repository"]["name"] = "shop".into();
    payload["repository"]["owner"]["login"] = owner.into();
    payload["repository"]["clone_url"] = clone_url.as_str().into();
    payload["repository"]["default_branch"] = "main".into();
    serde_json::to_vec(&payload).unwrap()
}

/// The tenant every test uses.
pub fn tenant(owner: &str) -> TenantSettings {
    TenantSettings {
        owner: owner.into(),
        webhook_secret: Secret {
            value: Some(SECRET.into()),
            env: None,
        },
        ..TenantSettings::default()
    }
}

/// A running orchestrator with its HTTP side.
pub struct Server {
    pub base: String,
    pub bus: MemoryBus,
    pub settings: Arc<ServerSettings>,
    stop: watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
    http: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(settings: ServerSettings, bus: MemoryBus) -> Server {
        Server::start_with(settings, bus, ServiceOptions::default()).await
    }

    /// As [`Server::start`], with `options` (a clock, say); its tick is always 10 ms.
    pub async fn start_with(
        settings: ServerSettings,
        bus: MemoryBus,
        options: ServiceOptions,
    ) -> Server {
        let settings = Arc::new(settings);
        let (stop, stopped) = watch::channel(false);
        let options = ServiceOptions {
            tick: Duration::from_millis(10),
            ..options
        };
        let (orchestrator, worker) = Orchestrator::start(
            Arc::clone(&settings),
            Arc::new(bus.clone()) as Arc<dyn Bus>,
            options,
            stopped,
        )
        .await
        .unwrap();
        let reads = Store::open(&settings.store).unwrap();
        let app = router(AppState {
            orchestrator,
            reads: Arc::new(Mutex::new(reads)),
            extra_metrics: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let timeout = settings.read_timeout();
        let http = tokio::spawn(async move {
            let _ = axum::serve(GuardedListener::new(listener, timeout), app).await;
        });
        Server {
            base,
            bus,
            settings,
            stop,
            worker,
            http,
        }
    }

    /// Stop abruptly: the scheduler task is aborted wherever it is.
    pub async fn kill(self) {
        self.worker.abort();
        self.http.abort();
        let _ = self.worker.await;
        let _ = self.stop.send(true);
    }

    /// Signal shutdown, as SIGTERM does in `bosun orchestrator`, leaving the HTTP side up.
    pub fn begin_shutdown(&self) {
        let _ = self.stop.send(true);
    }

    pub fn store(&self) -> Store {
        Store::open(&self.settings.store).unwrap()
    }

    pub async fn deliver(
        &self,
        delivery: &str,
        event: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/webhook/github", self.base))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}

/// Server settings with a store under `dir`.
pub fn settings(dir: &Path, tenants: Vec<TenantSettings>) -> ServerSettings {
    ServerSettings {
        store: dir.join("runs.db").into(),
        work_dir: dir.join("work"),
        tenants,
        gate_timeout_secs: 5,
        // The tests' git server speaks plain HTTP on 127.0.0.1.
        clone_schemes: vec![CloneScheme::Https, CloneScheme::Http],
        ..ServerSettings::default()
    }
}

/// A run's status as stored.
pub fn status_of(server: &Server, run_id: &str) -> String {
    server
        .store()
        .run(run_id)
        .unwrap()
        .unwrap()
        .status
        .as_str()
        .to_string()
}

/// Wait (up to 10 s) until the run's status is `status`.
pub async fn wait_for(server: &Server, run_id: &str, status: &str) {
    let done = eventually(Duration::from_secs(10), || {
        status_of(server, run_id) == status
    })
    .await;
    assert!(
        done,
        "run {run_id} is {}, not {status}",
        status_of(server, run_id)
    );
}

/// Poll `check` until it is true or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// A report with this outcome and summary.
pub fn report(outcome: Outcome, summary: &str) -> StageReport {
    StageReport {
        outcome,
        summary: summary.into(),
        findings: vec![],
        tests: None,
        test_failures: vec![],
        coverage: None,
        artifacts: vec![],
        metrics: vec![],
        truncated: false,
    }
}

/// A stand-in agent serving `stages`: `answer(task)` gives each result; every task it
/// saw is recorded.
pub fn stand_in_agent(
    bus: &MemoryBus,
    stages: &[&str],
    answer: impl Fn(&TaskMessage) -> StageReport + Send + Sync + 'static,
) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    for stage in stages {
        let bus = bus.clone();
        let topic = vec![topics::stage_topic(stage)];
        let seen = Arc::clone(&seen);
        let answer = Arc::clone(&answer);
        tokio::spawn(async move {
            let mut subscription = bus.subscribe("bosun-agent-test", &topic).await.unwrap();
            while let Ok(delivery) = subscription.next().await {
                let task: TaskMessage = messages::decode(&delivery.record.payload).unwrap();
                seen.lock().unwrap().push(task.task.id());
                let reply = AgentReply::Stage(ResultMessage {
                    version: MESSAGE_VERSION,
                    agent_id: "stand-in".into(),
                    result: StageResult {
                        task_id: task.task.id(),
                        plugin: None,
                        report: Some(answer(&task)),
                        failure: None,
                        logs: vec![],
                        logs_dropped_bytes: 0,
                        duration_ms: 1,
                    },
                });
                bus.publish(
                    topics::AGENT_RESULTS,
                    &task.task.run_id,
                    messages::encode(&reply),
                )
                .await
                .unwrap();
                subscription.ack(&delivery).await.unwrap();
            }
        });
    }
    seen
}

pub fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}
