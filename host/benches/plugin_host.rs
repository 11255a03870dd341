//! Plugin host benchmarks: per-call overhead, wasm vs native parsing (JUnit, pylint,
//! eslint, interleaved in one run), cached vs cold load.
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
        commit_message: String::new(),
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
        secrets_withheld: Vec::new(),
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

/// Rounds of the interleaved native-vs-plugin parse comparison (`BOSUN_BENCH_ROUNDS`
#[path = "../../plugins/lint/benches/inputs.rs"]
mod inputs;
use inputs::{eslint_input, pylint_input};

/// overrides it, e.g. for a longer profile).
const PARSE_ROUNDS: usize = 15;

/// One input parsed both ways: `native` runs the plugin's own code in this process,
/// `task` is the same work as a whole plugin call.
struct ParseCase {
    name: &'static str,
    plugin: &'static str,
    task: Task,
    native: Box<dyn Fn()>,
    native_samples: Vec<Sample>,
    wasm_samples: Vec<Sample>,
    /// The same call with the baseline build of the plugin, when one is given.
    baseline_samples: Vec<Sample>,
}

/// Wall-clock and process CPU time of one run, and the page faults it took.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    faults: i64,
}

/// Minor page faults of the process so far.
fn minor_faults() -> i64 {
    // SAFETY: an all-zero `rusage` is valid, and `getrusage` only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0);
    usage.ru_minflt
}

