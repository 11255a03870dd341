//! Re-running what failed through the real server (HTTP, SQLite, the in-memory bus):
//! a run whose test stage failed is re-run with `POST /api/runs/{id}/rerun`, reusing
//! lint and build and running test with the digest its first attempt reported; a
//! re-run whose pinned plugin no agent announces any more is refused with 409; the
//! dashboard's form does the same with the login cookie; GitHub's Re-run buttons (a check
//! run's, a check suite's) re-run through the same path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use bosun_bus::inventory::{InventoryMessage, InventoryPlugin};
use bosun_bus::messages::{self, AgentReply, MESSAGE_VERSION, ResultMessage, TaskMessage};
use bosun_bus::{Bus, MemoryBus, Outcome, PluginId, StageResult, topics};
use bosun_orchestrator::settings::{Secret, TenantSettings};
use bosun_test_support::assert_contains;
use harness::*;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

const OPERATOR_TOKEN: &str = "operator-token";
const ACME_TOKEN: &str = "acme-token";
const BRAVO_TOKEN: &str = "bravo-token";
const PIPELINE: &str = "pipeline:
  stages:
    - name: lint
    - name: build
      needs: [lint]
    - name: test
      needs: [build]
";

fn value(v: &str) -> Secret {
    Secret {
        value: Some(v.into()),
        env: None,
    }
}

async fn start(path: &Path) -> Server {
    let acme = TenantSettings {
        api_token: value(ACME_TOKEN),
        ..tenant("acme")
    };
    let bravo = TenantSettings {
        api_token: value(BRAVO_TOKEN),
        ..tenant("bravo")
    };
    let mut s = settings(path, vec![acme, bravo]);
    s.api_token = value(OPERATOR_TOKEN);
    Server::start(s, MemoryBus::new()).await
}

fn digest(stage: &str, build: u32) -> String {
    format!("sha256:{stage}-build-{build}")
}

/// Announce, as agent `agent-1` does every 30 s, the lint and build plugins (build 1)
/// and the test plugin at build `test_build`.
async fn announce(bus: &MemoryBus, test_build: u32) {
    let plugin = |name: &str, build: u32| InventoryPlugin {
        name: name.into(),
        version: "1.0.0".into(),
        kind: "stage".into(),
        digest: digest(name, build),
        source: "builtin".into(),
    };
    let inventory = AgentReply::Inventory(InventoryMessage {
        version: MESSAGE_VERSION,
        agent_id: "agent-1".into(),
        stages: vec!["lint".into(), "build".into(), "test".into()],
        plugins: vec![
            plugin("lint", 1),
            plugin("build", 1),
            plugin("test", test_build),
        ],
        sent_unix_ms: 0,
    });
    bus.publish(
        topics::AGENT_RESULTS,
        "agent-1",
        messages::encode(&inventory),
    )
    .await
    .unwrap();
}

/// A stand-in agent for lint, build and test reporting each stage's plugin (build
/// 1): the test stage fails the first time it runs and passes after. Every task it
/// got is kept.
fn agent(bus: &MemoryBus) -> Arc<Mutex<Vec<TaskMessage>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tests_run = Arc::new(AtomicU32::new(0));
    for stage in ["lint", "build", "test"] {
        let bus = bus.clone();
        let seen = Arc::clone(&seen);
        let tests_run = Arc::clone(&tests_run);
        tokio::spawn(async move {
            let topic = vec![topics::stage_topic(stage)];
            let mut subscription = bus.subscribe("bosun-agent-test", &topic).await.unwrap();
            while let Ok(delivery) = subscription.next().await {
                let task: TaskMessage = messages::decode(&delivery.record.payload).unwrap();
                seen.lock().unwrap().push(task.clone());
                let outcome = if stage == "test" && tests_run.fetch_add(1, Ordering::SeqCst) == 0 {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                let reply = AgentReply::Stage(ResultMessage {
                    version: MESSAGE_VERSION,
                    agent_id: "agent-1".into(),
                    result: StageResult {
                        task_id: task.task.id(),
                        plugin: Some(PluginId {
                            name: stage.into(),
                            version: "1.0.0".into(),
                            digest: digest(stage, 1),
                        }),
                        report: Some(stage_report(stage, outcome)),
                        failure: None,
                        logs: vec![],
                        logs_dropped_bytes: 0,
                        duration_ms: 1,
                    },
                });
                bus.publish(
                    topics::AGENT_RESULTS,
                    &task.task.run_id,
                    messages::encode(&reply),
                )
                .await
                .unwrap();
                subscription.ack(&delivery).await.unwrap();
            }
        });
    }
    seen
}

