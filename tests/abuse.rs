//! The trust boundaries against a real `bosun orchestrator` process with two tenants,
//! as an attacker would probe them over HTTP: a tenant speaking for another's
//! repository, clone URLs naming the server's own disk, unsigned and unauthenticated
//! requests, a repository granting itself the network, pull requests (from the
//! repository and from a fork) reaching for secrets, pushes, deploys and the network,
//! another tenant's token on a run's reads, logs and cancel, a connection trickling its
//! headers, and a flood of large unsigned bodies. Each is refused with the right status
//! or config error, nothing is sent to agents that should not be, tenant A's run in
//! flight is untouched by all of tenant B's probes, and the process's peak memory stays
//! bounded. No agent serves the stages: what a stage would get is read from its
//! `stage.dispatched` event, which records the grants its task was published with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_test_support::{commit_all, git, git_repo, serve_git, sign};
use common::process::Process;
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

const ACME_SECRET: &str = "acme's webhook secret";
const BRAVO_SECRET: &str = "bravo's webhook secret";
const OPERATOR_TOKEN: &str = "operator-token";
const ACME_TOKEN: &str = "acme-token";
const BRAVO_TOKEN: &str = "bravo-token";

/// acme's default branch: a build that asks for the network (acme grants it to
/// `build`) and a production deploy, which does not wait for the build.
const ACME_MAIN: &str = "
pipeline:
  stages:
    - name: build
      network: true
    - name: deploy
      needs: []
      environment: production
";

/// A branch of acme/shop, and a fork's head: the same stages, the network not asked.
const ACME_FEATURE: &str = "
pipeline:
  stages:
    - name: build
    - name: deploy
      needs: []
      environment: production
";

/// bravo's repository asks for the network, which bravo is granted for no stage.
const BRAVO_ASKS_NETWORK: &str = "
pipeline:
  stages:
    - name: fetch
      network: true
";

/// A push of `owner/shop` (its `full_name` overridable) cloned from `clone_url`.
fn push(owner: &str, full_name: &str, clone_url: &str) -> Vec<u8> {
    push_at(owner, full_name, clone_url, &"a".repeat(40))
}

/// [`push`] of commit `sha` to `main`.
fn push_at(owner: &str, full_name: &str, clone_url: &str, sha: &str) -> Vec<u8> {
    let text =
        include_str!("../orchestrator/tests/fixtures/github/push-with-new-branch.payload.json");
    let mut payload: Value = serde_json::from_str(text).unwrap();
    payload["ref"] = "refs/heads/main".into();
    payload["after"] = sha.into();
    payload["repository"]["full_name"] = full_name.into();
    payload["repository"]["name"] = "shop".into();
    payload["repository"]["owner"]["login"] = owner.into();
    payload["repository"]["clone_url"] = clone_url.into();
    payload["repository"]["default_branch"] = "main".into();
    payload["repository"]["master_branch"] = "main".into();
    serde_json::to_vec(&payload).unwrap()
}

/// A `pull_request` `opened` delivery, number `number`, on acme/shop whose head is
/// `head_ref` at `sha`, in `fork_owner`'s fork when given.
fn pull_request(
    number: u64,
    clone_url: &str,
    sha: &str,
    head_ref: &str,
    fork_owner: Option<&str>,
) -> Vec<u8> {
    let text =
        include_str!("../orchestrator/tests/fixtures/github/pull_request-opened.payload.json");
    let mut payload: Value = serde_json::from_str(text).unwrap();
    payload["number"] = number.into();
    payload["pull_request"]["number"] = number.into();
    for path in ["/repository", "/pull_request/base/repo"] {
        let repo = payload.pointer_mut(path).unwrap();
        repo["full_name"] = "acme/shop".into();
        repo["name"] = "shop".into();
        repo["owner"]["login"] = "acme".into();
        repo["clone_url"] = clone_url.into();
        repo["default_branch"] = "main".into();
    }
    let head = &mut payload["pull_request"]["head"];
    head["ref"] = head_ref.into();
    head["sha"] = sha.into();
    head["repo"]["full_name"] = format!("{}/shop", fork_owner.unwrap_or("acme")).into();
    head["label"] = format!("{}:{head_ref}", fork_owner.unwrap_or("acme")).into();
    serde_json::to_vec(&payload).unwrap()
}

