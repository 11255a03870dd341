//! The dashboard over real HTTP: a real server and store, runs made by a stand-in agent
//! on the in-memory bus. Pages, filters, escaping of a hostile branch, the 404 page,
//! the inventory an agent announces, and the live event streams while a run progresses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use bosun_bus::inventory::{InventoryMessage, InventoryPlugin};
use bosun_bus::messages::{self, AgentReply, MESSAGE_VERSION};
use bosun_bus::{Bus, Outcome, topics};
use bosun_test_support::assert_contains;
use harness::*;
use std::time::{Duration, Instant};

const PIPELINE: &str =
    "pipeline:\n  stages:\n    - name: lint\n    - name: test\n      needs: [lint]\n";
const HOSTILE: &str = "zzz\";echo${IFS}\"hi\";#<script>alert(1)</script>";

async fn trigger(server: &Server, url: &str, sha: &str, branch: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/runs", server.base))
        .json(&serde_json::json!({
            "repository": "acme/shop", "clone_url": url, "commit": sha, "branch": branch,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    body["run_id"].as_str().unwrap().to_string()
}

async fn page(server: &Server, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{}{path}", server.base))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/html"),
        "{path}: {content_type}"
    );
    (status, response.text().await.unwrap())
}

async fn finished(server: &Server, run_id: &str) {
    let store = server.store();
    let done = eventually(Duration::from_secs(30), || {
        store
            .run(run_id)
            .unwrap()
            .is_some_and(|r| r.status.is_final())
    })
    .await;
    assert!(done, "run {run_id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_filter_escape_and_explain_a_missing_run() {
    let (_dir, path) = temp();
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", PIPELINE)]);
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    stand_in_agent(&server.bus, &["lint", "test"], |task| {
        if task.task.branch == "main" {
            report(Outcome::Success, "clean")
        } else {
            report(Outcome::Failure, "3 problems")
        }
    });
    let good = trigger(&server, &url, &sha, "main").await;
    let hostile = trigger(&server, &url, &sha, HOSTILE).await;
    finished(&server, &good).await;
    finished(&server, &hostile).await;

    // `/` leads to the runs list, which lists both, the hostile name escaped.
    let response = reqwest::get(format!("{}/", server.base)).await.unwrap();
    assert_eq!(response.url().path(), "/runs");
    let (status, list) = page(&server, "/runs").await;
    assert_eq!(status, 200);
    assert_contains(&list, &format!("href=\"/runs/{good}\""));
    assert_contains(&list, &format!("href=\"/runs/{hostile}\""));
    assert_contains(&list, "zzz&quot;;echo${IFS}&quot;hi&quot;;#&lt;script&gt;");
    assert!(!list.contains("<script>alert"), "{list}");
    for link in ["/runs", "/stats", "/plugins", "/dead-letters", "/metrics"] {
        assert!(
            list.contains(&format!("href=\"{link}\"")),
            "nav lacks {link}"
        );
    }

    // Filters: by branch, by status, by repository.
    let (_, only_main) = page(&server, "/runs?branch=main&status=&repo=").await;
    assert!(only_main.contains(&good) && !only_main.contains(&hostile));
    let (_, failed) = page(&server, "/runs?status=failure").await;
    assert!(
        failed.contains(&hostile) && !failed.contains(&good),
        "{failed}"
    );
    assert!(failed.contains("<option selected>failure</option>"));
    let (_, other_repo) = page(&server, "/runs?repo=acme%2Fother").await;
    assert!(!other_repo.contains(&good) && other_repo.contains("No runs match"));

    // The run page: escaped, with its stages in `needs` order and links to logs.
    let (status, run) = page(&server, &format!("/runs/{hostile}")).await;
    assert_eq!(status, 200);
    assert!(!run.contains("<script>alert"), "{run}");
    assert!(run.contains("id=\"why\""), "a failed run explains itself");
    assert!(run.find("#stage-lint\"").unwrap() < run.find("#stage-test\"").unwrap());
    assert!(run.contains(&format!("/runs/{hostile}/stages/lint/attempts/1/logs")));
    let (status, logs) = page(
        &server,
        &format!("/runs/{hostile}/stages/lint/attempts/1/logs"),
    )
    .await;
    assert_eq!(status, 200, "{logs}");
    assert_contains(&logs, "No log lines");

    // Unknown runs and attempts: a 404 page that says what to do.
    let (status, missing) = page(&server, "/runs/no-such-run").await;
    assert_eq!(status, 404);
    assert_contains(&missing, "There is no run with id");
    assert_contains(&missing, "href=\"/runs\"");
    let (status, _) = page(
        &server,
        &format!("/runs/{good}/stages/lint/attempts/x/logs"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = page(
        &server,
        &format!("/runs/{good}/stages/lint/attempts/9/logs"),
    )
    .await;
    assert_eq!(status, 404);

    // Stats and dead letters render over the same store.
    let (status, stats) = page(&server, "/stats").await;
    assert_eq!(status, 200);
    assert_contains(&stats, "<td>acme/shop</td><td>1</td><td>1</td>");
    let (status, dead) = page(&server, "/dead-letters").await;
    assert_eq!(status, 200);
    assert!(dead.contains("queue is empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_inventory_shows_on_the_plugins_page_and_api() {
    let (_dir, path) = temp();
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    let (_, empty) = page(&server, "/plugins").await;
    assert_contains(&empty, "No agent has announced");
    let digest = format!("sha256:{}", "7e".repeat(32));
    let announce = AgentReply::Inventory(InventoryMessage {
        version: MESSAGE_VERSION,
        agent_id: "agent-<b>".into(),
        stages: vec!["lint".into()],
        plugins: vec![InventoryPlugin {
            name: "lint".into(),
            version: "0.3.0".into(),
            kind: "stage".into(),
            digest: digest.clone(),
            source: "builtin".into(),
        }],
        sent_unix_ms: 1,
    });
    server
        .bus
        .publish(topics::AGENT_RESULTS, "agent", messages::encode(&announce))
        .await
        .unwrap();
    let start = Instant::now();
    let agents = loop {
        let (_, body) = server.get("/api/agents").await;
        if body["agents"].as_array().is_some_and(|a| !a.is_empty()) {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(agents["agents"][0]["agent_id"], "agent-<b>");
    assert_eq!(agents["agents"][0]["plugins"][0]["digest"], digest.as_str());
    let (_, plugins) = page(&server, "/plugins").await;
    assert_contains(&plugins, "agent-&lt;b&gt;");
    assert_contains(&plugins, "sha256:7e7e7e7e7e7e");
    assert!(plugins.contains("0.3.0"));
}

/// Read server-sent events until the stream ends or `limit` passes: the event names.
async fn read_events(
    response: &mut reqwest::Response,
    limit: Duration,
    until: &str,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = String::new();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let chunk = tokio::time::timeout_at(deadline.into(), response.chunk()).await;
        let Ok(Ok(Some(bytes))) = chunk else {
            break;
        };
        pending.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            if let Some(name) = block.lines().find_map(|l| l.strip_prefix("event: ")) {
                names.push(name.to_string());
            }
        }
        if names.last().is_some_and(|n| n == until) {
            break;
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_send_changes_while_a_run_progresses_then_end() {
    let (_dir, path) = temp();
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", PIPELINE)]);
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    // Each stage takes longer than the streams' poll, so the run is seen moving.
    stand_in_agent(&server.bus, &["lint", "test"], |_| {
        std::thread::sleep(Duration::from_millis(1200));
        report(Outcome::Success, "ok")
    });
    let mut list = reqwest::get(format!("{}/runs/live", server.base))
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 200);
    assert!(
        list.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let run_id = trigger(&server, &url, &sha, "main").await;
    let mut live = reqwest::get(format!("{}/runs/{run_id}/live", server.base))
        .await
        .unwrap();
    assert_eq!(live.status().as_u16(), 200);

    let names = read_events(&mut live, Duration::from_secs(30), "end").await;
    assert!(
        names.iter().filter(|n| *n == "change").count() >= 2,
        "the run changed several times: {names:?}"
    );
    assert_eq!(names.last().map(String::as_str), Some("end"), "{names:?}");
    // After `end` the server closes the stream.
    let after = tokio::time::timeout(Duration::from_secs(5), live.chunk()).await;
    assert!(
        matches!(after, Ok(Ok(None))),
        "the stream stays open: {after:?}"
    );
    let list_names = read_events(&mut list, Duration::from_secs(5), "change").await;
    assert_eq!(list_names.first().map(String::as_str), Some("change"));

    // A final run's stream ends at once; an unknown run's is a 404.
    let mut again = reqwest::get(format!("{}/runs/{run_id}/live", server.base))
        .await
        .unwrap();
    let names = read_events(&mut again, Duration::from_secs(5), "end").await;
    assert_eq!(names, ["end"]);
    let unknown = reqwest::get(format!("{}/runs/nope/live", server.base))
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    // A shutdown ends the streams that would otherwise stay open (the runs list's never
    // ends by itself), so a graceful HTTP shutdown is not held by a browser tab.
    let mut list = reqwest::get(format!("{}/runs/live", server.base))
        .await
        .unwrap();
    server.begin_shutdown();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(_chunk) = list.chunk().await.unwrap() {}
    })
    .await;
    assert!(ended.is_ok(), "the runs stream stays open after shutdown");
}

/// One server-sent event: its name, id and data.
#[derive(Debug, Clone)]
struct Sse {
    name: String,
    id: Option<String>,
    data: String,
}

/// Read server-sent events until `enough` says so or `limit` passes.
async fn read_sse(
    response: &mut reqwest::Response,
    limit: Duration,
    enough: impl Fn(&[Sse]) -> bool,
) -> Vec<Sse> {
    let mut seen = Vec::new();
    let mut pending = String::new();
    let deadline = Instant::now() + limit;
    while !enough(&seen) && Instant::now() < deadline {
        let chunk = tokio::time::timeout_at(deadline.into(), response.chunk()).await;
        let Ok(Ok(Some(bytes))) = chunk else {
            break;
        };
        pending.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
            };
            if let Some(name) = field("event") {
                seen.push(Sse {
                    name,
                    id: field("id"),
                    data: field("data").unwrap_or_default(),
                });
            }
        }
    }
    seen
}

/// The messages of the `line` events, and `gap`/`end` by name.
fn said(events: &[Sse]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.name.as_str() {
            "line" => {
                let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(
                    Some(data["n"].to_string()),
                    e.id,
                    "the id is the line's index"
                );
                data["message"].as_str().unwrap().to_string()
            }
            other => other.to_string(),
        })
        .collect()
}

fn log_line(text: &str) -> bosun_bus::LogLine {
    bosun_bus::LogLine {
        at_ms: 1,
        level: bosun_bus::LogLevel::Info,
        source: "tool".into(),
        message: text.into(),
    }
}

async fn publish_chunk(
    bus: &bosun_bus::MemoryBus,
    run_id: &str,
    seq: u64,
    first: u64,
    texts: &[&str],
) {
    let chunk = bosun_bus::logs::LogChunkMessage {
        version: MESSAGE_VERSION,
        agent_id: "stand-in".into(),
        run_id: run_id.into(),
        stage: "lint".into(),
        attempt: 1,
        seq,
        first_line: first,
        lines: texts.iter().map(|t| log_line(t)).collect(),
    };
    bus.publish(topics::AGENT_LOGS, run_id, messages::encode(&chunk))
        .await
        .unwrap();
}

async fn open_logs(
    server: &Server,
    run_id: &str,
    query: &str,
    last: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!(
        "{}/api/runs/{run_id}/stages/lint/attempts/1/logs/live{query}",
        server.base
    ));
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_logs_stream_live_resume_from_any_line_and_end_with_the_result_log() {
    let (_dir, path) = temp();
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", PIPELINE)]);
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    // The test is lint's agent: it holds the task while it streams the attempt's lines.
    let mut tasks = server
        .bus
        .subscribe("bosun-agent-lint", &[topics::stage_topic("lint")])
        .await
        .unwrap();
    let run_id = trigger(&server, &url, &sha, "main").await;
    let delivery = tokio::time::timeout(Duration::from_secs(30), tasks.next())
        .await
        .unwrap()
        .unwrap();
    publish_chunk(&server.bus, &run_id, 0, 0, &["one", "two", "three"]).await;
    let mut live = open_logs(&server, &run_id, "", None).await;
    let first = read_sse(&mut live, Duration::from_secs(30), |e| e.len() >= 3).await;
    assert_eq!(said(&first), ["one", "two", "three"]);
    assert_eq!(
        status_of(&server, &run_id),
        "running",
        "the attempt has not ended"
    );
    let (_, page) = page(
        &server,
        &format!("/runs/{run_id}/stages/lint/attempts/1/logs"),
    )
    .await;
    assert_contains(&page, "data-follow=\"/runs/");

    // More lines, then a gap the agent could not stream: said as a gap.
    publish_chunk(&server.bus, &run_id, 1, 3, &["four", "five"]).await;
    publish_chunk(&server.bus, &run_id, 2, 6, &["seven"]).await;
    let next = read_sse(&mut live, Duration::from_secs(30), |e| e.len() >= 4).await;
    assert_eq!(said(&next), ["four", "five", "gap", "seven"]);
    // Resuming gives exactly the rest, after the last id seen or from a line.
    let mut resumed = open_logs(&server, &run_id, "", Some("3")).await;
    let rest = read_sse(&mut resumed, Duration::from_secs(30), |e| e.len() >= 3).await;
    assert_eq!(said(&rest), ["five", "gap", "seven"]);
    let mut from = open_logs(&server, &run_id, "?from=2", None).await;
    let rest = read_sse(&mut from, Duration::from_secs(30), |e| e.len() >= 5).await;
    assert_eq!(said(&rest), ["three", "four", "five", "gap", "seven"]);

    // The result's log is the authority: the stream ends with its remaining lines.
    let final_log: Vec<_> = [
        "one", "two", "three", "four", "five", "six", "seven", "eight",
    ]
    .iter()
    .map(|t| log_line(t))
    .collect();
    let reply = AgentReply::Stage(bosun_bus::messages::ResultMessage {
        version: MESSAGE_VERSION,
        agent_id: "stand-in".into(),
        result: bosun_bus::StageResult {
            task_id: format!("{run_id}/lint/1"),
            plugin: None,
            report: Some(report(Outcome::Failure, "lint failed")),
            failure: None,
            logs: final_log,
            logs_dropped_bytes: 0,
            duration_ms: 1,
        },
    });
    server
        .bus
        .publish(topics::AGENT_RESULTS, &run_id, messages::encode(&reply))
        .await
        .unwrap();
    tasks.ack(&delivery).await.unwrap();
    let end = read_sse(&mut live, Duration::from_secs(30), |e| {
        e.last().is_some_and(|e| e.name == "end")
    })
    .await;
    assert_eq!(said(&end), ["eight", "end"]);
    let mut after = open_logs(&server, &run_id, "?from=5", None).await;
    let rest = read_sse(&mut after, Duration::from_secs(30), |e| {
        e.last().is_some_and(|e| e.name == "end")
    })
    .await;
    assert_eq!(said(&rest), ["six", "seven", "eight", "end"]);
    // Chunks of a settled attempt are not stored: the result's log stands.
    publish_chunk(&server.bus, &run_id, 3, 8, &["late"]).await;
    let none = reqwest::get(format!(
        "{}/api/runs/nope/stages/lint/attempts/1/logs/live",
        server.base
    ))
    .await
    .unwrap();
    assert_eq!(none.status().as_u16(), 404);
}
