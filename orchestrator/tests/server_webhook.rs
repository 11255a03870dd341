//! The webhook end to end: signatures, deduplication (in a row, concurrently, after a
//! restart), body limits, broken configs, and a restart between two stages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use bosun_bus::Outcome;
use bosun_test_support::assert_contains;
use harness::*;
use std::io::{Read, Write};
use std::time::Duration;

const PIPELINE: &str = "pipeline:\n  stages: [lint, test]\n";

fn run_count(server: &Server) -> usize {
    server.store().list_runs(&Default::default()).unwrap().len()
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_nothing_runs() {
    let (_dir, path) = temp();
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", PIPELINE)]);
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    let seen = stand_in_agent(&server.bus, &["lint", "test"], |_| {
        report(Outcome::Success, "ok")
    });
    let body = push_payload("acme", &url, &sha, "main");
    let good = sign(SECRET, &body);
    let reserialised =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&body).unwrap())
            .unwrap();
    let cases: Vec<(&str, Option<String>, Vec<u8>)> = vec![
        ("missing header", None, body.clone()),
        (
            "sha1 prefix",
            Some(good.replacen("sha256=", "sha1=", 1)),
            body.clone(),
        ),
        (
            "wrong secret",
            Some(sign("not the secret", &body)),
            body.clone(),
        ),
        ("re-serialised body", Some(good.clone()), reserialised),
        (
            "truncated hex",
            Some(good[..good.len() - 2].to_string()),
            body.clone(),
        ),
    ];
    for (name, signature, payload) in cases {
        let (status, json) = server
            .deliver(
                &format!("bad-{name}"),
                "push",
                &payload,
                signature.as_deref(),
            )
            .await;
        assert_eq!(status, 401, "{name}: {json}");
        assert!(json["error"].is_string(), "{name}: {json}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(run_count(&server), 0);
    assert!(seen.lock().unwrap().is_empty(), "no task may be published");
    let metrics = server.metrics().await;
    assert_contains(
        &metrics,
        "bosun_webhook_deliveries_total{result=\"unauthorized\"} 5",
    );
}

#[tokio::test]
async fn one_delivery_makes_one_run_in_a_row_concurrently_and_after_a_restart() {
    let (_dir, path) = temp();
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", PIPELINE)]);
    let bus = bosun_bus::MemoryBus::new();
    let server = Server::start(settings(&path, vec![tenant("acme")]), bus.clone()).await;
    let seen = stand_in_agent(&bus, &["lint", "test"], |_| report(Outcome::Success, "ok"));
    let body = push_payload("acme", &url, &sha, "main");
    let signature = sign(SECRET, &body);
    let (first, json) = server.deliver("d-1", "push", &body, Some(&signature)).await;
    assert_eq!(first, 202, "{json}");
    let run_id = json["run_id"].as_str().unwrap().to_string();
    // A delivery id only Bosun's own scheduled runs use is never a webhook's.
    let (forged, json) = server
        .deliver("schedule:acme:1", "push", &body, Some(&signature))
        .await;
    assert_eq!(forged, 400, "{json}");
    let (again, json) = server.deliver("d-1", "push", &body, Some(&signature)).await;
    assert_eq!(again, 200);
    assert_eq!(json["duplicate"], true);
    assert_eq!(json["run_id"], run_id.as_str());
    // Ten at once, under a fresh delivery id: exactly one is accepted.
    let mut handles = Vec::new();
    for _ in 0..10 {
        let base = server.base.clone();
        let body = body.clone();
        let signature = signature.clone();
        handles.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/webhook/github"))
                .header("X-GitHub-Event", "push")
                .header("X-GitHub-Delivery", "d-2")
                .header("X-Hub-Signature-256", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        9,
        "{statuses:?}"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            server
                .store()
                .list_runs(&Default::default())
                .unwrap()
                .iter()
                .all(|r| r.status != "running" && r.status != "queued")
        })
        .await
    );
    server.kill().await;
    let server = Server::start(settings(&path, vec![tenant("acme")]), bus.clone()).await;
    let (after, json) = server.deliver("d-1", "push", &body, Some(&signature)).await;
    assert_eq!(after, 200, "{json}");
    assert_eq!(json["run_id"], run_id.as_str());
    assert_eq!(run_count(&server), 2);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("bosun_webhook_deliveries_total{result=\"duplicate\"} 1"),
        "only this server's redelivery counts: {metrics}"
    );
    // d-1 and d-2 each ran lint and test once (the second run superseded nothing: the first had finished).
    let tasks = seen.lock().unwrap().clone();
    assert_eq!(tasks.len(), 4, "{tasks:?}");
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let (_dir, path) = temp();
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    let address = server.base.trim_start_matches("http://").to_string();
    // Announce 26 MB and send only the first bytes: the answer must come without the rest.
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST /webhook/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: big\r\nX-Hub-Signature-256: sha256={}\r\nContent-Length: {}\r\n\r\n",
            "0".repeat(64),
            26 * 1024 * 1024
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&[b'{'; 4096]).unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(run_count(&server), 0);
    let metrics = server.metrics().await;
    assert_contains(
        &metrics,
        "bosun_webhook_deliveries_total{result=\"too-large\"} 1",
    );
}

