//! The trust boundaries, probed from the attacker's side against a real server with two
//! tenants: a delivery signed by one tenant speaking for another's repository, clone
//! URLs that point at local paths or other repositories, a repository granting itself
//! the network, pull requests (same repository and forks) asking for secrets, pushes,
//! deploys and network, superseding across tenants, and tenant API tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use bosun_bus::Outcome;
use bosun_bus::messages::TaskMessage;
use bosun_orchestrator::model::StageState;
use bosun_orchestrator::settings::{
    ForkRuns, PullRequestSettings, Secret, SecretGrant, TenantSettings,
};
use bosun_test_support::assert_contains;
use harness::*;
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BRAVO_SECRET: &str = "bravo's own webhook secret";
const OPERATOR_TOKEN: &str = "operator-token";
const ACME_TOKEN: &str = "acme-token";
const BRAVO_TOKEN: &str = "bravo-token";

fn value(v: &str) -> Secret {
    Secret {
        value: Some(v.into()),
        env: None,
    }
}

fn acme() -> TenantSettings {
    TenantSettings {
        api_token: value(ACME_TOKEN),
        ..tenant("acme")
    }
}

fn bravo() -> TenantSettings {
    TenantSettings {
        webhook_secret: value(BRAVO_SECRET),
        api_token: value(BRAVO_TOKEN),
        ..tenant("bravo")
    }
}

async fn start(path: &Path, acme: TenantSettings) -> Server {
    let mut s = settings(path, vec![acme, bravo()]);
    s.api_token = value(OPERATOR_TOKEN);
    Server::start(s, bosun_bus::MemoryBus::new()).await
}

/// A stand-in agent for `stages` that passes every task and keeps the task messages.
fn recording_agent(server: &Server, stages: &[&str]) -> Arc<Mutex<Vec<TaskMessage>>> {
    let tasks = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&tasks);
    stand_in_agent(&server.bus, stages, move |task| {
        kept.lock().unwrap().push(task.clone());
        report(Outcome::Success, "ok")
    });
    tasks
}

/// A `pull_request` `opened` delivery on `owner/shop` whose head is `head_ref` at
/// `sha`, in a fork when `fork_owner` is given.
fn pr_payload(
    owner: &str,
    clone_url: &str,
    sha: &str,
    head_ref: &str,
    fork_owner: Option<&str>,
) -> Vec<u8> {
    let text = include_str!("fixtures/github/pull_request-opened.payload.json");
    let mut payload: serde_json::Value = serde_json::from_str(text).unwrap();
    let full_name = format!("{owner}/shop");
    for path in ["/repository", "/pull_request/base/repo"] {
        let repo = payload.pointer_mut(path).unwrap();
        repo["full_name"] = full_name.as_str().into();
        repo["name"] = "shop".into();
        repo["owner"]["login"] = owner.into();
        repo["clone_url"] = clone_url.into();
        repo["default_branch"] = "main".into();
    }
    let head = &mut payload["pull_request"]["head"];
    head["ref"] = head_ref.into();
    head["sha"] = sha.into();
    head["repo"]["full_name"] = match fork_owner {
        Some(fork) => format!("{fork}/shop").into(),
        None => full_name.as_str().into(),
    };
    head["label"] = format!("{}:{head_ref}", fork_owner.unwrap_or(owner)).into();
    serde_json::to_vec(&payload).unwrap()
}

