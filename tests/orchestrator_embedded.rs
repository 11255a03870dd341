//! The seed scenario through the orchestrator on the in-memory bus, with the real agent
//! host running WebAssembly plugins: lint passes; test fails two tests, is retried and
//! passes; build passes; security reports one high-severity vulnerability; the pipeline
//! stops before deploy; Slack (a local HTTP receiver) gets a report naming the
//! vulnerability and the flaky tests; the event log holds every step with timestamps. A
//! failed run emails its tenant's recipients through the real test SMTP server, saying
//! why; a relay that refuses the login is recorded with its reply.
//!
//! The stages run the `scripted` fixture plugin, whose report is set by the stage's
//! `with:`; the stage plugins on real tools are exercised in their own tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun::embedded::{Embedded, EmbeddedOptions};
use bosun_host::NoContainerRuntime;
use bosun_orchestrator::settings::{
    EmailSettings, PolicySettings, Secret, ServerSettings, TenantSettings,
};
use bosun_orchestrator::store::testing::PostgresSchema;
use bosun_orchestrator::store::{Store, StoreLocation};
use bosun_test_support::{
    Receiver, TestSmtp, assert_contains, delivered_to, git_repo, serve_private_git, service_var,
    unique_recipient, wait_for_mail,
};
use common::process::Process;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEED_WITH_SCRIPTED_STAGES: &str = r#"pipeline:
  retry_on_failure: true
  notify_on_success: true
  deploy_environment: staging
  stages:
    - name: lint
      plugin: scripted
      with: { summary: "pylint: no findings" }
    - name: test
      plugin: scripted
      backoff: 50ms
      with:
        fail_attempts: "1"
        tests: "12"
        failing_tests: "tests.test_cart::test_total,tests.test_cart::test_discount"
    - name: build
      plugin: scripted
      with: { summary: "image built and pushed" }
    - name: security
      plugin: scripted
      with:
        outcome: failure
        findings: "high:CVE-2023-0286:libssl1.1:1.1.1t-r0"
    - name: deploy
      plugin: scripted
"#;

fn repository(dir: &Path, pipeline: &str) -> (String, String) {
    git_repo(dir, &[(".bosun.yml", pipeline), ("README.md", "shop\n")])
}

async fn start(dir: &Path, tenant: TenantSettings) -> Embedded {
    start_on(dir, tenant, dir.join("runs.db").into()).await
}

