//! An orchestrator process and agent processes over the Tansu broker, as an operator
//! runs them on separate machines: each agent has its own work folder and reaches the
//! orchestrator only over Kafka and HTTP. Pushes are signed webhooks; runs are read back
//! over the API.

use super::process::Process;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The tenant every cluster test pushes as.
pub const OWNER: &str = "acme";
const SECRET: &str = "cluster-webhook-secret";
/// The tenant's API token (reads, re-runs).
pub const TOKEN: &str = "cluster-api-token";

/// The broker's address, or `None` after `missing_service` said why (a failure under
/// `CI=true`).
pub fn kafka_or_skip(test: &str) -> Option<String> {
    let kafka = std::env::var("BOSUN_TEST_KAFKA")
        .ok()
        .filter(|k| std::net::TcpStream::connect(k).is_ok());
    kafka.or_else(|| {
        bosun_test_support::missing_service(
            test,
            "needs BOSUN_TEST_KAFKA (start Tansu with `bash scripts/services.sh up`)",
        )
    })
}

/// Held by each cluster of a test binary while it lives. Orchestrators on one broker are
/// one installation: they share the consumer group of the agents' replies and split
/// its partitions, so two test clusters with stores of their own would each miss the
/// replies (results, announced plugins) the other consumed.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One orchestrator, its settings and the agents started so far.
pub struct Cluster {
    pub dir: PathBuf,
    pub kafka: String,
    pub base: String,
    pub orchestrator: Process,
    pub agents: Vec<(String, Process)>,
    client: reqwest::Client,
    // Last: released once every process above is gone.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// Start `bosun orchestrator` on SQLite in `dir`, with `tenant` (YAML lines indented
    /// for the tenant's entry, e.g. `    network_stages: [test]\n`) added to its settings
    /// and `server` lines added at the top level.
    pub async fn start(dir: &Path, kafka: &str, server: &str, tenant: &str) -> Cluster {
        let turn = ONE_AT_A_TIME.lock().await;
        let settings = dir.join("bosun-server.yaml");
        std::fs::write(
            &settings,
            format!(
                "listen: 127.0.0.1:0
bus: kafka://{kafka}
store: {store}
work_dir: {work}
clone_schemes: [https, http]
{server}tenants:
  - owner: {OWNER}
    webhook_secret: {{ value: {SECRET} }}
    api_token: {{ value: {TOKEN} }}
{tenant}",
                store = dir.join("runs.db").display(),
                work = dir.join("orchestrator").display(),
            ),
        )
        .unwrap();
        let orchestrator =
            Process::start(&["orchestrator", "--config", settings.to_str().unwrap()]);
        let base = orchestrator.printed_url("bosun orchestrator on").await;
        Cluster {
            dir: dir.to_path_buf(),
            kafka: kafka.to_string(),
            base,
            orchestrator,
            agents: Vec::new(),
            client: reqwest::Client::new(),
            _turn: turn,
        }
    }

    /// Start `bosun agent` `id` serving `stages` (comma-separated) on Docker, with a work
    /// folder of its own and `extra` arguments.
    pub fn agent(&mut self, id: &str, stages: &str, extra: &[&str]) {
        let process = self.agent_process(id, stages, extra);
        self.agents.push((id.to_string(), process));
    }

    /// The process of a `bosun agent` like [`Cluster::agent`] starts, not kept by the cluster.
    pub fn agent_process(&self, id: &str, stages: &str, extra: &[&str]) -> Process {
        let work = self.dir.join(id);
        std::fs::create_dir_all(&work).unwrap();
        let bus = format!("kafka://{}", self.kafka);
        let mut args = vec![
            "agent",
            "--bus",
            &bus,
            "--stages",
            stages,
            "--agent-id",
            id,
            "--containers",
            "docker",
            "--listen",
            "127.0.0.1:0",
            "--work-dir",
            work.to_str().unwrap(),
            "--orchestrator-url",
            &self.base,
        ];
        args.extend_from_slice(extra);
        Process::start(&args)
    }

    /// Kill agent `id` with SIGKILL (no shutdown, no clean-up): its process is gone.
    pub fn kill_agent(&mut self, id: &str) {
        let index = self.agents.iter().position(|(a, _)| a == id).unwrap();
        let (_, mut process) = self.agents.remove(index);
        process.child().kill().unwrap();
        process.child().wait().unwrap();
    }

    /// Everything every process printed, for a failing assertion's message.
    pub fn logs(&self) -> String {
        let mut text = format!("orchestrator:\n{}", self.orchestrator.log());
        for (id, agent) in &self.agents {
            text.push_str(&format!("\n{id}:\n{}", agent.log()));
        }
        text
    }

    /// Deliver a signed push of `sha` on `main` of acme/shop, cloned from `clone_url`;
    /// the run's id.
    pub async fn push(&self, delivery: &str, clone_url: &str, sha: &str) -> String {
        let body = push_payload(clone_url, sha);
        let response = self
            .client
            .post(format!("{}/webhook/github", self.base))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", delivery)
            .header(
                "X-Hub-Signature-256",
                bosun_test_support::sign(SECRET, &body),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202, "{}", self.logs());
        let accepted: serde_json::Value = response.json().await.unwrap();
        accepted["run_id"].as_str().unwrap().to_string()
    }

    /// GET `path` of the API with the tenant's token, as JSON.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POST `body` to `path` with the tenant's token: the status and the JSON answer.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// GET a file's bytes as text.
    pub async fn text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The run's detail once it is neither queued nor running; fails the test with every
    /// process's output after `limit`.
    pub async fn settled(&self, run_id: &str, limit: Duration) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let detail = self.get(&format!("/api/runs/{run_id}")).await;
            let status = detail["run"]["status"].as_str().unwrap_or_default();
            if status != "queued" && status != "running" {
                return detail;
            }
            assert!(
                start.elapsed() < limit,
                "run still {status}: {detail}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// GitHub's push example, made a push of `sha` to acme/shop's `main` cloned from `clone_url`.
pub fn push_payload(clone_url: &str, sha: &str) -> Vec<u8> {
    let text =
        include_str!("../../orchestrator/tests/fixtures/github/push-with-new-branch.payload.json");
    let mut payload: serde_json::Value = serde_json::from_str(text).unwrap();
    payload["ref"] = "refs/heads/main".into();
    payload["after"] = sha.into();
    payload["head_commit"]["id"] = sha.into();
    payload["repository"]["full_name"] = "acme/shop".into();
    payload["repository"]["name"] = "shop".into();
    payload["repository"]["owner"]["login"] = OWNER.into();
    payload["repository"]["clone_url"] = clone_url.into();
    payload["repository"]["default_branch"] = "main".into();
    serde_json::to_vec(&payload).unwrap()
}

/// The attempts of `stage` in a run's detail, in order.
pub fn attempts<'a>(detail: &'a serde_json::Value, stage: &str) -> Vec<&'a serde_json::Value> {
    detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["stage"] == stage)
        .collect()
}
