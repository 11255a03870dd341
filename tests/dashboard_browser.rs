//! The dashboard in a real browser: the embedded system runs the seed scenario on a copy
//! of `examples/python-app` with tools in hardened containers on the Docker Engine (lint
//! passes; test fails two flaky tests, then passes on the retry; build pushes to the
//! local registry; security finds one HIGH bandit issue, B602, and the tenant's
//! `no-critical-vulns` gate halts the run before deploy). Headless Chromium then renders
//! every page, and the test reads the DOM it built and takes screenshots of the runs list
//! and the run page (saved under `target/dashboard-screenshots/`). A test stage's logs
//! page, opened while its step runs, shows in Chromium the failing test's line the step
//! printed after the page was served (the page follows the attempt's live stream).
//!
//! Needs `bash scripts/services.sh` (Docker, tool images, registry, Chromium). Under
//! `CI=true` a missing one fails the test; elsewhere it skips, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun::embedded::{Embedded, EmbeddedOptions};
use bosun_host::{DockerRunner, DockerSettings};
use bosun_orchestrator::settings::{PolicySettings, ServerSettings, TenantSettings};
use bosun_orchestrator::store::Store;
use bosun_test_support::assert_contains;
use common::devtools::Browser;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The seed pipeline, with the security stage reporting rather than failing so that the
/// decision is the tenant's policy gate's: the run is halted, with the policy's reason.
const PIPELINE: &str = "pipeline:
  retry_on_failure: true
  deploy_environment: staging
  stages:
    - name: lint
    - name: test
      backoff: 100ms
    - name: build
    - name: security
      with: { fail_on: none }
    - name: deploy
";

fn services_or_skip(test: &str) -> Option<(String, PathBuf)> {
    let registry = std::env::var("BOSUN_TEST_REGISTRY").ok();
    let docker = Path::new("/var/run/docker.sock").exists();
    let chromium = std::env::var("BOSUN_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/bin/chromium"));
    match registry {
        Some(registry) if docker && chromium.exists() => Some((registry, chromium)),
        _ => bosun_test_support::missing_service(
            test,
            &format!(
                "needs the Docker Engine, BOSUN_TEST_REGISTRY and Chromium (BOSUN_TEST_CHROMIUM or {})",
                chromium.display()
            ),
        ),
    }
}

async fn start(dir: &Path, registry: &str) -> Embedded {
    let agent_dir = dir.join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    // Share the compiled built-ins with the other end-to-end tests (keyed by digest).
    std::fs::create_dir_all(common::artifact_cache()).unwrap();
    std::os::unix::fs::symlink(common::artifact_cache(), agent_dir.join("artifact-cache")).unwrap();
    let docker = DockerRunner::connect(DockerSettings {
        agent_id: format!("dashboard-{}", std::process::id()),
        registry: Some(registry.to_string()),
        ..DockerSettings::default()
    })
    .await
    .expect("the Docker Engine answers; start it with: bash scripts/services.sh");
    let tenant = TenantSettings {
        owner: "acme".into(),
        policies: vec![PolicySettings {
            plugin: "no-critical-vulns".into(),
            with: [("threshold".to_string(), "high".to_string())].into(),
            stages: vec!["security".into()],
            phases: vec![bosun_bus::policy::PolicyPhase::AfterStage],
        }],
        ..TenantSettings::default()
    };
    Embedded::start(EmbeddedOptions {
        settings: ServerSettings {
            listen: "127.0.0.1:0".into(),
            store: dir.join("runs.db").into(),
            work_dir: dir.join("orchestrator"),
            tenants: vec![tenant],
            ..ServerSettings::default()
        },
        plugin_dirs: vec![],
        containers: Arc::new(docker),
        private_checkouts: false,
        work_dir: agent_dir,
        extra_stages: vec![],
        concurrency: 1,
        tick: Duration::from_millis(20),
    })
    .await
    .unwrap()
}

