//! Native timing of the test stage's report handling on large inputs in the runners' real
//! formats: a 20,000-case pytest JUnit report and a 20,000-line coverage.py report, made
//! by repeating the captured reports in `tests/fixtures`.
//!
//! Run with `cargo bench -p bosun-plugin-test --bench parse`. It also writes each input
//! to `target/bench-inputs/` and prints the `bosun plugin run` line that times the same
//! input in the WebAssembly component (the stage's `report` settings read it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_plugin_test::settings::Settings;
use bosun_plugin_test::{Reports, assess, cobertura};
use bosun_sdk::Task;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CASES: usize = 20_000;
const LINES: usize = 20_000;
const ROUNDS: usize = 10;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// The `<testcase>` elements of a captured report, each as written.
fn testcases(xml: &str) -> Vec<String> {
    xml.split("<testcase ")
        .skip(1)
        .map(|rest| {
            let tag_end = rest.find('>').unwrap();
            let end = if rest[..tag_end].ends_with('/') {
                tag_end + 1
            } else {
                rest.find("</testcase>").unwrap() + "</testcase>".len()
            };
            format!("<testcase {}", &rest[..end])
        })
        .collect()
}

/// `count` test cases: the captured attempt-1 and samples cases (passes, failures, an
/// error, skips) repeated in suites of 100, each copy renamed.
fn junit_input(count: usize) -> String {
    let mut cases = testcases(&fixture("pytest-python-app-attempt1.xml"));
    cases.extend(testcases(&fixture("pytest-samples.xml")));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites>");
    for suite in 0..count.div_ceil(100) {
        xml.push_str(
            "<testsuite name=\"pytest\" errors=\"0\" failures=\"0\" skipped=\"0\" \
             tests=\"100\" time=\"1.5\">",
        );
        for i in 0..100.min(count - suite * 100) {
            let case = &cases[(suite * 100 + i) % cases.len()];
            xml.push_str(&case.replacen("name=\"test_", &format!("name=\"test_{suite}_{i}_"), 1));
        }
        xml.push_str("</testsuite>");
    }
    xml.push_str("</testsuites>");
    xml
}

/// A coverage report with `count` lines: the captured samples report's class repeated.
fn coverage_input(count: usize) -> String {
    let real = fixture("coverage-samples.xml");
    let start = real.find("<class name=\"ops.py\"").unwrap();
    let end = real[start..].find("</class>").unwrap() + start + "</class>".len();
    let class = &real[start..end];
    let lines_per_class = class.matches("<line ").count();
    let copies = count.div_ceil(lines_per_class);
    let classes: String = (0..copies)
        .map(|i| class.replace("calc/ops.py", &format!("calc/ops_{i}.py")))
        .collect();
    let head = &real[..real.find("<classes>").unwrap() + "<classes>".len()];
    let tail = &real[real.find("</classes>").unwrap()..];
    let head = head.replace(
        "lines-valid=\"15\" lines-covered=\"13\"",
        &format!(
            "lines-valid=\"{}\" lines-covered=\"{}\"",
            copies * lines_per_class,
            copies * 13
        ),
    );
    format!("{head}{classes}{tail}")
}

fn settings() -> Settings {
    Settings::from_task(&Task {
        run_id: "bench".into(),
        stage: "test".into(),
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

fn time(name: &str, input_len: usize, mut f: impl FnMut()) {
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
        input_len as f64 / (1 << 20) as f64,
        samples[ROUNDS / 2],
        samples[0]
    );
}

fn save(name: &str, input: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-inputs/test");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    path
}

fn main() {
    let junit = junit_input(CASES);
    let coverage = coverage_input(LINES);
    let run = bosun_junit::parse(junit.as_bytes()).unwrap();
    assert_eq!(run.totals.total as usize, CASES);
    time(
        &format!("JUnit: parse {CASES} test cases"),
        junit.len(),
        || {
            std::hint::black_box(bosun_junit::parse(junit.as_bytes()).unwrap());
        },
    );
    time(
        &format!("Cobertura: parse {LINES}+ lines"),
        coverage.len(),
        || {
            std::hint::black_box(cobertura::parse(coverage.as_bytes()).unwrap());
        },
    );
    let settings = settings();
    time(
        "both + verdict (assess)",
        junit.len() + coverage.len(),
        || {
            let reports = Reports {
                writer: None,
                junit: junit.as_bytes().to_vec(),
                junit_at: "bench".into(),
                coverage: Some((coverage.as_bytes().to_vec(), "bench".into())),
                ran: None,
            };
            std::hint::black_box(assess(&reports, &settings, "test").unwrap());
        },
    );
    let junit_path = save(&format!("junit-{CASES}.xml"), &junit);
    save(&format!("coverage-{LINES}.xml"), &coverage);
    println!(
        "  wasm: bosun plugin run target/wasm32-wasip2/release/bosun_plugin_test.wasm \
         --workspace {} --config report=junit-{CASES}.xml --config coverage_report=coverage-{LINES}.xml --json",
        junit_path.parent().unwrap().display()
    );
}
