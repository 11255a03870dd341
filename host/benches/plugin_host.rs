//! Plugin host benchmarks: per-call overhead, wasm vs native parsing, cached vs cold load.
//!
//! Run with `cargo bench -p bosun-host --bench plugin_host`. Prints p50/p99 figures; the
//! numbers in BENCHMARKS.md come from this binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_bus::Task;
use bosun_host::{
    ArtifactCache, EngineSettings, HostEngine, PluginRuntime, PluginSource, StageCall,
};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summarize(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let p50 = percentile(&samples, 0.50);
    let p99 = percentile(&samples, 0.99);
    println!(
        "{name:<44} n={:<6} p50={:>10.1?} p99={:>10.1?} min={:>10.1?}",
        samples.len(),
        p50,
        p99,
        samples[0]
    );
    (p50, p99)
}

fn task(config: &[(&str, &str)]) -> Task {
    Task {
        run_id: "bench".into(),
        stage: "test".into(),
        attempt: 1,
        tenant: "bench".into(),
        repository: "bench/app".into(),
        commit: "0".repeat(40),
        branch: "main".into(),
        event: "push".into(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A pytest-style JUnit report with `cases` test cases, some failed and skipped.
fn junit_xml(cases: usize) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites>\n");
    xml.push_str(&format!(
        "<testsuite name=\"pytest\" tests=\"{cases}\" time=\"12.5\">\n"
    ));
    for i in 0..cases {
        let module = i / 100;
        xml.push_str(&format!(
            "<testcase classname=\"tests.test_module_{module}\" name=\"test_case_{i}\" file=\"tests/test_module_{module}.py\" line=\"{}\" time=\"0.0012\">",
            10 + i % 100
        ));
        if i % 50 == 0 {
            xml.push_str("<failure message=\"AssertionError: assert 1 == 2\">def test():\n&gt;   assert compute(1) == 2\nE   AssertionError: assert 1 == 2\nE    +  where 1 = compute(1)\n\ntests/test_module.py:42: AssertionError</failure>");
        } else if i % 30 == 0 {
            xml.push_str(
                "<skipped type=\"pytest.skip\" message=\"needs a database\">skipped</skipped>",
            );
        }
        xml.push_str("<system-out>collected output line for this case, with &lt;escaped&gt; markup</system-out></testcase>\n");
    }
    xml.push_str("</testsuite>\n</testsuites>\n");
    xml
}

fn runtime(cache: Option<PathBuf>) -> PluginRuntime {
    PluginRuntime::new(
        HostEngine::new(EngineSettings::default()).unwrap(),
        ArtifactCache::new(cache),
    )
    .unwrap()
}

fn builtin(name: &str) -> &'static [u8] {
    bosun_builtins::BUILTINS
        .iter()
        .find(|b| b.file_name == format!("{name}.wasm"))
        .unwrap()
        .bytes
}

async fn bench_call_overhead() {
    let rt = runtime(None);
    let bytes = std::fs::read(bosun_test_plugins::HOSTILE).unwrap();
    let plugin = rt
        .load(
            PluginSource::File(bosun_test_plugins::HOSTILE.into()),
            &bytes,
        )
        .await
        .unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let call = StageCall {
        workspace: dirs.path().to_path_buf(),
        out: dirs.path().to_path_buf(),
        network_allowed: false,
        secrets: vec![],
        secrets_granted: Vec::new(),
        push_repository: None,
        image_repository: None,
    };
    let t = task(&[("mode", "echo")]);
    for _ in 0..500 {
        assert!(rt.run_stage(&plugin, &t, &call).await.report.is_some());
    }
    let mut samples = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let start = Instant::now();
        let result = rt.run_stage(&plugin, &t, &call).await;
        samples.push(start.elapsed());
        black_box(result);
    }
    summarize("run_stage: trivial stage (echo), full set-up", samples);
    let mut samples = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let start = Instant::now();
        let info = rt.ping(&plugin).await;
        samples.push(start.elapsed());
        black_box(info.unwrap());
    }
    summarize("instantiate from InstancePre + call info()", samples);
}

