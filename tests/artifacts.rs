//! A build step's artifact read by the step that needs it, with every real part: the
//! steps run in `bosun/python:3.11` on the Docker Engine; the build keeps `dist` (a
//! link it leaves there is not kept), the test step reads `/artifacts/build/dist/app.txt`
//! read-only. Through `bosun run` on the embedded default, and across two `bosun agent`
//! processes with their own work folders over the Tansu broker, where the file goes
//! through the orchestrator's HTTP side.
//!
//! Needs `bash scripts/services.sh` (Docker, the runtime image, Tansu). Under `CI=true`
//! a missing service fails the test; elsewhere it skips, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_orchestrator::store::Store;
use bosun_test_support::{missing_service, python_sample, serve_git, sign};
use common::process::Process;
use std::process::Command;
use std::time::{Duration, Instant};

/// `build` keeps `dist`, `test` reads it; each stage's `agent:` line when given.
fn pipeline(build_agent: &str, test_agent: &str) -> String {
    format!(
        r#"pipeline:
  stages:
    - name: build
      {build_agent}image: bosun/python:3.11
      commands:
        - mkdir -p dist
        - printf 'built from %s\n' "$BOSUN_COMMIT" > dist/app.txt
        - ln -s /etc/passwd dist/leak.txt
      artifacts: [dist]
    - name: test
      {test_agent}needs: [build]
      image: bosun/python:3.11
      commands:
        - cat /artifacts/build/dist/app.txt
        - grep -q "built from $BOSUN_COMMIT" /artifacts/build/dist/app.txt
        - test ! -e /artifacts/build/dist/leak.txt
        - if touch /artifacts/build/dist/app.txt 2>/dev/null; then echo "artifacts are writable"; exit 1; fi
"#
    )
}

fn docker_or_skip(test: &str) -> Option<()> {
    let image = Command::new("docker")
        .args(["image", "inspect", "bosun/python:3.11"])
        .output()
        .is_ok_and(|out| out.status.success());
    if image {
        Some(())
    } else {
        missing_service(test, "needs the Docker Engine and bosun/python:3.11")
    }
}

fn logs(store: &Store, run_id: &str, stage: &str) -> String {
    store
        .attempt_logs(run_id, stage, 1)
        .unwrap()
        .unwrap_or_default()
        .into_iter()
        .map(|line| line.message + "\n")
        .collect()
}

