//! `bosun up` as a newcomer uses it: the real binary on a folder, its printed URLs, a
//! manual run over the API on a local git repository, `/metrics`, and a clean SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_test_support::{assert_contains, git_repo, missing_service};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Two stages on the built-in `todo-scan` plugin (no tools, so no Docker): `lint`
/// allows the repository's two markers, `test` allows none and fails.
const PIPELINE: &str = r#"pipeline:
  stages:
    - name: lint
      plugin: todo-scan
      with: { max_markers: 5 }
    - name: test
      plugin: todo-scan
      with: { max_markers: 0 }
"#;

fn repository(dir: &Path) -> (String, String) {
    git_repo(
        dir,
        &[
            (".bosun.yml", PIPELINE),
            ("app.py", "x = 1  # TODO: rename\ny = 2  # FIXME: check\n"),
        ],
    )
}

/// A `bosun up` process, killed if a test fails before it stops.
struct Up {
    child: Child,
    urls: HashMap<String, String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bosun_up(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bosun"));
    cmd.arg("up")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--containers", "none"])
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("BOSUN_SERVER_CONFIG")
        .env_remove("BOSUN_LISTEN");
    cmd
}

/// Start `bosun up` and read the four `name: url` lines it prints.
fn start(dir: &Path) -> Up {
    let mut child = bosun_up(dir, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut urls = HashMap::new();
    // The first start compiles the built-in plugins (then cached under DIR/.bosun).
    let deadline = Instant::now() + Duration::from_secs(180);
    while urls.len() < 4 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("bosun up printed {urls:?}, then nothing ({e})"));
        let (name, url) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        urls.insert(name.to_string(), url.to_string());
    }
    Up { child, urls }
}

async fn wait_for_run(api: &str, run_id: &str) -> serde_json::Value {
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let detail: serde_json::Value = client
            .get(format!("{api}/{run_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = detail["run"]["status"].as_str().unwrap_or_default();
        if !["queued", "running"].contains(&status) {
            return detail;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "run still {status}: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `bosun run DIR` as a newcomer runs it first; its run id.
fn bosun_run(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .arg("run")
        .arg(dir)
        .args(["--containers", "none", "--json"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    // The `test` stage fails by design: exit 1.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    result["run"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_up_serves_bosun_runs_and_a_manual_run_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    let (clone_url, commit) = repository(&shop);
    let earlier = bosun_run(&shop);
    let mut up = start(&shop);

    let base = up.urls["dashboard"].trim_end_matches('/').to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{:?}", up.urls);
    assert!(!base.ends_with(":0"), "the bound port is printed: {base}");
    assert_eq!(up.urls["webhook"], format!("{base}/webhook/github"));
    assert_eq!(up.urls["api"], format!("{base}/api/runs"));
    assert_eq!(up.urls["metrics"], format!("{base}/metrics"));

    let api = up.urls["api"].clone();
    // The run `bosun run` recorded is served: one run store in DIR/.bosun/.
    let listed: serde_json::Value = reqwest::get(&api).await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [earlier.as_str()], "{listed}");

    let response = reqwest::Client::new()
        .post(&api)
        .json(&serde_json::json!({
            "repository": "acme/shop", "clone_url": clone_url, "commit": commit, "branch": "main",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    let run_id = body["run_id"].as_str().unwrap().to_string();

    let detail = wait_for_run(&api, &run_id).await;
    assert_eq!(detail["run"]["status"], "failure", "{detail}");
    let stages: Vec<(String, String)> = detail["run"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("lint".to_string(), "success".to_string()),
            ("test".to_string(), "failure".to_string())
        ],
        "{detail}"
    );

    let metrics = reqwest::get(&up.urls["metrics"])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bosun_runs_total{status=\"failure\"} 1")),
        "{metrics}"
    );
    // The embedded agent's metrics follow the orchestrator's in one exposition.
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bosun_agent_plugin_call_seconds_count{stage=\"lint\"}")),
        "the agent's plugin call latency is served too:\n{metrics}"
    );
    assert_eq!(
        metrics.matches("# EOF").count(),
        1,
        "one terminator:\n{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");

    // One orchestrator per run store: `bosun run` on the served folder says who has it.
    let second = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .arg("run")
        .arg(&shop)
        .args(["--containers", "none"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert_contains(&err, "is in use by bosun up (pid");
    assert!(err.contains(&base), "names the server's address: {err}");

    let pid = up.child.id().to_string();
    let signalled = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "bosun up still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn cli_up_names_a_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = bosun_up(&missing, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_contains(&err, missing.to_str().unwrap());
    assert_contains(&err, "no such folder");
}

#[test]
fn cli_up_names_the_settings_file_and_line_of_a_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("server.yml");
    std::fs::write(
        &settings,
        "listen: 127.0.0.1:0\ntenants:\n  - owner: acme\n    webhok_secret: { env: X }\n",
    )
    .unwrap();
    let out = bosun_up(dir.path(), &["--config", settings.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_contains(&err, settings.to_str().unwrap());
    assert_contains(&err, "webhok_secret");
    assert_contains(&err, "line 4");
}

#[test]
fn cli_up_on_a_busy_port_says_how_to_pick_another() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(["up", dir.path().to_str().unwrap(), "--listen", &addr])
        .args(["--containers", "none"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_contains(&err, &format!("cannot listen on {addr}"));
    assert_contains(&err, "--listen 127.0.0.1:0");
}

#[test]
fn cli_up_names_a_missing_plugin_folder() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("my-plugins");
    let out = bosun_up(dir.path(), &["--plugins", missing.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_contains(
        &err,
        &format!("--plugins {}: no such folder", missing.display()),
    );
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

#[test]
fn cli_run_removes_the_tool_containers_a_killed_predecessor_left() {
    let test = "cli_run_removes_the_tool_containers_a_killed_predecessor_left";
    let Ok(image) = std::env::var("BOSUN_TEST_BASE_IMAGE") else {
        return missing_service(test, "BOSUN_TEST_BASE_IMAGE is not set").unwrap_or(());
    };
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    repository(&shop);
    // The label a `bosun run` or `bosun up` on this folder gives its tool containers.
    let state_dir = shop.canonicalize().unwrap().join(".bosun");
    let digest = <sha2::Sha256 as sha2::Digest>::digest(state_dir.as_os_str().as_encoded_bytes());
    let agent = format!("local-{}", hex::encode(&digest[..8]));
    // A container a killed `bosun up` on this folder left, and one of another folder.
    let create = |agent: &str| {
        let out = docker(&[
            "create",
            "--label",
            "org.bosun.managed=true",
            "--label",
            &format!("org.bosun.agent={agent}"),
            &image,
            "true",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (left, other) = (create(&agent), create("local-someone-else"));
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .arg("run")
        .arg(&shop)
        .args(["--containers", "docker", "--json"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let exists = |id: &str| docker(&["inspect", id]).status.success();
    let other_kept = exists(&other);
    docker(&["rm", "-f", &other]);
    assert_contains(&stderr, "removed 1 tool container(s)");
    assert!(!exists(&left), "the leftover of this folder is removed");
    assert!(other_kept, "another folder's container is left alone");
}
