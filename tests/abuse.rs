//! The trust boundaries against a real `bosun orchestrator` process with two tenants,
//! as an attacker would probe them over HTTP: a tenant speaking for another's
//! repository, clone URLs naming the server's own disk, unsigned and unauthenticated
//! requests, and a flood of large unsigned bodies. Each is refused with the right
//! status, nothing runs, and the process's peak memory stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_test_support::sign;
use common::process::Process;

const ACME_SECRET: &str = "acme's webhook secret";
const BRAVO_SECRET: &str = "bravo's webhook secret";
const OPERATOR_TOKEN: &str = "operator-token";

/// A push of `owner/shop` (its `full_name` overridable) cloned from `clone_url`.
fn push(owner: &str, full_name: &str, clone_url: &str) -> Vec<u8> {
    let text =
        include_str!("../orchestrator/tests/fixtures/github/push-with-new-branch.payload.json");
    let mut payload: serde_json::Value = serde_json::from_str(text).unwrap();
    payload["ref"] = "refs/heads/main".into();
    payload["after"] = "a".repeat(40).into();
    payload["repository"]["full_name"] = full_name.into();
    payload["repository"]["name"] = "shop".into();
    payload["repository"]["owner"]["login"] = owner.into();
    payload["repository"]["clone_url"] = clone_url.into();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_a_real_orchestrator_refuses_each_probe_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("bosun-server.yaml");
    std::fs::write(
        &settings,
        format!(
            "listen: 127.0.0.1:0
store: {store}
work_dir: {work}
api_token: {{ value: {OPERATOR_TOKEN} }}
tenants:
  - owner: acme
    webhook_secret: {{ value: \"{ACME_SECRET}\" }}
  - owner: bravo
    webhook_secret: {{ value: \"{BRAVO_SECRET}\" }}
",
            store = dir.path().join("runs.db").display(),
            work = dir.path().join("orchestrator").display(),
        ),
    )
    .unwrap();
    let orchestrator = Process::start(&["orchestrator", "--config", settings.to_str().unwrap()]);
    let base = orchestrator.printed_url("bosun orchestrator on").await;
    let client = reqwest::Client::new();
    let deliver = |id: &str, body: Vec<u8>, signature: Option<String>| {
        let mut request = client
            .post(format!("{base}/webhook/github"))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", id)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };

    let acme_url = "https://github.com/acme/shop.git";
    let cases: Vec<(&str, Vec<u8>, Option<String>, u16)> = vec![
        // Signed by bravo, speaking for acme's repository.
        {
            let body = push("bravo", "acme/shop", acme_url);
            let signature = sign(BRAVO_SECRET, &body);
            ("other-full-name", body, Some(signature), 400)
        },
        {
            let body = push("acme", "acme/shop", acme_url);
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
            let body = push("bravo", "bravo/shop", "http://127.0.0.1:1/bravo/shop.git");
            let signature = sign(BRAVO_SECRET, &body);
            ("plain-http", body, Some(signature), 403)
        },
        // No signature, and a well-formed one made with no tenant's secret.
        ("unsigned", push("acme", "acme/shop", acme_url), None, 401),
        {
            let body = push("acme", "acme/shop", acme_url);
            let signature = sign("a guess", &body);
            ("guessed", body, Some(signature), 401)
        },
    ];
    for (id, body, signature, expected) in cases {
        assert_eq!(deliver(id, body, signature).await, expected, "{id}");
    }
    // Reads and writes of the API need a token.
    let runs = client.get(format!("{base}/api/runs")).send().await.unwrap();
    assert_eq!(runs.status().as_u16(), 401);

    // Sixteen 24 MB bodies at once, well-formed signatures made with nothing known.
    let before = peak_mib(orchestrator.id());
    let body = axum::body::Bytes::from(vec![b' '; 24 << 20]);
    let fake = format!("sha256={}", "0".repeat(64));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..16 {
        let request = client
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

    // Nothing ran.
    let listed: serde_json::Value = client
        .get(format!("{base}/api/runs"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["runs"].as_array().unwrap().len(), 0, "{listed}");
}