/// A stage's report; a failing test stage's carries findings on the lines of a file,
/// more than one check-run request holds.
fn stage_report(stage: &str, outcome: Outcome) -> bosun_bus::StageReport {
    let mut report = report(outcome, &format!("{stage} {outcome:?}"));
    if outcome == Outcome::Failure {
        report.findings = (1..=FINDINGS)
            .map(|line| bosun_bus::Finding {
                rule: if line == 12 { "B602" } else { "B105" }.into(),
                severity: if line == 12 {
                    bosun_bus::Severity::High
                } else {
                    bosun_bus::Severity::Low
                },
                message: format!("finding on line {line}"),
                path: Some("src/shop/app.py".into()),
                line: Some(line),
                column: None,
                tool: "bandit".into(),
                fixed_version: None,
            })
            .collect();
    }
    report
}

/// Findings in a failing test report: more than the 50 one request may carry.
const FINDINGS: u32 = 55;

async fn post(server: &Server, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn get(server: &Server, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.json().await.unwrap()
}

/// A push of acme/shop whose run fails at its test stage; its id.
async fn failed_run(server: &Server, path: &Path) -> String {
    let (url, sha) = git_repo(&path.join("acme-shop"), &[(".bosun.yml", PIPELINE)]);
    let body = push_payload("acme", &url, &sha, "main");
    let (status, json) = server
        .deliver("acme-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    let run_id = json["run_id"].as_str().unwrap().to_string();
    wait_for(server, &run_id, "failure").await;
    run_id
}

/// Wait until the agents' announcement reached the store.
async fn announced(server: &Server, test_build: u32) {
    announce(&server.bus, test_build).await;
    let expected = digest("test", test_build);
    let seen = eventually(std::time::Duration::from_secs(10), || {
        server.store().agents().unwrap().iter().any(|a| {
            a.plugins
                .iter()
                .any(|p| p.name == "test" && p.digest == expected)
        })
    })
    .await;
    assert!(seen, "the inventory with {expected} was not stored");
}

#[tokio::test]
async fn rerun_of_a_failed_test_stage_reuses_lint_and_build_and_pins_the_test_digest() {
    let (_dir, path) = temp();
    let server = start(&path).await;
    let seen = agent(&server.bus);
    let original = failed_run(&server, &path).await;
    announced(&server, 1).await;
    let rerun = format!("/api/runs/{original}/rerun");

    // Only those who may start runs through the API: no token, another tenant's.
    let (code, _) = post(&server, &rerun, None, json!({})).await;
    assert_eq!(code, 401);
    let (code, json) = post(&server, &rerun, Some(BRAVO_TOKEN), json!({})).await;
    assert_eq!(code, 404, "another tenant's run is not found: {json}");
    let (code, json) = post(&server, &rerun, Some(ACME_TOKEN), json!({"stage": "tset"})).await;
    assert_eq!(code, 400, "{json}");
    let (code, json) = post(&server, &rerun, Some(ACME_TOKEN), json!({"stage": "lint"})).await;
    assert_eq!(code, 409, "lint passed: {json}");

    let (code, json) = post(&server, &rerun, Some(ACME_TOKEN), json!({})).await;
    assert_eq!(code, 202, "{json}");
    assert_eq!(json["rerun"], json!(["test"]));
    assert_eq!(json["reused"], json!(["lint", "build"]));
    let run_id = json["run_id"].as_str().unwrap().to_string();
    wait_for(&server, &run_id, "success").await;

    // The agent ran only test for the re-run, pinned to its first attempt's digest.
    let tasks: Vec<TaskMessage> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.task.run_id == run_id)
        .cloned()
        .collect();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].task.stage, "test");
    assert_eq!(
        tasks[0].plugin_digest.as_deref(),
        Some(digest("test", 1).as_str())
    );

    // The API shows the re-run, the reused stages and their copied attempts.
    let detail = get(&server, &format!("/api/runs/{run_id}")).await;
    let run = &detail["run"];
    assert_eq!(run["rerun_of"]["run_id"], json!(original));
    assert_eq!(run["rerun_of"]["pins"][0]["stage"], "test");
    assert_eq!(
        run["rerun_of"]["pins"][0]["plugin"]["digest"],
        json!(digest("test", 1))
    );
    let first = get(&server, &format!("/api/runs/{original}")).await;
    assert_eq!(run["config_source"], first["run"]["config_source"]);
    assert_eq!(run["trigger"], first["run"]["trigger"]);
    for (index, name) in ["lint", "build"].iter().enumerate() {
        assert_eq!(run["stages"][index]["name"], *name);
        assert_eq!(run["stages"][index]["state"], "success");
        assert_eq!(run["stages"][index]["reused_from"], json!(original));
    }
    assert!(run["stages"][2].get("reused_from").is_none(), "{run}");
    let attempts = detail["attempts"].as_array().unwrap();
    let mut reused: Vec<&str> = attempts
        .iter()
        .filter(|a| a["reused_from"] == json!(original))
        .map(|a| a["stage"].as_str().unwrap())
        .collect();
    // Copied attempts keep their original times; lint and build may share one.
    reused.sort_unstable();
    assert_eq!(reused, ["build", "lint"]);
    assert!(
        attempts
            .iter()
            .all(|a| a["plugin_digest"].as_str().is_some())
    );

    // The run page says so, and marks the reused rows.
    let page = reqwest::Client::new()
        .get(format!("{}/runs/{run_id}", server.base))
        .header("Cookie", format!("bosun_token={OPERATOR_TOKEN}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Re-run of run"), "{page}");
    assert!(page.contains(&original), "{page}");
    assert!(page.contains("plugin digests pinned"), "{page}");
    // A re-run of a run in flight or that passed is refused.
    let (code, json) = post(
        &server,
        &format!("/api/runs/{run_id}/rerun"),
        Some(ACME_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(code, 409, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("nothing to re-run"),
        "{json}"
    );
}

#[tokio::test]
async fn rerun_whose_pinned_plugin_is_gone_is_refused_with_409() {
    let (_dir, path) = temp();
    let server = start(&path).await;
    agent(&server.bus);
    let original = failed_run(&server, &path).await;
    // The agents now have another build of the test plugin.
    announced(&server, 2).await;
    let rerun = format!("/api/runs/{original}/rerun");
    let (code, json) = post(&server, &rerun, Some(OPERATOR_TOKEN), json!({})).await;
    assert_eq!(code, 409, "{json}");
    let message = json["error"].as_str().unwrap();
    assert!(message.contains("plugin test@1.0.0"), "{message}");
    assert!(message.contains(&digest("test", 1)), "{message}");
    assert!(message.contains(&digest("test", 2)), "{message}");
    let runs = server.store().list_runs(&Default::default()).unwrap();
    assert_eq!(runs.len(), 1, "no run was made");

    // The dashboard's form answers with a page saying why, then with the new run.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = |stage: &str| {
        client
            .post(format!("{}/runs/{original}/rerun", server.base))
            .header("Cookie", format!("bosun_token={OPERATOR_TOKEN}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("stage={stage}"))
            .send()
    };
    let refused = form("test").await.unwrap();
    assert_eq!(refused.status().as_u16(), 409);
    let page = refused.text().await.unwrap();
    assert!(page.contains(&digest("test", 1)), "{page}");
    announced(&server, 1).await;
    let started = form("test").await.unwrap();
    assert_eq!(started.status().as_u16(), 303);
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let run_id = location.strip_prefix("/runs/").unwrap().to_string();
    wait_for(&server, &run_id, "success").await;
    // Without the cookie the form leads to the login.
    let anonymous = client
        .post(format!("{}/runs/{original}/rerun", server.base))
        .body("stage=")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 303);
    assert_eq!(anonymous.headers()["location"], "/login");
}

/// The requests the GitHub stand-in got that `keep` selects, with their JSON bodies.
fn github_requests(
    github: &bosun_test_support::Receiver,
    keep: impl Fn(&bosun_test_support::Recorded, &Value) -> bool,
) -> Vec<(bosun_test_support::Recorded, Value)> {
    github
        .requests()
        .into_iter()
        .filter_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            keep(&r, &body).then_some((r, body))
        })
        .collect()
}