#[test]
fn artifacts_a_build_keeps_are_read_by_the_stage_that_needs_it_through_bosun_run() {
    let test = "artifacts_through_bosun_run";
    if docker_or_skip(test).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (repo, _, sha) = python_sample(dir.path(), Some(&pipeline("", "")));
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args([
            "run",
            repo.to_str().unwrap(),
            "--json",
            "--containers",
            "docker",
        ])
        .env("BOSUN_CACHE_DIR", common::artifact_cache())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let store = Store::open(&repo.join(".bosun/bosun.db")).unwrap();
    let run_id = run["run"]["id"].as_str().unwrap();
    let context = format!(
        "{stderr}\n{:#}\nbuild:\n{}\ntest:\n{}",
        run["attempts"],
        logs(&store, run_id, "build"),
        logs(&store, run_id, "test")
    );
    assert_eq!(out.status.code(), Some(0), "{context}");
    let kept = store.artifacts(run_id).unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (kept[0].stage.as_str(), kept[0].path.as_str()),
        ("build", "dist/app.txt")
    );
    let build = logs(&store, run_id, "build");
    assert!(build.contains("kept 1 artifact files"), "{build}");
    assert!(
        build.contains("dist/leak.txt: is a symbolic link"),
        "the link is said to be left out:\n{build}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("dist/app.txt")).ok(),
        None,
        "the step wrote its own copy, never the user's folder ({sha})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_built_by_one_agent_are_read_by_a_stage_on_another_over_kafka() {
    let test = "artifacts_across_two_agents_over_kafka";
    if docker_or_skip(test).is_none() {
        return;
    }
    let kafka = std::env::var("BOSUN_TEST_KAFKA")
        .ok()
        .filter(|k| std::net::TcpStream::connect(k).is_ok());
    let Some(kafka) = kafka.or_else(|| missing_service(test, "needs BOSUN_TEST_KAFKA")) else {
        return;
    };
    const SECRET: &str = "artifacts-secret";
    let dir = tempfile::tempdir().unwrap();
    let (repo, _, sha) = python_sample(
        dir.path(),
        Some(&pipeline(
            "agent: builders\n      ",
            "agent: testers\n      ",
        )),
    );
    let url = serve_git(&repo, "acme/shop");
    let settings = dir.path().join("bosun-server.yaml");
    std::fs::write(
        &settings,
        format!(
            "listen: 127.0.0.1:0
bus: kafka://{kafka}
store: {store}
work_dir: {work}
clone_schemes: [https, http]
tenants:
  - owner: acme
    webhook_secret: {{ value: {SECRET} }}
",
            store = dir.path().join("runs.db").display(),
            work = dir.path().join("orchestrator").display(),
        ),
    )
    .unwrap();
    let orchestrator = Process::start(&["orchestrator", "--config", settings.to_str().unwrap()]);
    let base = orchestrator.printed_url("bosun orchestrator on").await;
    // Each agent has a work folder of its own: nothing but HTTP connects them.
    let agents: Vec<Process> = [("agent-build", "builders"), ("agent-test", "testers")]
        .iter()
        .map(|(id, stages)| {
            let work = dir.path().join(id);
            std::fs::create_dir_all(&work).unwrap();
            Process::start(&[
                "agent",
                "--bus",
                &format!("kafka://{kafka}"),
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
                &base,
            ])
        })
        .collect();

    let body = {
        let text =
            include_str!("../orchestrator/tests/fixtures/github/push-with-new-branch.payload.json");
        let mut payload: serde_json::Value = serde_json::from_str(text).unwrap();
        payload["ref"] = "refs/heads/main".into();
        payload["after"] = sha.as_str().into();
        payload["head_commit"]["id"] = sha.as_str().into();
        payload["repository"]["full_name"] = "acme/shop".into();
        payload["repository"]["name"] = "shop".into();
        payload["repository"]["owner"]["login"] = "acme".into();
        payload["repository"]["clone_url"] = url.as_str().into();
        payload["repository"]["default_branch"] = "main".into();
        serde_json::to_vec(&payload).unwrap()
    };
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/webhook/github"))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "artifacts-1")
        .header("X-Hub-Signature-256", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let accepted: serde_json::Value = response.json().await.unwrap();
    let run_id = accepted["run_id"].as_str().unwrap().to_string();

    let start = Instant::now();
    let detail = loop {
        let detail: serde_json::Value = client
            .get(format!("{base}/api/runs/{run_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = detail["run"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status != "queued" && status != "running" {
            break detail;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "run still {status}: {detail}\norchestrator:\n{}\nagents:\n{}\n{}",
            orchestrator.log(),
            agents[0].log(),
            agents[1].log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let context = format!(
        "{:#}\nbuild:\n{}\ntest:\n{}\nagents:\n{}\n{}",
        detail["attempts"],
        logs(&store, &run_id, "build"),
        logs(&store, &run_id, "test"),
        agents[0].log(),
        agents[1].log()
    );
    assert_eq!(detail["run"]["status"], "success", "{context}");
    let ran_on = |stage: &str| {
        detail["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["stage"] == stage)
            .map(|a| a["agent_id"].as_str().unwrap_or_default().to_string())
            .unwrap()
    };
    assert_eq!(ran_on("build"), "agent-build", "{context}");
    assert_eq!(ran_on("test"), "agent-test", "{context}");
    let listed: serde_json::Value = client
        .get(format!("{base}/api/runs/{run_id}/artifacts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["artifacts"][0]["path"], "dist/app.txt", "{listed}");
    let file = client
        .get(format!(
            "{base}/api/runs/{run_id}/artifacts/build/dist/app.txt"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(file, format!("built from {sha}\n"));
}