async fn bench_junit() {
    let xml = junit_xml(20_000);
    let dirs = tempfile::tempdir().unwrap();
    let path = dirs.path().join("junit.xml");
    std::fs::write(&path, &xml).unwrap();
    println!(
        "junit report: {:.1} MB, 20000 cases",
        xml.len() as f64 / 1e6
    );

    let mut native = Vec::new();
    for _ in 0..30 {
        let start = Instant::now();
        let bytes = std::fs::read(&path).unwrap();
        let run = bosun_junit::parse(&bytes).unwrap();
        black_box(run);
        native.push(start.elapsed());
    }
    let (native_p50, _) = summarize("junit parse, native (read + parse)", native);

    let rt = runtime(None);
    let plugin = rt
        .load(
            PluginSource::Builtin("junit-report".into()),
            builtin("junit-report"),
        )
        .await
        .unwrap();
    let call = StageCall {
        workspace: dirs.path().to_path_buf(),
        out: dirs.path().to_path_buf(),
        network_allowed: false,
        secrets: vec![],
        secrets_granted: Vec::new(),
        push_repository: None,
        image_repository: None,
    };
    let t = task(&[("report", "junit.xml")]);
    let first = rt.run_stage(&plugin, &t, &call).await;
    let report = first
        .report
        .unwrap_or_else(|| panic!("{:?}", first.failure));
    assert_eq!(report.tests.unwrap().total, 20_000);
    let mut wasm = Vec::new();
    for _ in 0..30 {
        let start = Instant::now();
        let result = rt.run_stage(&plugin, &t, &call).await;
        wasm.push(start.elapsed());
        black_box(result);
    }
    let (wasm_p50, _) = summarize("junit parse, plugin (instantiate + read + parse)", wasm);
    println!(
        "{:<44} {:.2}x",
        "wasm / native (p50)",
        wasm_p50.as_secs_f64() / native_p50.as_secs_f64()
    );
}

async fn bench_load() {
    let cache_dir = tempfile::tempdir().unwrap();
    for name in ["todo-scan", "junit-report"] {
        let bytes = builtin(name);
        let mut cold = Vec::new();
        for _ in 0..5 {
            let rt = runtime(None);
            let start = Instant::now();
            black_box(
                rt.load(PluginSource::Builtin(name.into()), bytes)
                    .await
                    .unwrap(),
            );
            cold.push(start.elapsed());
        }
        summarize(&format!("load {name}: cold compile"), cold);
        let rt = runtime(Some(cache_dir.path().to_path_buf()));
        rt.load(PluginSource::Builtin(name.into()), bytes)
            .await
            .unwrap();
        let mut warm = Vec::new();
        for _ in 0..50 {
            let start = Instant::now();
            let plugin = rt
                .load(PluginSource::Builtin(name.into()), bytes)
                .await
                .unwrap();
            warm.push(start.elapsed());
            assert_eq!(plugin.cache, bosun_host::CacheOutcome::Hit);
        }
        summarize(&format!("load {name}: from compiled cache"), warm);
    }
}

fn main() {
    // `cargo test --benches` passes `--bench`-less flags; only run the figures under
    // `cargo bench` (which passes `--bench`).
    if !std::env::args().any(|a| a == "--bench") {
        println!("plugin_host bench: run with `cargo bench -p bosun-host --bench plugin_host`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // BOSUN_BENCH_ONLY=overhead|junit|load runs one group (for profiling one path).
    let only = std::env::var("BOSUN_BENCH_ONLY").unwrap_or_default();
    let wants = |group: &str| only.is_empty() || only == group;
    rt.block_on(async {
        if wants("overhead") {
            bench_call_overhead().await;
        }
        if wants("junit") {
            bench_junit().await;
        }
        if wants("load") {
            bench_load().await;
        }
    });
}