/// A `check_run` or `check_suite` `rerequested` delivery (GitHub's own examples)
/// pointed at acme/shop at `sha`.
fn rerequested(event: &str, sha: &str, external_id: Option<&str>) -> Vec<u8> {
    let text = match event {
        "check_run" => include_str!("fixtures/github/check_run__rerequested.json"),
        _ => include_str!("fixtures/github/check_suite__rerequested.json"),
    };
    let mut payload: Value = serde_json::from_str(text).unwrap();
    payload[event]["head_sha"] = sha.into();
    if let Some(id) = external_id {
        payload[event]["external_id"] = id.into();
    }
    payload["repository"]["full_name"] = "acme/shop".into();
    payload["repository"]["name"] = "shop".into();
    payload["repository"]["owner"]["login"] = "acme".into();
    serde_json::to_vec(&payload).unwrap()
}

#[tokio::test]
async fn github_check_runs_follow_each_stage_and_their_rerun_buttons_rerun() {
    let (_dir, path) = temp();
    // GitHub's secondary rate limit answers the first request: it waits, then goes out.
    let github = bosun_test_support::Receiver::github(vec![
        bosun_test_support::Reply::status(429)
            .header("retry-after", "1")
            .body(r#"{"message":"You have exceeded a secondary rate limit"}"#),
    ])
    .await;
    let acme = TenantSettings {
        api_token: value(ACME_TOKEN),
        github_token: value("ghs_acmeInstallationToken"),
        github_checks: true,
        ..tenant("acme")
    };
    let bravo = TenantSettings {
        webhook_secret: value("bravo's own secret"),
        ..tenant("bravo")
    };
    let mut s = settings(&path, vec![acme, bravo]);
    s.github_api = github.base.clone();
    s.api_token = value(OPERATOR_TOKEN);
    let server = Server::start(s, MemoryBus::new()).await;
    let seen = agent(&server.bus);
    let original = failed_run(&server, &path).await;
    let sha = server
        .store()
        .run(&original)
        .unwrap()
        .unwrap()
        .trigger
        .commit;

    // Three check runs made, three completed; the test stage's annotations in two.
    let completions = |github: &bosun_test_support::Receiver| {
        github_requests(github, |r, b| {
            r.method == "PATCH" && b.get("output").is_some()
        })
    };
    // The request answered 429 (whichever it was) goes again after a second.
    let repeated = |github: &bosun_test_support::Receiver| {
        let requests = github.requests();
        requests.first().and_then(|first| {
            requests[1..]
                .iter()
                .find(|r| r.method == first.method && r.path == first.path && r.body == first.body)
                .map(|again| again.at.duration_since(first.at))
        })
    };
    let all_out = eventually(std::time::Duration::from_secs(15), || {
        completions(&github).len() == 4 && repeated(&github).is_some()
    })
    .await;
    assert!(all_out, "{:#?}", github.requests());
    let waited = repeated(&github).unwrap();
    assert!(waited >= std::time::Duration::from_secs(1), "{waited:?}");
    let errors = github.shape_errors();
    assert!(
        errors.is_empty(),
        "requests GitHub would refuse: {errors:#?}"
    );
    let created = github_requests(&github, |r, _| {
        r.method == "POST" && r.path.ends_with("/check-runs")
    });
    let mut names: Vec<(String, String)> = created
        .iter()
        .map(|(_, b)| {
            assert_eq!(b["status"], "in_progress");
            assert_eq!(b["head_sha"], json!(sha));
            (
                b["name"].as_str().unwrap().into(),
                b["external_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            ("bosun/build".to_string(), format!("{original}/build")),
            ("bosun/lint".to_string(), format!("{original}/lint")),
            ("bosun/test".to_string(), format!("{original}/test")),
        ]
    );
    let test_updates: Vec<Value> = completions(&github)
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| b["output"]["title"].as_str().unwrap().starts_with("test"))
        .collect();
    assert_eq!(test_updates.len(), 2, "{test_updates:#?}");
    assert_eq!(test_updates[0]["conclusion"], "failure");
    let summary = test_updates[0]["output"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("### Why it failed\n\n- HIGH B602 src/shop/app.py:12"),
        "{summary}"
    );
    assert_contains(summary, "**Findings:** 55 (1 high, 54 low)");
    let annotations: Vec<&Value> = test_updates
        .iter()
        .flat_map(|b| b["output"]["annotations"].as_array().unwrap())
        .collect();
    assert_eq!(annotations.len(), FINDINGS as usize);
    assert_eq!(
        annotations[0]["annotation_level"], "failure",
        "the HIGH one first"
    );
    assert_eq!(annotations[0]["start_line"], 12);
    assert_eq!(annotations[1]["annotation_level"], "notice");

    // The Re-run button of the test stage's check run re-runs that stage.
    announced(&server, 1).await;
    let external_id = format!("{original}/test");
    let body = rerequested("check_run", &sha, Some(&external_id));
    let bravo_signed = sign("bravo's own secret", &body);
    let (code, json) = server
        .deliver("cr-0", "check_run", &body, Some(&bravo_signed))
        .await;
    assert_eq!(code, 403, "another tenant's secret: {json}");
    let other_commit = rerequested("check_run", &"b".repeat(40), Some(&external_id));
    let (code, json) = server
        .deliver(
            "cr-1",
            "check_run",
            &other_commit,
            Some(&sign(SECRET, &other_commit)),
        )
        .await;
    assert_eq!(code, 202, "{json}");
    assert_contains(json["ignored"].as_str().unwrap(), "names no run");
    let (code, json) = server
        .deliver("cr-2", "check_run", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(code, 202, "{json}");
    let rerun = json["run_id"].as_str().unwrap().to_string();
    wait_for(&server, &rerun, "success").await;
    let (code, json) = server
        .deliver("cr-2", "check_run", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(
        (code, &json["duplicate"]),
        (200, &json!(true)),
        "a redelivery: {json}"
    );
    let tasks: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.task.run_id == rerun)
        .map(|t| t.task.stage.clone())
        .collect();
    assert_eq!(tasks, ["test"]);
    let rerun_check = format!("{rerun}/test");
    let made = eventually(std::time::Duration::from_secs(10), || {
        !github_requests(&github, |r, b| {
            r.method == "POST" && b["external_id"] == json!(rerun_check)
        })
        .is_empty()
    })
    .await;
    assert!(made, "the re-run's test stage got a check run of its own");

    // A check suite's Re-run asks for what failed in the commit's latest run: the
    // re-run, which passed.
    let suite = rerequested("check_suite", &sha, None);
    let (code, json) = server
        .deliver("cs-1", "check_suite", &suite, Some(&sign(SECRET, &suite)))
        .await;
    assert_eq!(code, 202, "{json}");
    assert_contains(json["ignored"].as_str().unwrap(), "nothing to re-run");
    // An unknown check run (not Bosun's) is ignored.
    let foreign = rerequested("check_run", &sha, Some(""));
    let (code, json) = server
        .deliver("cr-3", "check_run", &foreign, Some(&sign(SECRET, &foreign)))
        .await;
    assert_eq!(code, 202, "{json}");
    assert_contains(json["ignored"].as_str().unwrap(), "not one of Bosun's");
}

/// Test runs between lint and build here, so that build depends on the stage that fails.
const TEST_BEFORE_BUILD: &str = "pipeline:
  stages:
    - name: lint
    - name: test
      needs: [lint]
    - name: build
      needs: [test]
";

#[tokio::test]
async fn github_check_suite_rerun_reruns_the_failed_stage_and_what_needs_it() {
    let (_dir, path) = temp();
    let server = start(&path).await;
    let seen = agent(&server.bus);
    let (url, sha) = git_repo(
        &path.join("acme-shop"),
        &[(".bosun.yml", TEST_BEFORE_BUILD)],
    );
    let push = push_payload("acme", &url, &sha, "main");
    let (code, json) = server
        .deliver("push-1", "push", &push, Some(&sign(SECRET, &push)))
        .await;
    assert_eq!(code, 202, "{json}");
    let original = json["run_id"].as_str().unwrap().to_string();
    wait_for(&server, &original, "failure").await;
    let first = get(&server, &format!("/api/runs/{original}")).await;
    let states: Vec<(&str, &str)> = first["run"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("lint", "success"),
            ("test", "failure"),
            ("build", "skipped")
        ],
        "{first:#}"
    );
    announced(&server, 1).await;

    // The check suite's Re-run button: the commit's latest run failed at test.
    let suite = rerequested("check_suite", &sha, None);
    let (code, json) = server
        .deliver("cs-1", "check_suite", &suite, Some(&sign(SECRET, &suite)))
        .await;
    assert_eq!(code, 202, "{json}");
    let rerun = json["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no run started: {json}"))
        .to_string();
    assert_ne!(rerun, original);
    wait_for(&server, &rerun, "success").await;

    // Tasks went out for test and for build, which needs it; lint was reused.
    let tasks: Vec<(String, Option<String>)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.task.run_id == rerun)
        .map(|t| (t.task.stage.clone(), t.plugin_digest.clone()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("test".to_string(), Some(digest("test", 1))),
            ("build".to_string(), None)
        ],
        "the failed stage pinned to its first digest, then what needs it"
    );
    let detail = get(&server, &format!("/api/runs/{rerun}")).await;
    let run = &detail["run"];
    assert_eq!(run["rerun_of"]["run_id"], json!(original), "{run:#}");
    assert_eq!(run["stages"][0]["name"], "lint");
    assert_eq!(run["stages"][0]["reused_from"], json!(original), "{run:#}");
    for index in [1, 2] {
        assert!(run["stages"][index].get("reused_from").is_none(), "{run:#}");
        assert_eq!(run["stages"][index]["state"], "success", "{run:#}");
    }
    assert_eq!(
        run["stages"][1]["name"], "test",
        "the stages keep their order"
    );
    // The suite's button again, now that the commit's latest run passed: nothing.
    let (code, json) = server
        .deliver("cs-2", "check_suite", &suite, Some(&sign(SECRET, &suite)))
        .await;
    assert_eq!(code, 202, "{json}");
    assert_contains(json["ignored"].as_str().unwrap(), "nothing to re-run");
    let runs = seen.lock().unwrap().len();
    assert_eq!(runs, 2 + 2, "lint and test, then test and build: {runs}");
}

