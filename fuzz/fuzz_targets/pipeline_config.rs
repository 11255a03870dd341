//! Fuzzes `bosun_config::parse(".bosun.yml", text)` on UTF-8 input and, for
//! a config it accepts, `waves()`, `plan()` (and its JSON form) and `plan_text()`.
//!
//! A config made by `parse` has no cycle and no unknown need, so every stage must land
//! in exactly one wave.
#![no_main]

use bosun_config as config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::parse(config::CONFIG_FILE, text) {
        Ok(pipeline) => {
            let waves = pipeline.waves();
            let placed: usize = waves.iter().map(Vec::len).sum();
            assert_eq!(
                placed,
                pipeline.stages.len(),
                "a parsed config has a stage that never starts: {waves:?}"
            );
            let plan = pipeline.plan();
            assert_eq!(plan.waves, waves);
            let _ = serde_json::to_string(&plan);
            let _ = pipeline.plan_text();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
