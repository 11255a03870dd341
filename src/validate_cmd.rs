//! `bosun validate FILE`: check a pipeline config and print its errors or resolved plan.

use anyhow::Context;
use bosun_config as config;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  bosun validate .bosun.yml
  bosun validate --json examples/python-app/.bosun.yml

A valid file prints its resolved plan (stages in parallel waves, every default filled in)
and exits 0. Otherwise every problem is printed on stderr as FILE:LINE:COL: MESSAGE,
with a 'help:' line when there is a likely fix, and the exit code is 1:

  .bosun.yml:4:7: stage 'test': unknown key 'retires'
    help: did you mean 'retries'?

A file that cannot be read exits 2.";

/// Check a pipeline config: its errors (exit 1) or the resolved plan (exit 0).
#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub struct ValidateArgs {
    /// The pipeline config file (`.bosun.yml`).
    file: PathBuf,
    /// Print the resolved plan (or the problems) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `text` with terminal control characters (escape sequences, carriage returns, bells)
/// shown as `\u{..}` escapes: names in a config file reach the terminal only as text.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Stages whose plugin is not built in: valid, but only an agent with that plugin in a
/// plugin folder runs them (a misspelt built-in would wait for an agent that never comes).
fn unknown_plugins(pipeline: &config::PipelineConfig) -> Vec<String> {
    let builtins: Vec<&str> = bosun_builtins::BUILTINS
        .iter()
        .filter_map(|b| b.file_name.strip_suffix(".wasm"))
        .collect();
    let mut warnings = Vec::new();
    for spec in &pipeline.stages {
        let rollback = spec.rollback.as_ref().map(|r| r.plugin.as_str());
        for plugin in std::iter::once(spec.plugin.as_str()).chain(rollback) {
            if !builtins.contains(&plugin) {
                warnings.push(format!(
                    "stage '{}' uses plugin '{plugin}', which is not built in: only agents with it in a plugin folder run the stage (built-ins: {})",
                    spec.name,
                    builtins.join(", ")
                ));
            }
        }
    }
    warnings
}

/// Print the errors (exit 1) or the resolved plan (exit 0).
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read pipeline config {name}"))?;
    let mut out = std::io::stdout().lock();
    match config::parse(&name, &text) {
        Ok(pipeline) => {
            for warning in unknown_plugins(&pipeline) {
                eprintln!("{}: warning: {}", printable(&name), printable(&warning));
            }
            if args.json {
                serde_json::to_writer_pretty(&mut out, &pipeline.plan())?;
                writeln!(out)?;
            } else {
                writeln!(out, "{}: valid\n", printable(&name))?;
                write!(out, "{}", printable(&pipeline.plan_text()))?;
            }
            out.flush().context("cannot write the plan to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{}", printable(&error.to_string()));
            let count = error.problems.len();
            let noun = if count == 1 { "problem" } else { "problems" };
            eprintln!("{}: {count} {noun}", printable(&name));
            if args.json {
                serde_json::to_writer_pretty(&mut out, &error)?;
                writeln!(out)?;
                out.flush().context("cannot write the problems to stdout")?;
            }
            Ok(ExitCode::from(1))
        }
    }
}
