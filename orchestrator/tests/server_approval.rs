//! Stage approvals through a real server and SQLite store: a deploy that waits for
//! alice is refused to mallory (403, recorded), approved by alice's own token through
//! the API, rejected from the run page's form (and not from another site's), rejected
//! by its timeout after an orchestrator restart; and a pull request whose config names
//! its own author as the approver, probed from the author's side.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use bosun_bus::{MemoryBus, Outcome};
use bosun_orchestrator::model::{RunRecord, StageState};
use bosun_orchestrator::settings::{Secret, TenantSettings};
use harness::*;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OPERATOR_TOKEN: &str = "operator-token";
const ACME_TOKEN: &str = "acme-shared-token";
const ALICE_TOKEN: &str = "alice-own-token";
const MALLORY_TOKEN: &str = "mallory-own-token";

const DEPLOY: &str = r#"pipeline:
  stages:
    - name: build
    - name: deploy
      needs: [build]
      approval: { from: [alice], timeout: 1h }
"#;

fn value(v: &str) -> Secret {
    Secret {
        value: Some(v.into()),
        env: None,
    }
}

fn acme() -> TenantSettings {
    let mut tenant = TenantSettings {
        api_token: value(ACME_TOKEN),
        ..tenant("acme")
    };
    tenant.members.insert("alice".into(), value(ALICE_TOKEN));
    tenant
        .members
        .insert("mallory".into(), value(MALLORY_TOKEN));
    tenant
}

async fn start(path: &Path) -> Server {
    let mut s = settings(path, vec![acme()]);
    s.api_token = value(OPERATOR_TOKEN);
    Server::start(s, MemoryBus::new()).await
}

/// A stand-in agent passing every stage it serves; the task ids it saw.
fn passing_agent(server: &Server) -> Arc<Mutex<Vec<String>>> {
    stand_in_agent(&server.bus, &["build", "deploy", "lint", "test"], |_| {
        report(Outcome::Success, "ok")
    })
}

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

/// A manual run of `config` on acme/shop's main.
async fn trigger(server: &Server, path: &Path, config: &str) -> String {
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", config)]);
    let (status, json) = post(
        server,
        "/api/runs",
        Some(OPERATOR_TOKEN),
        json!({ "repository": "acme/shop", "clone_url": url, "commit": sha, "branch": "main" }),
    )
    .await;
    assert_eq!(status, 202, "{json}");
    json["run_id"].as_str().unwrap().to_string()
}

fn run_of(server: &Server, run_id: &str) -> RunRecord {
    server.store().run(run_id).unwrap().unwrap()
}

/// Wait (up to 10 s) until `stage` of the run waits for an approval.
async fn waiting(server: &Server, run_id: &str, stage: &str) {
    let store = server.store();
    let waits = eventually(Duration::from_secs(10), || {
        store
            .run(run_id)
            .unwrap()
            .and_then(|r| r.stage(stage).map(|s| s.state))
            == Some(StageState::AwaitingApproval)
    })
    .await;
    assert!(waits, "{stage} does not wait: {:?}", run_of(server, run_id));
}

fn events(server: &Server, run_id: &str, kind: &str) -> Vec<bosun_orchestrator::store::EventRow> {
    let all = server.store().events(run_id).unwrap();
    all.into_iter().filter(|e| e.kind == kind).collect()
}

