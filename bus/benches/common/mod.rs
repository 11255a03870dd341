//! What the bus's bench binaries share: the `--bench` gate (a plain `cargo test` runs
//! them only to say how), the tokio runtime, exit codes, and the rounds setting.

use std::error::Error;
use std::future::Future;
use std::process::ExitCode;

/// A bench's error, from any of the clients it drives.
pub type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Run `bench` on a multi-threaded runtime when invoked by `cargo bench`; otherwise
/// print how to run it (`name`, the Kafka broker it needs).
pub fn main<F: Future<Output = BenchResult<()>>>(
    name: &str,
    bench: impl FnOnce() -> F,
) -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "{name}: benchmark binary; run it with \
             `BOSUN_TEST_KAFKA=127.0.0.1:9092 cargo bench -p bosun-bus --bench {name}`"
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `BOSUN_BENCH_ROUNDS`, or `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("BOSUN_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
