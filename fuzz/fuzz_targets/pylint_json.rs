//! Fuzzes `bosun_plugin_lint::pylint::parse`, the `lint` stage's reader of pylint's JSON
//! report, on arbitrary bytes; for a report it accepts, also the verdict and the SARIF
//! log written from it (which must be valid JSON).
#![no_main]

use bosun_plugin_lint::pylint;
use bosun_plugin_lint::sarif::to_sarif;
use bosun_plugin_lint::verdict::{FailOn, Thresholds, judge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match pylint::parse(data) {
        Ok(messages) => {
            for message in &messages {
                assert!(message.line != Some(0) && message.column != Some(0));
                let _ = message.to_finding(pylint::TOOL);
            }
            let thresholds = Thresholds {
                fail_on: FailOn::Warning,
                max_warnings: Some(3),
            };
            let _ = judge(pylint::TOOL, &messages, thresholds, 50);
            match to_sarif(pylint::TOOL, &messages) {
                Ok(sarif) => {
                    if let Err(error) = serde_json::from_slice::<serde_json::Value>(&sarif) {
                        panic!("the SARIF log is not JSON: {error}");
                    }
                }
                Err(error) => panic!("encoding the SARIF log failed: {error}"),
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
