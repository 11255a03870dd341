//! Team pipelines with every real part, across processes: the steps run in
//! `bosun/python:3.11` on the Docker Engine, agents are `bosun agent` processes with work
//! folders of their own over the Tansu broker, the orchestrator a `bosun orchestrator`
//! process on SQLite.
//!
//! - Artifacts: the build keeps `dist` (a link it leaves there is not kept), the test
//!   step reads `/artifacts/build/dist/app.txt` read-only, through `bosun run` on the
//!   embedded default and across two agents (the file goes through the orchestrator's
//!   HTTP side).
//! - Services: a step with a Redis service whose agent is killed with SIGKILL mid-step is
//!   finished by the other agent; both agents' service containers and step networks are
//!   gone afterwards (the killed one's by its sweep when it comes back).
//! - Re-runs: a run whose test stage failed on one agent (its image was missing there) is
//!   re-run over the API: lint and build on the other agent are reused with their
//!   artifact, test runs again with its first attempt's plugin digest.
//!
//! Needs `bash scripts/services.sh` (Docker, the runtime images, Tansu). Under `CI=true`
//! a missing service fails the test; elsewhere it skips, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_orchestrator::store::Store;
use bosun_test_support::{missing_service, python_sample, serve_git};
use common::cluster::{Cluster, attempts, kafka_or_skip};
use std::process::Command;
use std::time::{Duration, Instant};

/// `build` keeps `dist`, `test` reads it; each stage's `agent:` line when given.
fn pipeline(build_agent: &str, test_agent: &str) -> String {
    format!(
        r#"pipeline:
  stages:
    - name: build
      {build_agent}image: bosun/python:3.11
      commands:
        - mkdir -p dist
        - printf 'built from %s\n' "$BOSUN_COMMIT" > dist/app.txt
        - printf 'message=%s\n' "$BOSUN_COMMIT_MESSAGE" >> dist/app.txt
        - ln -s /etc/passwd dist/leak.txt
      artifacts: [dist]
    - name: test
      {test_agent}needs: [build]
      image: bosun/python:3.11
      commands:
        - cat /artifacts/build/dist/app.txt
        - grep -q "built from $BOSUN_COMMIT" /artifacts/build/dist/app.txt
        - test ! -e /artifacts/build/dist/leak.txt
        - if touch /artifacts/build/dist/app.txt 2>/dev/null; then echo "artifacts are writable"; exit 1; fi
"#
    )
}

