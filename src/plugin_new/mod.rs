//! `bosun plugin new NAME --kind stage|policy|notifier`: a standalone plugin crate, with a
//! small working example per kind, that builds as is for wasm32-wasip2.
//!
//! The templates live beside this file (`templates/`); they are not part of the `bosun`
//! crate's module tree, and `tests/cli_plugin_new.rs` builds each of them for real.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The plugin worlds a scaffold can implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A pipeline stage: files under /workspace in, a report out.
    Stage,
    /// A tenant policy: allow, warn or deny a stage.
    Policy,
    /// A notifier: a finished run as a chat message.
    Notifier,
}

impl Kind {
    /// The world's name, as `bosun plugin check` shows it.
    fn word(self) -> &'static str {
        match self {
            Kind::Stage => "stage",
            Kind::Policy => "policy",
            Kind::Notifier => "notifier",
        }
    }
}

/// Create a plugin crate that builds as is for wasm32-wasip2.
///
/// The crate is standalone (a workspace of its own), depends on the Bosun SDK by path,
/// targets wasm32-wasip2 through `.cargo/config.toml`, and holds a README with the
/// build, check and drop-in commands.
///
/// Example: bosun plugin new count-logs --kind stage
///
/// Example: bosun plugin new code-freeze --kind policy --dir plugins/code-freeze
#[derive(Args)]
pub struct NewArgs {
    /// The crate's name (letters, digits, `-` and `_`, starting with a letter); the
    /// plugin's name is the same, less any `bosun-plugin-` prefix.
    name: String,
    /// What the plugin implements.
    #[arg(long, value_enum)]
    kind: Kind,
    /// The folder to create (default: ./NAME); it must not exist yet.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// The Bosun SDK (`sdk/` of a Bosun checkout); default: the one this bosun was built from.
    #[arg(long, value_name = "PATH", env = "BOSUN_SDK")]
    sdk: Option<PathBuf>,
}

/// Where the SDK was when this binary was built.
const BUILT_FROM_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk");

/// Names Cargo or rustc refuse or that clash with the standard crates.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "gen",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
];

/// Why `name` cannot be a crate name, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    let Some(first) = name.chars().next() else {
        return Some("it is empty".into());
    };
    if !first.is_ascii_alphabetic() {
        return Some("it must start with a letter".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Some(format!(
            "{bad:?} is not allowed (letters, digits, `-` and `_` only)"
        ));
    }
    if name.len() > 64 {
        return Some("it is longer than 64 characters".into());
    }
    if RESERVED.contains(&name) || RESERVED.contains(&name.replace('-', "_").as_str()) {
        return Some("it is a Rust keyword or a standard crate's name".into());
    }
    None
}

/// The SDK folder, checked: it must hold the `bosun-sdk` package.
fn find_sdk(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let (sdk, how) = match given {
        Some(path) => (path.to_path_buf(), "given with --sdk"),
        None => (
            PathBuf::from(BUILT_FROM_SDK),
            "where this bosun was built from",
        ),
    };
    let manifest = sdk.join("Cargo.toml");
    let is_sdk = std::fs::read_to_string(&manifest)
        .map(|text| text.contains("name = \"bosun-sdk\""))
        .unwrap_or(false);
    if !is_sdk {
        bail!(
            "the Bosun SDK is not at {} ({how}): pass --sdk PATH, the `sdk` folder of a Bosun checkout",
            sdk.display()
        );
    }
    sdk.canonicalize()
        .with_context(|| format!("cannot resolve the SDK folder {}", sdk.display()))
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The files of a new plugin crate, as (path in the crate, contents).
fn files(name: &str, kind: Kind, sdk: &Path) -> Vec<(&'static str, String)> {
    let (source, description) = match kind {
        Kind::Stage => (
            include_str!("templates/stage.rs"),
            "counts the files whose name matches `pattern` and fails above `max`",
        ),
        Kind::Policy => (
            include_str!("templates/policy.rs"),
            "a code freeze: denies the stages it covers while `frozen` is true",
        ),
        Kind::Notifier => (
            include_str!("templates/notifier.rs"),
            "a finished run as one short line of text",
        ),
    };
    let (try_it, use_it) = usage(name, kind);
    let wasm = name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{description}}", description)
            .replace("{{kind}}", kind.word())
            .replace("{{wasm}}", &wasm)
            .replace("{{try}}", &try_it)
            .replace("{{use}}", &use_it)
            .replace("{{sdk}}", &toml_string(&sdk.display().to_string()))
    };
    vec![
        (
            "Cargo.toml",
            fill(include_str!("templates/Cargo.toml.tmpl")),
        ),
        (
            ".cargo/config.toml",
            include_str!("templates/config.toml.tmpl").to_string(),
        ),
        ("README.md", fill(include_str!("templates/README.md.tmpl"))),
        (
            ".gitignore",
            include_str!("templates/gitignore.tmpl").into(),
        ),
        ("src/lib.rs", source.to_string()),
    ]
}

