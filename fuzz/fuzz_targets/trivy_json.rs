//! Fuzzes `bosun_plugin_security::trivy::parse`, the `security` stage's reader of
//! trivy's JSON report, on arbitrary bytes; for a report it accepts, also the verdict,
//! the stage report and the SARIF log built from the issues (which must encode).
#![no_main]

use bosun_plugin_security::date::Date;
use bosun_plugin_security::report::{MAX_LISTED_FINDINGS, build};
use bosun_plugin_security::sarif::document;
use bosun_plugin_security::trivy;
use bosun_plugin_security::verdict::decide;
use bosun_sdk::Severity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match trivy::parse(data) {
        Ok(issues) => {
            let verdict = decide(
                &issues,
                Some(Severity::High),
                &[],
                Date::from_unix_days(20_000),
            );
            assert_eq!(verdict.statuses.len(), issues.len());
            let _ = build(&issues, &verdict, &[], MAX_LISTED_FINDINGS);
            let sarif = document(&[trivy::TOOL], &issues, &verdict.statuses, &[]);
            if let Err(error) = serde_json::to_vec(&sarif) {
                panic!("encoding the SARIF log failed: {error}");
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
