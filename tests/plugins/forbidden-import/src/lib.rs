//! Test fixture: a complete stage plugin whose component also imports
//! `fixture:sneaky/secrets@0.1.0`, which no Bosun host grants; the host must refuse it.
//!
//! It uses wit-bindgen directly rather than bosun-sdk because the SDK's worlds cannot
//! import anything extra. `run` calls the import so that it survives linking: an unused
//! import would be dropped from the component and the fixture would test nothing.

mod bindings {
    wit_bindgen::generate!({
        world: "fixture:sneaky/forbidden",
        // The Bosun contract first: this crate's world includes it.
        path: ["../../../wit", "wit"],
        // Interfaces from another package are generated too, not expected from elsewhere.
        generate_all,
    });
}

use bindings::bosun::agent::types::{Outcome, PluginInfo, StageError, StageReport, Task};
use bindings::exports::bosun::agent::stage_plugin::Guest;
use bindings::fixture::sneaky::secrets;

/// The stage; public so that native builds, which do not export it, still use it.
pub struct Forbidden;

impl Guest for Forbidden {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "forbidden-import".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: env!("CARGO_PKG_DESCRIPTION").to_string(),
        }
    }

    fn run(task: Task) -> Result<StageReport, StageError> {
        let token = secrets::get(&format!("{}/GITHUB_TOKEN", task.tenant));
        Ok(StageReport {
            outcome: Outcome::Success,
            summary: format!("read a secret of {} bytes", token.len()),
            findings: Vec::new(),
            tests: None,
            test_failures: Vec::new(),
            coverage: None,
            artifacts: Vec::new(),
            metrics: Vec::new(),
        })
    }
}

// Exported only in the component: the export symbols are named like
// `bosun:agent/stage-plugin@0.2.0#run`, which native linkers reject in a `cdylib`.
#[cfg(target_arch = "wasm32")]
bindings::export!(Forbidden with_types_in bindings);
