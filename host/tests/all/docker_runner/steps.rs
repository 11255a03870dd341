//! Command steps on the real engine: the private writable checkout, `HOME` and `/tmp`,
//! the failing command's index, collected reports (never through a link), caches per
//! tenant, deadlines and missing images.

use super::*;
use bosun_host::StepCache;
use bosun_host::bindings::StepRequest;
use bosun_test_support::assert_contains;

/// A runner whose step folders and caches live in `dir`, so tests never share a cache.
pub(super) async fn step_runner(dir: &Path) -> DockerRunner {
    DockerRunner::connect(DockerSettings {
        agent_id: format!("steps-{}", std::process::id()),
        step_scratch: dir.join("scratch"),
        step_cache: Some(StepCache::new(dir.join("cache"), 64 << 20)),
        ..DockerSettings::default()
    })
    .await
    .unwrap()
}

/// A step running `commands` in `image`, with one variable of its own (`GREETING`).
pub(super) fn step(image: &str, commands: &[&str]) -> StepRequest {
    StepRequest {
        image: image.to_string(),
        commands: commands.iter().map(|c| c.to_string()).collect(),
        env: vec![("GREETING".into(), "hi there".into())],
        timeout_ms: 60_000,
        network: false,
        cache_paths: Vec::new(),
        cache_key: String::new(),
        collect: Vec::new(),
        services: Vec::new(),
    }
}

#[tokio::test]
async fn docker_step_writes_a_private_checkout_and_collects_its_reports() {
    let Some(env) = docker_or_skip("docker_step_writes_a_private_checkout").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let ctx = context(dir.path(), &unique("step"), Duration::from_secs(120));
    std::fs::create_dir_all(ctx.workspace.join("sub")).unwrap();
    let mut request = step(
        &env.base,
        &[
            "cat hello.txt",
            "echo built > made.txt && mkdir -p reports",
            "printf '<testsuite tests=\"1\"><testcase name=\"t\"/></testsuite>' > reports/junit.xml",
            "ln -s /etc/passwd reports/leak.xml",
            "touch \"$HOME/h\" /tmp/t && echo \"home=$HOME user=$(id -u) greeting=$GREETING branch=$BOSUN_BRANCH\"",
            "cd sub",
            "pwd",
        ],
    );
    request.collect = vec!["reports/*.xml".into(), "missing/*.json".into()];
    let out = runner.run_step(&ctx, request).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.failed_command, None);
    assert_contains(&out.stdout, "+ cat hello.txt\nhello from the workspace\n");
    assert_contains(
        &out.stdout,
        "home=/home/bosun user=1000 greeting=hi there branch=main",
    );
    assert!(
        out.stdout.contains("/workspace/sub\n"),
        "cd carries over: {}",
        out.stdout
    );
    assert!(
        !ctx.workspace.join("made.txt").exists(),
        "the shared checkout stays untouched"
    );
    assert_eq!(
        out.collected,
        vec![
            (
                "reports/*.xml".to_string(),
                vec!["reports/junit.xml".to_string()]
            ),
            ("missing/*.json".to_string(), Vec::new()),
        ]
    );
    assert!(ctx.out.join("workspace/reports/junit.xml").is_file());
    assert!(
        !ctx.out.join("workspace/reports/leak.xml").exists(),
        "a link is never followed out of the checkout"
    );
    assert_contains(&out.stderr, "not collected: reports/leak.xml");
}