#[tokio::test]
async fn approval_refused_to_a_non_approver_then_granted_through_the_api() {
    let (_dir, path) = temp();
    let server = start(&path).await;
    let seen = passing_agent(&server);
    let run_id = trigger(&server, &path, DEPLOY).await;
    waiting(&server, &run_id, "deploy").await;

    let response = reqwest::Client::new()
        .get(format!("{}/api/runs/{run_id}", server.base))
        .bearer_auth(ALICE_TOKEN)
        .send()
        .await
        .unwrap();
    let detail: Value = response.json().await.unwrap();
    let deploy = &detail["run"]["stages"][1];
    assert_eq!(deploy["state"], "awaiting-approval", "{detail}");
    assert_eq!(deploy["approval"]["approvers"], json!(["alice"]));
    assert!(deploy["approval"]["deadline_ms"].as_u64().is_some());

    let approve = format!("/api/runs/{run_id}/stages/deploy/approve");
    let (code, _) = post(&server, &approve, None, json!({})).await;
    assert_eq!(code, 401);
    let (code, json) = post(
        &server,
        &approve,
        Some(MALLORY_TOKEN),
        json!({ "reason": "lgtm" }),
    )
    .await;
    assert_eq!(code, 403, "{json}");
    let refusal = json["error"].as_str().unwrap();
    assert!(
        refusal.contains("mallory is not an approver") && refusal.contains("only by alice"),
        "the rule is named: {refusal}"
    );
    let (code, json) = post(
        &server,
        &approve,
        Some(ACME_TOKEN),
        json!({ "reason": "lgtm", "by": "alice" }),
    )
    .await;
    assert_eq!(
        code, 403,
        "the shared token cannot claim to be alice: {json}"
    );
    let (code, _) = post(
        &server,
        "/api/runs/nope/stages/deploy/approve",
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(code, 404, "unknown run");
    let (code, json) = post(
        &server,
        &format!("/api/runs/{run_id}/stages/nope/approve"),
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(code, 404, "unknown stage: {json}");
    let (code, json) = post(
        &server,
        &format!("/api/runs/{run_id}/stages/build/approve"),
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(code, 409, "build does not wait: {json}");
    let reject = format!("/api/runs/{run_id}/stages/deploy/reject");
    let (code, json) = post(&server, &reject, Some(ALICE_TOKEN), json!({})).await;
    assert_eq!(code, 400, "a rejection needs a reason: {json}");
    assert!(
        !seen.lock().unwrap().iter().any(|t| t.contains("/deploy/")),
        "nothing of deploy ran before the approval"
    );

    let (code, json) = post(
        &server,
        &approve,
        Some(ALICE_TOKEN),
        json!({ "reason": "ship it" }),
    )
    .await;
    assert_eq!(code, 200, "{json}");
    assert_eq!(
        (json["approved"].clone(), json["by"].clone()),
        (json!(true), json!("alice"))
    );
    wait_for(&server, &run_id, "success").await;
    let (code, json) = post(
        &server,
        &approve,
        Some(ALICE_TOKEN),
        json!({ "reason": "again" }),
    )
    .await;
    assert_eq!(code, 409, "decided once: {json}");

    let refused = events(&server, &run_id, "approval.refused");
    assert_eq!(refused.len(), 2, "both refusals are recorded: {refused:?}");
    let allowed = events(&server, &run_id, "gate.allowed");
    let data = &allowed[0].data.as_ref().unwrap()["approval"];
    assert_eq!(
        (data["by"].as_str(), data["reason"].as_str()),
        (Some("alice"), Some("ship it"))
    );
    let gates = server.store().gates(&run_id).unwrap();
    assert_eq!(gates[0].phase, "approval");
    assert_eq!(gates[0].verdicts.as_ref().unwrap()[0]["by"], "alice");
}

#[tokio::test]
async fn approval_rejected_from_the_run_page_and_never_from_another_site() {
    let (_dir, path) = temp();
    let server = start(&path).await;
    passing_agent(&server);
    let run_id = trigger(&server, &path, DEPLOY).await;
    waiting(&server, &run_id, "deploy").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/runs/{run_id}", server.base))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = format!("action=\"/runs/{run_id}/stages/deploy/decide\"");
    assert!(
        page.contains("Waiting for approval") && page.contains(&action),
        "{page}"
    );
    assert!(page.contains("value=\"approve\"") && page.contains("value=\"reject\""));

    let form = format!("{}/runs/{run_id}/stages/deploy/decide", server.base);
    let body = "decision=reject&reason=freeze+until+Monday&by=ops";
    let unsigned = client.post(&form).body(body).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 303, "to the login form");
    let cross_site = client
        .post(&form)
        .bearer_auth(OPERATOR_TOKEN)
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status().as_u16(), 403);
    assert_eq!(
        run_of(&server, &run_id).stage("deploy").unwrap().state,
        StageState::AwaitingApproval
    );
    let decided = client
        .post(&form)
        .bearer_auth(OPERATOR_TOKEN)
        .header("Sec-Fetch-Site", "same-origin")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status().as_u16(), 303);
    let back = decided.headers()["location"].to_str().unwrap();
    assert_eq!(back, format!("/runs/{run_id}#stage-deploy"));
    wait_for(&server, &run_id, "failure").await;
    let run = run_of(&server, &run_id);
    assert_eq!(
        run.stage("deploy").unwrap().summary,
        "rejected by ops (operator token): freeze until Monday"
    );
    assert!(!events(&server, &run_id, "gate.denied").is_empty());
    let page = client
        .get(format!("{}/runs/{run_id}", server.base))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("Waiting for approval"),
        "no form once decided"
    );
    assert!(page.contains("by ops (operator token)") && page.contains("freeze until Monday"));
}