/// Open a delivery that announces `length` bytes and sends only the first few.
fn slow_delivery(address: &str, name: &str, length: usize) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /webhook/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: {name}\r\nX-Hub-Signature-256: sha256={}\r\nContent-Length: {length}\r\n\r\n",
        "0".repeat(64)
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"{\"ref\": ").unwrap();
    stream
}

fn answer_of(stream: &mut std::net::TcpStream) -> String {
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[tokio::test]
async fn slow_bodies_are_bounded_in_number_and_in_time() {
    let (_dir, path) = temp();
    let mut s = settings(&path, vec![tenant("acme")]);
    s.webhook_body_budget_mib = 2;
    s.read_timeout_secs = 1;
    let server = Server::start(s, bosun_bus::MemoryBus::new()).await;
    let address = server.base.trim_start_matches("http://").to_string();
    let answers = tokio::task::spawn_blocking(move || {
        // Two unsigned deliveries announcing 1 MiB each trickle in and hold the budget.
        let mut first = slow_delivery(&address, "slow-1", 1 << 20);
        let mut second = slow_delivery(&address, "slow-2", 1 << 20);
        std::thread::sleep(Duration::from_millis(300));
        // A third is turned away at once rather than buffered.
        let mut third = slow_delivery(&address, "slow-3", 1 << 20);
        let busy = answer_of(&mut third);
        // The first two are cut off when their bodies do not arrive in time.
        (busy, answer_of(&mut first), answer_of(&mut second))
    })
    .await
    .unwrap();
    assert!(answers.0.starts_with("HTTP/1.1 503"), "{}", answers.0);
    assert!(
        answers.0.to_ascii_lowercase().contains("retry-after: 5"),
        "{}",
        answers.0
    );
    assert!(answers.1.starts_with("HTTP/1.1 408"), "{}", answers.1);
    assert!(answers.2.starts_with("HTTP/1.1 408"), "{}", answers.2);
    // The budget is free again: a whole delivery is read and its signature checked.
    let (status, _) = server
        .deliver("after", "push", b"{}", Some(&sign("wrong", b"{}")))
        .await;
    assert_eq!(status, 401);
    assert_eq!(run_count(&server), 0);
    let metrics = server.metrics().await;
    assert_contains(
        &metrics,
        "bosun_webhook_deliveries_total{result=\"timeout\"} 2",
    );
}

/// The most memory this process has held at once (`VmHWM`), in MiB.
fn peak_memory_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_bodies_cannot_make_the_server_hold_more_than_its_budget() {
    let (_dir, path) = temp();
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    // Sixteen 24 MB bodies at once, signed with nothing the server knows: before the
    // budget, each was buffered whole, about 400 MB held at once.
    let body = axum::body::Bytes::from(vec![b' '; 24 << 20]);
    let before = peak_memory_mib();
    let client = reqwest::Client::new();
    let sends = (0..16).map(|i| {
        let request = client
            .post(format!("{}/webhook/github", server.base))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", format!("flood-{i}"))
            .header("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))
            .body(body.clone());
        async move { request.send().await.map(|r| r.status().as_u16()) }
    });
    let statuses: Vec<u16> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap_or(0))
        .collect();
    let grown = peak_memory_mib().saturating_sub(before);
    // Read and refused (401), or turned away unread: 503, or the connection closed
    // while the client was still sending (0).
    assert!(
        statuses.contains(&401),
        "some bodies are read and refused: {statuses:?}"
    );
    assert!(
        statuses.iter().any(|s| *s != 401),
        "the rest are turned away: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 503 | 0)),
        "{statuses:?}"
    );
    assert!(grown < 200, "the peak grew by {grown} MiB");
    assert_eq!(run_count(&server), 0);
}

#[tokio::test]
async fn a_delivery_without_a_well_formed_signature_is_refused_before_its_body_is_read() {
    let (_dir, path) = temp();
    let mut s = settings(&path, vec![tenant("acme")]);
    s.webhook_body_budget_mib = 1;
    let server = Server::start(s, bosun_bus::MemoryBus::new()).await;
    let address = server.base.trim_start_matches("http://").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        // Announces 20 MB, more than the whole budget, and sends no signature.
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = "POST /webhook/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: unsigned\r\nContent-Length: 20000000\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        answer_of(&mut stream)
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_contains(&answer, "missing X-Hub-Signature-256");
}

#[tokio::test]
async fn slow_headers_are_cut_off_at_the_read_timeout() {
    let (_dir, path) = temp();
    let mut s = settings(&path, vec![tenant("acme")]);
    s.read_timeout_secs = 1;
    let server = Server::start(s, bosun_bus::MemoryBus::new()).await;
    let address = server.base.trim_start_matches("http://").to_string();
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // Headers that never end.
        stream
            .write_all(b"POST /webhook/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n")
            .unwrap();
        let mut buf = [0u8; 64];
        // Closed by the server (end of stream or reset), not left waiting.
        match stream.read(&mut buf) {
            Ok(n) => n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    })
    .await
    .unwrap();
    assert!(
        closed,
        "the server keeps a connection whose headers never end"
    );
}

