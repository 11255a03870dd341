//! Test fixture: exports `bosun:agent/stage-plugin@0.2.0` with `info` only (its own
//! minimal `wit/`), so the host must refuse it for the missing `run`.

mod bindings {
    wit_bindgen::generate!({
        world: "bosun:agent/stage@0.2.0",
        path: "wit",
    });
}

use bindings::bosun::agent::types::PluginInfo;
use bindings::exports::bosun::agent::stage_plugin::Guest;

/// The stage; public so that native builds, which do not export it, still use it.
pub struct MissingExport;

impl Guest for MissingExport {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "missing-export".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: env!("CARGO_PKG_DESCRIPTION").to_string(),
        }
    }
}

// Exported only in the component: the export symbols are named like
// `bosun:agent/stage-plugin@0.2.0#info`, which native linkers reject in a `cdylib`.
#[cfg(target_arch = "wasm32")]
bindings::export!(MissingExport with_types_in bindings);
