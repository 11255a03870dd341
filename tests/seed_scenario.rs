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
//! scenario also runs through `bosun run` on the embedded default.
//!
//! Needs `bash scripts/services.sh` (Docker, images, registry, Tansu). Under `CI=true` a
//! missing service fails the test; elsewhere it skips, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

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
            "--json",
            "--containers",
            "docker",
            "--registry",
            &registry,
        ])
        .env("BOSUN_CACHE_DIR", common::artifact_cache())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run fails at security: {stderr}"
    );
    let result: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let stages = result["run"]["stages"].as_array().unwrap();
    let state = |name: &str| {
        let s = stages.iter().find(|s| s["name"] == name).unwrap();
        (
            s["state"].as_str().unwrap().to_string(),
            s["attempt"].as_u64().unwrap(),
        )
    };
    assert_eq!(state("lint"), ("success".into(), 1));
    assert_eq!(state("test"), ("success".into(), 2));
    assert_eq!(state("build"), ("success".into(), 1));
    assert_eq!(state("security"), ("failure".into(), 1));
    assert_eq!(state("deploy").0, "skipped");
    let security = result["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["stage"] == "security")
        .unwrap();
    assert_eq!(high_or_worse(&security["report"]).len(), 1);
}