#[tokio::test]
async fn malformed_json_with_a_good_signature_is_a_400() {
    let (_dir, path) = temp();
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    let body = b"{\"ref\": ".to_vec();
    let (status, json) = server
        .deliver("m-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 400, "{json}");
    assert!(json["error"].as_str().unwrap().contains("push"), "{json}");
}

#[tokio::test]
async fn a_broken_config_is_recorded_and_reported_as_a_commit_status() {
    let (_dir, path) = temp();
    let github = bosun_test_support::Receiver::ok().await;
    let (url, sha) = git_repo(
        &path.join("repo"),
        &[(".bosun.yml", "pipeline:\n  stages: [lint]\n  retires: 3\n")],
    );
    let mut acme = tenant("acme");
    acme.github_token = bosun_orchestrator::settings::Secret {
        value: Some("ghs_test".into()),
        env: None,
    };
    let mut s = settings(&path, vec![acme]);
    s.github_api = github.base.clone();
    let server = Server::start(s, bosun_bus::MemoryBus::new()).await;
    let body = push_payload("acme", &url, &sha, "main");
    let (status, json) = server
        .deliver("c-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202);
    let run_id = json["run_id"].as_str().unwrap().to_string();
    assert!(eventually(Duration::from_secs(10), || !github.requests().is_empty()).await);
    let run = server.store().run(&run_id).unwrap().unwrap();
    assert_eq!(run.status.as_str(), "config-error");
    let error = run.error.unwrap();
    assert!(
        error.contains(".bosun.yml") && error.contains("retires"),
        "{error}"
    );
    let posted = &github.requests()[0];
    assert_eq!(posted.path, format!("/repos/acme/shop/statuses/{sha}"));
    let status: serde_json::Value = serde_json::from_slice(&posted.body).unwrap();
    assert_eq!(status["state"], "error");
    assert_eq!(status["context"], "bosun");
    assert!(
        status["description"].as_str().unwrap().contains("retires"),
        "{status}"
    );
    // The API shows it too.
    let (code, detail) = server.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(code, 200);
    assert_eq!(detail["run"]["status"], "config-error");
}

#[tokio::test]
async fn a_symlinked_config_is_a_config_error_that_says_so() {
    let (_dir, path) = temp();
    let repo = path.join("repo");
    git_repo(&repo, &[("ci/pipeline.yml", PIPELINE)]);
    std::os::unix::fs::symlink("ci/pipeline.yml", repo.join(".bosun.yml")).unwrap();
    git(&repo, &["add", "--all"]);
    git(&repo, &["commit", "--quiet", "-m", "link"]);
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    let url = format!("file://{}", repo.display());
    let body = push_payload("acme", &url, &sha, "main");
    let (status, json) = server
        .deliver("link-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    let run_id = json["run_id"].as_str().unwrap().to_string();
    wait_for(&server, &run_id, "config-error").await;
    let store = server.store();
    let error = store.run(&run_id).unwrap().unwrap().error.unwrap();
    assert!(
        error.contains(".bosun.yml") && error.contains("symlink"),
        "{error}"
    );
}

#[tokio::test]
async fn an_oversized_config_is_refused_unread() {
    let (_dir, path) = temp();
    let huge = format!("{PIPELINE}{}", "# padding\n".repeat(40_000));
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", &huge)]);
    let server = Server::start(
        settings(&path, vec![tenant("acme")]),
        bosun_bus::MemoryBus::new(),
    )
    .await;
    let body = push_payload("acme", &url, &sha, "main");
    let (_, json) = server
        .deliver("huge-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    let run_id = json["run_id"].as_str().unwrap().to_string();
    wait_for(&server, &run_id, "config-error").await;
    let store = server.store();
    let run = store.run(&run_id).unwrap().unwrap();
    assert!(run.error.unwrap().contains("at most 256 KiB"));
    assert!(run.config_source.is_none(), "nothing of it is kept");
}

#[tokio::test]
async fn a_restart_between_two_stages_completes_the_run_with_each_stage_settled_once() {
    let (_dir, path) = temp();
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", PIPELINE)]);
    let bus = bosun_bus::MemoryBus::new();
    let server = Server::start(settings(&path, vec![tenant("acme")]), bus.clone()).await;
    // Only lint answers before the restart.
    let seen_lint = stand_in_agent(&bus, &["lint"], |_| report(Outcome::Success, "clean"));
    let body = push_payload("acme", &url, &sha, "main");
    let (_, json) = server
        .deliver("r-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    let run_id = json["run_id"].as_str().unwrap().to_string();
    let store = server.store();
    assert!(
        eventually(Duration::from_secs(10), || {
            store
                .attempts(&run_id)
                .unwrap()
                .iter()
                .any(|a| a.stage == "test")
        })
        .await,
        "test was never dispatched"
    );
    server.kill().await;
    // Test's agent comes up while the orchestrator is down, then the orchestrator restarts.
    let seen_test = stand_in_agent(&bus, &["test"], |_| report(Outcome::Success, "10 passed"));
    let server = Server::start(settings(&path, vec![tenant("acme")]), bus.clone()).await;
    let store = server.store();
    assert!(
        eventually(Duration::from_secs(10), || {
            store.run(&run_id).unwrap().unwrap().status.as_str() == "success"
        })
        .await
    );
    let attempts = store.attempts(&run_id).unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts.iter().all(|a| a.settled_ms.is_some()));
    assert_eq!(seen_lint.lock().unwrap().len(), 1);
    // The test task may have been delivered twice (before and after the restart); the
    // attempt was settled once.
    assert!(!seen_test.lock().unwrap().is_empty());
    let events = store.events(&run_id).unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == "stage.passed").count(),
        2
    );
    // The restarted orchestrator counted what it settled.
    let metrics = server.metrics().await;
    assert_contains(&metrics, "bosun_runs_total{status=\"success\"} 1");
    assert_contains(&metrics, "bosun_stage_seconds_count{stage=\"test\"} 1");
    assert_contains(&metrics, "bosun_active_runs 0");
}
