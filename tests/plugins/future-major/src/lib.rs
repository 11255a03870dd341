//! Test fixture: a stage plugin built against `bosun:agent@1.0.0` (its own `wit/`), so
//! it exports `bosun:agent/stage-plugin@1.0.0`; a 0.1 host must refuse it by version.

mod bindings {
    wit_bindgen::generate!({
        world: "bosun:agent/stage@1.0.0",
        path: "wit",
    });
}

use bindings::bosun::agent::types::PluginInfo;
use bindings::exports::bosun::agent::stage_plugin::Guest;

/// The stage; public so that native builds, which do not export it, still use it.
pub struct FutureMajor;

impl Guest for FutureMajor {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "future-major".to_string(),
            version: "1.0.0".to_string(),
            description: env!("CARGO_PKG_DESCRIPTION").to_string(),
        }
    }

    fn run(task_json: String) -> Result<String, String> {
        Ok(format!("ran a {}-byte task", task_json.len()))
    }
}

// Exported only in the component: the export symbols are named like
// `bosun:agent/stage-plugin@1.0.0#run`, which native linkers reject in a `cdylib`.
#[cfg(target_arch = "wasm32")]
bindings::export!(FutureMajor with_types_in bindings);
