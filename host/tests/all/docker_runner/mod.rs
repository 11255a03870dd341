//! The Docker runner against the real engine: hardening, limits, deadlines, argv safety.
//!
//! Needs the engine and the locally built tool images (`bash scripts/services.sh`). Under
//! `CI=true` a missing engine is a failure; elsewhere these tests skip, loudly.

use crate::common;
use crate::common::docker::{self, registry_digest};
use bosun_test_support::{assert_contains, service_var};
mod step_task_data;
mod steps;

use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use bosun_host::bindings::{ContainerError, ContainerRequest};
use bosun_host::{ContainerContext, ContainerRunner, DockerRunner, DockerSettings};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Env {
    runner: Arc<DockerRunner>,
    base: String,
    python: String,
}

/// The runner (agent `test-PID`) and the base and Python images, or the missing-service
/// rule.
async fn docker_or_skip(test: &str) -> Option<Env> {
    let base = service_var(test, "BOSUN_TEST_BASE_IMAGE")?;
    let python = service_var(test, "BOSUN_TEST_PYTHON_IMAGE")?;
    let settings = DockerSettings {
        agent_id: format!("test-{}", std::process::id()),
        ..DockerSettings::default()
    };
    let runner = docker::docker_or_skip(test, settings, &[&base, &python]).await?;
    Some(Env {
        runner: Arc::new(runner),
        base,
        python,
    })
}