/// The peak resident memory of process `pid` (`VmHWM`), in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

/// The orchestrator's HTTP side, as each caller reaches it.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    /// Deliver a webhook `event`; its status and JSON answer.
    async fn deliver(
        &self,
        event: &str,
        id: &str,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/webhook/github", self.base))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", id)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// A delivery signed with `secret` that must start a run; its id.
    async fn run_of(&self, event: &str, id: &str, body: Vec<u8>, secret: &str) -> String {
        let signature = sign(secret, &body);
        let (status, json) = self.deliver(event, id, body, Some(signature)).await;
        assert_eq!(status, 202, "{id}: {json}");
        json["run_id"].as_str().unwrap().to_string()
    }

    async fn send(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token).await
    }

    async fn post(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token).await
    }

    /// The run as the operator reads it.
    async fn run(&self, run_id: &str) -> Value {
        let (status, json) = self
            .get(&format!("/api/runs/{run_id}"), OPERATOR_TOKEN)
            .await;
        assert_eq!(status, 200, "{json}");
        json["run"].clone()
    }

    /// The run's event log as the operator reads it.
    async fn events(&self, run_id: &str) -> Vec<Value> {
        let path = format!("/api/runs/{run_id}/events");
        let (status, json) = self.get(&path, OPERATOR_TOKEN).await;
        assert_eq!(status, 200, "{json}");
        json["events"].as_array().unwrap().clone()
    }

    /// Wait (a minute at most) until the run is `status`, and until `ready` holds for
    /// its events (the scheduler records them as it goes).
    async fn settled(&self, run_id: &str, status: &str, ready: impl Fn(&[Value]) -> bool) {
        let start = Instant::now();
        loop {
            let run = self.run(run_id).await;
            let events = self.events(run_id).await;
            if run["status"] == status && ready(&events) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "run {run_id} is not {status}: {run}\n{events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The grants each stage's task was published with, from `stage.dispatched`.
    async fn dispatched(&self, run_id: &str) -> Vec<(String, Value)> {
        self.events(run_id)
            .await
            .into_iter()
            .filter(|e| e["kind"] == "stage.dispatched")
            .map(|e| {
                (
                    e["stage"].as_str().unwrap().to_string(),
                    e["data"]["grants"].clone(),
                )
            })
            .collect()
    }
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["kind"].as_str()).collect()
}

/// The summary of stage `name` of `run`.
fn stage<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {run}"))
}

