//! Native timing of the lint stage's report handling on large inputs in the tools' real
//! formats: 50,000 pylint messages and 50,000 eslint messages, made by repeating the
//! captured reports in `tests/fixtures` with distinct lines.
//!
//! Run with `cargo bench -p bosun-plugin-lint --bench parse`. It also writes each input
//! to `target/bench-inputs/` and prints the `bosun plugin run` line that times the same
//! input in the WebAssembly component (the stage's `report` setting reads it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_plugin_lint::detect::Language;
use bosun_plugin_lint::settings::Settings;
use bosun_sdk::Task;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MESSAGES: usize = 50_000;
const ROUNDS: usize = 10;

#[path = "inputs.rs"]
mod inputs;

use inputs::{eslint_input, pylint_input};

fn settings() -> Settings {
    Settings::from_task(&Task {
        run_id: "bench".into(),
        stage: "lint".into(),
        attempt: 1,
        tenant: "bench".into(),
        repository: "bench/app".into(),
        commit: "0".repeat(40),
        branch: "main".into(),
        event: "push".into(),
        config: vec![],
    })
    .unwrap()
}

fn time(name: &str, input: &[u8], mut f: impl FnMut()) {
    f(); // warm-up
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    samples.sort();
    println!(
        "{name:<46} {:>6.1} MiB  p50 {:>8.1?}  min {:>8.1?}",
        input.len() as f64 / (1 << 20) as f64,
        samples[ROUNDS / 2],
        samples[0]
    );
}

fn save(name: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-inputs/lint");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    path
}

fn main() {
    let settings = settings();
    for (language, name, input) in [
        (Language::Python, "pylint", pylint_input(MESSAGES)),
        (Language::Node, "eslint", eslint_input(MESSAGES)),
    ] {
        let parsed = bosun_plugin_lint::parse(language, &input).unwrap();
        assert_eq!(parsed.len(), MESSAGES);
        time(
            &format!("{name}: parse {MESSAGES} messages"),
            &input,
            || {
                std::hint::black_box(bosun_plugin_lint::parse(language, &input).unwrap());
            },
        );
        time(
            &format!("{name}: parse + verdict + SARIF (assess)"),
            &input,
            || {
                let a = bosun_plugin_lint::assess(language, &input, "bench", &settings).unwrap();
                std::hint::black_box(a);
            },
        );
        let file = format!("{name}-{MESSAGES}.json");
        let path = save(&file, &input);
        println!(
            "  wasm: bosun plugin run target/wasm32-wasip2/release/bosun_plugin_lint.wasm \
             --workspace {} --config language={} --config report={file} --json",
            path.parent().unwrap().display(),
            if language == Language::Python {
                "python"
            } else {
                "node"
            },
        );
    }
}