/// A same-repository pull request #1 of acme/shop building `sha`.
fn pull_request_payload(clone_url: &str, sha: &str) -> Vec<u8> {
    let text = include_str!("fixtures/github/pull_request-opened.payload.json");
    let mut payload: Value = serde_json::from_str(text).unwrap();
    for path in ["/repository", "/pull_request/base/repo"] {
        let repo = payload.pointer_mut(path).unwrap();
        repo["full_name"] = "acme/shop".into();
        repo["name"] = "shop".into();
        repo["owner"]["login"] = "acme".into();
        repo["clone_url"] = clone_url.into();
        repo["default_branch"] = "main".into();
    }
    payload["pull_request"]["number"] = 1.into();
    let head = &mut payload["pull_request"]["head"];
    head["ref"] = "patch-1".into();
    head["sha"] = sha.into();
    head["repo"]["full_name"] = "acme/shop".into();
    head["label"] = "acme:patch-1".into();
    serde_json::to_vec(&payload).unwrap()
}

#[tokio::test]
async fn github_pull_request_gets_one_summary_comment_edited_on_each_push() {
    let (_dir, path) = temp();
    let github = bosun_test_support::Receiver::github(Vec::new()).await;
    let acme = TenantSettings {
        github_token: value("ghs_acmeInstallationToken"),
        pull_request_comments: true,
        ..tenant("acme")
    };
    let mut s = settings(&path, vec![acme]);
    s.github_api = github.base.clone();
    let server = Server::start(s, MemoryBus::new()).await;
    let repo = path.join("acme-shop");
    let (_, first) = git_repo(&repo, &[(".bosun.yml", "pipeline:\n  stages: [lint]\n")]);
    // Both pushes' commits are there from the start: the mirror's first clone has them.
    std::fs::write(repo.join("app.py"), "print('fixed')\n").unwrap();
    let second = bosun_test_support::commit_all(&repo, "fix the import");
    let pushes = [first.clone(), second];
    let http = serve_git(&repo, "acme/shop");
    let failing = first.clone();
    stand_in_agent(&server.bus, &["lint"], move |task| {
        if task.task.commit == failing {
            let mut failed = report(Outcome::Failure, "1 finding");
            failed.findings = vec![bosun_bus::Finding {
                rule: "W0611".into(),
                severity: bosun_bus::Severity::Medium,
                message: "unused import os".into(),
                path: Some("src/app.py".into()),
                line: Some(3),
                column: None,
                tool: "pylint".into(),
                fixed_version: None,
            }];
            failed
        } else {
            report(Outcome::Success, "clean")
        }
    });

    let comments = |github: &bosun_test_support::Receiver| {
        github_requests(github, |r, _| r.path.contains("/issues/"))
    };
    for (i, sha) in pushes.iter().enumerate() {
        let body = pull_request_payload(&http, sha);
        let (code, json) = server
            .deliver(
                &format!("pr-{i}"),
                "pull_request",
                &body,
                Some(&sign(SECRET, &body)),
            )
            .await;
        assert_eq!(code, 202, "{json}");
        let run_id = json["run_id"].as_str().unwrap().to_string();
        wait_for(&server, &run_id, if i == 0 { "failure" } else { "success" }).await;
        let posted = eventually(std::time::Duration::from_secs(10), || {
            comments(&github).len() == i + 1
        })
        .await;
        assert!(posted, "{:#?}", github.requests());
    }
    let errors = github.shape_errors();
    assert!(
        errors.is_empty(),
        "requests GitHub would refuse: {errors:#?}"
    );
    let comments = comments(&github);
    let (created, first_body) = &comments[0];
    assert_eq!(
        (created.method.as_str(), created.path.as_str()),
        ("POST", "/repos/acme/shop/issues/1/comments")
    );
    let text = first_body["body"].as_str().unwrap();
    assert_contains(text, "the pipeline failed");
    assert_contains(
        text,
        "**Why lint failed**\n\n- MEDIUM W0611 src/app.py:3: unused import os",
    );
    // The second push edits the same comment.
    let (edited, second_body) = &comments[1];
    assert_eq!(edited.method, "PATCH");
    assert!(
        edited.path.starts_with("/repos/acme/shop/issues/comments/"),
        "{}",
        edited.path
    );
    assert_contains(second_body["body"].as_str().unwrap(), "the pipeline passed");
}