/// A request whose headers trickle in, a line at a time, and never end: whether the
/// server cut the connection (a minute at most), and what it answered, if anything.
fn trickled_headers(address: &str) -> (bool, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    stream
        .write_all(b"GET /api/runs HTTP/1.1\r\nHost: bosun\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    for line in 0..200 {
        match stream.read(&mut buf) {
            Ok(n) => return (true, String::from_utf8_lossy(&buf[..n]).to_string()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stream
                    .write_all(format!("X-Trickle-{line}: still coming\r\n").as_bytes())
                    .is_err()
                {
                    return (true, String::new());
                }
            }
            Err(_) => return (true, String::new()),
        }
    }
    (false, String::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_a_real_orchestrator_refuses_each_probe_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // acme/shop: `main`, a branch `feature` (the pull requests' heads), served over HTTP.
    let acme_dir = dir.path().join("acme-shop");
    let (_, main_sha) = git_repo(&acme_dir, &[(".bosun.yml", ACME_MAIN)]);
    git(&acme_dir, &["checkout", "--quiet", "-b", "feature"]);
    std::fs::write(acme_dir.join(".bosun.yml"), ACME_FEATURE).unwrap();
    let feature_sha = commit_all(&acme_dir, "no network asked");
    git(&acme_dir, &["checkout", "--quiet", "main"]);
    let acme_url = serve_git(&acme_dir, "acme/shop");
    let bravo_dir = dir.path().join("bravo-shop");
    let (_, bravo_sha) = git_repo(&bravo_dir, &[(".bosun.yml", BRAVO_ASKS_NETWORK)]);
    let bravo_url = serve_git(&bravo_dir, "bravo/shop");

    let settings = dir.path().join("bosun-server.yaml");
    std::fs::write(
        &settings,
        format!(
            "listen: 127.0.0.1:0
store: {store}
work_dir: {work}
api_token: {{ value: {OPERATOR_TOKEN} }}
read_timeout_secs: 2
clone_schemes: [https, http]
tenants:
  - owner: acme
    webhook_secret: {{ value: \"{ACME_SECRET}\" }}
    api_token: {{ value: {ACME_TOKEN} }}
    network_stages: [build]
    pull_requests: {{ from_forks: approve }}
    secrets:
      - {{ name: KUBE_TOKEN, events: [push, pull_request], default_branch_only: true }}
  - owner: bravo
    webhook_secret: {{ value: \"{BRAVO_SECRET}\" }}
    api_token: {{ value: {BRAVO_TOKEN} }}
",
            store = dir.path().join("runs.db").display(),
            work = dir.path().join("orchestrator").display(),
        ),
    )
    .unwrap();
    let orchestrator = Process::start(&["orchestrator", "--config", settings.to_str().unwrap()]);
    let base = orchestrator.printed_url("bosun orchestrator on").await;
    let api = Api {
        base: base.clone(),
        client: reqwest::Client::new(),
    };

    // Tenant A's run in flight: a push to main, whose stages get what acme grants.
    let acme_run = api
        .run_of(
            "push",
            "acme-push",
            push_at("acme", "acme/shop", &acme_url, &main_sha),
            ACME_SECRET,
        )
        .await;
    api.settled(&acme_run, "running", |e| {
        kinds(e)
            .iter()
            .filter(|k| **k == "stage.dispatched")
            .count()
            == 2
    })
    .await;
    let pushed = api.dispatched(&acme_run).await;
    let build = &pushed.iter().find(|(s, _)| s == "build").unwrap().1;
    assert_eq!(build["network"], true, "{pushed:?}");
    assert_eq!(build["secrets"], json!(["KUBE_TOKEN"]), "{pushed:?}");
    assert!(build["push_repository"].is_string(), "{pushed:?}");

    // The webhook probes of tenant B (and of nobody).
    let cases: Vec<(&str, Vec<u8>, Option<String>, u16)> = vec![
        // Signed by bravo, speaking for acme's repository.
        {
            let body = push("bravo", "acme/shop", &acme_url);
            let signature = sign(BRAVO_SECRET, &body);
            ("other-full-name", body, Some(signature), 400)
        },
        {
            let body = push("acme", "acme/shop", &acme_url);
            let signature = sign(BRAVO_SECRET, &body);
            ("other-owner", body, Some(signature), 403)
        },
        // The orchestrator's own disk, and a scheme the operator did not allow.
        {
            let work = dir.path().join("orchestrator");
            let body = push("bravo", "bravo/shop", &format!("file://{}", work.display()));
            let signature = sign(BRAVO_SECRET, &body);
            ("file-url", body, Some(signature), 403)
        },
        {
            let body = push("bravo", "bravo/shop", "ssh://git@127.0.0.1/bravo/shop.git");
            let signature = sign(BRAVO_SECRET, &body);
            ("ssh-not-allowed", body, Some(signature), 403)
        },
        // No signature, and a well-formed one made with no tenant's secret.
        ("unsigned", push("acme", "acme/shop", &acme_url), None, 401),
        {
            let body = push("acme", "acme/shop", &acme_url);
            let signature = sign("a guess", &body);
            ("guessed", body, Some(signature), 401)
        },
    ];
    for (id, body, signature, expected) in cases {
        let (status, json) = api.deliver("push", id, body, signature).await;
        assert_eq!(status, expected, "{id}: {json}");
    }
    // Reads and writes of the API need a token.
    let runs = api
        .client
        .get(format!("{base}/api/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(runs.status().as_u16(), 401);

    // Tenant B's repository grants itself the network: a config error naming the
    // operator's setting, and no task published.
    let bravo_run = api
        .run_of(
            "push",
            "bravo-network",
            push_at("bravo", "bravo/shop", &bravo_url, &bravo_sha),
            BRAVO_SECRET,
        )
        .await;
    api.settled(&bravo_run, "config-error", |_| true).await;
    let error = api.run(&bravo_run).await["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("stage `fetch`") && error.contains("`network_stages`"),
        "{error}"
    );
    assert!(api.dispatched(&bravo_run).await.is_empty());

    // Tenant B's token on tenant A's run: no reads, no logs, no cancel, no approval;
    // the run is "not found" to it, as a run that does not exist. acme's own token reads.
    for path in [
        format!("/api/runs/{acme_run}"),
        format!("/api/runs/{acme_run}/events"),
        format!("/api/runs/{acme_run}/stages/build/attempts/1/logs"),
    ] {
        let (status, json) = api.get(&path, BRAVO_TOKEN).await;
        assert_eq!(status, 404, "{path}: {json}");
        let (status, json) = api.get(&path, ACME_TOKEN).await;
        assert_ne!(status, 401, "{path}: {json}");
        assert_ne!(status, 403, "{path}: {json}");
    }
    let (status, json) = api
        .post(&format!("/api/runs/{acme_run}/cancel"), BRAVO_TOKEN)
        .await;
    assert!(matches!(status, 403 | 404), "cancel: {status} {json}");
    let (_, listed) = api.get("/api/runs", BRAVO_TOKEN).await;
    let listed: Vec<&str> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(
        listed,
        [bravo_run.as_str()],
        "bravo lists only its own runs"
    );

    // A pull request of acme/shop itself, whose head branch is named `main`: its build
    // gets no secret, no push and no network; its deploy never runs.
    let pr_run = api
        .run_of(
            "pull_request",
            "pr-main",
            pull_request(1, &acme_url, &feature_sha, "main", None),
            ACME_SECRET,
        )
        .await;
    api.settled(&pr_run, "running", |e| {
        kinds(e).contains(&"stage.dispatched")
    })
    .await;
    let grants = api.dispatched(&pr_run).await;
    assert_eq!(grants.len(), 1, "only the build is sent: {grants:?}");
    assert_eq!(grants[0].0, "build");
    assert_eq!(grants[0].1["network"], false, "{grants:?}");
    assert_eq!(grants[0].1["secrets"], json!([]), "{grants:?}");
    assert!(grants[0].1["push_repository"].is_null(), "{grants:?}");
    let run = api.run(&pr_run).await;
    assert_eq!(stage(&run, "deploy")["state"], "skipped", "{run}");
    assert!(
        stage(&run, "deploy")["summary"]
            .as_str()
            .unwrap()
            .contains("never run for pull requests"),
        "{run}"
    );
    // The same pull request's config asking for the network acme grants pushes: a
    // config error naming the tenant's pull-request setting, nothing published.
    let pr_network = api
        .run_of(
            "pull_request",
            "pr-network",
            pull_request(2, &acme_url, &main_sha, "main", None),
            ACME_SECRET,
        )
        .await;
    api.settled(&pr_network, "config-error", |_| true).await;
    let error = api.run(&pr_network).await["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("`pull_requests: { network: true }`"),
        "{error}"
    );
    assert!(api.dispatched(&pr_network).await.is_empty());

    // A fork's pull request waits for acme's approval, nothing of it read; bravo
    // cannot approve it; approved by acme, it gets what any pull request gets.
    let (status, json) = {
        let body = pull_request(3, &acme_url, &feature_sha, "main", Some("mallory"));
        let signature = sign(ACME_SECRET, &body);
        api.deliver("pull_request", "pr-fork", body, Some(signature))
            .await
    };
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["awaiting_approval"], true, "{json}");
    let fork_run = json["run_id"].as_str().unwrap().to_string();
    api.settled(&fork_run, "awaiting-approval", |_| true).await;
    let run = api.run(&fork_run).await;
    assert_eq!(run["trigger"]["branch"], "mallory:main", "{run}");
    assert!(
        run["config_source"].is_null(),
        "nothing of a fork is read: {run}"
    );
    let approve = format!("/api/runs/{fork_run}/approve");
    let (status, json) = api.post(&approve, BRAVO_TOKEN).await;
    assert_eq!(status, 404, "{json}");
    assert_eq!(api.run(&fork_run).await["status"], "awaiting-approval");
    assert!(api.dispatched(&fork_run).await.is_empty());
    let (status, json) = api.post(&approve, ACME_TOKEN).await;
    assert_eq!(status, 200, "{json}");
    api.settled(&fork_run, "running", |e| {
        kinds(e).contains(&"stage.dispatched")
    })
    .await;
    let grants = api.dispatched(&fork_run).await;
    assert_eq!(grants.len(), 1, "only the build is sent: {grants:?}");
    assert_eq!(grants[0].1["network"], false, "{grants:?}");
    assert_eq!(grants[0].1["secrets"], json!([]), "{grants:?}");
    assert!(grants[0].1["push_repository"].is_null(), "{grants:?}");
    assert_eq!(
        stage(&api.run(&fork_run).await, "deploy")["state"],
        "skipped"
    );

    // A connection whose headers never end is cut off (`read_timeout_secs: 2`), however
    // it trickles, and answered nothing but an error if anything.
    let address = base.trim_start_matches("http://").to_string();
    let (cut, answer) = tokio::task::spawn_blocking(move || trickled_headers(&address))
        .await
        .unwrap();
    assert!(cut, "a connection trickling its headers was kept open");
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");

    // Sixteen 24 MB bodies at once, well-formed signatures made with nothing known.
    let before = peak_mib(orchestrator.id());
    let body = axum::body::Bytes::from(vec![b' '; 24 << 20]);
    let fake = format!("sha256={}", "0".repeat(64));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..16 {
        let request = api
            .client
            .post(format!("{base}/webhook/github"))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", format!("flood-{i}"))
            .header("X-Hub-Signature-256", fake.clone())
            .body(body.clone());
        flood.spawn(async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    let statuses = flood.join_all().await;
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 503 | 0)),
        "{statuses:?}"
    );
    let grown = peak_mib(orchestrator.id()).saturating_sub(before);
    assert!(grown < 200, "the orchestrator's peak grew by {grown} MiB");

    // Tenant A's run is untouched by all of it: still running, both stages still on
    // their first attempt, never cancelled or superseded.
    let run = api.run(&acme_run).await;
    assert_eq!(run["status"], "running", "{run}");
    for name in ["build", "deploy"] {
        assert_eq!(stage(&run, name)["state"], "running", "{run}");
        assert_eq!(stage(&run, name)["attempt"], 1, "{run}");
    }
    let events = api.events(&acme_run).await;
    assert!(
        !kinds(&events).contains(&"run.cancelled")
            && events
                .iter()
                .all(|e| !e["message"].as_str().unwrap_or("").contains("supersed")),
        "{events:#?}"
    );
    assert_eq!(api.dispatched(&acme_run).await.len(), 2, "sent once each");

    // Only the deliveries that should make runs made them.
    let (_, listed) = api.get("/api/runs", OPERATOR_TOKEN).await;
    let mut made: Vec<String> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    made.sort();
    let mut expected = vec![acme_run, bravo_run, pr_run, pr_network, fork_run];
    expected.sort();
    assert_eq!(made, expected);
}