fn docker_or_skip(test: &str) -> Option<()> {
    let images = ["bosun/python:3.11", "bosun/redis:7"].iter().all(|image| {
        Command::new("docker")
            .args(["image", "inspect", image])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if images {
        Some(())
    } else {
        missing_service(
            test,
            "needs the Docker Engine with bosun/python:3.11 and bosun/redis:7 (`bash scripts/services.sh up`)",
        )
    }
}

fn logs(store: &Store, run_id: &str, stage: &str) -> String {
    store
        .attempt_logs(run_id, stage, 1)
        .unwrap()
        .unwrap_or_default()
        .into_iter()
        .map(|line| line.message + "\n")
        .collect()
}

#[test]
fn artifacts_a_build_keeps_are_read_by_the_stage_that_needs_it_through_bosun_run() {
    let test = "artifacts_through_bosun_run";
    if docker_or_skip(test).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (repo, _, sha) = python_sample(dir.path(), Some(&pipeline("", "")));
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args([
            "run",
            repo.to_str().unwrap(),
            "--json",
            "--containers",
            "docker",
        ])
        .env("BOSUN_CACHE_DIR", common::artifact_cache())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let store = Store::open(&repo.join(".bosun/bosun.db")).unwrap();
    let run_id = run["run"]["id"].as_str().unwrap();
    let context = format!(
        "{stderr}\n{:#}\nbuild:\n{}\ntest:\n{}",
        run["attempts"],
        logs(&store, run_id, "build"),
        logs(&store, run_id, "test")
    );
    assert_eq!(out.status.code(), Some(0), "{context}");
    let kept = store.artifacts(run_id).unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (kept[0].stage.as_str(), kept[0].path.as_str()),
        ("build", "dist/app.txt")
    );
    let build = logs(&store, run_id, "build");
    assert!(build.contains("kept 1 artifact files"), "{build}");
    assert!(
        build.contains("dist/leak.txt: is a symbolic link"),
        "the link is said to be left out:\n{build}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("dist/app.txt")).ok(),
        None,
        "the step wrote its own copy, never the user's folder ({sha})"
    );
}

/// A cluster with `agents` (id, stages) over Tansu, or `None` when a service is missing.
async fn cluster(
    test: &str,
    dir: &std::path::Path,
    tenant: &str,
    agents: &[(&str, &str)],
) -> Option<Cluster> {
    docker_or_skip(test)?;
    let kafka = kafka_or_skip(test)?;
    let mut cluster = Cluster::start(dir, &kafka, "", tenant).await;
    for (id, stages) in agents {
        cluster.agent(id, stages, &[]);
    }
    Some(cluster)
}

/// A name unique to this test process, for agent ids and image tags.
fn unique(what: &str) -> String {
    format!("{what}-{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_built_by_one_agent_are_read_by_a_stage_on_another_over_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let (build_agent, test_agent) = (unique("agent-build"), unique("agent-test"));
    let Some(cluster) = cluster(
        "artifacts_across_two_agents_over_kafka",
        dir.path(),
        "",
        &[(&build_agent, "builders"), (&test_agent, "testers")],
    )
    .await
    else {
        return;
    };
    let (repo, _, sha) = python_sample(
        dir.path(),
        Some(&pipeline(
            "agent: builders\n      ",
            "agent: testers\n      ",
        )),
    );
    let url = serve_git(&repo, "acme/shop");
    let run_id = cluster.push("artifacts-1", &url, &sha).await;
    let detail = cluster.settled(&run_id, Duration::from_secs(300)).await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let context = format!(
        "{:#}\nbuild:\n{}\ntest:\n{}\n{}",
        detail["attempts"],
        logs(&store, &run_id, "build"),
        logs(&store, &run_id, "test"),
        cluster.logs()
    );
    assert_eq!(detail["run"]["status"], "success", "{context}");
    assert_eq!(
        attempts(&detail, "build")[0]["agent_id"],
        build_agent.as_str(),
        "{context}"
    );
    assert_eq!(
        attempts(&detail, "test")[0]["agent_id"],
        test_agent.as_str(),
        "{context}"
    );
    let listed = cluster.get(&format!("/api/runs/{run_id}/artifacts")).await;
    assert_eq!(listed["artifacts"][0]["path"], "dist/app.txt", "{listed}");
    let file = cluster
        .text(&format!("/api/runs/{run_id}/artifacts/build/dist/app.txt"))
        .await;
    // The pushed commit's message came from the webhook to the step's commands.
    assert_eq!(file, format!("built from {sha}\nmessage=Initial commit\n"));
}

/// The ids of `agent`'s containers (running or not) from `image`, and its step networks.
fn left_by(agent: &str, image: Option<&str>) -> (Vec<String>, Vec<String>) {
    let label = format!("label=org.bosun.agent={agent}");
    let mut ps = vec!["ps", "-aq", "--filter", &label];
    let ancestor = image.map(|i| format!("ancestor={i}"));
    if let Some(ancestor) = &ancestor {
        ps.extend(["--filter", ancestor]);
    }
    let list = |args: &[&str]| -> Vec<String> {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    (
        list(&ps),
        list(&["network", "ls", "-q", "--filter", &label]),
    )
}

/// Wait until `check` holds, or fail naming `what` with the cluster's output.
async fn until(cluster: &Cluster, what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "{what}\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_of_an_agent_killed_mid_step_are_gone_and_the_other_agent_finishes_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (unique("agent-svc-a"), unique("agent-svc-b"));
    let Some(mut cluster) = cluster(
        "services_across_two_agents_with_a_killed_agent",
        dir.path(),
        "    network_stages: [integration]\n",
        &[(&first, "workers"), (&second, "workers")],
    )
    .await
    else {
        return;
    };
    // The step talks to its Redis service, then waits for the test's word: the agent
    // running it is killed while it waits.
    let pipeline = r#"pipeline:
  stages:
    - name: integration
      agent: workers
      image: bosun/python:3.11
      network: true
      services:
        - name: cache
          image: bosun/redis:7
          ready: { tcp: 6379, timeout: 60s }
      commands:
        - python3 -c "import socket; s = socket.create_connection(('cache', 6379)); s.sendall(b'PING\r\n'); assert s.recv(16).startswith(b'+PONG')"
        - echo "talked to cache"
        - while [ ! -e /tmp/go ]; do sleep 1; done
"#;
    let (repo, _, sha) = python_sample(dir.path(), Some(pipeline));
    let url = serve_git(&repo, "acme/shop");
    let run_id = cluster.push("services-1", &url, &sha).await;

    // Whichever agent took the task has its step and its service up.
    let step_of = |agent: &str| left_by(agent, Some("bosun/python:3.11")).0;
    let service_of = |agent: &str| left_by(agent, Some("bosun/redis:7")).0;
    let mut taken = None;
    until(
        &cluster,
        "no agent started the step with its service",
        Duration::from_secs(120),
        || {
            taken = [&first, &second]
                .into_iter()
                .find(|a| !step_of(a).is_empty() && !service_of(a).is_empty())
                .cloned();
            taken.is_some()
        },
    )
    .await;
    let killed = taken.unwrap();
    let survivor = if killed == first {
        second.clone()
    } else {
        first.clone()
    };
    cluster.kill_agent(&killed);
    let (orphans, orphan_networks) = left_by(&killed, None);
    assert!(
        orphans.len() >= 2 && !orphan_networks.is_empty(),
        "a killed agent cleans nothing up itself: {orphans:?} {orphan_networks:?}"
    );

    // The task is delivered again to the survivor, which runs the step (and its service)
    // afresh; the test lets it finish.
    until(
        &cluster,
        "the other agent never took the step over",
        Duration::from_secs(180),
        || !step_of(&survivor).is_empty() && !service_of(&survivor).is_empty(),
    )
    .await;
    let step = step_of(&survivor).remove(0);
    until(
        &cluster,
        "the step never reached its wait",
        Duration::from_secs(60),
        || {
            Command::new("docker")
                .args(["exec", &step, "touch", "/tmp/go"])
                .output()
                .is_ok_and(|out| out.status.success())
        },
    )
    .await;
    let detail = cluster.settled(&run_id, Duration::from_secs(180)).await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let context = format!(
        "{:#}\n{}\n{}",
        detail["attempts"],
        logs(&store, &run_id, "integration"),
        cluster.logs()
    );
    assert_eq!(detail["run"]["status"], "success", "{context}");
    let settled = attempts(&detail, "integration");
    let last = settled.last().unwrap();
    assert_eq!(last["agent_id"], survivor.as_str(), "{context}");
    assert_eq!(last["outcome"], "success", "{context}");

    // The survivor took its service and network away with the step.
    until(
        &cluster,
        "the survivor left its service behind",
        Duration::from_secs(60),
        || left_by(&survivor, None) == (vec![], vec![]),
    )
    .await;
    // The killed agent's leftovers stay until it comes back: its start-up sweep removes
    // its containers (the service too) and its step network.
    assert!(!left_by(&killed, None).0.is_empty(), "{context}");
    let back = cluster.agent_process(&killed, "nothing-to-serve", &[]);
    until(
        &cluster,
        "the restarted agent did not sweep its leftovers",
        Duration::from_secs(60),
        || left_by(&killed, None) == (vec![], vec![]),
    )
    .await;
    drop(back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_across_agents_reuses_build_and_its_artifact_and_pins_the_test_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let (build_agent, test_agent) = (unique("agent-rr-build"), unique("agent-rr-test"));
    let Some(cluster) = cluster(
        "rerun_across_two_agents_over_kafka",
        dir.path(),
        "",
        &[(&build_agent, "builders"), (&test_agent, "testers")],
    )
    .await
    else {
        return;
    };
    // The test step's image is not on the testers' host yet (as when a runner image is
    // missing or broken); the operator fixes the host and re-runs what failed.
    let image = format!("bosun/rerun-probe:{}", std::process::id());
    let tagged = Image(image.clone());
    let pipeline = pipeline("agent: builders\n      ", "agent: testers\n      ")
        .replacen(
            "needs: [build]\n      image: bosun/python:3.11",
            &format!("needs: [build]\n      image: {image}"),
            1,
        )
        .replace(
            "pipeline:\n  stages:\n",
            "pipeline:\n  stages:\n    - name: lint\n      agent: builders\n      image: bosun/python:3.11\n      commands: [python3 -m compileall -q .]\n",
        )
        .replacen("- name: build\n", "- name: build\n      needs: [lint]\n", 1);
    let (repo, _, sha) = python_sample(dir.path(), Some(&pipeline));
    let url = serve_git(&repo, "acme/shop");
    let original = cluster.push("rerun-1", &url, &sha).await;
    let first = cluster.settled(&original, Duration::from_secs(300)).await;
    let context = format!("{first:#}\n{}", cluster.logs());
    assert_eq!(first["run"]["status"], "failure", "{context}");
    let failed = attempts(&first, "test");
    assert_eq!(failed.len(), 1, "{context}");
    assert!(
        failed[0]["failure_message"]
            .as_str()
            .unwrap_or_default()
            .contains(&image),
        "the failure names the missing image: {context}"
    );
    let pinned = failed[0]["plugin_digest"].as_str().unwrap().to_string();
    let built = attempts(&first, "build")[0]["agent_id"].clone();
    assert_eq!(built, build_agent.as_str(), "{context}");

    let tag = Command::new("docker")
        .args(["tag", "bosun/python:3.11", &image])
        .output()
        .unwrap();
    assert!(tag.status.success(), "{tag:?}");
    let (code, answer) = cluster
        .post(
            &format!("/api/runs/{original}/rerun"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(code, 202, "{answer}\n{}", cluster.logs());
    assert_eq!(answer["rerun"], serde_json::json!(["test"]), "{answer}");
    assert_eq!(
        answer["reused"],
        serde_json::json!(["lint", "build"]),
        "{answer}"
    );
    let run_id = answer["run_id"].as_str().unwrap().to_string();
    let second = cluster.settled(&run_id, Duration::from_secs(300)).await;
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let context = format!(
        "{second:#}\ntest:\n{}\n{}",
        logs(&store, &run_id, "test"),
        cluster.logs()
    );
    assert_eq!(second["run"]["status"], "success", "{context}");
    for reused in ["lint", "build"] {
        let copied = attempts(&second, reused);
        assert_eq!(copied.len(), 1, "{context}");
        assert_eq!(copied[0]["reused_from"], original.as_str(), "{context}");
        assert_eq!(copied[0]["agent_id"], build_agent.as_str(), "{context}");
    }
    let ran = attempts(&second, "test");
    assert_eq!(ran.len(), 1, "{context}");
    assert!(
        ran[0].get("reused_from").is_none_or(|r| r.is_null()),
        "{context}"
    );
    assert_eq!(ran[0]["agent_id"], test_agent.as_str(), "{context}");
    assert_eq!(ran[0]["plugin_digest"], pinned.as_str(), "{context}");
    // The re-run's test read the first run's build output, through the orchestrator.
    assert!(
        logs(&store, &run_id, "test").contains(&format!("built from {sha}")),
        "{context}"
    );
    drop(tagged);
}

/// A local image tag, removed when the test ends.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", &self.0]).output();
    }
}

/// The running step containers (not its services) whose stage label is `stage`.
fn running_for(stage: &str) -> Vec<String> {
    let label = format!("label=org.bosun.stage={stage}");
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", &label])
        .args(["--filter", "ancestor=bosun/python:3.11"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn fail_fast_stops_a_running_siblings_container_while_the_run_goes_on() {
    let test = "fail_fast_stops_running_siblings";
    if docker_or_skip(test).is_none() {
        return;
    }
    // Stage names of this test alone: the containers are found by their stage label.
    let (matrix, other) = (unique("fanout"), unique("docs"));
    let pipeline = format!(
        r#"pipeline:
  stages:
    - name: {matrix}
      matrix: {{ side: [fails, waits] }}
      image: bosun/python:3.11
      network: true
      services:
        - name: cache
          image: bosun/redis:7
          ready: {{ tcp: 6379, timeout: 60s }}
      commands:
        - if [ "${{{{ matrix.side }}}}" = fails ]; then while [ ! -e /tmp/go ]; do sleep 1; done; exit 3; fi
        - sleep 600
    - name: {other}
      needs: []
      agent: docs
      image: bosun/python:3.11
      commands:
        - while [ ! -e /tmp/go ]; do sleep 1; done
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let (repo, _, _) = python_sample(dir.path(), Some(&pipeline));
    // Its JSON report on stdout, its progress on stderr, each in a file.
    let (stdout, stderr) = (dir.path().join("run.json"), dir.path().join("run.log"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_bosun"));
    command
        .args([
            "run",
            repo.to_str().unwrap(),
            "--json",
            "--containers",
            "docker",
        ])
        .env("BOSUN_CACHE_DIR", common::artifact_cache())
        .env_remove("RUST_LOG")
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    // Killed if the test fails before it ends.
    let mut run = common::process::Process::spawn(command);
    let log = || std::fs::read_to_string(&stderr).unwrap_or_default();
    let (fails, waits) = (format!("{matrix}-fails"), format!("{matrix}-waits"));
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{what}:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    // Both instances run at once (one bus key per stage, not per run), beside the
    // other stage on its own pool.
    wait(
        "the instances and the other stage never ran at once",
        &|| {
            [&fails, &waits, &other]
                .iter()
                .all(|s| !running_for(s).is_empty())
        },
    );
    let touch = |stage: &str| {
        let container = running_for(stage).remove(0);
        let out = Command::new("docker")
            .args(["exec", &container, "touch", "/tmp/go"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    touch(&fails);
    // The failed instance cancels its sibling, whose container is stopped now, not
    // when the run ends: the other stage still runs.
    wait("the cancelled sibling's container kept running", &|| {
        running_for(&waits).is_empty()
    });
    assert!(!running_for(&other).is_empty(), "the run went on");
    touch(&other);
    let status = run.child().wait().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&stdout).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", log()));
    assert_eq!(status.code(), Some(1), "{report:#}");
    let state = |name: &str| {
        report["run"]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| (s["state"].clone(), s["summary"].clone()))
            .unwrap()
    };
    assert_eq!(state(&fails).0, "failure", "{report:#}");
    let (cancelled, summary) = state(&waits);
    assert_eq!(cancelled, "cancelled", "{report:#}");
    assert!(
        summary.as_str().unwrap_or_default().contains("fail_fast"),
        "{report:#}"
    );
    assert_eq!(state(&other).0, "success", "{report:#}");
    // Nothing of the run is left on the engine once `bosun run` has ended: no
    // container, no step network (each would hold one of the engine's address pools).
    let run_label = format!(
        "label=org.bosun.run={}",
        report["run"]["id"].as_str().unwrap()
    );
    for what in [&["ps", "-aq"][..], &["network", "ls", "-q"][..]] {
        let out = Command::new("docker")
            .args(what)
            .args(["--filter", &run_label])
            .output()
            .unwrap();
        let left = String::from_utf8_lossy(&out.stdout);
        assert!(left.trim().is_empty(), "docker {what:?} left: {left}");
    }
}