#[tokio::test]
async fn approval_nobody_decided_is_rejected_by_its_timeout_after_a_restart() {
    let (_dir, path) = temp();
    let server = start(&path).await;
    passing_agent(&server);
    let run_id = trigger(&server, &path, DEPLOY).await;
    waiting(&server, &run_id, "deploy").await;
    server.kill().await;
    // The hour passes while the orchestrator is down.
    let mut store = bosun_orchestrator::store::Store::open(&path.join("runs.db")).unwrap();
    let mut run = store.run(&run_id).unwrap().unwrap();
    let deploy = run.stages.iter_mut().find(|s| s.name == "deploy").unwrap();
    deploy.approval.as_mut().unwrap().deadline_ms = 1;
    store.write(|w| w.save_run(&run)).unwrap();

    let server = start(&path).await;
    wait_for(&server, &run_id, "failure").await;
    let run = run_of(&server, &run_id);
    let deploy = run.stage("deploy").unwrap();
    assert_eq!(deploy.state, StageState::Failure);
    assert_eq!(
        deploy.summary,
        "rejected by the timeout: nobody decided within 1h"
    );
    let denied = events(&server, &run_id, "gate.denied");
    assert_eq!(
        denied[0].data.as_ref().unwrap()["approval"]["by"],
        "the timeout"
    );
    let (code, _) = post(
        &server,
        &format!("/api/runs/{run_id}/stages/deploy/approve"),
        Some(ALICE_TOKEN),
        json!({ "reason": "too late" }),
    )
    .await;
    assert_eq!(code, 409);
}

/// A same-repository pull request by `sender` building `sha`.
fn pr_payload(clone_url: &str, sha: &str, sender: &str) -> Vec<u8> {
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
    let head = &mut payload["pull_request"]["head"];
    head["ref"] = "patch-1".into();
    head["sha"] = sha.into();
    head["repo"]["full_name"] = "acme/shop".into();
    head["label"] = "acme:patch-1".into();
    payload["sender"]["login"] = sender.into();
    serde_json::to_vec(&payload).unwrap()
}

#[tokio::test]
async fn approval_of_a_pull_request_is_never_its_authors_to_give() {
    let (_dir, path) = temp();
    // Mallory's pull request makes its test stage wait for... Mallory.
    let config = r#"pipeline:
  stages:
    - name: lint
    - name: test
      needs: [lint]
      approval: { from: [mallory] }
"#;
    let (_, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", config)]);
    let http = serve_git(&path.join("repo"), "acme/shop");
    let server = start(&path).await;
    passing_agent(&server);
    let body = pr_payload(&http, &sha, "mallory");
    let (status, json) = server
        .deliver("pr-1", "pull_request", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    let run_id = json["run_id"].as_str().unwrap().to_string();
    waiting(&server, &run_id, "test").await;
    let approvers = run_of(&server, &run_id)
        .stage("test")
        .unwrap()
        .approval
        .clone()
        .unwrap()
        .approvers;
    assert_eq!(
        approvers,
        ["any member of acme"],
        "the tenant's rule, not the PR's list"
    );

    let approve = format!("/api/runs/{run_id}/stages/test/approve");
    let (code, json) = post(
        &server,
        &approve,
        Some(MALLORY_TOKEN),
        json!({ "reason": "mine" }),
    )
    .await;
    assert_eq!(code, 403, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("mallory sent this pull request"),
        "{json}"
    );
    let (code, json) = post(
        &server,
        &approve,
        Some(ACME_TOKEN),
        json!({ "reason": "lgtm", "by": "alice" }),
    )
    .await;
    assert_eq!(code, 403, "the shared token could be the author's: {json}");
    let (code, json) = post(
        &server,
        &approve,
        Some(ALICE_TOKEN),
        json!({ "reason": "reviewed" }),
    )
    .await;
    assert_eq!(code, 200, "{json}");
    wait_for(&server, &run_id, "success").await;
    assert_eq!(events(&server, &run_id, "approval.refused").len(), 2);
}