/// Run Chromium headless with `args` and a fresh profile; its stdout and stderr.
async fn chromium(binary: &Path, args: Vec<String>) -> (String, String) {
    let binary = binary.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(&binary)
            .args(common::devtools::HEADLESS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        // A browser that hangs must fail the test, not stall it.
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("chromium {args:?} did not finish in 120 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "chromium {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    })
    .await
    .unwrap()
}

async fn dom(binary: &Path, url: &str) -> String {
    let (dom, stderr) = chromium(binary, vec!["--dump-dom".into(), url.into()]).await;
    if !dom.contains("<main>") {
        // Say what the server answered, not only that the browser saw no page.
        let answer = reqwest::get(url).await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        panic!("no page at {url}: {dom}\n{stderr}\nthe server answers {status}: {text}");
    }
    dom
}

async fn screenshot(binary: &Path, url: &str, name: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(name);
    let _ = std::fs::remove_file(&path);
    chromium(
        binary,
        vec![
            format!("--screenshot={}", path.display()),
            "--window-size=1280,1600".into(),
            url.into(),
        ],
    )
    .await;
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{name} is not a PNG"
    );
    assert!(
        bytes.len() > 20_000,
        "{name} is nearly empty: {} bytes",
        bytes.len()
    );
    path
}

/// The part of `dom` from the element with `id` to the next element with an id (the
/// pages give each section one, in order).
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {dom}"));
    let rest = &dom[start + marker.len()..];
    &rest[..rest.find(" id=\"").unwrap_or(rest.len())]
}

