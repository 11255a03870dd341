//! Secret masking on tool output: every form of a secret (plain, base64 at each
//! alignment, percent-encoded, split across lines) against plain replacement of the
//! value alone, on 4 MiB of linter output, interleaved in one run.
//!
//! Run with `cargo bench -p bosun-host --bench masking`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_host::capabilities::mask::mask;
use std::time::{Duration, Instant};

fn p50(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Masking of the value alone, as every line used to be masked.
fn replace_only(text: &str, secrets: &[String]) -> String {
    let mut masked = text.to_string();
    for secret in secrets {
        if masked.contains(secret.as_str()) {
            masked = masked.replace(secret.as_str(), "***");
        }
    }
    masked
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("masking bench: run with `cargo bench -p bosun-host --bench masking`");
        return;
    }
    let line = "src/shop/cart.py:42:8: W0612: Unused variable 'total' (unused-variable)\n";
    let mut output = line.repeat((4 << 20) / line.len());
    // One leak in the middle, so both ways find something to mask.
    output.insert_str(
        output.len() / 2,
        "token=ghs_16C7e42F292c6912E7710c838347Ae178B4a\n",
    );
    let secrets = vec![
        "ghs_16C7e42F292c6912E7710c838347Ae178B4a".to_string(),
        "apiVersion: v1\nkind: Config\nclusters: []".to_string(),
    ];
    let rounds = 30;
    let (mut old, mut new, mut none) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        let a = replace_only(&output, &secrets);
        old.push(start.elapsed());
        let start = Instant::now();
        let b = mask(&output, &secrets);
        new.push(start.elapsed());
        let start = Instant::now();
        let c = mask(&output, &[]);
        none.push(start.elapsed());
        assert_eq!(a.len(), b.len());
        assert_eq!(c.len(), output.len());
    }
    let (old, new, none) = (p50(&mut old), p50(&mut new), p50(&mut none));
    let mib = output.len() as f64 / (1 << 20) as f64;
    println!("masking {mib:.1} MiB of tool output, 2 secrets, p50 of {rounds} interleaved rounds:");
    println!("  value only (str::replace)           {old:>10.2?}");
    println!("  every form (plain, base64 x3, %, split lines) {new:>10.2?}");
    println!("  no secrets held                     {none:>10.2?}");
    println!(
        "  every form / value only: {:.1}x",
        new.as_secs_f64() / old.as_secs_f64()
    );
}
