//! Times the security stage's work on a large Trivy report in the real format: parse,
//! decide, build the report and write SARIF, natively.
//!
//! Run with: `cargo run --release -p bosun-plugin-security --example trivy_parse_time [COUNT]`
//! (COUNT defaults to 50,000 vulnerabilities, cycled from the real fixtures' entries).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bosun_plugin_security::{date::Date, report, sarif, trivy, verdict};
use bosun_sdk::Severity;
use std::time::Instant;

fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/trivy/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture JSON")
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("COUNT is a number"))
        .unwrap_or(50_000);
    let mut entries = Vec::new();
    for name in [
        "alpine-310.json",
        "debian-buster.json",
        "busybox-with-lockfile.json",
    ] {
        for result in fixture(name)["Results"].as_array().unwrap() {
            entries.extend(
                result["Vulnerabilities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
        }
    }
    let mut doc = fixture("debian-buster.json");
    let vulns: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            let mut v = entries[i % entries.len()].clone();
            v["PkgName"] = format!("pkg-{i}").into();
            v
        })
        .collect();
    doc["Results"][0]["Vulnerabilities"] = vulns.into();
    let bytes = serde_json::to_vec_pretty(&doc).unwrap();

    let started = Instant::now();
    let issues = trivy::parse(&bytes).unwrap();
    let parsed = started.elapsed();
    let decided = Instant::now();
    let v = verdict::decide(&issues, Some(Severity::High), &[], Date::today());
    let built = report::build(&issues, &v, &[], report::MAX_LISTED_FINDINGS);
    let decide_time = decided.elapsed();
    let written = Instant::now();
    let sarif_bytes =
        serde_json::to_vec(&sarif::document(&["trivy"], &issues, &v.statuses, &[])).unwrap();
    let sarif_time = written.elapsed();
    println!(
        "{count} findings, report {:.1} MiB: parse {:?}, decide+report {:?}, SARIF {:?} ({:.1} MiB); {}",
        bytes.len() as f64 / f64::from(1u32 << 20),
        parsed,
        decide_time,
        sarif_time,
        sarif_bytes.len() as f64 / f64::from(1u32 << 20),
        built.summary
    );
}