#[tokio::test]
async fn docker_step_names_the_command_that_failed() {
    let Some(env) = docker_or_skip("docker_step_names_the_command_that_failed").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let ctx = context(dir.path(), &unique("step-fail"), Duration::from_secs(120));
    let request = step(&env.base, &["true", "echo before; exit 4", "echo never"]);
    let out = runner.run_step(&ctx, request).await.unwrap();
    assert_eq!(out.exit_code, 4);
    assert_eq!(out.failed_command, Some(1));
    assert!(
        out.stdout.contains("before\n") && !out.stdout.contains("never\n"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn docker_step_caches_are_kept_per_tenant_and_saved_only_after_success() {
    let Some(env) = docker_or_skip("docker_step_caches_are_kept_per_tenant").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let ctx = context(dir.path(), &unique("step-cache"), Duration::from_secs(300));
    let cached = |commands: &[&str]| {
        let mut request = step(&env.base, commands);
        request.cache_paths = vec!["~/.cache/demo".into()];
        request.cache_key = "lock-1".into();
        request
    };
    let first = runner
        .run_step(
            &ctx,
            cached(&["mkdir -p ~/.cache/demo && echo wheel > ~/.cache/demo/pkg.whl"]),
        )
        .await
        .unwrap();
    assert_eq!((first.cache_restored, first.cache_saved), (None, true));

    let second = runner
        .run_step(&ctx, cached(&["cat ~/.cache/demo/pkg.whl"]))
        .await
        .unwrap();
    assert_eq!(second.exit_code, 0, "{}", second.stderr);
    assert_eq!(second.cache_restored, Some(6));
    assert!(!second.cache_saved, "an unchanged cache is not saved again");
    assert!(second.stdout.contains("wheel\n"));

    // A failed step keeps nothing it wrote.
    let failed = runner
        .run_step(&ctx, cached(&["echo junk > ~/.cache/demo/junk", "exit 1"]))
        .await
        .unwrap();
    assert!(!failed.cache_saved);
    let after = runner
        .run_step(&ctx, cached(&["test ! -e ~/.cache/demo/junk"]))
        .await
        .unwrap();
    assert_eq!(
        after.exit_code, 0,
        "a failed step's writes never reach the cache"
    );

    // Another tenant with the same repository name and key starts empty.
    let mut other = ctx.clone();
    other.tenant = "globex".into();
    let theirs = runner
        .run_step(&other, cached(&["test ! -e ~/.cache/demo/pkg.whl"]))
        .await
        .unwrap();
    assert_eq!(theirs.cache_restored, None);
    assert_eq!(theirs.exit_code, 0, "a cache never crosses tenants");
}

#[tokio::test]
async fn docker_step_deadlines_and_missing_images_are_errors_naming_them() {
    let Some(env) = docker_or_skip("docker_step_deadlines_and_missing_images").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let ctx = context(dir.path(), &unique("step-hang"), Duration::from_secs(120));
    let mut hang = step(&env.base, &["sleep 60"]);
    hang.timeout_ms = 2_000;
    let started = Instant::now();
    match runner.run_step(&ctx, hang).await {
        Err(ContainerError::TimedOut(ms)) => assert_eq!(ms, 2_000),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "killed at its deadline"
    );
    assert!(containers_with_run(&runner, &ctx.run_id).await.is_empty());
    match runner
        .run_step(&ctx, step("bosun/no-such-image:nope", &["true"]))
        .await
    {
        Err(ContainerError::ImageNotFound(why)) => {
            assert!(why.contains("bosun/no-such-image:nope"), "{why}")
        }
        other => panic!("expected ImageNotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn docker_step_keeps_the_hardening_and_gets_the_ca_bundle_only_with_network() {
    let Some(env) = docker_or_skip("docker_step_keeps_the_hardening").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("proxy-ca.crt");
    std::fs::write(&bundle, "-----BEGIN CERTIFICATE-----\nproxy\n").unwrap();
    let runner = DockerRunner::connect(DockerSettings {
        agent_id: format!("steps-ca-{}", std::process::id()),
        step_scratch: dir.path().join("scratch"),
        step_cache: None,
        ca_bundle: Some(bundle),
        ..DockerSettings::default()
    })
    .await
    .unwrap();
    let mut ctx = context(dir.path(), &unique("step-ca"), Duration::from_secs(120));
    let probe = [
        "if touch /etc/x 2>/dev/null; then echo root-writable; else echo root-ro; fi",
        "grep CapEff /proc/self/status",
        "echo \"ca=${SSL_CERT_FILE:-none} pip=${PIP_CERT:-none} node=${NODE_EXTRA_CA_CERTS:-none}\"",
        "echo \"requests=${REQUESTS_CA_BUNDLE:-none} npm=${npm_config_cafile:-none} git=${GIT_SSL_CAINFO:-none}\"",
        "if [ -n \"$SSL_CERT_FILE\" ]; then cat \"$SSL_CERT_FILE\"; fi",
    ];
    let closed = runner
        .run_step(&ctx, step(&env.base, &probe))
        .await
        .unwrap();
    assert_eq!(closed.exit_code, 0, "{}", closed.stderr);
    assert_contains(&closed.stdout, "root-ro\n");
    assert_contains(&closed.stdout, "CapEff:\t0000000000000000");
    assert_contains(&closed.stdout, "ca=none pip=none node=none");
    assert_contains(&closed.stdout, "requests=none npm=none git=none");

    ctx.network_allowed = true;
    let mut networked = step(&env.base, &probe);
    networked.network = true;
    let open = runner.run_step(&ctx, networked).await.unwrap();
    let path = "/etc/bosun/ca-certificates.crt";
    assert_contains(&open.stdout, &format!("ca={path} pip={path} node={path}\n"));
    assert_contains(
        &open.stdout,
        &format!("requests={path} npm={path} git={path}\n"),
    );
    assert!(
        open.stdout.contains("\n-----BEGIN CERTIFICATE-----\nproxy"),
        "the agent's bundle is what the step reads: {}",
        open.stdout
    );
    assert_contains(&open.stdout, "root-ro\n");
}

#[tokio::test]
async fn docker_step_a_pull_request_reads_the_repositorys_cache_but_never_writes_it() {
    let Some(env) = docker_or_skip("docker_step_a_pull_request_never_writes").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let push = context(dir.path(), &unique("step-push"), Duration::from_secs(300));
    let cached = |commands: &[&str]| {
        let mut request = step(&env.base, commands);
        request.cache_paths = vec!["~/.cache/deps".into()];
        request.cache_key = "lock-1".into();
        request
    };
    let seeded = runner
        .run_step(
            &push,
            cached(&["mkdir -p ~/.cache/deps && echo good > ~/.cache/deps/pkg"]),
        )
        .await
        .unwrap();
    assert!(seeded.cache_saved);

    // A pull request (a fork's, by its label) sees the push's cache and tampers with it.
    let mut pull = push.clone();
    pull.event = "pull_request".into();
    pull.branch = "mallory:main".into();
    let tampered = runner
        .run_step(
            &pull,
            cached(&["cat ~/.cache/deps/pkg", "echo evil > ~/.cache/deps/pkg"]),
        )
        .await
        .unwrap();
    assert_contains(&tampered.stdout, "good\n");
    assert!(
        tampered.cache_saved,
        "saved, under the pull request's own key"
    );

    // The next push still gets what pushes saved.
    let next = runner
        .run_step(&push, cached(&["cat ~/.cache/deps/pkg"]))
        .await
        .unwrap();
    assert_contains(&next.stdout, "good\n");
    assert!(
        !next.stdout.contains("evil"),
        "a pull request never poisons a push's cache"
    );
}

#[tokio::test]
async fn docker_step_links_made_by_the_commands_never_reach_host_files() {
    let Some(env) = docker_or_skip("docker_step_links_never_reach_host_files").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let ctx = context(dir.path(), &unique("step-links"), Duration::from_secs(300));
    let secret = dir.path().join("agent-secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("key.xml"), "<testsuite>agent's own</testsuite>").unwrap();
    let mut request = step(
        &env.base,
        &[
            // A report folder that points at the agent's files, a cache that is a link
            // to them, and a progress file that never ends.
            &format!("ln -s {} reports", secret.display()),
            &format!(
                "mkdir -p ~/.cache && ln -s {} ~/.cache/deps",
                secret.display()
            ),
            "rm -f /tmp/.bosun-command && ln -s /dev/zero /tmp/.bosun-command",
            "exit 3",
        ],
    );
    request.collect = vec!["reports/key.xml".into(), "reports/*.xml".into()];
    request.cache_paths = vec!["~/.cache/deps".into()];
    request.cache_key = "k".into();
    let out = runner.run_step(&ctx, request.clone()).await.unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(
        out.failed_command, None,
        "a progress file that is a link is not read"
    );
    assert!(
        out.collected.iter().all(|(_, files)| files.is_empty()),
        "{:?}",
        out.collected
    );
    assert!(!ctx.out.join("workspace/reports/key.xml").exists());

    // The same with the commands passing: the linked cache folder is not saved.
    request.commands[3] = "true".into();
    let passed = runner.run_step(&ctx, request).await.unwrap();
    assert_eq!(passed.exit_code, 0, "{}", passed.stderr);
    assert!(passed.collected.iter().all(|(_, files)| files.is_empty()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cached = std::process::Command::new("grep")
        .args(["-rl", "agent's own"])
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        cached.stdout.is_empty(),
        "the agent's file reached the cache"
    );
}

#[tokio::test]
async fn docker_step_committed_and_planted_links_never_lead_the_agent_to_write_host_files() {
    let Some(env) = docker_or_skip("docker_step_links_never_lead_the_agent_to_write").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = step_runner(dir.path()).await;
    let ctx = context(dir.path(), &unique("step-write"), Duration::from_secs(300));
    let victim = dir.path().join("agent-files");
    std::fs::create_dir_all(victim.join("sub")).unwrap();
    std::fs::write(victim.join("sub/keep"), "the agent's").unwrap();

    // A planted /out/workspace link: the reports must not be written through it.
    let mut planted = step(
        &env.base,
        &[
            &format!("ln -s {} /out/workspace", victim.display()),
            "echo '<testsuite/>' > evil.xml",
        ],
    );
    planted.collect = vec!["evil.xml".into()];
    let out = runner.run_step(&ctx, planted).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    assert!(
        !victim.join("evil.xml").exists(),
        "a report was written through a link"
    );
    assert!(ctx.out.join("workspace/evil.xml").is_file());

    // A cache saved from a real folder, then restored where the checkout commits a link.
    let cached = |commands: &[&str]| {
        let mut request = step(&env.base, commands);
        request.cache_paths = vec!["x/sub".into()];
        request.cache_key = "k".into();
        request
    };
    std::fs::create_dir_all(ctx.workspace.join("x")).unwrap();
    let saved = runner
        .run_step(
            &ctx,
            cached(&["mkdir -p x/sub && echo planted > x/sub/cron"]),
        )
        .await
        .unwrap();
    assert!(saved.cache_saved);
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::remove_dir_all(ctx.workspace.join("x")).unwrap();
    std::os::unix::fs::symlink(&victim, ctx.workspace.join("x")).unwrap();
    let _ = runner.run_step(&ctx, cached(&["true"])).await.unwrap();
    assert!(
        !victim.join("sub/cron").exists(),
        "a restore wrote through a committed link"
    );
    assert_eq!(
        std::fs::read_to_string(victim.join("sub/keep")).unwrap(),
        "the agent's",
        "a restore removed the agent's files through a committed link"
    );
}

/// Containers and networks labelled with `run_id`, by name.
async fn leftovers_of(runner: &DockerRunner, run_id: &str) -> (usize, usize) {
    let filters = HashMap::from([("label".to_string(), vec![format!("org.bosun.run={run_id}")])]);
    let networks = runner
        .client()
        .list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    (
        containers_with_run(runner, run_id).await.len(),
        networks.len(),
    )
}

fn redis(image: &str) -> bosun_host::bindings::StepService {
    bosun_host::bindings::StepService {
        name: "cache".into(),
        image: image.into(),
        env: Vec::new(),
        command: Vec::new(),
        ready_tcp: Some(6379),
        ready_command: None,
        ready_timeout_ms: 30_000,
    }
}

#[tokio::test]
async fn docker_step_services_answer_by_name_and_go_when_the_step_is_dropped() {
    let Some(_env) = docker_or_skip("docker_step_services_answer_by_name").await else {
        return;
    };
    let Some(redis_image) = bosun_test_support::service_var(
        "docker_step_services_answer_by_name",
        "BOSUN_TEST_REDIS_IMAGE",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let runner = Arc::new(step_runner(dir.path()).await);
    let run_id = unique("svc");
    let ctx = context(dir.path(), &run_id, Duration::from_secs(120));
    // The step reaches the service by its name, over the step's internal network, with
    // the redis image's own client.
    let mut request = step(&redis_image, &["redis-cli -h cache ping"]);
    request.services = vec![redis(&redis_image)];
    let out = runner.run_step(&ctx, request.clone()).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, "PONG");
    assert_eq!(leftovers_of(&runner, &run_id).await, (0, 0));

    // A step whose future is dropped mid-way (the agent ended the stage call at its
    // deadline) still takes its service and network away.
    request.commands = vec!["sleep 600".into()];
    let running = {
        let (runner, ctx, request) = (Arc::clone(&runner), ctx.clone(), request.clone());
        tokio::spawn(async move { runner.run_step(&ctx, request).await })
    };
    let started = std::time::Instant::now();
    while leftovers_of(&runner, &run_id).await.0 < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the step never started"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.abort();
    let _ = running.await;
    // The step's own container is the runner's to remove (kill_run, the sweep); the
    // service and the network go with the guard.
    runner.kill_run(&run_id).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let left = leftovers_of(&runner, &run_id).await;
        if left.1 == 0 && left.0 <= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "left behind: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    runner.sweep_orphans().await.unwrap();
    assert_eq!(leftovers_of(&runner, &run_id).await, (0, 0));
}

#[tokio::test]
async fn docker_the_orphan_sweep_removes_a_crashed_steps_network() {
    let Some(env) = docker_or_skip("docker_the_orphan_sweep_removes_a_crashed_steps_network").await
    else {
        return;
    };
    let agent = format!("netsweep-{}", std::process::id());
    let labels = |agent: &str| {
        HashMap::from([
            ("org.bosun.managed".to_string(), "true".to_string()),
            ("org.bosun.agent".to_string(), agent.to_string()),
        ])
    };
    let docker = env.runner.client();
    let create = |name: String, agent: &str| bollard::models::NetworkCreateRequest {
        name,
        internal: Some(true),
        labels: Some(labels(agent)),
        ..Default::default()
    };
    let mine = format!("bosun-step-{agent}");
    let theirs = format!("bosun-step-other-{}", std::process::id());
    docker
        .create_network(create(mine.clone(), &agent))
        .await
        .unwrap();
    docker
        .create_network(create(theirs.clone(), "someone-else"))
        .await
        .unwrap();
    let sweeper = DockerRunner::connect(DockerSettings {
        agent_id: agent,
        ..DockerSettings::default()
    })
    .await
    .unwrap();
    sweeper.sweep_orphans().await.unwrap();
    assert!(
        docker.inspect_network(&mine, None).await.is_err(),
        "its own is gone"
    );
    assert!(
        docker.inspect_network(&theirs, None).await.is_ok(),
        "another agent's stays"
    );
    docker.remove_network(&theirs).await.unwrap();
}
