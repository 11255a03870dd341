//! Fuzzes `bosun_junit::parse`, the JUnit XML reader of the `junit-report` and `test`
//! stages, on arbitrary bytes.
//!
//! Besides never panicking: every test case is counted in exactly one of passed,
//! failed, errors and skipped; every failed or errored case is listed once; and each
//! listed message is capped at `MESSAGE_CAP` bytes.
#![no_main]

use bosun_junit::MESSAGE_CAP;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match bosun_junit::parse(data) {
        Ok(run) => {
            let t = run.totals;
            assert_eq!(
                u64::from(t.total),
                u64::from(t.passed)
                    + u64::from(t.failed)
                    + u64::from(t.errors)
                    + u64::from(t.skipped),
                "totals do not add up: {t:?}"
            );
            assert_eq!(
                run.failures.len() as u64,
                u64::from(t.failed) + u64::from(t.errors),
                "failures listed do not match the counts: {t:?}"
            );
            for failure in &run.failures {
                assert!(failure.message.len() <= MESSAGE_CAP);
            }
        }
        Err(error) => {
            let _ = error.to_string();
            let _ = error.offset();
        }
    }
});
