//! Fuzzes `bosun_reports::coverage::read`, the coverage reader of command steps'
//! `reports: coverage:`, on arbitrary bytes: format detection, then the LCOV tracefile
//! or Cobertura XML reader.
//!
//! Besides never panicking: covered lines never exceed measured lines, so the
//! percentage is within 0..=100, and an error always has a message.
#![no_main]

use bosun_reports::coverage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match coverage::read(data) {
        Ok(lines) => {
            assert!(
                lines.covered <= lines.total,
                "more lines covered than measured: {lines:?}"
            );
            let percent = lines.percent();
            assert!(
                (0.0..=100.0).contains(&percent),
                "coverage out of range: {percent}"
            );
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
