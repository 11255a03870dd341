//! Running a tool in a hardened container through the host's `containers` capability.

use crate::bindings::stage::bosun::agent::containers as host;
use crate::{ContainerError, ContainerOutput, ContainerRequest, StageError};
pub use host::{ImageBuildOutput, ImageBuildRequest, StepOutput, StepRequest, StepService};

/// A tool invocation being put together: image, argv, env, timeout.
#[derive(Debug, Clone)]
pub struct Tool {
    request: ContainerRequest,
}

impl Tool {
    /// Run `argv` in `image`; by default no network and a ten-minute timeout.
    pub fn new<I, S>(image: &str, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Tool {
            request: ContainerRequest {
                image: image.to_string(),
                argv: argv.into_iter().map(Into::into).collect(),
                env: Vec::new(),
                workdir: None,
                timeout_ms: 600_000,
                network: false,
            },
        }
    }

    /// Set an environment variable for the tool.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.request.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Limit the tool's wall-clock time.
    pub fn timeout_secs(mut self, secs: u32) -> Self {
        self.request.timeout_ms = secs.saturating_mul(1000);
        self
    }

    /// Run in this folder instead of `/workspace`.
    pub fn workdir(mut self, dir: &str) -> Self {
        self.request.workdir = Some(dir.to_string());
        self
    }

    /// Ask for network access (granted only if the tenant allows it).
    pub fn network(mut self, enabled: bool) -> Self {
        self.request.network = enabled;
        self
    }

    /// Run the tool and wait for it; the error names the image and the problem.
    pub fn run(&self) -> Result<ContainerOutput, StageError> {
        host::run(&self.request).map_err(|e| describe_error(&self.request.image, e))
    }
}

/// Build the workspace's Dockerfile into an image tagged with the commit and branch,
/// and push it to the agent's registry when `push` is set.
pub fn build_image(request: &ImageBuildRequest) -> Result<ImageBuildOutput, StageError> {
    host::build_image(request).map_err(|e| describe_error(&request.repository, e))
}

/// Run a command step (the project's own commands in a private writable checkout);
/// the error names the image and the problem.
pub fn run_step(request: &StepRequest) -> Result<StepOutput, StageError> {
    host::run_step(request).map_err(|e| describe_error(&request.image, e))
}

fn describe_error(image: &str, e: ContainerError) -> StageError {
    match e {
        // A refused request will be refused again: a config problem, not worth a retry.
        ContainerError::Denied(why) => {
            StageError::InvalidConfig(format!("{image}: request denied: {why}"))
        }
        ContainerError::ImageNotFound(why) => {
            StageError::ToolFailed(format!("{image}: image not found: {why}"))
        }
        ContainerError::TimedOut(ms) => {
            StageError::ToolFailed(format!("{image}: timed out after {ms} ms"))
        }
        ContainerError::Unavailable(why) => {
            StageError::ToolFailed(format!("{image}: no container runtime: {why}"))
        }
        ContainerError::Failed(why) => StageError::ToolFailed(format!("{image}: {why}")),
    }
}

/// `problem`, followed by the end of what the tool printed (stderr, else stdout).
pub fn with_output(problem: String, output: &ContainerOutput) -> String {
    let printed = if output.stderr.trim().is_empty() {
        &output.stdout
    } else {
        &output.stderr
    };
    match tail(printed) {
        Some(tail) => format!("{problem}; it printed:\n{tail}"),
        None => format!("{problem}; it printed nothing"),
    }
}

/// The last lines of a tool's output, at most 20 lines and about 2 KiB, without the
/// terminal colour codes some tools print even when not on a terminal.
fn tail(text: &str) -> Option<String> {
    const MAX_BYTES: usize = 2048;
    let text = without_colours(text);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return None;
    }
    let start = lines.len().saturating_sub(20);
    let joined = lines.get(start..).unwrap_or_default().join("\n");
    let mut cut = joined.len().saturating_sub(MAX_BYTES);
    while !joined.is_char_boundary(cut) {
        cut += 1;
    }
    Some(joined.get(cut..).unwrap_or_default().to_string())
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn without_colours(text: &str) -> String {
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            clean.push(c);
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_keep_the_last_lines_within_the_byte_cap() {
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let last = tail(&long).unwrap();
        assert!(last.starts_with("line 80"), "{last}");
        assert!(last.ends_with("line 99"));
        let wide = "é".repeat(3000);
        assert!(tail(&wide).unwrap().len() <= 2048);
    }

    #[test]
    fn problems_quote_stderr_else_stdout_or_say_nothing_was_printed() {
        let output = |stdout: &str, stderr: &str| ContainerOutput {
            exit_code: 1,
            stdout: stdout.into(),
            stderr: stderr.into(),
            duration_ms: 1,
            truncated: false,
        };
        let quoted = with_output(
            "pylint failed".into(),
            &output("out", "\u{1b}[31merr\u{1b}[0m"),
        );
        assert_eq!(quoted, "pylint failed; it printed:\nerr");
        assert_eq!(
            with_output("x".into(), &output("only out", " ")),
            "x; it printed:\nonly out"
        );
        assert_eq!(
            with_output("x".into(), &output("", "\n")),
            "x; it printed nothing"
        );
    }
}