/// The README's kind-specific parts: how to try the plugin, and how to use it.
fn usage(crate_name: &str, kind: Kind) -> (String, String) {
    let wasm = crate_name.replace('-', "_");
    // Pipelines and settings name the plugin as the SDK does: without the prefix.
    let name = crate_name
        .strip_prefix("bosun-plugin-")
        .unwrap_or(crate_name);
    match kind {
        Kind::Stage => (
            format!(
                "\nTry it on a folder (exit 0 when the stage passes, 1 when it fails):\n\n```sh\n\
                 bosun plugin run target/wasm32-wasip2/release/{wasm}.wasm --workspace . --config 'pattern=*.rs' --config max=10\n```\n"
            ),
            format!(
                "\nUse it in a pipeline (`.bosun.yml`); `agent` picks the agents that serve it:\n\n```yaml\n\
                 pipeline:\n  stages:\n    - name: logs\n      plugin: {name}\n      agent: lint\n      \
                 with: {{ pattern: \"*.log\", max: 0 }}\n```\n"
            ),
        ),
        Kind::Policy => (
            String::new(),
            format!(
                "\nApply it to a tenant in the server settings (`bosun up --config`, `bosun orchestrator --config`):\n\n```yaml\n\
                 tenants:\n  - owner: acme\n    policies:\n      - plugin: {name}\n        \
                 with: {{ frozen: \"true\", stages: deploy, reason: \"release freeze until Monday\" }}\n        \
                 phases: [before-stage]\n```\n"
            ),
        ),
        Kind::Notifier => (
            String::new(),
            format!(
                "\nUse it for a pipeline's notifications (`.bosun.yml`); the orchestrator posts the\n\
                 message to the tenant's Slack webhook:\n\n```yaml\n\
                 pipeline:\n  notify:\n    notifier: {name}\n    on_success: true\n  stages: [lint, test]\n```\n"
            ),
        ),
    }
}

/// Write the files into a hidden folder beside `target`, then rename it into place, so
/// a failure half-way leaves nothing behind.
fn write_crate(target: &Path, files: &[(&str, String)]) -> anyhow::Result<()> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".bosun-plugin-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    for (relative, contents) in files {
        let path = staging.path().join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // A folder created meanwhile must not be replaced: rename refuses a non-empty one,
    // and the check below covers an empty one.
    if target.exists() {
        bail!(
            "{} already exists: choose another --dir or name",
            target.display()
        );
    }
    std::fs::rename(staging.path(), target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    // The staging folder was private (0700); the crate is an ordinary folder.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot set the permissions of {}", target.display()))?;
    Ok(())
}

pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    if let Some(problem) = name_problem(&args.name) {
        bail!(
            "{:?} is not a valid plugin crate name: {problem} (e.g. `count-logs`)",
            args.name
        );
    }
    let target = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if target.exists() {
        bail!(
            "{} already exists: choose another --dir or name (nothing was written)",
            target.display()
        );
    }
    let sdk = find_sdk(args.sdk.as_deref())?;
    let files = files(&args.name, args.kind, &sdk);
    write_crate(&target, &files)?;
    let wasm = args.name.replace('-', "_");
    println!(
        "created {} ({} plugin {}, SDK {})",
        target.display(),
        args.kind.word(),
        args.name,
        sdk.display()
    );
    println!("next:");
    println!("  cd {} && cargo build --release", target.display());
    println!("  bosun plugin check target/wasm32-wasip2/release/{wasm}.wasm");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_follow_cargo_rules() {
        assert_eq!(name_problem("count-logs"), None);
        assert_eq!(name_problem("my_plugin2"), None);
        for bad in [
            "",
            "2fast",
            "-x",
            "has space",
            "dots.no",
            "fn",
            "test",
            "self",
        ] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn toml_strings_escape_quotes_and_backslashes() {
        assert_eq!(toml_string(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
    }
}
