//! Fuzzes `bosun_reports::sarif::parse`, the SARIF 2.1.0 reader of command steps'
//! `reports: sarif:` (any producer's log), on arbitrary bytes.
//!
//! Besides never panicking: a finding's path, when it has one, is not empty, and its
//! line and column, when given, count from 1.
#![no_main]

use bosun_reports::sarif;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the workspace root the tool saw, as the stage passes it.
    let (root, body) = match data.split_first() {
        Some((0, rest)) => (None, rest),
        Some((_, rest)) => (Some("/workspace"), rest),
        None => (None, data),
    };
    match sarif::parse(body, root) {
        Ok(findings) => {
            for finding in &findings {
                assert_ne!(finding.path.as_deref(), Some(""), "empty path: {finding:?}");
                assert_ne!(finding.line, Some(0), "line 0 in {finding:?}");
                assert_ne!(finding.column, Some(0), "column 0 in {finding:?}");
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