fn context(dir: &Path, run_id: &str, timeout: Duration) -> ContainerContext {
    let workspace = dir.join("ws");
    let out = dir.join("out");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    // Tools run as the image's non-root user; let it read the workspace.
    for p in [dir, workspace.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(workspace.join("hello.txt"), "hello from the workspace\n").unwrap();
    ContainerContext {
        run_id: run_id.to_string(),
        stage: "test".into(),
        attempt: 1,
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        branch: "main".into(),
        commit_message: String::new(),
        tenant: "acme".into(),
        repository: "acme/shop".into(),
        event: "push".into(),
        workspace,
        out,
        network_allowed: false,
        deadline: Instant::now() + timeout,
        secrets: vec![],
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
        artifacts: None,
        tool_log: None,
    }
}

fn request(image: &str, argv: &[&str], timeout: Duration) -> ContainerRequest {
    ContainerRequest {
        image: image.to_string(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        workdir: None,
        timeout_ms: timeout.as_millis() as u32,
        network: false,
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_bits()
    )
}

fn rand_bits() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u128
}

async fn containers_with_run(runner: &DockerRunner, run_id: &str) -> Vec<String> {
    let filters = HashMap::from([("label".to_string(), vec![format!("org.bosun.run={run_id}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    runner
        .client()
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

#[tokio::test]
async fn docker_running_container_is_hardened_and_killed_at_deadline() {
    let Some(env) =
        docker_or_skip("docker_running_container_is_hardened_and_killed_at_deadline").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run_id = unique("hardened");
    let ctx = context(dir.path(), &run_id, Duration::from_secs(60));
    let runner = env.runner.clone();
    let req = request(&env.base, &["sleep", "300"], Duration::from_secs(4));
    let started = Instant::now();
    let task = tokio::spawn({
        let ctx = ctx.clone();
        async move { runner.run(&ctx, req).await }
    });
    let mut id = None;
    for _ in 0..100 {
        if let Some(found) = containers_with_run(&env.runner, &run_id)
            .await
            .into_iter()
            .next()
        {
            id = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = id.expect("the task container should be visible while it runs");
    let inspected = env
        .runner
        .client()
        .inspect_container(&id, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let host = inspected.host_config.unwrap();
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.pids_limit, Some(256));
    assert_eq!(host.memory, Some(1 << 30));
    assert_eq!(host.privileged, Some(false));
    assert!(
        host.security_opt
            .unwrap()
            .iter()
            .any(|o| o == "no-new-privileges")
    );
    assert!(host.tmpfs.unwrap().contains_key("/tmp"));
    let binds = host.binds.unwrap();
    assert!(
        binds.iter().any(|b| b.ends_with(":/workspace:ro")),
        "{binds:?}"
    );
    assert!(!binds.iter().any(|b| b.contains("docker.sock")));
    let config = inspected.config.unwrap();
    assert_eq!(
        config.user.as_deref(),
        Some("bosun"),
        "runs as the image's non-root user"
    );
    let labels = config.labels.unwrap();
    assert_eq!(
        labels.get("org.bosun.stage").map(String::as_str),
        Some("test")
    );
    assert_eq!(
        labels.get("org.bosun.attempt").map(String::as_str),
        Some("1")
    );
    let env_vars = config.env.unwrap();
    for expected in [
        "CI=true",
        "BOSUN_STAGE=test",
        "BOSUN_ATTEMPT=1",
        "BOSUN_BRANCH=main",
    ] {
        assert!(env_vars.iter().any(|e| e == expected), "missing {expected}");
    }

    let result = task.await.unwrap();
    assert!(
        matches!(result, Err(ContainerError::TimedOut(4000))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "killed at the deadline, not at sleep's end"
    );
    assert!(
        containers_with_run(&env.runner, &run_id).await.is_empty(),
        "container removed"
    );
}

#[tokio::test]
async fn docker_fork_bomb_stops_at_pids_limit() {
    let Some(env) = docker_or_skip("docker_fork_bomb_stops_at_pids_limit").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), &unique("forkbomb"), Duration::from_secs(120));
    let script = r#"
import os, time
n = 0
try:
    while n < 2000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print('stopped after', n, 'errno', e.errno)
"#;
    let out = env
        .runner
        .run(
            &ctx,
            request(
                &env.python,
                &["python3", "-c", script],
                Duration::from_secs(60),
            ),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("stopped after"), "{}", out.stdout);
    assert!(
        out.stdout.trim_end().ends_with("errno 11"),
        "EAGAIN at the pids limit: {}",
        out.stdout
    );
    let forks: u32 = out
        .stdout
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(forks < 256, "stopped below the limit, got {forks}");
}

#[tokio::test]
async fn docker_hostile_branch_name_reaches_the_tool_verbatim() {
    let Some(env) = docker_or_skip("docker_hostile_branch_name_reaches_the_tool_verbatim").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = context(dir.path(), &unique("argv"), Duration::from_secs(60));
    let branch = "zzz\";echo${IFS}\"hi\";#";
    ctx.branch = branch.to_string();
    let out = env
        .runner
        .run(
            &ctx,
            request(
                &env.base,
                &["printenv", "BOSUN_BRANCH"],
                Duration::from_secs(30),
            ),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, format!("{branch}\n"));
    let out = env
        .runner
        .run(
            &ctx,
            request(&env.base, &["echo", branch], Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!(
        out.stdout,
        format!("{branch}\n"),
        "no shell ran: nothing printed `hi` alone"
    );
}

#[tokio::test]
async fn docker_workspace_is_read_only_and_out_is_writable() {
    let Some(env) = docker_or_skip("docker_workspace_is_read_only_and_out_is_writable").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), &unique("mounts"), Duration::from_secs(60));
    let script = "cat /workspace/hello.txt; \
        if touch /workspace/new 2>/dev/null; then echo workspace-writable; else echo workspace-ro; fi; \
        if touch /etc/new 2>/dev/null; then echo root-writable; else echo root-ro; fi; \
        echo result > /out/result.txt && echo out-ok; id -u";
    let out = env
        .runner
        .run(
            &ctx,
            request(&env.base, &["bash", "-c", script], Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!(
        out.stdout, "hello from the workspace\nworkspace-ro\nroot-ro\nout-ok\n1000\n",
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(ctx.out.join("result.txt")).unwrap(),
        "result\n"
    );
}

#[tokio::test]
async fn docker_exit_codes_and_missing_images_are_reported() {
    let Some(env) = docker_or_skip("docker_exit_codes_and_missing_images_are_reported").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), &unique("codes"), Duration::from_secs(60));
    let out = env
        .runner
        .run(
            &ctx,
            request(
                &env.base,
                &["bash", "-c", "echo oops >&2; exit 7"],
                Duration::from_secs(30),
            ),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 7);
    assert_eq!(out.stderr, "oops\n");
    let missing = env
        .runner
        .run(
            &ctx,
            request(
                "bosun/no-such-image:nope",
                &["true"],
                Duration::from_secs(30),
            ),
        )
        .await;
    match missing {
        Err(ContainerError::ImageNotFound(why)) => {
            assert!(why.contains("bosun/no-such-image:nope"))
        }
        other => panic!("expected ImageNotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn docker_orphan_sweep_removes_only_this_agents_leftovers() {
    let Some(env) = docker_or_skip("docker_orphan_sweep_removes_only_this_agents_leftovers").await
    else {
        return;
    };
    let docker = env.runner.client();
    let make = |agent: &str| bollard::models::ContainerCreateBody {
        image: Some(env.base.clone()),
        cmd: Some(vec!["true".into()]),
        labels: Some(HashMap::from([
            ("org.bosun.managed".to_string(), "true".to_string()),
            ("org.bosun.agent".to_string(), agent.to_string()),
        ])),
        ..Default::default()
    };
    // A runner of its own: the sweep removes every container of its agent, running or
    // not, and the other Docker tests in this binary run their tools meanwhile.
    let sweeper_id = format!("sweeper-{}", std::process::id());
    let sweeper = DockerRunner::connect(DockerSettings {
        agent_id: sweeper_id.clone(),
        ..DockerSettings::default()
    })
    .await
    .unwrap();
    let mine = docker
        .create_container(None, make(&sweeper_id))
        .await
        .unwrap()
        .id;
    let other_agent = format!("other-{}", std::process::id());
    let theirs = docker
        .create_container(None, make(&other_agent))
        .await
        .unwrap()
        .id;
    let removed = sweeper.sweep_orphans().await.unwrap();
    assert!(removed >= 1);
    assert!(
        docker
            .inspect_container(&mine, None::<InspectContainerOptions>)
            .await
            .is_err()
    );
    assert!(
        docker
            .inspect_container(&theirs, None::<InspectContainerOptions>)
            .await
            .is_ok()
    );
    let force = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
        .force(true)
        .build();
    docker.remove_container(&theirs, Some(force)).await.unwrap();
}

#[tokio::test]
async fn docker_plugin_runs_a_tool_through_the_capability() {
    let Some(env) = docker_or_skip("docker_plugin_runs_a_tool_through_the_capability").await else {
        return;
    };
    let rt = common::runtime_with(bosun_host::SandboxLimits {
        deadline: Duration::from_secs(60),
        ..common::test_limits()
    })
    .with_containers(env.runner.clone());
    let plugin = common::load_file(&rt, bosun_test_plugins::HOSTILE).await;
    let d = common::dirs();
    for p in [d.root.path(), d.workspace.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let result = common::run_mode(
        &rt,
        &plugin,
        &d,
        &[
            ("mode", "container"),
            ("image", &env.python),
            ("argv", "python3,-c,print(6*7)"),
        ],
    )
    .await;
    let report = result
        .report
        .unwrap_or_else(|| panic!("{:?}", result.failure));
    assert_contains(&report.summary, "exit code 0");
    assert_contains(&report.summary, "42");
}

#[tokio::test]
async fn docker_image_is_built_tagged_and_pushed_with_its_digest() {
    let Some(env) = docker_or_skip("docker_image_is_built_tagged_and_pushed_with_its_digest").await
    else {
        return;
    };
    let Some(registry) = service_var(
        "docker_image_is_built_tagged_and_pushed_with_its_digest",
        "BOSUN_TEST_REGISTRY",
    ) else {
        return;
    };
    let settings = DockerSettings {
        agent_id: format!("test-{}", std::process::id()),
        registry: Some(registry.clone()),
        ..DockerSettings::default()
    };
    let runner = DockerRunner::connect(settings).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = context(dir.path(), &unique("build"), Duration::from_secs(300));
    ctx.branch = "feature/login".into();
    std::fs::create_dir_all(ctx.workspace.join("app")).unwrap();
    std::fs::write(
        ctx.workspace.join("app/Dockerfile"),
        format!("FROM {}\nCOPY hello.txt /hello.txt\nRUN echo built > /built.txt\nCMD [\"cat\", \"/built.txt\"]\n", env.base),
    )
    .unwrap();
    std::fs::write(ctx.workspace.join("app/hello.txt"), "hi\n").unwrap();
    let repository = format!("bosun-test/app-{}", std::process::id());
    let request = bosun_host::bindings::ImageBuildRequest {
        dockerfile: "app/Dockerfile".into(),
        context: "app".into(),
        repository: repository.clone(),
        build_args: vec![],
        push: true,
        timeout_ms: 240_000,
    };
    let out = runner.build_image(&ctx, request).await.unwrap();
    assert!(out.image_id.starts_with("sha256:"), "{}", out.image_id);
    assert_eq!(
        out.references,
        [
            format!("{registry}/{repository}:{}", ctx.commit),
            format!("{registry}/{repository}:feature-login"),
        ]
    );
    let digest = out.digest.clone().expect("a pushed image has a digest");
    assert_eq!(
        registry_digest(&registry, &repository, &ctx.commit).as_deref(),
        Some(digest.as_str())
    );
    assert!(registry_digest(&registry, &repository, "feature-login").is_some());

    // The built image runs, through the same hardened path.
    let run = runner
        .run(
            &ctx,
            request_for(&out.references[0], &["cat", "/built.txt", "/hello.txt"]),
        )
        .await
        .unwrap();
    assert_eq!(run.stdout, "built\nhi\n");
}

#[tokio::test]
async fn docker_build_refuses_paths_outside_the_context() {
    let Some(env) = docker_or_skip("docker_build_refuses_paths_outside_the_context").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), &unique("build-bad"), Duration::from_secs(60));
    let request = bosun_host::bindings::ImageBuildRequest {
        dockerfile: "Dockerfile".into(),
        context: ".".into(),
        repository: "acme/app".into(),
        build_args: vec![],
        push: true,
        timeout_ms: 60_000,
    };
    // No registry configured on this runner: a push is refused before any build.
    match env.runner.build_image(&ctx, request).await {
        Err(ContainerError::Denied(why)) => assert!(why.contains("no image registry"), "{why}"),
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn request_for(image: &str, argv: &[&str]) -> ContainerRequest {
    request(image, argv, Duration::from_secs(60))
}

#[tokio::test]
async fn docker_a_finished_runs_tools_are_killed_and_other_runs_left_running() {
    let Some(env) =
        docker_or_skip("docker_a_finished_runs_tools_are_killed_and_other_runs_left_running").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ended, other) = (unique("ended"), unique("other"));
    let long = Duration::from_secs(600);
    let spawn = |run: &str, sub: &str| {
        let runner = Arc::clone(&env.runner);
        let context = context(&dir.path().join(sub), run, long);
        let request = request(&env.base, &["sleep", "600"], long);
        tokio::spawn(async move { runner.run(&context, request).await })
    };
    let (ended_tool, other_tool) = (spawn(&ended, "a"), spawn(&other, "b"));
    // Both tools are up before the run ends.
    for run in [&ended, &other] {
        let mut up = false;
        for _ in 0..600 {
            if !containers_with_run(&env.runner, run).await.is_empty() {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "the tool of {run} never started");
    }
    assert_eq!(env.runner.stop_run(&ended).await.unwrap(), 1);
    // Killed while running (137), or removed before its start (an error).
    match ended_tool.await.unwrap() {
        Ok(output) => assert_eq!(output.exit_code, 137, "{output:?}"),
        Err(e) => assert!(format!("{e:?}").contains("starting"), "{e:?}"),
    }
    assert!(
        containers_with_run(&env.runner, &ended).await.is_empty(),
        "the killed tool's container is removed"
    );
    assert!(
        !other_tool.is_finished(),
        "another run's tool keeps running"
    );
    assert_eq!(env.runner.stop_run(&other).await.unwrap(), 1);
    assert!(
        other_tool
            .await
            .unwrap()
            .is_ok_and(|output| output.exit_code == 137)
            || containers_with_run(&env.runner, &other).await.is_empty()
    );
}

#[tokio::test]
async fn docker_tool_output_reaches_the_attempt_log_live_line_by_line_and_masked() {
    use bosun_bus::LogLevel;
    use bosun_host::capabilities::log::LogSink;
    let Some(env) = docker_or_skip("docker_tool_output_reaches_the_attempt_log_live").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-live-value";
    let sink = LogSink::new(8 << 10, 1 << 20, vec![secret.to_string()]);
    let (tap, mut live) = tokio::sync::mpsc::channel(64);
    sink.stream_to(tap);
    let mut context = context(dir.path(), &unique("live"), Duration::from_secs(60));
    context.secrets = vec![("TOKEN".into(), secret.into())];
    context.tool_log = Some(sink.clone());
    let script = format!("echo one; echo token={secret}; echo err-line >&2; printf tail");
    let out = env
        .runner
        .run(
            &context,
            request(&env.base, &["sh", "-c", &script], Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0);
    let (log, _) = sink.take();
    let mut streamed = Vec::new();
    while let Some((index, line)) = live.recv().await {
        streamed.push((index, line));
    }
    assert_eq!(
        streamed.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        (0..log.len() as u64).collect::<Vec<_>>(),
        "every line went live, at its place in the log"
    );
    let said: Vec<&str> = streamed.iter().map(|(_, l)| l.message.as_str()).collect();
    for text in ["one", "token=***", "err-line", "tail"] {
        assert!(said.contains(&text), "{text} in {said:?}");
    }
    assert!(said.iter().all(|m| !m.contains(secret)), "{said:?}");
    let stdout_order: Vec<&str> = said.iter().copied().filter(|m| *m != "err-line").collect();
    assert_eq!(stdout_order, ["one", "token=***", "tail"]);
    let err = streamed
        .iter()
        .find(|(_, l)| l.message == "err-line")
        .unwrap();
    assert_eq!(
        (err.1.level, err.1.source.as_str()),
        (LogLevel::Warn, "tool")
    );
}
