//! Command-step overhead on a real-sized run: the Node sample's test commands (`npm ci`,
//! mocha under c8) as a Bosun command step against the same commands run by hand with
//! `docker run` (same image, user, CA bundle, warm npm cache), interleaved in one run;
//! and the step with a cold cache against a warm one.
//!
//! Needs the Docker Engine, `bosun/node:18` and the npm registry:
//! `set -a; . .bosun/services.env; cargo bench -p bosun-host --bench command_step`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_host::bindings::StepRequest;
use bosun_host::{ContainerContext, ContainerRunner, DockerRunner, DockerSettings, StepCache};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const IMAGE: &str = "bosun/node:18";
const CA: &str = "/etc/ssl/certs/ca-certificates.crt";
const ROUNDS: usize = 3;

fn commands() -> Vec<String> {
    vec![
        "npm ci --no-audit --no-fund --prefer-offline".into(),
        "npx c8 --reporter=lcov --report-dir=reports mocha --reporter mocha-junit-reporter --reporter-options mochaFile=reports/junit.xml".into(),
    ]
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".bosun" || entry.file_name() == "node_modules" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn chown(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "1000:1000"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The commands as a person runs them: their checkout and npm cache, mounted as is.
fn by_hand(checkout: &Path, home: &Path) -> Duration {
    let started = Instant::now();
    let out = Command::new("docker")
        .args(["run", "--rm", "--user", "1000:1000", "--network", "bridge"])
        .args([
            "--read-only",
            "--tmpfs",
            "/tmp:rw,exec",
            "--cap-drop",
            "ALL",
        ])
        // The limits a Bosun agent gives each tool by default, so both sides get the
        // same machine and the difference is Bosun's own work.
        .args([
            "--cpus",
            "1",
            "--memory",
            "1g",
            "--memory-swap",
            "1g",
            "--pids-limit",
            "256",
        ])
        .arg("-v")
        .arg(format!("{}:/workspace", checkout.display()))
        .arg("-v")
        .arg(format!("{}:/home/bosun", home.display()))
        .args(["-v", &format!("{CA}:/etc/bosun/ca.crt:ro")])
        .args([
            "-e",
            "HOME=/home/bosun",
            "-e",
            "NODE_EXTRA_CA_CERTS=/etc/bosun/ca.crt",
        ])
        .args([
            "-e",
            "npm_config_cafile=/etc/bosun/ca.crt",
            "-w",
            "/workspace",
        ])
        .args([IMAGE, "sh", "-ec", &commands().join("\n")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

fn context(checkout: &Path, out: &Path) -> ContainerContext {
    std::fs::create_dir_all(out).unwrap();
    ContainerContext {
        run_id: format!("bench-{}", std::process::id()),
        stage: "test".into(),
        attempt: 1,
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        branch: "main".into(),
        commit_message: String::new(),
        tenant: "bench".into(),
        repository: "bench/node-web".into(),
        event: "push".into(),
        workspace: checkout.to_path_buf(),
        out: out.to_path_buf(),
        network_allowed: true,
        deadline: Instant::now() + Duration::from_secs(900),
        secrets: Vec::new(),
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
        artifacts: None,
        tool_log: None,
    }
}

fn request() -> StepRequest {
    StepRequest {
        image: IMAGE.into(),
        commands: commands(),
        env: Vec::new(),
        timeout_ms: 0,
        network: true,
        cache_paths: vec!["~/.npm".into()],
        cache_key: "package-lock".into(),
        collect: vec!["reports/junit.xml".into(), "reports/lcov.info".into()],
        services: Vec::new(),
    }
}

async fn as_step(runner: &DockerRunner, ctx: &ContainerContext) -> (Duration, Option<u64>) {
    let started = Instant::now();
    // Checked as the capability checks it (the timeout becomes the stage's deadline).
    let request = bosun_host::capabilities::step::check_step(ctx, request()).unwrap();
    let out = runner.run_step(ctx, request).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}\n{}", out.stdout, out.stderr);
    (started.elapsed(), out.cache_restored)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if !std::env::args().any(|a| a == "--bench") {
        println!("command_step bench: run with `cargo bench -p bosun-host --bench command_step`");
        return;
    }
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/node-web");
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("checkout");
    copy_dir(&sample, &checkout);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let runner = rt
        .block_on(DockerRunner::connect(DockerSettings {
            agent_id: format!("bench-{}", std::process::id()),
            step_scratch: dir.path().join("scratch"),
            step_cache: Some(StepCache::new(dir.path().join("cache"), 1 << 30)),
            ..DockerSettings::default()
        }))
        .unwrap_or_else(|e| panic!("command_step bench needs the Docker Engine: {e}"));

    // Cold: nothing cached yet.
    let ctx = context(&checkout, &dir.path().join("out-cold"));
    let (cold, restored) = rt.block_on(as_step(&runner, &ctx));
    assert_eq!(restored, None);

    // The hand run's own checkout and npm cache, warmed once.
    let hand_checkout = dir.path().join("hand");
    copy_dir(&sample, &hand_checkout);
    let hand_home = dir.path().join("hand-home");
    std::fs::create_dir_all(&hand_home).unwrap();
    chown(&hand_checkout);
    chown(&hand_home);
    by_hand(&hand_checkout, &hand_home);

    let (mut hand, mut step) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        hand.push(by_hand(&hand_checkout, &hand_home));
        let ctx = context(&checkout, &dir.path().join(format!("out-{round}")));
        let (took, restored) = rt.block_on(as_step(&runner, &ctx));
        assert!(restored.is_some(), "the warm step restores its cache");
        step.push(took);
    }
    let (hand, step) = (median(hand), median(step));
    println!(
        "command step, Node sample (npm ci + mocha under c8), {ROUNDS} interleaved rounds, medians:"
    );
    println!(
        "  docker run by hand, warm npm cache    {:>8.2} s",
        hand.as_secs_f64()
    );
    println!(
        "  Bosun command step, warm cache        {:>8.2} s   ({:.2}x the hand run)",
        step.as_secs_f64(),
        step.as_secs_f64() / hand.as_secs_f64()
    );
    println!(
        "  Bosun command step, cold cache        {:>8.2} s   (warm is {:.2}x cold)",
        cold.as_secs_f64(),
        step.as_secs_f64() / cold.as_secs_f64()
    );
}