/// CPU time of the whole process (every thread: the blocking pool's file writes
/// count). Unlike wall time it does not grow while other builders hold the cores.
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` only writes the `timespec` it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

async fn measure<F: std::future::Future>(work: F) -> Sample {
    let (wall, cpu, faults) = (Instant::now(), process_cpu_time(), minor_faults());
    black_box(work.await);
    Sample {
        wall: wall.elapsed(),
        cpu: process_cpu_time() - cpu,
        faults: minor_faults() - faults,
    }
}

/// Native and plugin parses of the same inputs, interleaved round by round so that
/// the machine's drift (2 shared cores) hits both sides alike. Reports each side's
/// p50 and the median of the per-round ratios.
///
/// `BOSUN_BENCH_BASELINE=DIR` also calls `DIR/junit-report.wasm` and `DIR/lint.wasm`
/// (say, the plugins built from an earlier commit) in the same rounds, on an engine
/// that keeps no linear memory resident, so a change is compared before and after in
/// one run.
async fn bench_parse() {
    let dirs = tempfile::tempdir().unwrap();
    let workspace = dirs.path().join("workspace");
    let out = dirs.path().join("out");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let xml = junit_xml(20_000);
    let pylint = pylint_input(50_000);
    let eslint = eslint_input(50_000);
    std::fs::write(workspace.join("junit.xml"), &xml).unwrap();
    std::fs::write(workspace.join("pylint.json"), &pylint).unwrap();
    std::fs::write(workspace.join("eslint.json"), &eslint).unwrap();
    println!(
        "inputs: junit {:.1} MB (20000 cases), pylint {:.1} MB, eslint {:.1} MB (50000 messages each)",
        xml.len() as f64 / 1e6,
        pylint.len() as f64 / 1e6,
        eslint.len() as f64 / 1e6
    );

    let lint_settings = |language: &str| {
        let t = task(&[("language", language)]);
        bosun_plugin_lint::settings::Settings::from_task(&bosun_sdk::Task {
            run_id: t.run_id,
            stage: t.stage,
            attempt: t.attempt,
            tenant: t.tenant,
            repository: t.repository,
            commit: t.commit,
            branch: t.branch,
            event: t.event,
            config: t.config,
        })
        .unwrap()
    };
    let native_lint = |file: &'static str, language: bosun_plugin_lint::detect::Language| {
        let settings = lint_settings(match language {
            bosun_plugin_lint::detect::Language::Python => "python",
            bosun_plugin_lint::detect::Language::Node => "node",
        });
        let (workspace, out) = (workspace.clone(), out.clone());
        // What the plugin does: read the report, parse, judge, write the SARIF log.
        Box::new(move || {
            let json = std::fs::read(workspace.join(file)).unwrap();
            let assessment = bosun_plugin_lint::assess(language, &json, file, &settings).unwrap();
            std::fs::write(out.join("lint.sarif"), &assessment.sarif).unwrap();
            black_box(assessment.report);
        }) as Box<dyn Fn()>
    };
    let junit_path = workspace.join("junit.xml");
    let mut cases = vec![
        ParseCase {
            name: "junit 20000 cases",
            plugin: "junit-report",
            task: task(&[("report", "junit.xml")]),
            native: Box::new(move || {
                let bytes = std::fs::read(&junit_path).unwrap();
                black_box(bosun_junit::parse(&bytes).unwrap());
            }),
            native_samples: Vec::new(),
            wasm_samples: Vec::new(),
            baseline_samples: Vec::new(),
        },
        ParseCase {
            name: "pylint 50000 messages",
            plugin: "lint",
            task: task(&[("language", "python"), ("report", "pylint.json")]),
            native: native_lint("pylint.json", bosun_plugin_lint::detect::Language::Python),
            native_samples: Vec::new(),
            wasm_samples: Vec::new(),
            baseline_samples: Vec::new(),
        },
        ParseCase {
            name: "eslint 50000 messages",
            plugin: "lint",
            task: task(&[("language", "node"), ("report", "eslint.json")]),
            native: native_lint("eslint.json", bosun_plugin_lint::detect::Language::Node),
            native_samples: Vec::new(),
            wasm_samples: Vec::new(),
            baseline_samples: Vec::new(),
        },
    ];

    // BOSUN_BENCH_CASE=junit|pylint|eslint keeps one input (for profiling one parse).
    if let Ok(only) = std::env::var("BOSUN_BENCH_CASE") {
        cases.retain(|case| case.name.starts_with(only.as_str()));
    }
    let rt = runtime(None);
    let mut plugins = std::collections::HashMap::new();
    for name in ["junit-report", "lint"] {
        let plugin = rt
            .load(PluginSource::Builtin(name.into()), builtin(name))
            .await
            .unwrap();
        plugins.insert(name, plugin);
    }
    let baseline_dir = std::env::var_os("BOSUN_BENCH_BASELINE").map(PathBuf::from);
    let mut baselines = std::collections::HashMap::new();
    // The baseline also runs on the engine as it was: linear memory unmapped after
    // every call.
    let rt_before = PluginRuntime::new(
        HostEngine::new(EngineSettings {
            memory_keep_resident: 0,
            ..EngineSettings::default()
        })
        .unwrap(),
        ArtifactCache::new(None),
    )
    .unwrap();
    if let Some(dir) = &baseline_dir {
        for name in ["junit-report", "lint"] {
            let path = dir.join(format!("{name}.wasm"));
            let bytes = std::fs::read(&path).unwrap();
            let plugin = rt_before
                .load(PluginSource::File(path), &bytes)
                .await
                .unwrap();
            baselines.insert(name, plugin);
        }
    }
    let call = StageCall {
        workspace: workspace.clone(),
        out: out.clone(),
        network_allowed: false,
        secrets: vec![],
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
    };
    // Warm-up, and a check that each call really parsed its input.
    let sarif = out.join("lint.sarif");
    for case in &cases {
        (case.native)();
        let native_sarif = std::fs::read(&sarif).ok();
        let _ = std::fs::remove_file(&sarif);
        let result = rt.run_stage(&plugins[case.plugin], &case.task, &call).await;
        if let Some(native_sarif) = native_sarif {
            // The plugin wrote the very SARIF log the native code wrote.
            assert!(
                std::fs::read(&sarif).unwrap() == native_sarif,
                "{}",
                case.name
            );
        }
        let report = result
            .report
            .unwrap_or_else(|| panic!("{}: {:?}", case.name, result.failure));
        match report.tests {
            Some(tests) => assert_eq!(tests.total, 20_000),
            None => assert_eq!(report.findings.len(), 5_000, "{}", case.name),
        }
    }
    let rounds = std::env::var("BOSUN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(PARSE_ROUNDS);
    for _ in 0..rounds {
        for case in &mut cases {
            let native = &case.native;
            case.native_samples.push(measure(async { native() }).await);
            let plugin = &plugins[case.plugin];
            case.wasm_samples
                .push(measure(rt.run_stage(plugin, &case.task, &call)).await);
            if let Some(baseline) = baselines.get(case.plugin) {
                case.baseline_samples
                    .push(measure(rt_before.run_stage(baseline, &case.task, &call)).await);
            }
        }
    }
    for case in cases {
        let mut sides = vec![("plugin", case.wasm_samples)];
        if !case.baseline_samples.is_empty() {
            sides.push(("baseline plugin", case.baseline_samples));
        }
        let faults = |samples: &[Sample]| {
            let mut faults: Vec<i64> = samples.iter().map(|s| s.faults).collect();
            faults.sort();
            faults[faults.len() / 2]
        };
        print!(
            "{:<44} native {}",
            format!("{}, page faults (p50)", case.name),
            faults(&case.native_samples)
        );
        for (side, samples) in &sides {
            print!(", {side} {}", faults(samples));
        }
        println!();
        for (clock, pick) in [
            ("wall", (|s: &Sample| s.wall) as fn(&Sample) -> Duration),
            ("cpu", |s: &Sample| s.cpu),
        ] {
            let native: Vec<Duration> = case.native_samples.iter().map(pick).collect();
            let (native_p50, _) =
                summarize(&format!("{}, native ({clock})", case.name), native.clone());
            for (side, samples) in &sides {
                let samples: Vec<Duration> = samples.iter().map(pick).collect();
                let mut ratios: Vec<f64> = native
                    .iter()
                    .zip(&samples)
                    .map(|(native, wasm)| wasm.as_secs_f64() / native.as_secs_f64())
                    .collect();
                ratios.sort_by(f64::total_cmp);
                let (p50, _) = summarize(&format!("{}, {side} call ({clock})", case.name), samples);
                println!(
                    "{:<44} p50/p50 {:.2}x, median of paired rounds {:.2}x (min {:.2}x, max {:.2}x)",
                    format!("{}, {side} / native ({clock})", case.name),
                    p50.as_secs_f64() / native_p50.as_secs_f64(),
                    ratios[ratios.len() / 2],
                    ratios[0],
                    ratios[ratios.len() - 1]
                );
            }
        }
    }
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
    // BOSUN_BENCH_ONLY=overhead|parse|load runs one group (for profiling one path).
    let only = std::env::var("BOSUN_BENCH_ONLY").unwrap_or_default();
    let wants = |group: &str| only.is_empty() || only == group;
    rt.block_on(async {
        if wants("overhead") {
            bench_call_overhead().await;
        }
        if wants("parse") {
            bench_parse().await;
        }
        if wants("load") {
            bench_load().await;
        }
    });
}
