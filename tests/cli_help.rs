//! Every `bosun` subcommand's `--help` shows at least one example. The commands are
//! found by walking the binary's own help, so a new command without one fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(path)
        .arg("--help")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "bosun {path:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands a help text lists under `Commands:` (clap's own `help` left out).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command path below the root, depth first.
fn all_commands() -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![Vec::<String>::new()];
    while let Some(path) = pending.pop() {
        for name in subcommands(&help(&path)) {
            let mut child = path.clone();
            child.push(name);
            pending.push(child.clone());
            found.push(child);
        }
    }
    found
}

#[test]
fn cli_help_every_subcommand_shows_an_example() {
    let commands = all_commands();
    let names: Vec<String> = commands.iter().map(|c| c.join(" ")).collect();
    // The walk itself must work: these are known to exist.
    for expected in [
        "run",
        "up",
        "agent",
        "orchestrator",
        "trigger",
        "validate",
        "plugin",
        "plugin check",
        "plugin run",
        "plugin list",
        "plugin new",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not found in {names:?}"
        );
    }
    let missing: Vec<&String> = commands
        .iter()
        .zip(&names)
        .filter(|(path, _)| {
            !help(path)
                .lines()
                .any(|line| line.trim_start().starts_with("Example"))
        })
        .map(|(_, name)| name)
        .collect();
    assert!(
        missing.is_empty(),
        "no Example: line in --help of {missing:?}"
    );
}
