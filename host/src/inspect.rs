//! Checking a `.wasm` file against Bosun's worlds before it is ever instantiated.

use crate::bindings::PACKAGE_VERSION;
use std::fmt;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// Which world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Exports `stage-plugin`.
    Stage,
    /// Exports `policy-plugin`.
    Policy,
    /// Exports `notifier-plugin`.
    Notifier,
}

impl PluginKind {
    /// The world name in `wit/worlds.wit`.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::Stage => "stage",
            PluginKind::Policy => "policy",
            PluginKind::Notifier => "notifier",
        }
    }

    fn export_interface(self) -> &'static str {
        match self {
            PluginKind::Stage => "stage-plugin",
            PluginKind::Policy => "policy-plugin",
            PluginKind::Notifier => "notifier-plugin",
        }
    }

    /// Interfaces of `bosun:agent` this kind may import.
    fn granted_bosun_imports(self) -> &'static [&'static str] {
        match self {
            PluginKind::Stage => &["types", "log", "containers"],
            PluginKind::Policy | PluginKind::Notifier => &["types", "log"],
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

/// WASI packages every plugin may import; sockets and HTTP are never granted.
const GRANTED_WASI: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:random/",
];

/// Why a file is not accepted as a plugin. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No `\0asm` magic.
    #[error("{path}: not a WebAssembly file (it does not start with the \\0asm header)")]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// A core module where a component is needed.
    #[error(
        "{path}: a core WebAssembly module, not a component; build the plugin for the wasm32-wasip2 target (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule {
        /// The file.
        path: PathBuf,
    },
    /// The component failed to validate or compile (truncated, corrupt, unsupported).
    #[error("{path}: not a valid component (truncated or corrupt?): {detail}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The validator's message.
        detail: String,
    },
    /// A component that implements none of Bosun's worlds.
    #[error(
        "{path}: not a Bosun plugin: it exports none of bosun:agent/stage-plugin, policy-plugin or notifier-plugin (its exports: {exports})"
    )]
    WrongWorld {
        /// The file.
        path: PathBuf,
        /// What it does export.
        exports: String,
    },
    /// Built against a `bosun:agent` version this host cannot call.
    #[error(
        "{path}: built against bosun:agent@{found}, but this host speaks bosun:agent@{supported}; rebuild it with a matching bosun-sdk"
    )]
    IncompatibleVersion {
        /// The file.
        path: PathBuf,
        /// The version in the component.
        found: String,
        /// What the host accepts.
        supported: String,
    },
    /// An import the host does not grant to this plugin kind.
    #[error("{path}: imports `{import}`, which the host does not grant to {kind} plugins")]
    ForbiddenImport {
        /// The file.
        path: PathBuf,
        /// The import name.
        import: String,
        /// The plugin kind.
        kind: PluginKind,
    },
    /// A required function is missing or has the wrong type.
    #[error("{path}: does not implement the {kind} world: {detail}")]
    MissingExport {
        /// The file.
        path: PathBuf,
        /// The plugin kind.
        kind: PluginKind,
        /// Which export is missing or mistyped.
        detail: String,
    },
    /// Linking or the describe call failed.
    #[error("{path}: cannot be instantiated: {detail}")]
    Instantiate {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// Two plugins claim the same name.
    #[error("{path}: plugin name `{name}` is already provided by {other}")]
    DuplicateName {
        /// The refused file.
        path: PathBuf,
        /// The contested name.
        name: String,
        /// Who has it.
        other: String,
    },
}

