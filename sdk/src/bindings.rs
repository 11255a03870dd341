//! WIT bindings for the three plugin worlds; the `stage` world owns the shared types.
#![allow(missing_docs, clippy::all)]

/// The `stage` world: types, the `containers` and `log` imports, the stage export.
pub mod stage {
    wit_bindgen::generate!({
        world: "stage",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_stage_world",
        default_bindings_module: "bosun_sdk::bindings::stage",
        additional_derives: [PartialEq],
    });
}

/// The `policy` world, reusing the stage world's types.
pub mod policy {
    wit_bindgen::generate!({
        world: "policy",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "bosun_sdk::bindings::policy",
        with: {
            "bosun:agent/types@0.2.0": crate::bindings::stage::bosun::agent::types,
            "bosun:agent/log@0.2.0": crate::bindings::stage::bosun::agent::log,
        },
    });
}

/// The `notifier` world, reusing the stage world's types.
pub mod notifier {
    wit_bindgen::generate!({
        world: "notifier",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_notifier_world",
        default_bindings_module: "bosun_sdk::bindings::notifier",
        with: {
            "bosun:agent/types@0.2.0": crate::bindings::stage::bosun::agent::types,
            "bosun:agent/log@0.2.0": crate::bindings::stage::bosun::agent::log,
        },
    });
}
