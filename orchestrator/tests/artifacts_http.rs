//! Artifacts against a real server with its SQLite store: a build step's task carries
//! a token that uploads its own files and nothing else (another run, stage or attempt,
//! a path that climbs out, a wrong digest, a file past the run's cap are refused, and
//! the token dies with its attempt); the step that needs it reads them with its own
//! token; people list and download them with the same auth as the logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use bosun_bus::artifacts::DIGEST_HEADER;
use bosun_bus::messages::{self, AgentReply, MESSAGE_VERSION, ResultMessage, TaskMessage};
use bosun_bus::{Bus, Outcome, StageResult, Subscription, topics};
use bosun_orchestrator::settings::{Secret, TenantSettings};
use harness::*;
use sha2::{Digest, Sha256};
use std::time::Duration;

const OPERATOR: &str = "operator-token";
const ACME: &str = "acme-token";
const BRAVO: &str = "bravo-token";

const PIPELINE: &str = "pipeline:
  stages:
    - name: build
      image: bosun/python:3.11
      commands: [make]
      artifacts: [dist]
    - name: test
      needs: [build]
      image: bosun/python:3.11
      commands: [make test]
";

fn value(v: &str) -> Secret {
    Secret {
        value: Some(v.into()),
        env: None,
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn next_task(subscription: &mut Box<dyn Subscription>) -> TaskMessage {
    let delivery = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("a task within 10 s")
        .unwrap();
    subscription.ack(&delivery).await.unwrap();
    messages::decode(&delivery.record.payload).unwrap()
}

async fn pass(server: &Server, task: &TaskMessage) {
    let reply = AgentReply::Stage(ResultMessage {
        version: MESSAGE_VERSION,
        agent_id: "stand-in".into(),
        result: StageResult {
            task_id: task.task.id(),
            plugin: None,
            report: Some(report(Outcome::Success, "ok")),
            failure: None,
            logs: vec![],
            logs_dropped_bytes: 0,
            duration_ms: 1,
        },
    });
    server
        .bus
        .publish(
            topics::AGENT_RESULTS,
            &task.task.run_id,
            messages::encode(&reply),
        )
        .await
        .unwrap();
}

/// `PUT` one file as an agent would: `(status, error text)`.
async fn put(
    server: &Server,
    at: &str,
    token: Option<&str>,
    body: &[u8],
    digest: Option<&str>,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .put(format!("{}/api/agent/artifacts/{at}", server.base))
        .body(body.to_vec());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(digest) = digest {
        request = request.header(DIGEST_HEADER, digest);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap_or_default();
    (
        status,
        json["error"].as_str().unwrap_or_default().to_string(),
    )
}

async fn get(server: &Server, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn artifacts_are_uploaded_with_the_attempts_token_read_by_the_stage_that_needs_them_and_served_with_the_logs_auth()
 {
    let (_dir, path) = temp();
    let mut settings = settings(
        &path,
        vec![
            TenantSettings {
                api_token: value(ACME),
                ..tenant("acme")
            },
            TenantSettings {
                api_token: value(BRAVO),
                ..tenant("bravo")
            },
        ],
    );
    settings.api_token = value(OPERATOR);
    settings.artifacts.max_run_mib = 1;
    let server = Server::start(settings, bosun_bus::MemoryBus::new()).await;
    let mut agent = server
        .bus
        .subscribe("bosun-agent-commands", &[topics::stage_topic("commands")])
        .await
        .unwrap();
    let (url, sha_commit) = git_repo(&path.join("shop"), &[(".bosun.yml", PIPELINE)]);
    let body = push_payload("acme", &url, &sha_commit, "main");
    let (status, json) = server
        .deliver("d-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    let run = json["run_id"].as_str().unwrap().to_string();

    // The build task keeps `dist` and carries its token; it reads nothing.
    let build = next_task(&mut agent).await;
    assert_eq!(build.task.stage, "build");
    let plan = build
        .artifacts
        .clone()
        .expect("the build task has artifacts");
    assert_eq!(plan.keep, ["dist"]);
    assert!(plan.inputs.is_empty());
    assert_eq!(plan.max_run_bytes, 1 << 20);
    let token = plan.token.as_str();
    assert!(
        !build.task.config.iter().any(|(_, v)| v.contains(token)),
        "the token never reaches the plugin's settings"
    );
    let own = format!("{run}/build/1");
    let app = b"hello from build\n";
    let app_sha = sha(app);

    // Who may upload, and what.
    let file = format!("{own}/dist/app.txt");
    assert_eq!(put(&server, &file, None, app, Some(&app_sha)).await.0, 401);
    assert_eq!(
        put(&server, &file, Some("00.00"), app, Some(&app_sha))
            .await
            .0,
        401
    );
    for elsewhere in [
        format!("{run}/test/1/dist/app.txt"),
        format!("{run}/build/2/dist/app.txt"),
        "other-run/build/1/dist/app.txt".to_string(),
    ] {
        let (code, why) = put(&server, &elsewhere, Some(token), app, Some(&app_sha)).await;
        assert_eq!(code, 403, "{elsewhere}: {why}");
        assert!(why.contains("does not reach"), "{why}");
    }
    for climbing in [
        "dist/..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "a%5C..%5Cb",
    ] {
        let (code, why) = put(
            &server,
            &format!("{own}/{climbing}"),
            Some(token),
            app,
            Some(&app_sha),
        )
        .await;
        assert_eq!(code, 400, "{climbing}: {why}");
        assert!(why.starts_with("artifact path"), "{climbing}: {why}");
    }
    let (code, why) = put(&server, &file, Some(token), app, Some(&sha(b"other"))).await;
    assert_eq!(code, 400);
    assert!(why.contains("sha256"), "{why}");
    assert_eq!(put(&server, &file, Some(token), app, None).await.0, 400);
    assert_eq!(
        put(&server, &file, Some(token), app, Some(&app_sha))
            .await
            .0,
        201
    );
    // The same path again replaces it (a redelivered attempt), and is counted once.
    assert_eq!(
        put(&server, &file, Some(token), app, Some(&app_sha))
            .await
            .0,
        201
    );
    let almost_all = vec![7u8; (1 << 20) - app.len() - 10];
    assert_eq!(
        put(
            &server,
            &format!("{own}/dist/big.bin"),
            Some(token),
            &almost_all,
            Some(&sha(&almost_all))
        )
        .await
        .0,
        201
    );
    let (code, why) = put(
        &server,
        &format!("{own}/dist/more.txt"),
        Some(token),
        b"past the cap",
        Some(&sha(b"past the cap")),
    )
    .await;
    assert_eq!(code, 413, "{why}");
    assert!(why.contains("cap of 1 MiB"), "{why}");

    pass(&server, &build).await;
    let test = next_task(&mut agent).await;
    assert_eq!(test.task.stage, "test");
    let reads = test
        .artifacts
        .clone()
        .expect("the test task reads build's files");
    assert!(reads.keep.is_empty());
    assert_eq!(
        (reads.inputs[0].stage.as_str(), reads.inputs[0].attempt),
        ("build", 1)
    );
    // The build's token died with its attempt.
    let (code, why) = put(&server, &file, Some(token), app, Some(&app_sha)).await;
    assert_eq!(code, 403);
    assert!(why.contains("not in flight"), "{why}");

    // The test step reads build's files with its own token, and nothing else.
    let listing = get(
        &server,
        &format!("/api/agent/artifacts/{own}"),
        Some(&reads.token),
    )
    .await;
    assert_eq!(listing.status().as_u16(), 200);
    let listing: serde_json::Value = listing.json().await.unwrap();
    let files = listing["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{listing}");
    assert_eq!(files[0]["path"], "dist/app.txt");
    assert_eq!(files[0]["digest"], format!("sha256:{app_sha}"));
    let download = get(
        &server,
        &format!("/api/agent/artifacts/{own}/dist/app.txt"),
        Some(&reads.token),
    )
    .await;
    assert_eq!(download.status().as_u16(), 200);
    assert_eq!(download.headers()[DIGEST_HEADER], app_sha.as_str());
    assert_eq!(download.bytes().await.unwrap().as_ref(), app);
    for (refused, token) in [
        (
            format!("/api/agent/artifacts/{run}/build/2"),
            reads.token.as_str(),
        ),
        (
            format!("/api/agent/artifacts/{run}/test/1"),
            reads.token.as_str(),
        ),
        (format!("/api/agent/artifacts/{own}"), token),
    ] {
        assert_eq!(
            get(&server, &refused, Some(token)).await.status().as_u16(),
            403,
            "{refused}"
        );
    }

    // People: the same auth as the logs.
    let listed = format!("/api/runs/{run}/artifacts");
    assert_eq!(get(&server, &listed, None).await.status().as_u16(), 401);
    assert_eq!(
        get(&server, &listed, Some(BRAVO)).await.status().as_u16(),
        404
    );
    let rows: serde_json::Value = get(&server, &listed, Some(ACME))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rows["artifacts"].as_array().unwrap().len(), 2, "{rows}");
    let one = format!("/api/runs/{run}/artifacts/build/dist/app.txt");
    assert_eq!(get(&server, &one, Some(BRAVO)).await.status().as_u16(), 404);
    let file = get(&server, &one, Some(ACME)).await;
    assert_eq!(file.status().as_u16(), 200);
    assert_eq!(file.headers()["content-type"], "application/octet-stream");
    assert_eq!(file.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        file.headers()["content-disposition"],
        "attachment; filename=\"app.txt\""
    );
    assert_eq!(file.bytes().await.unwrap().as_ref(), app);
    assert_eq!(
        get(&server, &format!("{one}?attempt=2"), Some(ACME))
            .await
            .status()
            .as_u16(),
        404
    );

    // The dashboard: behind its login, listed on the run page.
    let page = format!("/runs/{run}/artifacts/build/dist/app.txt");
    assert_eq!(get(&server, &page, None).await.status().as_u16(), 303);
    let file = get(&server, &page, Some(OPERATOR)).await;
    assert_eq!(file.status().as_u16(), 200);
    assert_eq!(file.bytes().await.unwrap().as_ref(), app);
    let run_page = get(&server, &format!("/runs/{run}"), Some(OPERATOR)).await;
    let html = run_page.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "href=\"/runs/{run}/artifacts/build/dist/app.txt?attempt=1\""
        )),
        "{html}"
    );

    // One copy per content, under the orchestrator's folder, named by digest.
    let stored = path
        .join("work/artifacts/sha256")
        .join(&app_sha[..2])
        .join(&app_sha);
    assert_eq!(std::fs::read(stored).unwrap(), app);
    pass(&server, &test).await;
    wait_for(&server, &run, "success").await;
}