/// Starts a run of acme/shop's `main` at `sha` over the API; its id.
async fn start_run(base: &str, url: &str, sha: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/runs"))
        .json(&serde_json::json!({
            "repository": "acme/shop", "clone_url": url, "commit": sha, "branch": "main",
            "sender": "dev",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    body["run_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_render_a_halted_seed_run_in_chromium() {
    let Some((registry, browser)) =
        services_or_skip("dashboard_pages_render_a_halted_seed_run_in_chromium")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_repo, url, sha) = bosun_test_support::python_sample(dir.path(), Some(PIPELINE));
    let system = start(dir.path(), &registry).await;
    let base = system.base_url.clone();
    let run_id = start_run(&base, &url, &sha).await;

    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let started = Instant::now();
    let run = loop {
        let run = store.run(&run_id).unwrap().unwrap();
        if run.status.is_final() {
            break run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "run still {:?}: {:?}",
            run.status,
            store.events(&run_id).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let attempts = store.attempts(&run_id).unwrap();
    let context = format!("{run:#?}\n{attempts:#?}");
    assert_eq!(run.status.as_str(), "halted", "{context}");
    let first_test = attempts
        .iter()
        .find(|a| a.stage == "test" && a.attempt == 1)
        .unwrap_or_else(|| panic!("{context}"));
    let flaky: Vec<String> = first_test
        .report
        .as_ref()
        .unwrap()
        .test_failures
        .iter()
        .map(|f| {
            if f.suite.is_empty() {
                f.name.clone()
            } else {
                format!("{}::{}", f.suite, f.name)
            }
        })
        .collect();
    assert_eq!(flaky.len(), 2, "{context}");
    let security = attempts.iter().find(|a| a.stage == "security").unwrap();
    let agent_id = security.agent_id.clone().unwrap();
    let digest = security.plugin_digest.clone().unwrap();
    let digest_prefix = &digest[..digest.len().min(19)];

    // The runs list: the run, halted, linked.
    let runs = dom(&browser, &format!("{base}/runs")).await;
    let row = section(&runs, "runs");
    assert!(row.contains(&format!("href=\"/runs/{run_id}\"")), "{runs}");
    assert!(row.contains("b-halted\">halted</span>"), "{runs}");
    assert!(row.contains("acme/shop"), "{runs}");
    let filtered = dom(&browser, &format!("{base}/runs?status=success")).await;
    assert!(!filtered.contains(&run_id), "{filtered}");

    // The run page: why it failed first, the flaky tests, who ran what.
    let page = dom(&browser, &format!("{base}/runs/{run_id}")).await;
    let why = section(&page, "why");
    assert_contains(why, "halted by policy at security");
    assert_contains(why, "no-critical-vulns");
    assert_contains(why, "B602");
    assert_contains(why, "b-high\">HIGH</span>");
    let flaky_box = section(&page, "flaky");
    for name in &flaky {
        assert!(
            flaky_box.contains(name.as_str()),
            "{name} not flaky: {page}"
        );
    }
    let vulnerabilities = section(&page, "vulnerabilities");
    assert!(vulnerabilities.contains("B602"), "{page}");
    assert_contains(&page, &agent_id);
    assert!(
        page.contains(digest_prefix),
        "{digest_prefix} not in {page}"
    );
    let policy = section(&page, "policy");
    assert!(
        policy.contains("no-critical-vulns") && policy.contains("b-deny\">deny</span>"),
        "{policy}"
    );
    let timeline = section(&page, "timeline");
    for stage in ["lint", "test", "build", "security", "deploy"] {
        assert_contains(timeline, &format!("#stage-{stage}\""));
    }
    assert_contains(&page, "id=\"events\"");

    // An attempt's logs.
    let logs_url = format!("{base}/runs/{run_id}/stages/test/attempts/1/logs");
    assert!(page.contains(&format!("/runs/{run_id}/stages/test/attempts/1/logs")));
    let logs = dom(&browser, &logs_url).await;
    assert_contains(&logs, "Logs of test attempt 1");
    if !store
        .attempt_logs(&run_id, "test", 1)
        .unwrap()
        .unwrap()
        .is_empty()
    {
        assert_contains(&logs, "id=\"logs\"");
    }

    // Stats, plugins, dead letters.
    let stats = dom(&browser, &format!("{base}/stats")).await;
    assert!(
        section(&stats, "per-repository").contains("acme/shop"),
        "{stats}"
    );
    let per_stage = section(&stats, "per-stage");
    for stage in ["lint", "test", "build", "security"] {
        assert!(per_stage.contains(&format!("<td>{stage}</td>")), "{stats}");
    }
    assert!(section(&stats, "durations").contains("security"), "{stats}");
    let plugins = dom(&browser, &format!("{base}/plugins")).await;
    assert!(section(&plugins, "agents").contains(&agent_id), "{plugins}");
    let loaded = section(&plugins, "loaded");
    for plugin in ["lint", "test", "build", "security", "no-critical-vulns"] {
        assert!(
            loaded.contains(&format!("<td class=\"mono\">{plugin}</td>")),
            "{plugin} not loaded: {plugins}"
        );
    }
    let used = section(&plugins, "used");
    for attempt in &attempts {
        let digest = attempt.plugin_digest.as_deref().unwrap();
        assert!(used.contains(&digest[..19]), "{digest} not in {used}");
    }
    let dead = dom(&browser, &format!("{base}/dead-letters")).await;
    assert_contains(&dead, "dead-letter queue is empty");

    // Screenshots of the two pages people look at most.
    screenshot(&browser, &format!("{base}/runs"), "runs.png").await;
    screenshot(&browser, &format!("{base}/runs/{run_id}"), "run.png").await;
    system.shutdown().await;
}

/// A test stage whose step prints a line, waits for a flag the test sets inside its
/// running container, then prints a failing test's line and fails.
const LIVE_PIPELINE: &str = r#"pipeline:
  stages:
    - name: test
      image: bosun/python:3.11
      commands:
        - echo 'collected 3 items'
        - "while [ ! -e /tmp/go ]; do sleep 0.2; done"
        - "echo 'FAILED tests/test_cart.py::test_total - assert 2 == 3'; exit 1"
"#;

/// What the logs page shows now: the follow state's text and the lines in its table.
fn shown(page: &mut Browser) -> (String, Vec<String>) {
    let now = page.evaluate(
        "JSON.stringify({state: (document.getElementById('follow-state')||{}).textContent||'',\
         lines: [...document.querySelectorAll('#logs pre')].map(p => p.textContent)})",
    );
    let now: serde_json::Value = serde_json::from_str(now.as_str().unwrap()).unwrap();
    let lines = now["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        // The step's script says each command (`+ …`) before its output.
        .filter(|l| !l.starts_with("+ "))
        .collect();
    (now["state"].as_str().unwrap().to_string(), lines)
}

/// Poll the page until `enough` holds for what it shows; fails naming what it showed.
async fn until_shown(
    page: &mut Browser,
    what: &str,
    enough: impl Fn(&str, &[String]) -> bool,
) -> (String, Vec<String>) {
    let started = Instant::now();
    loop {
        let (state, lines) = shown(page);
        if enough(&state, &lines) {
            return (state, lines);
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the page never showed {what}: {state:?} {lines:?}\n{}",
            page.dom()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_logs_page_follows_a_failing_test_stage_live_in_chromium() {
    let test = "dashboard_logs_page_follows_a_failing_test_stage_live_in_chromium";
    let Some((registry, binary)) = services_or_skip(test) else {
        return;
    };
    let image = Command::new("docker")
        .args(["image", "inspect", "bosun/python:3.11"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !image {
        bosun_test_support::missing_service::<()>(test, "needs the image bosun/python:3.11");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_repo, url, sha) = bosun_test_support::python_sample(dir.path(), Some(LIVE_PIPELINE));
    let system = start(dir.path(), &registry).await;
    let base = system.base_url.clone();
    let run_id = start_run(&base, &url, &sha).await;

    // The step has printed its first line and waits.
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let started = Instant::now();
    while !store
        .live_log_lines(&run_id, "test", 1, 0, usize::MAX)
        .unwrap()
        .iter()
        .any(|(_, l)| l.message == "collected 3 items")
    {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the step printed nothing: {:?}",
            store.events(&run_id).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The page, served while the attempt runs, follows it.
    let logs_url = format!("{base}/runs/{run_id}/stages/test/attempts/1/logs");
    let mut page = Browser::start(&binary);
    page.navigate(&logs_url);
    let served = Instant::now();
    let (state, lines) = until_shown(&mut page, "the first line", |state, lines| {
        !state.is_empty() && !lines.is_empty()
    })
    .await;
    assert_eq!(state, "Following the attempt live…", "{}", page.dom());
    assert_eq!(lines, ["collected 3 items"]);
    let attempt = store
        .attempts(&run_id)
        .unwrap()
        .into_iter()
        .find(|a| a.stage == "test")
        .unwrap();
    assert!(attempt.settled_ms.is_none(), "{attempt:#?}");

    // Let the step go on: the failing test's line, printed after the page was served,
    // appears in the page, then the end of the attempt.
    common::let_go(&run_id, "test").await;
    let failed_line = "FAILED tests/test_cart.py::test_total - assert 2 == 3";
    let (state, lines) = until_shown(&mut page, "the failing test and the end", |state, lines| {
        lines.iter().any(|l| l == failed_line) && state.starts_with("The attempt ended")
    })
    .await;
    println!(
        "the failing test's line was shown {:.1} s after the page was served",
        served.elapsed().as_secs_f64()
    );
    assert_eq!(
        lines[..2],
        ["collected 3 items", failed_line],
        "in order: {state} {lines:?}"
    );
    let dom = page.dom();
    let table = section(&dom, "logs");
    assert_contains(
        table,
        "<pre>FAILED tests/test_cart.py::test_total - assert 2 == 3</pre>",
    );
    drop(page);

    // The run failed at its test stage, with that attempt's log stored as shown.
    let run = loop {
        let run = store.run(&run_id).unwrap().unwrap();
        if run.status.is_final() {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(run.status.as_str(), "failure", "{run:#?}");
    let stored: Vec<String> = store
        .attempt_logs(&run_id, "test", 1)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .filter(|m| !m.starts_with("+ "))
        .collect();
    assert_eq!(stored[..2], lines[..2], "the page showed the attempt's log");
    system.shutdown().await;
}