async fn start_on(dir: &Path, tenant: TenantSettings, store: StoreLocation) -> Embedded {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(bosun_test_plugins::SCRIPTED, plugins.join("scripted.wasm")).unwrap();
    std::fs::copy(
        bosun_test_plugins::POLICY_BRANCH,
        plugins.join("policy-branch.wasm"),
    )
    .unwrap();
    let settings = ServerSettings {
        listen: "127.0.0.1:0".into(),
        store,
        work_dir: dir.join("orchestrator"),
        tenants: vec![tenant],
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

async fn trigger(base: &str, url: &str, sha: &str, branch: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/runs"))
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

async fn wait_until_finished(store: &Store, run_id: &str) -> bosun_orchestrator::model::RunRecord {
    let start = Instant::now();
    loop {
        let run = store.run(run_id).unwrap().unwrap();
        if run.status.as_str() != "running" && run.status.as_str() != "queued" {
            return run;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "run still {:?}",
            run.status
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_scenario_on_the_in_memory_bus() {
    let dir = tempfile::tempdir().unwrap();
    let received = Receiver::ok().await;
    let slack = format!("{}/hook", received.base);
    let (url, sha) = repository(&dir.path().join("shop"), SEED_WITH_SCRIPTED_STAGES);
    let tenant = TenantSettings {
        owner: "acme".into(),
        slack_webhook: Secret {
            value: Some(slack),
            env: None,
        },
        ..TenantSettings::default()
    };
    let system = start(dir.path(), tenant).await;
    let run_id = trigger(&system.base_url, &url, &sha, "main").await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let run = wait_until_finished(&store, &run_id).await;

    assert_eq!(run.status.as_str(), "failure", "{:?}", run.error);
    let state = |name: &str| {
        let s = run.stage(name).unwrap();
        (format!("{:?}", s.state), s.attempt)
    };
    assert_eq!(state("lint"), ("Success".into(), 1));
    assert_eq!(state("test"), ("Success".into(), 2));
    assert_eq!(state("build"), ("Success".into(), 1));
    assert_eq!(state("security"), ("Failure".into(), 1));
    assert_eq!(state("deploy"), ("Skipped".into(), 0));

    // Every attempt names the agent and the plugin's digest.
    let attempts = store.attempts(&run_id).unwrap();
    assert_eq!(attempts.len(), 5);
    for attempt in &attempts {
        assert!(
            attempt
                .agent_id
                .as_deref()
                .unwrap()
                .starts_with("embedded-")
        );
        assert!(
            attempt
                .plugin_digest
                .as_deref()
                .unwrap()
                .starts_with("sha256:")
        );
    }
    let security = attempts.iter().find(|a| a.stage == "security").unwrap();
    let finding = &security.report.as_ref().unwrap().findings[0];
    assert_eq!(finding.rule, "CVE-2023-0286");

    // Slack got the report: it names the vulnerability and both flaky tests.
    let start = Instant::now();
    while received.requests().is_empty() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let messages: Vec<String> = received.requests().iter().map(|r| r.body_text()).collect();
    let events = store.events(&run_id).unwrap();
    let log: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", e.kind, e.message))
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}\n{}", log.join("\n"));
    let message: serde_json::Value = serde_json::from_str(&messages[0]).unwrap();
    assert!(message["blocks"].is_array(), "{message}");
    let text = messages[0].as_str();
    assert_contains(text, "CVE-2023-0286");
    assert!(
        text.contains("test_total") && text.contains("test_discount"),
        "{text}"
    );

    // The audit log holds every step, in order, with timestamps.
    let events = store.events(&run_id).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let expected = [
        "run.created",
        "run.started",
        "stage.dispatched",
        "stage.result",
        "stage.passed",
        "stage.retry-scheduled",
        "stage.failed",
        "stage.skipped",
        "run.failed",
        "notify.requested",
        "notify.sent",
    ];
    for kind in expected {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    assert!(events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert_eq!(
        kinds.iter().filter(|k| **k == "stage.dispatched").count(),
        5
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_deny_halts_before_the_deploy_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = "pipeline:\n  deploy_environment: production\n  stages:\n    - name: build\n      plugin: scripted\n    - name: deploy\n      plugin: scripted\n";
    let (url, sha) = repository(&dir.path().join("shop"), pipeline);
    let tenant = TenantSettings {
        owner: "acme".into(),
        policies: vec![PolicySettings {
            plugin: "production-only-from-default-branch".into(),
            with: Default::default(),
            stages: vec!["deploy".into()],
            phases: vec![bosun_bus::policy::PolicyPhase::BeforeStage],
        }],
        ..TenantSettings::default()
    };
    let system = start(dir.path(), tenant).await;
    let run_id = trigger(&system.base_url, &url, &sha, "feature/login").await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let run = wait_until_finished(&store, &run_id).await;
    assert_eq!(run.status.as_str(), "halted");
    assert_eq!(run.denials.len(), 1, "{:?}", run.denials);
    assert!(
        run.denials[0].starts_with("production-only-from-default-branch: "),
        "{:?}",
        run.denials
    );
    assert!(
        run.denials[0].contains("feature/login"),
        "{:?}",
        run.denials
    );
    let attempts = store.attempts(&run_id).unwrap();
    assert!(
        attempts.iter().all(|a| a.stage != "deploy"),
        "deploy must never be dispatched"
    );
    let gates = store.gates(&run_id).unwrap();
    assert_eq!(gates.len(), 1);
    assert_eq!(
        gates[0].verdicts.as_ref().unwrap()[0]["decision"]["verdict"],
        "deny"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bosun_trigger_starts_a_run_and_names_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let (url, sha) = repository(
        &dir.path().join("shop"),
        "pipeline:\n  stages:\n    - { name: lint, plugin: scripted }\n",
    );
    let tenant = TenantSettings {
        owner: "acme".into(),
        ..TenantSettings::default()
    };
    let system = start(dir.path(), tenant).await;
    let bosun = env!("CARGO_BIN_EXE_bosun");
    let base = system.base_url.clone();
    let (url2, sha2) = (url.clone(), sha.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bosun)
            .args(["trigger", "--server", &base, "--repository", "acme/shop"])
            .args(["--clone-url", &url2, "--commit", &sha2, "--branch", "main"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(';')
        .to_string();
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let run = wait_until_finished(&store, &run_id).await;
    assert_eq!(run.status.as_str(), "success");
    assert_eq!(run.trigger.event, "manual");

    let base = system.base_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bosun)
            .args(["trigger", "--server", &base, "--repository", "no-owner"])
            .args(["--clone-url", &url, "--commit", &sha])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("owner/name"),
        "{stderr}"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_is_checked_out_by_the_embedded_agent_with_its_tenants_token() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = "pipeline:\n  stages:\n    - name: lint\n      plugin: scripted\n      with: { summary: checked out }\n";
    let (_, sha) = repository(&dir.path().join("shop"), pipeline);
    let url = serve_private_git(&dir.path().join("shop"), "acme/shop", "ghs_right-token");
    for token in ["ghs_right-token", "ghs_wrong-token"] {
        let tenant = TenantSettings {
            owner: "acme".into(),
            clone_token: Secret {
                value: Some(token.into()),
                env: None,
            },
            ..TenantSettings::default()
        };
        let root = dir.path().join(token);
        let system = start(&root, tenant).await;
        let run_id = trigger(&system.base_url, &url, &sha, "main").await;
        let store = Store::open(&root.join("runs.db")).unwrap();
        let run = wait_until_finished(&store, &run_id).await;
        if token == "ghs_right-token" {
            // The orchestrator read the config and the agent fetched the commit.
            assert_eq!(run.status.as_str(), "success", "{run:?}");
            let lint = run.stages.iter().find(|s| s.name == "lint").unwrap();
            assert_eq!(lint.summary, "checked out");
        } else {
            assert_eq!(run.status.as_str(), "config-error", "{run:?}");
            let error = run.error.unwrap();
            assert_contains(&error, "git clone");
            assert!(
                !error.contains("ghs_"),
                "the token is never printed: {error}"
            );
        }
        system.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_stage_is_a_config_error_at_once_when_the_agent_is_embedded() {
    let dir = tempfile::tempdir().unwrap();
    // `lnit` has no agent pool and no plugin here: it is refused at once, naming what is
    // there, rather than waiting its whole timeout for an agent that never comes.
    let pipeline = "pipeline:\n  stages:\n    - {name: lnit, timeout: 10m}\n";
    let (url, sha) = repository(&dir.path().join("shop"), pipeline);
    let tenant = TenantSettings {
        owner: "acme".into(),
        ..TenantSettings::default()
    };
    let system = start(dir.path(), tenant).await;
    let run_id = trigger(&system.base_url, &url, &sha, "main").await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let run = wait_until_finished(&store, &run_id).await;
    assert_eq!(run.status.as_str(), "config-error");
    let error = run.error.unwrap();
    assert!(
        error.contains("`lnit`") && error.contains("lint"),
        "{error}"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_on_one_environment_lock_deploy_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = r#"pipeline:
  cancel_superseded: false
  stages:
    - name: deploy
      plugin: scripted
      environment: staging
      concurrency: { group: "deploy-${{ environment }}" }
      with: { sleep_ms: "600", summary: deployed }
"#;
    let (url, sha) = repository(&dir.path().join("shop"), pipeline);
    let tenant = TenantSettings {
        owner: "acme".into(),
        ..TenantSettings::default()
    };
    let embedded = start(dir.path(), tenant).await;
    let base = embedded.base_url.clone();
    let first = trigger(&base, &url, &sha, "main").await;
    let second = trigger(&base, &url, &sha, "release").await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    for run in [&first, &second] {
        assert_eq!(
            wait_until_finished(&store, run).await.status.as_str(),
            "success"
        );
    }
    let deploy = |run: &str| {
        let attempts = store.attempts(run).unwrap();
        let a = attempts.iter().find(|a| a.stage == "deploy").unwrap();
        (a.dispatched_ms, a.settled_ms.unwrap())
    };
    let (mut one, mut two) = (deploy(&first), deploy(&second));
    if two.0 < one.0 {
        std::mem::swap(&mut one, &mut two);
    }
    assert!(
        two.0 >= one.1,
        "the second deploy began only after the first settled: {one:?} then {two:?}"
    );
    let waited: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|run| store.events(run).unwrap())
        .filter(|e| e.kind == "stage.waiting")
        .map(|e| e.message)
        .collect();
    assert!(
        waited
            .iter()
            .any(|m| m.contains("concurrency group deploy-staging is held by run")),
        "{waited:?}"
    );
    embedded.shutdown().await;
}

const FAILING_SECURITY: &str = r#"pipeline:
  stages:
    - name: lint
      plugin: scripted
      with: { summary: "pylint: no findings" }
    - name: security
      plugin: scripted
      with:
        outcome: failure
        findings: "high:B602:src/shop/app.py;low:B101:tests/test_cart.py"
"#;

fn email_tenant(smtp: &TestSmtp, recipient: &str, password: &str) -> TenantSettings {
    TenantSettings {
        owner: "acme".into(),
        email: Some(EmailSettings {
            smtp_host: smtp.host.clone(),
            smtp_port: smtp.port,
            username: Some(smtp.user.clone()),
            password: Secret {
                value: Some(password.into()),
                env: None,
            },
            from: "Bosun CI <ci@bosun.test>".into(),
            to: vec![recipient.into()],
            ca_file: Some(smtp.ca_file.clone()),
            notifier: "email".into(),
        }),
        ..TenantSettings::default()
    }
}

/// The run's recorded outcome on the email channel, once there is one.
async fn email_outcome(store: &Store, run_id: &str) -> (String, String) {
    let start = Instant::now();
    loop {
        let rows = store.notifications(run_id).unwrap();
        if let Some(row) = rows.iter().find(|r| r.channel == "email") {
            return (row.status.clone(), row.detail.clone());
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no email outcome recorded: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_emails_the_tenants_recipients_saying_why() {
    let test = "a_failed_run_emails_the_tenants_recipients_saying_why";
    let Some(smtp) = TestSmtp::find(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, sha) = repository(&dir.path().join("shop"), FAILING_SECURITY);
    let to = unique_recipient("failed-run");
    let system = start(dir.path(), email_tenant(&smtp, &to, &smtp.password)).await;
    let run_id = trigger(&system.base_url, &url, &sha, "main").await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    assert_eq!(
        wait_until_finished(&store, &run_id).await.status.as_str(),
        "failure"
    );
    let (status, detail) = email_outcome(&store, &run_id).await;
    assert_eq!(status, "sent", "{detail}");

    let mail = wait_for_mail(&smtp.maildir, &to, 1, Duration::from_secs(10)).await;
    assert_eq!(mail.len(), 1, "exactly one email: {mail:?}");
    let mail = &mail[0];
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_contains(&mail.subject, "Failure: acme/shop on main");
    assert_contains(&mail.subject, "security failed");
    // Both parts lead with the reason: the HIGH finding with its rule and file; the
    // LOW one is not a reason while a HIGH one is there.
    for body in [&mail.text, &mail.html] {
        let why = body.find("Why it failed").expect("a why section");
        let stages = body.find("Stages").expect("a stages section");
        assert!(why < stages, "{body}");
        assert_contains(body, "HIGH B602 src/shop/app.py");
        assert_contains(body, "security");
        assert_contains(body, &run_id);
    }
    assert!(!mail.text[..mail.text.find("Stages").unwrap()].contains("B101"));
    assert!(!mail.raw.contains(&smtp.password));
    let events = store.events(&run_id).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "notify.sent" && e.message.starts_with("email: sent to 1 recipient")),
        "{events:?}"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_the_relay_refuses_is_recorded_with_its_reason() {
    let test = "an_email_the_relay_refuses_is_recorded_with_its_reason";
    let Some(smtp) = TestSmtp::find(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, sha) = repository(&dir.path().join("shop"), FAILING_SECURITY);
    let to = unique_recipient("refused");
    let system = start(dir.path(), email_tenant(&smtp, &to, "wr0ng-smtp-pa55word")).await;
    let run_id = trigger(&system.base_url, &url, &sha, "main").await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    wait_until_finished(&store, &run_id).await;
    let (status, detail) = email_outcome(&store, &run_id).await;
    assert_eq!(status, "failed");
    assert_contains(&detail, "refused the email with SMTP 535");
    assert_contains(
        &detail,
        &format!("the SMTP relay {}:{} for tenant acme", smtp.host, smtp.port),
    );
    assert!(!detail.contains("wr0ng-smtp-pa55word"), "{detail}");
    assert!(delivered_to(&smtp.maildir, &to).is_empty());
    let events = store.events(&run_id).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "notify.failed" && e.message.starts_with("email: ")),
        "{events:?}"
    );
    system.shutdown().await;
}

/// A run's detail over the API once it has settled.
async fn settled_over_the_api(base: &str, run_id: &str) -> serde_json::Value {
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let detail: serde_json::Value = client
            .get(format!("{base}/api/runs/{run_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = detail["run"]["status"].as_str().unwrap_or_default();
        if status != "queued" && status != "running" {
            return detail;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "run still {status}: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_on_the_postgres_store_runs_the_seed_pipeline_and_reads_it_back() {
    let test = "orchestrator_on_the_postgres_store_runs_the_seed_pipeline_and_reads_it_back";
    let Some(url) = service_var(test, "BOSUN_TEST_POSTGRES") else {
        return;
    };
    let schema = match PostgresSchema::create(&url, test) {
        Ok(schema) => schema,
        Err(e) => {
            let why = format!("PostgreSQL at BOSUN_TEST_POSTGRES does not answer ({e})");
            return bosun_test_support::missing_service(test, &why).unwrap_or(());
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, sha) = repository(&dir.path().join("shop"), SEED_WITH_SCRIPTED_STAGES);
    let tenant = TenantSettings {
        owner: "acme".into(),
        ..TenantSettings::default()
    };
    let system = start_on(dir.path(), tenant, schema.location().clone()).await;
    let run_id = trigger(&system.base_url, &url, &sha, "main").await;
    let detail = settled_over_the_api(&system.base_url, &run_id).await;

    // The seed scenario's outcome, read back over the API from PostgreSQL.
    assert_eq!(detail["run"]["status"], "failure", "{detail}");
    let attempts = detail["attempts"].as_array().unwrap();
    let tries = |stage: &str| attempts.iter().filter(|a| a["stage"] == stage).count();
    assert_eq!(
        (
            tries("lint"),
            tries("test"),
            tries("build"),
            tries("security"),
            tries("deploy")
        ),
        (1, 2, 1, 1, 0),
        "{detail}"
    );
    let security = attempts.iter().find(|a| a["stage"] == "security").unwrap();
    assert_eq!(security["report"]["findings"][0]["rule"], "CVE-2023-0286");
    assert!(
        attempts
            .iter()
            .all(|a| a["plugin_digest"].as_str().unwrap().starts_with("sha256:")),
        "{detail}"
    );
    let events: serde_json::Value =
        reqwest::get(format!("{}/api/runs/{run_id}/events", system.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run.created"), "{kinds:?}");
    assert!(kinds.contains(&"stage.retry-scheduled"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"run.failed"), "{kinds:?}");
    system.shutdown().await;

    // The rows are PostgreSQL's, not a file's: `bosun orchestrator`, started on the
    // same store from a settings file, lists the run and serves its detail.
    let store = Store::open(schema.location()).unwrap();
    assert!(store.path().is_none());
    assert_eq!(
        store.run(&run_id).unwrap().unwrap().status.as_str(),
        "failure"
    );
    assert!(
        !dir.path().join("runs.db").exists(),
        "no SQLite file was made"
    );
    let StoreLocation::Postgres(store_url) = schema.location() else {
        unreachable!()
    };
    let settings = dir.path().join("bosun-server.yaml");
    std::fs::write(
        &settings,
        format!(
            "listen: 127.0.0.1:0\nbus: memory://\nstore: \"{store_url}\"\nwork_dir: {}\ntenants:\n  - owner: acme\n",
            dir.path().join("orchestrator").display()
        ),
    )
    .unwrap();
    let orchestrator = Process::start(&["orchestrator", "--config", settings.to_str().unwrap()]);
    let base = orchestrator.printed_url("bosun orchestrator on").await;
    let announced = orchestrator.find("run store").unwrap();
    assert_contains(&announced, "run store postgres://bosun:***@");
    assert!(
        !announced.contains(store_url.as_str()),
        "a password in {announced}"
    );
    let listed: serde_json::Value = reqwest::get(format!("{base}/api/runs"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["runs"][0]["id"], run_id.as_str(), "{listed}");
    assert_eq!(listed["runs"][0]["status"], "failure");
    let served = settled_over_the_api(&base, &run_id).await;
    assert_eq!(
        served["attempts"],
        detail["attempts"],
        "{}",
        orchestrator.log()
    );
}
