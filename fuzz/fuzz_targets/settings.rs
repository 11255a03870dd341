//! Fuzzes `bosun_orchestrator::settings::ServerSettings::parse` (the server's YAML
//! settings file) on UTF-8 input; it must return a value or an error, never panic. For
//! settings it accepts, what start-up reads from them (`warnings`, `gate_timeout`,
//! `base_url`) must not panic either.
#![no_main]

use bosun_orchestrator::settings::ServerSettings;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ServerSettings::parse(Path::new("s.yaml"), text) {
        Ok(settings) => {
            let _ = settings.warnings();
            let _ = settings.gate_timeout();
            let _ = settings.base_url();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
