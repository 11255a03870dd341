//! Stage approvals on the embedded default (`bosun up`'s orchestrator, agent host and
//! HTTP side in one process, real WebAssembly plugins): one deploy approved, one
//! rejected with its reason, one rejected by its timeout after a restart; only the
//! approved one reaches the agent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun::embedded::{Embedded, EmbeddedOptions};
use bosun_host::NoContainerRuntime;
use bosun_orchestrator::model::{RunRecord, StageState};
use bosun_orchestrator::settings::{ServerSettings, TenantSettings};
use bosun_orchestrator::store::Store;
use bosun_test_support::git;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PIPELINE: &str = r#"pipeline:
  stages:
    - name: build
      plugin: scripted
      with: { summary: "image built" }
    - name: deploy
      plugin: scripted
      approval: { from: [alice], timeout: 1h }
      with: { summary: "deployed" }
"#;

async fn start(dir: &Path) -> Embedded {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(bosun_test_plugins::SCRIPTED, plugins.join("scripted.wasm")).unwrap();
    let settings = ServerSettings {
        listen: "127.0.0.1:0".into(),
        store: dir.join("runs.db").into(),
        work_dir: dir.join("orchestrator"),
        tenants: vec![TenantSettings {
            owner: "acme".into(),
            ..TenantSettings::default()
        }],
        ..ServerSettings::default()
    };
    Embedded::start(EmbeddedOptions {
        settings,
        plugin_dirs: vec![plugins],
        containers: Arc::new(NoContainerRuntime),
        private_checkouts: false,
        work_dir: dir.join("agent"),
        extra_stages: vec![],
        concurrency: 2,
        tick: Duration::from_millis(10),
    })
    .await
    .unwrap()
}

async fn post(base: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Poll the stored run until `done` holds (up to 60 s).
async fn until(store: &Store, run_id: &str, done: impl Fn(&RunRecord) -> bool) -> RunRecord {
    let start = Instant::now();
    loop {
        let run = store.run(run_id).unwrap().unwrap();
        if done(&run) {
            return run;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{run:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn deploy_waits(run: &RunRecord) -> bool {
    run.stage("deploy").map(|s| s.state) == Some(StageState::AwaitingApproval)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_granted_rejected_and_timed_out_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("shop");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(repo.join(".bosun.yml"), PIPELINE).unwrap();
    git(&repo, &["add", "--all"]);
    git(&repo, &["commit", "--quiet", "-m", "shop"]);
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.display());

    let system = start(dir.path()).await;
    let base = system.base_url.clone();
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    // One branch each: a newer run on a branch would supersede the one before.
    let mut runs = Vec::new();
    for branch in ["release-1", "release-2", "release-3"] {
        let (code, json) = post(
            &base,
            "/api/runs",
            json!({ "repository": "acme/shop", "clone_url": url, "commit": sha, "branch": branch }),
        )
        .await;
        assert_eq!(code, 202, "{json}");
        runs.push(json["run_id"].as_str().unwrap().to_string());
    }
    for run_id in &runs {
        until(&store, run_id, deploy_waits).await;
    }

    let (code, json) = post(
        &base,
        &format!("/api/runs/{}/stages/deploy/approve", runs[0]),
        json!({ "reason": "change ticket 42", "by": "alice" }),
    )
    .await;
    assert_eq!(code, 200, "{json}");
    let (code, json) = post(
        &base,
        &format!("/api/runs/{}/stages/deploy/reject", runs[1]),
        json!({ "reason": "release freeze", "by": "alice" }),
    )
    .await;
    assert_eq!(code, 200, "{json}");
    let approved = until(&store, &runs[0], |r| r.status.is_final()).await;
    assert_eq!(approved.status.as_str(), "success");
    assert_eq!(approved.stage("deploy").unwrap().summary, "deployed");
    let rejected = until(&store, &runs[1], |r| r.status.is_final()).await;
    assert_eq!(rejected.status.as_str(), "failure");
    assert_eq!(
        rejected.stage("deploy").unwrap().summary,
        "rejected by alice (operator token): release freeze"
    );

    // The third waits through a restart; its hour passes while the server is down.
    system.shutdown().await;
    let mut writes = Store::open(&dir.path().join("runs.db")).unwrap();
    let mut run = writes.run(&runs[2]).unwrap().unwrap();
    assert!(deploy_waits(&run), "still waiting after the shutdown");
    let deploy = run.stages.iter_mut().find(|s| s.name == "deploy").unwrap();
    deploy.approval.as_mut().unwrap().deadline_ms = 1;
    writes.write(|w| w.save_run(&run)).unwrap();
    let system = start(dir.path()).await;
    let timed_out = until(&store, &runs[2], |r| r.status.is_final()).await;
    assert_eq!(timed_out.status.as_str(), "failure");
    assert_eq!(
        timed_out.stage("deploy").unwrap().summary,
        "rejected by the timeout: nobody decided within 1h"
    );

    let deployed: Vec<String> = runs
        .iter()
        .filter(|id| {
            store
                .attempts(id)
                .unwrap()
                .iter()
                .any(|a| a.stage == "deploy")
        })
        .cloned()
        .collect();
    assert_eq!(deployed, [runs[0].clone()], "only the approved deploy ran");
    for (run_id, kind) in [
        (&runs[0], "gate.allowed"),
        (&runs[1], "gate.denied"),
        (&runs[2], "gate.denied"),
    ] {
        let events = store.events(run_id).unwrap();
        assert!(events.iter().any(|e| e.kind == kind), "{run_id}: {kind}");
    }
    system.shutdown().await;
}