/// Check the file header; distinct errors for non-wasm and core modules.
pub fn check_header(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let Some(header) = bytes.get(..8) else {
        return Err(if bytes.starts_with(b"\0asm") {
            PluginError::Invalid {
                path: path.to_path_buf(),
                detail: "file ends inside the 8-byte header".into(),
            }
        } else {
            PluginError::NotWasm {
                path: path.to_path_buf(),
            }
        });
    };
    if !header.starts_with(b"\0asm") {
        return Err(PluginError::NotWasm {
            path: path.to_path_buf(),
        });
    }
    // Bytes 6..8 are the layer: 0 for core modules, 1 for components.
    if header[6..8] == [0, 0] {
        return Err(PluginError::CoreModule {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Parse `bosun:agent/<iface>@<version>` into its interface and version.
fn parse_bosun_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("bosun:agent/")?;
    match rest.split_once('@') {
        Some((iface, version)) => Some((iface, version)),
        None => Some((rest, "")),
    }
}

/// Whether a package version can be called by this host: same major, and for 0.x the
/// same minor (semver's rule for pre-1.0 packages).
fn version_compatible(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        return false;
    };
    let (host_major, host_minor, _) = PACKAGE_VERSION;
    major == host_major && (major != 0 || minor == host_minor)
}

fn supported_version() -> String {
    let (major, minor, _) = PACKAGE_VERSION;
    format!("{major}.{minor}.x")
}

/// Find the world a component implements and check its imports against the grants.
pub fn classify(
    engine: &Engine,
    path: &Path,
    component: &Component,
) -> Result<PluginKind, PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let mut kind = None;
    for name in &exports {
        let Some((iface, version)) = parse_bosun_name(name) else {
            continue;
        };
        let found = [PluginKind::Stage, PluginKind::Policy, PluginKind::Notifier]
            .into_iter()
            .find(|k| k.export_interface() == iface);
        if let Some(found) = found {
            if !version_compatible(version) {
                return Err(PluginError::IncompatibleVersion {
                    path: path.to_path_buf(),
                    found: version.to_string(),
                    supported: supported_version(),
                });
            }
            kind = Some(found);
            break;
        }
    }
    let Some(kind) = kind else {
        return Err(PluginError::WrongWorld {
            path: path.to_path_buf(),
            exports: if exports.is_empty() {
                "none".into()
            } else {
                exports.join(", ")
            },
        });
    };
    for (import, item) in ty.imports(engine) {
        let granted = match parse_bosun_name(import) {
            Some((iface, version)) => {
                kind.granted_bosun_imports().contains(&iface) && version_compatible(version)
            }
            None => {
                GRANTED_WASI.iter().any(|p| import.starts_with(p))
                    && matches!(item.ty, ComponentItem::ComponentInstance(_))
            }
        };
        if !granted {
            return Err(PluginError::ForbiddenImport {
                path: path.to_path_buf(),
                import: import.to_string(),
                kind,
            });
        }
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        let p = Path::new("x.wasm");
        assert!(matches!(
            check_header(p, b"hello world"),
            Err(PluginError::NotWasm { .. })
        ));
        assert!(matches!(
            check_header(p, b""),
            Err(PluginError::NotWasm { .. })
        ));
        assert!(matches!(
            check_header(p, b"\0asm\x01\0\0\0"),
            Err(PluginError::CoreModule { .. })
        ));
        assert!(matches!(
            check_header(p, b"\0asm\x0d"),
            Err(PluginError::Invalid { .. })
        ));
        assert!(check_header(p, b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn versions_follow_semver_for_zero_majors() {
        assert!(version_compatible("0.2.0"));
        assert!(version_compatible("0.2.7"));
        // 0.2 added `fork` to the policy input: a 0.1 plugin's records no longer match.
        assert!(!version_compatible("0.1.0"));
        assert!(!version_compatible("0.3.0"));
        assert!(!version_compatible("1.0.0"));
        assert!(!version_compatible(""));
    }

    #[test]
    fn the_version_checked_is_the_one_in_wit() {
        let (major, minor, patch) = PACKAGE_VERSION;
        let package = format!("package bosun:agent@{major}.{minor}.{patch};");
        for file in ["worlds.wit", "types.wit"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../wit")
                .join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with(&package),
                "{}: expected {package}",
                path.display()
            );
        }
    }

    #[test]
    fn bosun_names_parse() {
        assert_eq!(
            parse_bosun_name("bosun:agent/log@0.1.0"),
            Some(("log", "0.1.0"))
        );
        assert_eq!(parse_bosun_name("wasi:cli/run@0.2.0"), None);
    }
}
