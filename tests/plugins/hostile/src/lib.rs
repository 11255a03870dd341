//! Test fixture: a stage plugin that misbehaves on purpose, one way per `with: mode`, so
//! the host's tests can check each sandbox limit. Never shipped.
//!
//! Modes: `spin`, `memory`, `recurse`, `panic` (trap or exhaust a limit and never
//! return); `log-flood`, `stdout-flood`, `huge-report` (push output past the host's
//! caps); `escape` (try every way out of the filesystem sandbox and report what
//! happened); `write-out`, `sleep` (`ms`), `container` (`image`, `argv`), `echo` (behave,
//! for tests of the normal paths). It never touches networking APIs: they would add
//! `wasi:sockets` imports to the component. `residue` reports what an earlier call in
//! the same pool slot left behind (there must be nothing).

mod escape;

use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bosun_sdk::prelude::*;

const MIB: usize = 1 << 20;

/// Every mode, for the error naming an unknown one.
const MODES: &[&str] = &[
    "spin",
    "memory",
    "recurse",
    "panic",
    "log-flood",
    "stdout-flood",
    "huge-report",
    "escape",
    "write-out",
    "sleep",
    "container",
    "echo",
    "residue",
];

/// Report what an earlier call left in this instance's memory: how many calls its
/// statics have seen (1 in a fresh instance) and how many bytes of a fresh 16 MiB
/// block are not zero; then dirty both for the next call to find.
fn residue() -> StageReport {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    // `vec![0; n]` is calloc: memory fresh from `memory.grow` is taken as zeroed
    // without being cleared, so a slot that kept a call's pages without resetting
    // them shows up here.
    let mut block = vec![0u8; 16 * MIB];
    let dirty = block.iter().filter(|b| **b != 0).count();
    block.fill(0xAB);
    black_box(&block);
    StageReport::success(format!("calls {calls}, non-zero bytes {dirty}"))
}

/// The stage; public so that native builds, which do not export it, still use it.
pub struct Hostile;

impl Stage for Hostile {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let Some(mode) = task.config("mode") else {
            return Err(StageError::InvalidConfig(
                "hostile: `mode` is not set".to_string(),
            ));
        };
        match mode {
            "spin" => spin(),
            "memory" => exhaust_memory(),
            "recurse" => {
                let depth = recurse(0);
                Ok(StageReport::success(format!("recursion ended at {depth}")))
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "log-flood" => Ok(log_flood()),
            "stdout-flood" => Ok(stdout_flood()),
            "huge-report" => Ok(StageReport::success("x".repeat(100 * MIB))),
            "escape" => Ok(escape::attempt_all()),
            "write-out" => {
                let path = bosun_sdk::fs::write_out("result.txt", b"written by hostile")?;
                Ok(StageReport::success(format!("wrote {path}")))
            }
            "sleep" => {
                let ms = task.config_u64("ms", 1000)?;
                std::thread::sleep(Duration::from_millis(ms));
                Ok(StageReport::success(format!("slept {ms} ms")))
            }
            "container" => container(task),
            "residue" => Ok(residue()),
            "echo" => Ok(StageReport::success(format!(
                "{}/{}/{} {}@{} on {}",
                task.run_id, task.stage, task.attempt, task.repository, task.commit, task.branch
            ))),
            other => Err(StageError::InvalidConfig(format!(
                "hostile: unknown mode {other:?}, expected one of: {}",
                MODES.join(", ")
            ))),
        }
    }
}

/// Burn CPU forever; `black_box` keeps the optimiser from proving the loop useless.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocate 1 MiB blocks forever, writing to every page so they are really used.
fn exhaust_memory() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; MIB];
        for byte in block.iter_mut().step_by(4096) {
            *byte = 1;
        }
        blocks.push(black_box(block));
    }
}

/// Recurse until the stack runs out. The frame's data is used after the call, so this is
/// not a tail call the compiler could turn into a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // No address-taken locals: each frame lives on the wasm stack rather than Rust's
    // shadow stack in linear memory, so the engine's stack limit is what stops it. The
    // subtraction keeps the call out of tail position and away from accumulator
    // rewriting, and the limit is read at run time, so the loop cannot be proven finite.
    if depth == RECURSION_LIMIT.load(Ordering::Relaxed) {
        return depth;
    }
    depth.wrapping_sub(recurse(depth.wrapping_add(1)))
}

static RECURSION_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// 100 log lines of 1 MiB each, far past any sane per-line and per-attempt cap.
fn log_flood() -> StageReport {
    let line = "x".repeat(MIB);
    for _ in 0..100 {
        log::info(&line);
    }
    StageReport::success("logged 100 lines of 1 MiB")
}

/// 100 MiB to stdout in 1 MiB writes; a host that closes or caps the stream makes
/// writes fail, which is expected and ignored.
fn stdout_flood() -> StageReport {
    let mut chunk = vec![b'x'; MIB];
    if let Some(last) = chunk.last_mut() {
        *last = b'\n';
    }
    let mut stdout = std::io::stdout().lock();
    for _ in 0..100 {
        let _ = stdout.write_all(&chunk);
    }
    let _ = stdout.flush();
    StageReport::success("wrote 100 MiB to stdout")
}

/// Run `image` with the comma-separated `argv` through the host's containers capability.
fn container(task: &Task) -> Result<StageReport, StageError> {
    let image = task.config("image").ok_or_else(|| {
        StageError::InvalidConfig("hostile: mode `container` needs `image`".to_string())
    })?;
    let output = Tool::new(image, task.config_list("argv")).run()?;
    Ok(StageReport::success(format!(
        "exit code {}: {}",
        output.exit_code,
        output.stdout.trim_end()
    ))
    .with_metric("exit-code", f64::from(output.exit_code), "code"))
}

// Exported only in the component: the export symbols are named like
// `bosun:agent/stage-plugin@0.1.0#run`, which native linkers reject when the crate is
// linked as a `cdylib` for the host (`cargo test`, `cargo build --workspace`).
#[cfg(target_arch = "wasm32")]
bosun_sdk::export_stage!(Hostile, name = "hostile");