async fn api_post(
    server: &Server,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
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

/// A run of acme/shop on `main` that stays in flight: its one stage has no agent.
async fn acme_run_in_flight(server: &Server, path: &Path) -> String {
    let (url, sha) = git_repo(
        &path.join("acme-shop"),
        &[(".bosun.yml", "pipeline:\n  stages: [unanswered]\n")],
    );
    let body = push_payload("acme", &url, &sha, "main");
    let (status, json) = server
        .deliver("acme-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    let run_id = json["run_id"].as_str().unwrap().to_string();
    wait_for(server, &run_id, "running").await;
    run_id
}

#[tokio::test]
async fn trust_a_tenant_cannot_speak_for_another_tenants_repository() {
    let (_dir, path) = temp();
    let server = start(&path, acme()).await;
    let acme_run = acme_run_in_flight(&server, &path).await;
    let (url, sha) = git_repo(
        &path.join("bravo-shop"),
        &[(".bosun.yml", "pipeline:\n  stages: [lint]\n")],
    );
    recording_agent(&server, &["lint"]);

    // Signed by bravo, owner bravo, but full_name acme/shop.
    let mut body: serde_json::Value =
        serde_json::from_slice(&push_payload("bravo", &url, &sha, "main")).unwrap();
    body["repository"]["full_name"] = json!("acme/shop");
    let body = serde_json::to_vec(&body).unwrap();
    let (status, json) = server
        .deliver("b-1", "push", &body, Some(&sign(BRAVO_SECRET, &body)))
        .await;
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("repository.full_name"),
        "{json}"
    );

    // Signed by bravo, owner acme.
    let body = push_payload("acme", &url, &sha, "main");
    let (status, json) = server
        .deliver("b-2", "push", &body, Some(&sign(BRAVO_SECRET, &body)))
        .await;
    assert_eq!(status, 403, "{json}");

    // Bravo's own push to its own main runs, and leaves acme's run on main alone.
    let body = push_payload("bravo", &url, &sha, "main");
    let (status, json) = server
        .deliver("b-3", "push", &body, Some(&sign(BRAVO_SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    wait_for(&server, json["run_id"].as_str().unwrap(), "success").await;
    assert_eq!(status_of(&server, &acme_run), "running");
    let runs = server.store().list_runs(&Default::default()).unwrap();
    assert_eq!(runs.len(), 2, "only acme's and bravo's own runs: {runs:?}");
}

#[tokio::test]
async fn trust_webhooks_may_not_clone_local_paths_or_other_repositories() {
    let (_dir, path) = temp();
    let mut narrowed = acme();
    narrowed.clone_hosts = vec!["github.com".into()];
    let server = start(&path, narrowed).await;
    let (acme_url, sha) = git_repo(
        &path.join("acme-shop"),
        &[(".bosun.yml", "pipeline:\n  stages: [lint]\n")],
    );
    let acme_http = serve_git(&path.join("acme-shop"), "acme/shop");
    let seen = recording_agent(&server, &["lint"]);
    let cases = [
        // The orchestrator's own disk: its mirrors, or the repository folder.
        (acme_url.clone(), "file:// only from `bosun run`"),
        (format!("file://{}", path.join("work").display()), "file://"),
        // Another tenant's repository over an allowed scheme.
        (acme_http.clone(), "not the repository"),
    ];
    for (i, (clone_url, expected)) in cases.iter().enumerate() {
        let mut body: serde_json::Value =
            serde_json::from_slice(&push_payload("bravo", &acme_http, &sha, "main")).unwrap();
        body["repository"]["clone_url"] = clone_url.as_str().into();
        let body = serde_json::to_vec(&body).unwrap();
        let (status, json) = server
            .deliver(
                &format!("f-{i}"),
                "push",
                &body,
                Some(&sign(BRAVO_SECRET, &body)),
            )
            .await;
        assert_eq!(status, 403, "{clone_url}: {json}");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(expected), "{clone_url}: {error}");
    }
    // Acme narrowed its hosts to github.com: its own repository elsewhere is refused.
    let body = push_payload("acme", &acme_url, &sha, "main");
    let (status, json) = server
        .deliver("f-hosts", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 403, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("`clone_hosts`"),
        "{json}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        server
            .store()
            .list_runs(&Default::default())
            .unwrap()
            .is_empty()
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing may be published");
}

#[tokio::test]
async fn trust_a_stage_gets_the_network_only_when_it_asks_and_its_tenant_grants_it() {
    let (_dir, path) = temp();
    let pipeline =
        "pipeline:\n  stages:\n    - name: lint\n      network: true\n    - name: test\n";
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", pipeline)]);

    // The tenant grants nothing: the ask is a config error naming the setting.
    let server = start(&path.join("denied"), acme()).await;
    let seen = recording_agent(&server, &["lint", "test"]);
    let body = push_payload("acme", &url, &sha, "main");
    let (_, json) = server
        .deliver("n-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    let run_id = json["run_id"].as_str().unwrap();
    wait_for(&server, run_id, "config-error").await;
    let error = server.store().run(run_id).unwrap().unwrap().error.unwrap();
    assert!(
        error.contains("stage `lint`") && error.contains("`network_stages`"),
        "{error}"
    );
    assert!(seen.lock().unwrap().is_empty());

    // Granted to both: only the stage that asks gets it.
    let mut granted = acme();
    granted.network_stages = vec!["lint".into(), "test".into()];
    let server = start(&path.join("granted"), granted).await;
    let seen = recording_agent(&server, &["lint", "test"]);
    let (_, json) = server
        .deliver("n-2", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    wait_for(&server, json["run_id"].as_str().unwrap(), "success").await;
    let tasks = seen.lock().unwrap();
    let network: Vec<(&str, bool)> = tasks
        .iter()
        .map(|t| (t.task.stage.as_str(), t.network_allowed))
        .collect();
    assert_eq!(network, [("lint", true), ("test", false)]);
}

#[tokio::test]
async fn trust_pull_requests_get_no_secrets_no_pushes_no_deploys_and_no_network() {
    let (_dir, path) = temp();
    let pipeline = "
pipeline:
  stages:
    - name: build
    - name: deploy
      environment: production
";
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", pipeline)]);
    let http = serve_git(&path.join("repo"), "acme/shop");
    let mut granted = acme();
    granted.network_stages = vec!["build".into()];
    granted.secrets = vec![SecretGrant {
        name: "KUBE_TOKEN".into(),
        stages: vec![],
        events: vec![],
        environments: vec![],
        default_branch_only: true,
    }];
    let server = start(&path, granted).await;
    let seen = recording_agent(&server, &["build", "deploy"]);

    // A pull request from the repository itself, whose head branch is named `main`.
    let body = pr_payload("acme", &http, &sha, "main", None);
    let (status, json) = server
        .deliver("p-1", "pull_request", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    let pr_run = json["run_id"].as_str().unwrap().to_string();
    wait_for(&server, &pr_run, "success").await;
    {
        let tasks = seen.lock().unwrap();
        assert_eq!(tasks.len(), 1, "only build runs: {tasks:?}");
        assert_eq!(tasks[0].task.stage, "build");
        assert!(tasks[0].secrets_granted.is_empty(), "{:?}", tasks[0]);
        assert_eq!(tasks[0].push_repository, None);
    }
    let run = server.store().run(&pr_run).unwrap().unwrap();
    let deploy = run.stages.iter().find(|s| s.name == "deploy").unwrap();
    assert_eq!(deploy.state, StageState::Skipped);
    assert!(
        deploy.summary.contains("never run for pull requests"),
        "{deploy:?}"
    );

    // The same commit pushed to main gets the tenant's grants and deploys.
    let body = push_payload("acme", &url, &sha, "main");
    let (_, json) = server
        .deliver("p-2", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    wait_for(&server, json["run_id"].as_str().unwrap(), "success").await;
    {
        let tasks = seen.lock().unwrap();
        let stages: Vec<&str> = tasks[1..].iter().map(|t| t.task.stage.as_str()).collect();
        assert_eq!(stages, ["build", "deploy"]);
        assert_eq!(tasks[1].secrets_granted, ["KUBE_TOKEN"]);
        assert_eq!(tasks[1].push_repository.as_deref(), Some("acme/shop"));
    }

    // A pull request whose config asks for the network gets a config error, since the
    // tenant did not opt pull requests in.
    let asks = "pipeline:\n  stages:\n    - name: build\n      network: true\n";
    let (_, sha2) = git_repo(&path.join("repo2"), &[(".bosun.yml", asks)]);
    let http2 = serve_git(&path.join("repo2"), "acme/shop");
    let body = pr_payload("acme", &http2, &sha2, "feature", None);
    let (_, json) = server
        .deliver("p-3", "pull_request", &body, Some(&sign(SECRET, &body)))
        .await;
    let run_id = json["run_id"].as_str().unwrap();
    wait_for(&server, run_id, "config-error").await;
    let error = server.store().run(run_id).unwrap().unwrap().error.unwrap();
    assert_contains(&error, "`pull_requests: { network: true }`");
}

#[tokio::test]
async fn trust_superseding_stays_within_one_tenant_repository_and_event() {
    let (_dir, path) = temp();
    let server = start(&path, acme()).await;
    let acme_run = acme_run_in_flight(&server, &path).await;
    recording_agent(&server, &["lint"]);
    // A pull request of acme/shop whose head branch is named `main`.
    let (_, sha) = git_repo(
        &path.join("pr"),
        &[(".bosun.yml", "pipeline:\n  stages: [lint]\n")],
    );
    let http = serve_git(&path.join("pr"), "acme/shop");
    let body = pr_payload("acme", &http, &sha, "main", None);
    let (_, json) = server
        .deliver("s-1", "pull_request", &body, Some(&sign(SECRET, &body)))
        .await;
    wait_for(&server, json["run_id"].as_str().unwrap(), "success").await;
    assert_eq!(status_of(&server, &acme_run), "running");
    // A newer push to acme's main does supersede it.
    let body = push_payload(
        "acme",
        &format!("file://{}", path.join("pr").display()),
        &sha,
        "main",
    );
    let (_, json) = server
        .deliver("s-2", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    wait_for(&server, json["run_id"].as_str().unwrap(), "success").await;
    assert_eq!(status_of(&server, &acme_run), "cancelled");
}

#[tokio::test]
async fn trust_fork_pull_requests_wait_for_a_tenant_members_approval() {
    let (_dir, path) = temp();
    let (_, sha) = git_repo(
        &path.join("repo"),
        &[(".bosun.yml", "pipeline:\n  stages: [lint]\n")],
    );
    let http = serve_git(&path.join("repo"), "acme/shop");
    let server = start(&path, acme()).await;
    let seen = recording_agent(&server, &["lint"]);
    let body = pr_payload("acme", &http, &sha, "patch-1", Some("mallory"));
    let (status, json) = server
        .deliver("k-1", "pull_request", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["awaiting_approval"], true, "{json}");
    let run_id = json["run_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_of(&server, &run_id), "awaiting-approval");
    let run = server.store().run(&run_id).unwrap().unwrap();
    assert_eq!(
        run.trigger.branch, "mallory:patch-1",
        "a fork's branch is its label"
    );
    assert!(
        run.config_source.is_none(),
        "nothing of a fork is read before approval"
    );
    assert!(seen.lock().unwrap().is_empty());

    let approve = format!("/api/runs/{run_id}/approve");
    let (code, _) = api_post(&server, &approve, None, json!({})).await;
    assert_eq!(code, 401);
    let (code, json) = api_post(&server, &approve, Some(BRAVO_TOKEN), json!({})).await;
    assert_eq!(
        code, 404,
        "another tenant's member sees no such run: {json}"
    );
    assert_eq!(status_of(&server, &run_id), "awaiting-approval");
    let (code, json) = api_post(&server, &approve, Some(ACME_TOKEN), json!({ "by": "octo" })).await;
    assert_eq!(code, 200, "{json}");
    wait_for(&server, &run_id, "success").await;
    let (code, _) = api_post(&server, &approve, Some(ACME_TOKEN), json!({})).await;
    assert_eq!(code, 409, "approved once");
    let events = server.store().events(&run_id).unwrap();
    let approved = events.iter().find(|e| e.kind == "run.approved").unwrap();
    assert!(approved.message.contains("octo") && approved.message.contains("acme"));
}

#[tokio::test]
async fn trust_fork_pull_requests_are_ignored_or_run_as_the_tenant_says() {
    let (_dir, path) = temp();
    let (_, sha) = git_repo(
        &path.join("repo"),
        &[(".bosun.yml", "pipeline:\n  stages: [lint]\n")],
    );
    let http = serve_git(&path.join("repo"), "acme/shop");
    for (from_forks, expected) in [(ForkRuns::Ignore, None), (ForkRuns::Run, Some("success"))] {
        let mut tenant = acme();
        tenant.pull_requests = PullRequestSettings {
            from_forks,
            network: false,
            ..PullRequestSettings::default()
        };
        let server = start(&path.join(format!("{from_forks:?}")), tenant).await;
        let seen = recording_agent(&server, &["lint"]);
        let body = pr_payload("acme", &http, &sha, "patch-1", Some("mallory"));
        let (status, json) = server
            .deliver("i-1", "pull_request", &body, Some(&sign(SECRET, &body)))
            .await;
        assert_eq!(status, 202, "{json}");
        match expected {
            None => {
                assert!(
                    json["ignored"].as_str().unwrap().contains("from_forks"),
                    "{json}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert!(
                    server
                        .store()
                        .list_runs(&Default::default())
                        .unwrap()
                        .is_empty()
                );
                assert!(seen.lock().unwrap().is_empty());
            }
            Some(status) => {
                wait_for(&server, json["run_id"].as_str().unwrap(), status).await;
                let tasks = seen.lock().unwrap();
                assert!(tasks[0].secrets_granted.is_empty() && tasks[0].push_repository.is_none());
            }
        }
    }
}

#[tokio::test]
async fn trust_tenant_tokens_act_only_on_their_own_runs() {
    let (_dir, path) = temp();
    let server = start(&path, acme()).await;
    let acme_run = acme_run_in_flight(&server, &path).await;
    let (url, sha) = git_repo(
        &path.join("bravo-shop"),
        &[(".bosun.yml", "pipeline:\n  stages: [lint]\n")],
    );
    let trigger = |repository: &str, clone_url: &str| json!({ "repository": repository, "clone_url": clone_url, "commit": sha, "branch": "main" });
    let http = serve_git(&path.join("bravo-shop"), "bravo/shop");
    let (code, json) = api_post(
        &server,
        "/api/runs",
        Some(BRAVO_TOKEN),
        trigger("acme/shop", &http),
    )
    .await;
    assert_eq!(code, 403, "{json}");
    let (code, json) = api_post(
        &server,
        "/api/runs",
        Some(BRAVO_TOKEN),
        trigger("bravo/shop", &url),
    )
    .await;
    assert_eq!(
        code, 403,
        "a tenant token may not name a local path: {json}"
    );
    // Dot segments in the name reach another tenant's repository on many git hosts.
    let (code, json) = api_post(
        &server,
        "/api/runs",
        Some(BRAVO_TOKEN),
        trigger(
            "bravo/../acme/shop",
            "https://github.com/bravo/../acme/shop",
        ),
    )
    .await;
    assert_eq!(code, 400, "{json}");
    let cancel = format!("/api/runs/{acme_run}/cancel");
    let (code, _) = api_post(&server, &cancel, Some(BRAVO_TOKEN), json!({})).await;
    assert_eq!(code, 404, "another tenant's run is not found");
    assert_eq!(status_of(&server, &acme_run), "running");
    let (code, json) = api_post(
        &server,
        "/api/runs",
        Some(BRAVO_TOKEN),
        trigger("bravo/shop", &http),
    )
    .await;
    assert_eq!(code, 202, "{json}");
    let (code, _) = api_post(&server, &cancel, Some(ACME_TOKEN), json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(status_of(&server, &acme_run), "cancelled");
}

async fn api_get(server: &Server, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn trust_reads_and_the_dashboard_need_a_token_when_auth_is_on() {
    let (_dir, path) = temp();
    let server = start(&path, acme()).await;
    let acme_run = acme_run_in_flight(&server, &path).await;
    let run_path = format!("/api/runs/{acme_run}");
    assert_eq!(api_get(&server, "/api/runs", None).await.0, 401);
    assert_eq!(api_get(&server, &run_path, None).await.0, 401);
    let (code, listed) = api_get(&server, "/api/runs", Some(BRAVO_TOKEN)).await;
    assert_eq!(code, 200);
    assert_eq!(listed["runs"].as_array().unwrap().len(), 0, "{listed}");
    for path in [
        run_path.clone(),
        format!("{run_path}/events"),
        format!("{run_path}/stages/unanswered/attempts/1/logs"),
        // The live stream of a running attempt: refused before any line is sent.
        format!("{run_path}/stages/unanswered/attempts/1/logs/live"),
        format!("{run_path}/artifacts"),
    ] {
        assert_eq!(api_get(&server, &path, None).await.0, 401, "{path}");
        assert_eq!(
            api_get(&server, &path, Some(BRAVO_TOKEN)).await.0,
            404,
            "{path}"
        );
    }
    let (code, listed) = api_get(&server, "/api/runs", Some(ACME_TOKEN)).await;
    assert_eq!((code, listed["runs"].as_array().unwrap().len()), (200, 1));
    assert_eq!(api_get(&server, &run_path, Some(ACME_TOKEN)).await.0, 200);
    assert_eq!(
        api_get(&server, &run_path, Some(OPERATOR_TOKEN)).await.0,
        200
    );
    assert_eq!(
        api_get(&server, "/api/agents", Some(ACME_TOKEN)).await.0,
        403
    );
    assert_eq!(
        api_get(&server, "/api/dead-letters", Some(OPERATOR_TOKEN))
            .await
            .0,
        200
    );

    // The dashboard sends strangers to the login form and lets the operator in.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |path: &str| browser.get(format!("{}{path}", server.base));
    for path in [
        format!("/runs/{acme_run}"),
        format!("/runs/{acme_run}/stages/unanswered/attempts/1/logs/live"),
    ] {
        let response = page(&path).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/login", "{path}");
    }
    let login = |token: &str| {
        browser
            .post(format!("{}/login", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
    };
    assert_eq!(login("wrong").send().await.unwrap().status().as_u16(), 401);
    assert_eq!(
        login(ACME_TOKEN).send().await.unwrap().status().as_u16(),
        401
    );
    let signed_in = login(OPERATOR_TOKEN).send().await.unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let response = page("/runs").header("cookie", cookie).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("acme/shop"));
}

#[tokio::test]
async fn trust_a_private_repository_is_read_with_its_tenants_token_only() {
    let (_dir, path) = temp();
    let (_, sha) = git_repo(
        &path.join("private"),
        &[(".bosun.yml", "pipeline:\n  stages: [lint]\n")],
    );
    let url = serve_private_git(&path.join("private"), "acme/shop", "ghs_right-token");
    for (token, expected) in [
        ("ghs_right-token", "success"),
        ("ghs_wrong-token", "config-error"),
    ] {
        let mut tenant = acme();
        tenant.clone_token = value(token);
        let server = start(&path.join(token), tenant).await;
        recording_agent(&server, &["lint"]);
        let mut body: serde_json::Value =
            serde_json::from_slice(&push_payload("acme", &url, &sha, "main")).unwrap();
        body["repository"]["clone_url"] = url.as_str().into();
        let body = serde_json::to_vec(&body).unwrap();
        let (status, json) = server
            .deliver("private-1", "push", &body, Some(&sign(SECRET, &body)))
            .await;
        assert_eq!(status, 202, "{json}");
        let run_id = json["run_id"].as_str().unwrap();
        wait_for(&server, run_id, expected).await;
        if expected == "config-error" {
            let error = server.store().run(run_id).unwrap().unwrap().error.unwrap();
            assert!(
                error.contains("git clone") && !error.contains(token),
                "{error}"
            );
        }
    }
}

#[tokio::test]
async fn trust_an_api_token_whose_variable_is_unset_closes_the_api_rather_than_opening_it() {
    let (_dir, path) = temp();
    let mut s = settings(&path, vec![acme(), bravo()]);
    s.api_token = Secret {
        value: None,
        env: Some("BOSUN_TEST_SURELY_UNSET_API_TOKEN".into()),
    };
    let server = Server::start(s, bosun_bus::MemoryBus::new()).await;
    assert_eq!(api_get(&server, "/api/runs", None).await.0, 503);
    let trigger = json!({
        "repository": "acme/shop", "clone_url": "https://evil.example/acme/shop",
        "commit": "a".repeat(40), "branch": "main",
    });
    let (code, json) = api_post(&server, "/api/runs", None, trigger).await;
    assert_eq!(code, 503, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("api_token"),
        "{json}"
    );
    // Closed for tenant tokens too, until the operator sets the token.
    assert_eq!(api_get(&server, "/api/runs", Some(ACME_TOKEN)).await.0, 503);
    let page = reqwest::get(format!("{}/runs", server.base)).await.unwrap();
    assert_eq!(page.status().as_u16(), 503);
    assert!(
        server
            .store()
            .list_runs(&Default::default())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn trust_a_stage_naming_a_secret_it_is_not_granted_is_refused_before_any_task() {
    let (_dir, path) = temp();
    let pipeline = "
pipeline:
  stages:
    - name: test
      with: { token: '${{ secrets.KUBE_TOKEN }}' }
    - name: deploy
      needs: [test]
      with: { kubeconfig: '${{ secrets.KUBE_TOKEN }}' }
";
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", pipeline)]);
    let mut granted = acme();
    granted.secrets = vec![SecretGrant {
        name: "KUBE_TOKEN".into(),
        stages: vec!["deploy".into()],
        events: vec![],
        environments: vec![],
        default_branch_only: false,
    }];
    let server = start(&path, granted).await;
    let seen = recording_agent(&server, &["test", "deploy"]);
    let body = push_payload("acme", &url, &sha, "main");
    let (status, json) = server
        .deliver("s-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    assert_eq!(status, 202, "{json}");
    let run_id = json["run_id"].as_str().unwrap();
    wait_for(&server, run_id, "config-error").await;
    let error = server.store().run(run_id).unwrap().unwrap().error.unwrap();
    for part in [
        "stage `test`",
        "secret `KUBE_TOKEN`",
        "stage: `test` is not among the grant's `stages` (deploy)",
    ] {
        assert_contains(&error, part);
    }
    assert!(seen.lock().unwrap().is_empty(), "no task may be sent");

    // Named only where granted: the run goes, and the test stage's task says why the
    // secret is withheld from it, for the agent to tell a tool that asks anyway.
    let fixed = pipeline.replace("with: { token: '${{ secrets.KUBE_TOKEN }}' }", "with: {}");
    let (url, sha) = git_repo(&path.join("fixed"), &[(".bosun.yml", fixed.as_str())]);
    let body = push_payload("acme", &url, &sha, "main");
    let (_, json) = server
        .deliver("s-2", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    wait_for(&server, json["run_id"].as_str().unwrap(), "success").await;
    let tasks = seen.lock().unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(tasks[0].secrets_granted.is_empty());
    assert_eq!(tasks[0].secrets_withheld.len(), 1, "{:?}", tasks[0]);
    assert_eq!(tasks[0].secrets_withheld[0].0, "KUBE_TOKEN");
    assert_contains(&tasks[0].secrets_withheld[0].1, "stage: `test`");
    assert_eq!(tasks[1].secrets_granted, ["KUBE_TOKEN"]);
    assert!(tasks[1].secrets_withheld.is_empty());
}

#[tokio::test]
async fn trust_a_build_gets_the_image_name_of_the_tenants_prefix_whatever_its_config_says() {
    let (_dir, path) = temp();
    let pipeline = "
pipeline:
  stages:
    - name: build
      with: { builder: kaniko, repository: acme/shop }
    - name: image
      plugin: build
      agent: build
";
    let (url, sha) = git_repo(&path.join("repo"), &[(".bosun.yml", pipeline)]);
    let mut granted = acme();
    granted.image_prefix = Some("images/acme-".into());
    let server = start(&path, granted).await;
    let seen = recording_agent(&server, &["build"]);
    let body = push_payload("acme", &url, &sha, "main");
    let (_, json) = server
        .deliver("i-1", "push", &body, Some(&sign(SECRET, &body)))
        .await;
    wait_for(&server, json["run_id"].as_str().unwrap(), "success").await;
    let tasks = seen.lock().unwrap();
    assert_eq!(tasks.len(), 2);
    for task in tasks.iter() {
        // The config's `repository` is replaced, and the default (`owner/name`, which
        // this prefix would refuse) is never what a build is told to push.
        let repository: Vec<&str> = task
            .task
            .config
            .iter()
            .filter(|(k, _)| k == "repository")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(repository, ["images/acme-shop"], "{task:?}");
        assert_eq!(task.push_repository.as_deref(), Some("images/acme-shop"));
        assert_eq!(task.image_repository.as_deref(), Some("images/acme-shop"));
    }
}
