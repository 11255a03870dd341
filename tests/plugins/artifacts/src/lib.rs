//! Absolute paths of the fixture plugin components the host's tests load.
//!
//! The build script compiles each crate under `tests/plugins/` for `wasm32-wasip2`
//! (see `bosun-wasm-build`) and writes one `&str` constant per fixture, pointing into
//! this crate's `OUT_DIR`: [`HOSTILE`], [`FORBIDDEN_IMPORT`], [`FUTURE_MAJOR`],
//! [`MISSING_EXPORT`], [`NOT_A_PLUGIN`], [`HELLO_EXAMPLE`], [`POLICY_BRANCH`],
//! [`NOTIFIER_TEXT`] and [`SCRIPTED`]. Tests copy them into a plugin folder or load
//! them directly.

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    /// `\0asm`, then the component-model layer and version (a core module has `1 0 0 0`).
    const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn every_fixture_is_a_component_file() {
        assert_eq!(ALL.len(), 9);
        for (name, path) in ALL {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {path}: {e}"));
            assert!(
                bytes.starts_with(&COMPONENT_HEADER),
                "{name}: {path} is not a component"
            );
        }
    }
}
