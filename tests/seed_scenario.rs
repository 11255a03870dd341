//! The seed scenario end to end with every real part: `bosun orchestrator` and two
//! `bosun agent` processes over the Tansu Kafka-protocol broker, tools in hardened
//! containers on the Docker Engine, images pushed to the local registry, and local HTTP
//! receivers standing in for Slack and the GitHub statuses API. A signed push webhook
//! starts the run on a copy of `examples/python-app` in a local git repository.
//!
//! Then: lint passes; test fails two tests on its first attempt and passes on the retry;
//! build builds and pushes the image; security finds exactly one HIGH issue; the run
//! stops before deploy; Slack gets a report naming that issue and the two flaky tests;
//! GitHub gets the per-stage statuses; the event log holds every step. The same
//! scenario also runs through `bosun run` on the embedded default, whose table says why
//! security failed: the HIGH B602 finding with its file and line.
//!
//! Needs `bash scripts/services.sh` (Docker, images, registry, Tansu). Under `CI=true` a
//! missing service fails the test; elsewhere it skips, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_orchestrator::store::{RunFilter, Store};
use bosun_test_support::{Receiver, assert_contains, missing_service, python_sample, serve_git};
use common::cluster::Cluster;
use std::process::Command;
use std::time::{Duration, Instant};

fn services_or_skip(test: &str) -> Option<(String, String)> {
    let kafka = std::env::var("BOSUN_TEST_KAFKA").ok();
    let registry = std::env::var("BOSUN_TEST_REGISTRY").ok();
    let docker = std::path::Path::new("/var/run/docker.sock").exists();
    let kafka_up = kafka
        .as_deref()
        .is_some_and(|k| std::net::TcpStream::connect(k).is_ok());
    match (kafka, registry) {
        (Some(k), Some(r)) if kafka_up && docker => Some((k, r)),
        _ => missing_service(
            test,
            "needs the Docker Engine, BOSUN_TEST_KAFKA and BOSUN_TEST_REGISTRY",
        ),
    }
}

