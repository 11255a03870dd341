//! Running pylint or eslint in a tool container: the argv (kept in step with
//! `scripts/capture-tool-output.sh`, which captures the fixtures the same way), the
//! report file each writes under `/out`, and the checks on what came back.

use crate::detect::Language;
use crate::{eslint, pylint};
pub use bosun_sdk::containers::with_output;
use bosun_sdk::fs::OUT;
use bosun_sdk::prelude::*;
use bosun_sdk::report_file::{self, MAX_REPORT_BYTES, ReadError};
use std::path::Path;

/// Default tool images, as `scripts/services.sh` tags them.
pub const PYTHON_IMAGE: &str = "bosun/python-tools:latest";
pub const NODE_IMAGE: &str = "bosun/node-tools:latest";

/// One tool run, before it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `pylint` or `eslint`.
    pub tool: &'static str,
    pub image: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The report's file name under `/out`.
    pub report: &'static str,
}

/// The invocation for `language` on `paths` (already checked to be workspace-relative).
pub fn invocation(language: Language, image: Option<&str>, paths: &[String]) -> Invocation {
    match language {
        Language::Python => Invocation {
            tool: pylint::TOOL,
            image: image.unwrap_or(PYTHON_IMAGE).to_string(),
            argv: args(
                &[
                    "pylint",
                    "--output-format=json",
                    "--output",
                    "/out/pylint.json",
                ],
                paths,
            ),
            // pylint keeps statistics under $HOME, which is read-only in the container.
            env: vec![("PYLINTHOME".into(), "/tmp/pylint".into())],
            report: "pylint.json",
        },
        Language::Node => {
            let everything = [".".to_string()];
            let paths = if paths.is_empty() {
                &everything[..]
            } else {
                paths
            };
            Invocation {
                tool: eslint::TOOL,
                image: image.unwrap_or(NODE_IMAGE).to_string(),
                argv: args(&["eslint", "-f", "json", "-o", "/out/eslint.json"], paths),
                env: Vec::new(),
                report: "eslint.json",
            }
        }
    }
}

fn args(fixed: &[&str], paths: &[String]) -> Vec<String> {
    fixed
        .iter()
        .map(|s| s.to_string())
        .chain(paths.iter().cloned())
        .collect()
}

/// Run the tool and return its JSON report, or the error that names what went wrong:
/// a status that means it did not lint, no report, or a report too large to read.
pub fn run(invocation: &Invocation, timeout_secs: u32) -> Result<Vec<u8>, StageError> {
    let report_path = Path::new(OUT).join(invocation.report);
    // A report left by an earlier run in a reused /out must not pass for this one's.
    match std::fs::remove_file(&report_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(StageError::Io(format!(
                "removing the old {}: {e}",
                report_path.display()
            )));
        }
    }
    let mut tool =
        Tool::new(&invocation.image, invocation.argv.iter().cloned()).timeout_secs(timeout_secs);
    for (key, value) in &invocation.env {
        tool = tool.env(key, value);
    }
    log::info(&format!(
        "running {} in {}: {}",
        invocation.tool,
        invocation.image,
        invocation.argv.join(" ")
    ));
    let output = tool.run()?;
    let name = invocation.tool;
    let code = output.exit_code;
    let problem = match name {
        pylint::TOOL => pylint::exit_problem(code),
        _ => eslint::exit_problem(code),
    };
    if let Some(problem) = problem {
        return Err(StageError::ToolFailed(with_output(problem, &output)));
    }
    let shown = report_path.display();
    match report_file::read_limited(&report_path, MAX_REPORT_BYTES) {
        Ok(bytes) => Ok(bytes),
        Err(ReadError::Missing) => Err(StageError::ToolFailed(with_output(
            format!("{name} exited {code} without writing its report {shown}"),
            &output,
        ))),
        Err(ReadError::TooLarge(size)) => Err(StageError::BadToolOutput(format!(
            "{name} wrote {} of JSON to {shown}, more than the {} the lint stage reads; \
             lint fewer `paths` or disable the noisiest checks",
            report_file::human_size(size),
            report_file::human_size(MAX_REPORT_BYTES)
        ))),
        Err(ReadError::Io(e)) => Err(StageError::Io(format!("reading {shown}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_sdk::ContainerOutput;

    const USAGE_STDERR: &str = include_str!("../tests/fixtures/pylint-usage-error.stderr");
    const ESLINT_CONFIG_STDERR: &str =
        include_str!("../tests/fixtures/eslint-missing-config.stderr");

    fn output(code: i32, stderr: &str) -> ContainerOutput {
        ContainerOutput {
            exit_code: code,
            stdout: String::new(),
            stderr: stderr.to_string(),
            truncated: false,
            duration_ms: 5,
        }
    }

    #[test]
    fn pylint_writes_json_to_out_and_lints_the_given_paths() {
        let run = invocation(Language::Python, None, &["src".into(), "tools".into()]);
        assert_eq!(run.image, PYTHON_IMAGE);
        assert_eq!(
            run.argv,
            [
                "pylint",
                "--output-format=json",
                "--output",
                "/out/pylint.json",
                "src",
                "tools"
            ]
        );
        assert_eq!(run.report, "pylint.json");
    }

    #[test]
    fn eslint_lints_the_whole_workspace_by_default() {
        let run = invocation(Language::Node, Some("acme/node:1"), &[]);
        assert_eq!(run.image, "acme/node:1");
        assert_eq!(
            run.argv,
            ["eslint", "-f", "json", "-o", "/out/eslint.json", "."]
        );
    }

    #[test]
    fn tool_errors_quote_the_end_of_stderr() {
        let problem = pylint::exit_problem(32).unwrap();
        let message = with_output(problem, &output(32, USAGE_STDERR));
        assert!(
            message.starts_with("pylint refused its command line (exit 32"),
            "{message}"
        );
        assert!(
            message.ends_with("Unrecognized option found: no-such-option"),
            "{message}"
        );
        let eslint = with_output(
            eslint::exit_problem(2).unwrap(),
            &output(2, ESLINT_CONFIG_STDERR),
        );
        assert!(eslint.contains("Cannot read config file"), "{eslint}");
        assert!(with_output("x".into(), &output(1, " \n")).ends_with("it printed nothing"));
    }
}
