//! Compiles the built-in plugins to components and generates `BUILTINS`, which embeds them.

use bosun_wasm_build::{build_components, short_name, write_generated};

/// The plugins every `bosun` binary ships with: stages, tenant policies and the Slack
/// and email notifiers. Each package is named after its plugin, so the file name (see
/// `short_name`) is the name pipelines and tenant settings use.
const BUILTIN_PACKAGES: &[&str] = &[
    "bosun-plugin-junit-report",
    "bosun-plugin-todo-scan",
    "bosun-plugin-no-critical-vulns",
    "bosun-plugin-min-coverage",
    "bosun-plugin-production-only-from-default-branch",
    "bosun-plugin-slack",
    "bosun-plugin-email",
    "bosun-plugin-security",
    "bosun-plugin-build",
    "bosun-plugin-deploy",
    "bosun-plugin-lint",
    "bosun-plugin-test",
    "bosun-plugin-commands",
];

fn main() {
    let mut code = String::from(
        "/// Every built-in plugin, sorted by file name.\n\
         pub static BUILTINS: &[Builtin] = &[\n",
    );
    let mut built = build_components(BUILTIN_PACKAGES);
    built.sort();
    for (package, wasm) in &built {
        let file_name = format!("{}.wasm", short_name(package));
        // `{:?}` of a `str` is a valid Rust string literal, escapes included.
        let path = wasm.display().to_string();
        code.push_str(&format!(
            "    Builtin {{ file_name: {file_name:?}, bytes: include_bytes!({path:?}) }},\n"
        ));
    }
    code.push_str("];\n");
    write_generated("builtins.rs", &code);
}