fn high_or_worse(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("high" | "critical")))
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_scenario_across_processes_over_kafka_with_docker() {
    let Some((kafka, registry)) =
        services_or_skip("seed_scenario_across_processes_over_kafka_with_docker")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (slack_receiver, github_receiver) = (Receiver::ok().await, Receiver::ok().await);
    let (slack, github) = (&slack_receiver.base, &github_receiver.base);
    let (repo, _, sha) = python_sample(dir.path(), None);
    // Webhooks name only URLs a git server answers (never a local path).
    let url = serve_git(&repo, "acme/shop");
    let mut cluster = Cluster::start(
        dir.path(),
        &kafka,
        &format!("github_api: {github}\n"),
        &format!(
            "    slack_webhook: {{ value: {slack}/services/T000/B000/XXXX }}
    github_token: {{ value: ghs_seed_scenario }}
"
        ),
    )
    .await;
    for (id, stages) in [
        ("agent-a", "lint,test,build,policy"),
        ("agent-b", "security,deploy,notify"),
    ] {
        cluster.agent(id, stages, &["--registry", &registry, "--concurrency", "1"]);
    }
    let run_id = cluster.push("seed-1", &url, &sha).await;
    let detail = cluster.settled(&run_id, Duration::from_secs(300)).await;
    let client = reqwest::Client::new();
    let stage = |name: &str| {
        let s = detail["run"]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone();
        (
            s["state"].as_str().unwrap().to_string(),
            s["attempt"].as_u64().unwrap(),
        )
    };
    let context = format!("{detail:#}\n{}", cluster.logs());
    assert_eq!(stage("lint"), ("success".into(), 1), "{context}");
    assert_eq!(stage("test"), ("success".into(), 2), "{context}");
    assert_eq!(stage("build"), ("success".into(), 1), "{context}");
    assert_eq!(stage("security"), ("failure".into(), 1), "{context}");
    assert_eq!(stage("deploy").0, "skipped");
    assert_eq!(detail["run"]["status"], "failure");

    let attempts = detail["attempts"].as_array().unwrap();
    let attempt = |stage: &str, n: u64| {
        attempts
            .iter()
            .find(|a| a["stage"] == stage && a["attempt"] == n)
            .unwrap()
    };
    // Two agents did the work, each result names the plugin's digest.
    let agents_seen: std::collections::BTreeSet<&str> = attempts
        .iter()
        .filter_map(|a| a["agent_id"].as_str())
        .collect();
    assert_eq!(
        agents_seen.into_iter().collect::<Vec<_>>(),
        ["agent-a", "agent-b"]
    );
    assert!(
        attempts
            .iter()
            .all(|a| a["plugin_digest"].as_str().unwrap().starts_with("sha256:"))
    );
    let failed: Vec<String> = attempt("test", 1)["report"]["test_failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    let image = attempt("build", 1)["report"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "image")
        .unwrap()
        .clone();
    assert!(
        image["reference"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{registry}/acme/shop:{sha}")),
        "{image}"
    );
    let digest = image["digest"].as_str().unwrap();
    let manifest = client
        .head(format!("http://{registry}/v2/acme/shop/manifests/{sha}"))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        manifest.headers()["docker-content-digest"]
            .to_str()
            .unwrap(),
        digest
    );
    let blocking = high_or_worse(&attempt("security", 1)["report"]);
    assert_eq!(blocking.len(), 1, "exactly one HIGH issue: {blocking:?}");

    // Slack: one report naming the issue and both flaky tests.
    let start = Instant::now();
    while slack_receiver.requests().is_empty() && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slack_messages = slack_receiver.requests();
    assert_eq!(slack_messages.len(), 1, "{slack_messages:?}");
    assert_eq!(slack_messages[0].path, "/services/T000/B000/XXXX");
    let text = &slack_messages[0].body_text();
    assert!(serde_json::from_str::<serde_json::Value>(text).unwrap()["blocks"].is_array());
    assert_contains(text, &blocking[0]);
    for name in &failed {
        assert!(
            text.contains(name.as_str()),
            "flaky test {name} not named: {text}"
        );
    }

    // GitHub: statuses per stage, with the token.
    let statuses = github_receiver.requests();
    assert!(
        statuses
            .iter()
            .all(|s| s.path == format!("/repos/acme/shop/statuses/{sha}"))
    );
    assert!(
        statuses
            .iter()
            .all(|s| s.headers["authorization"] == "Bearer ghs_seed_scenario")
    );
    let posted: Vec<(String, String)> = statuses
        .iter()
        .map(|s| {
            let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            (
                v["context"].as_str().unwrap().to_string(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (context, state) in [
        ("bosun/lint", "success"),
        ("bosun/test", "success"),
        ("bosun/build", "success"),
        ("bosun/security", "failure"),
        ("bosun", "failure"),
    ] {
        assert!(
            posted.contains(&(context.to_string(), state.to_string())),
            "{context} {state} not in {posted:?}"
        );
    }

    // The event log: every step, with timestamps, in order.
    let events = cluster.get(&format!("/api/runs/{run_id}/events")).await;
    let events = events["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in [
        "run.created",
        "run.started",
        "stage.dispatched",
        "stage.result",
        "stage.retry-scheduled",
        "stage.passed",
        "stage.failed",
        "stage.skipped",
        "run.failed",
        "notify.requested",
        "notify.sent",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    let times: Vec<u64> = events
        .iter()
        .map(|e| e["at_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

/// `bosun run` on the sample, as a new user runs it: the table, then why security failed,
/// leading with the HIGH finding and where it is. The run is read back from the store
/// `bosun run` kept in the repository.
#[test]
fn seed_scenario_through_bosun_run_on_the_embedded_default() {
    let Some((_, registry)) =
        services_or_skip("seed_scenario_through_bosun_run_on_the_embedded_default")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (repo, _, _) = python_sample(dir.path(), None);
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args([
            "run",
            repo.to_str().unwrap(),
            "--containers",
            "docker",
            "--registry",
            &registry,
        ])
        .env("BOSUN_CACHE_DIR", common::artifact_cache())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run fails at security: {stdout}\n{stderr}"
    );
    let store = Store::open(&repo.join(".bosun/bosun.db")).unwrap();
    let runs = store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = store.run(&runs[0].id).unwrap().unwrap();
    let state = |name: &str| {
        let s = run.stages.iter().find(|s| s.name == name).unwrap();
        (
            serde_json::to_value(s.state)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string(),
            s.attempt,
        )
    };
    assert_eq!(state("lint"), ("success".into(), 1));
    assert_eq!(state("test"), ("success".into(), 2));
    assert_eq!(state("build"), ("success".into(), 1));
    assert_eq!(state("security"), ("failure".into(), 1));
    assert_eq!(state("deploy").0, "skipped");
    let attempts = store.attempts(&run.id).unwrap();
    let security = attempts.iter().find(|a| a.stage == "security").unwrap();
    let report = serde_json::to_value(security.report.as_ref().unwrap()).unwrap();
    assert_eq!(high_or_worse(&report).len(), 1);
    let b602 = &security
        .report
        .as_ref()
        .unwrap()
        .findings
        .iter()
        .find(|f| f.rule == "B602")
        .unwrap_or_else(|| panic!("no B602 in {report:#}"));
    let (path, line) = (b602.path.clone().unwrap(), b602.line.unwrap());
    assert_eq!(path, "src/shop/receipts.py");
    let source = std::fs::read_to_string(repo.join(&path)).unwrap();
    let named = source.lines().nth(line as usize - 1).unwrap_or_default();
    assert!(
        named.contains("subprocess.run") || named.contains("shell=True"),
        "line {line} of {path} is {named:?}"
    );

    // The table, then why security failed: the HIGH finding first, with its place.
    assert_contains(&stdout, "STAGE        OUTCOME");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("security "))
        .unwrap_or_else(|| panic!("no security row:\n{stdout}"));
    assert_contains(row, "FAILED");
    let why = stdout
        .split_once("why security failed:\n")
        .map(|(_, why)| why)
        .unwrap_or_else(|| panic!("no reason under the table:\n{stdout}"));
    let first = why.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("  HIGH B602 {path}:{line}")),
        "the reason leads with the HIGH finding: {first:?}\n{stdout}"
    );
    assert!(
        !why.contains("why test failed"),
        "test passed on its retry: {stdout}"
    );
    assert_contains(&stdout, "pipeline failure: security did not pass");
}
