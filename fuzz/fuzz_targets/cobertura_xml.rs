//! Fuzzes `bosun_plugin_test::cobertura::parse`, the `test` stage's Cobertura coverage
//! XML reader, on arbitrary bytes.
//!
//! Besides never panicking: covered lines never exceed measured lines, so the
//! percentage is within 0..=100.
#![no_main]

use bosun_plugin_test::cobertura;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match cobertura::parse(data) {
        Ok(coverage) => {
            assert!(
                coverage.covered <= coverage.total,
                "more lines covered than measured: {coverage:?}"
            );
            let percent = coverage.percent();
            assert!(
                (0.0..=100.0).contains(&percent),
                "{percent}% from {coverage:?}"
            );
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
