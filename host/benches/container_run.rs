//! Container stage overhead: the Docker runner (create → attach → start → wait →
//! remove through the Engine API) against `docker run --rm` of the same image and argv,
//! interleaved in one run.
//!
//! Run with `set -a; . .bosun/services.env; cargo bench -p bosun-host --bench container_run`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_host::bindings::ContainerRequest;
use bosun_host::{ContainerContext, ContainerRunner, DockerRunner, DockerSettings};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

fn p(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("container_run bench: run with `cargo bench -p bosun-host --bench container_run`");
        return;
    }
    let Ok(image) = std::env::var("BOSUN_TEST_BASE_IMAGE") else {
        println!(
            "container_run bench: set BOSUN_TEST_BASE_IMAGE (bash scripts/services.sh writes it)"
        );
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let context = ContainerContext {
        run_id: "bench".into(),
        stage: "bench".into(),
        attempt: 1,
        commit: "0".repeat(40),
        branch: "main".into(),
        commit_message: String::new(),
        tenant: "bench".into(),
        repository: "bench/app".into(),
        event: "push".into(),
        workspace: dir.path().to_path_buf(),
        out: dir.path().to_path_buf(),
        network_allowed: false,
        deadline: Instant::now() + Duration::from_secs(3600),
        secrets: vec![],
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
        artifacts: None,
        tool_log: None,
    };
    let argv = ["echo", "hello from a tool"];
    let runner = rt
        .block_on(DockerRunner::connect(DockerSettings::default()))
        .unwrap();
    let (mut api, mut cli) = (Vec::new(), Vec::new());
    for i in 0..32 {
        let request = ContainerRequest {
            image: image.clone(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            workdir: None,
            timeout_ms: 60_000,
            network: false,
        };
        let start = Instant::now();
        let out = rt.block_on(runner.run(&context, request)).unwrap();
        let api_time = start.elapsed();
        assert_eq!(out.stdout, "hello from a tool\n");
        let start = Instant::now();
        let status = Command::new("docker")
            .args(["run", "--rm", "--network", "none", &image])
            .args(argv)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        let cli_time = start.elapsed();
        assert!(status.success());
        if i >= 2 {
            // The first rounds warm the engine's caches for both paths.
            api.push(api_time);
            cli.push(cli_time);
        }
    }
    let (api50, api99) = (p(&mut api, 0.5), p(&mut api, 0.99));
    let (cli50, cli99) = (p(&mut cli, 0.5), p(&mut cli, 0.99));
    println!(
        "container stage via Engine API (hardened)  n={} p50={api50:>9.1?} p99={api99:>9.1?}",
        api.len()
    );
    println!(
        "docker run --rm (same image and argv)      n={} p50={cli50:>9.1?} p99={cli99:>9.1?}",
        cli.len()
    );
    println!(
        "API / docker run (p50)                     {:.2}x",
        api50.as_secs_f64() / cli50.as_secs_f64()
    );
}
