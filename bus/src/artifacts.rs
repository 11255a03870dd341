//! Artifacts on the wire: what a stage task keeps and reads ([`TaskArtifacts`], in the
//! task message), the listing the orchestrator serves ([`KeptFile`]), and the rule for
//! a kept file's path that the agent and the orchestrator both apply.
//!
//! The files themselves travel over the orchestrator's HTTP side, never on the bus:
//! `PUT /api/agent/artifacts/{run}/{stage}/{attempt}/{path}` (upload, with the sha256
//! in [`DIGEST_HEADER`]), `GET /api/agent/artifacts/{run}/{stage}/{attempt}` (the
//! listing) and `GET …/{path}` (one file), each with the task's token as
//! `Authorization: Bearer`.

use serde::{Deserialize, Serialize};

/// The header an upload names its content's sha256 in (64 hex digits); the
/// orchestrator computes its own and refuses a mismatch.
pub const DIGEST_HEADER: &str = "x-bosun-sha256";
/// Longest kept path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Most folders deep a kept path may be.
pub const MAX_PATH_DEPTH: usize = 32;

/// What a stage task keeps and reads: present when the stage lists `artifacts` or needs
/// a stage that kept some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskArtifacts {
    /// Patterns of the files kept after the step: workspace-relative globs or folders,
    /// or the same under `/out/`.
    #[serde(default)]
    pub keep: Vec<String>,
    /// Stages whose kept files the step reads, at `/artifacts/<stage>/`.
    #[serde(default)]
    pub inputs: Vec<ArtifactInput>,
    /// Lets this attempt upload its own files and read those of `inputs`, and nothing
    /// else; the orchestrator refuses it once the attempt is settled. The agent keeps it
    /// from the plugin and the step.
    pub token: String,
    /// Most bytes one run keeps (the operator's cap; the orchestrator enforces it).
    pub max_run_bytes: u64,
}

/// A stage whose kept files a task reads: the attempt that passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInput {
    /// The stage (a matrix instance by its instance name).
    pub stage: String,
    /// Its attempt that passed.
    pub attempt: u32,
}

/// One kept file, as the orchestrator lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFile {
    /// Relative path, `/`-separated (see [`check_path`]).
    pub path: String,
    /// Size of the file in bytes, checked against the per-run cap.
    pub size: u64,
    /// `sha256:<hex>` of the content.
    pub digest: String,
}

/// Why a kept file's path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty, or longer than [`MAX_PATH_BYTES`] or deeper than [`MAX_PATH_DEPTH`].
    #[error("artifact path {0:?} is empty, longer than 1024 bytes or more than 32 folders deep")]
    Size(String),
    /// Absolute, or a part is empty, `.` or `..`.
    #[error("artifact path {0:?} must be relative, without empty, '.' or '..' parts")]
    Escapes(String),
    /// A control character or a backslash.
    #[error("artifact path {0:?} contains a control character or a backslash")]
    Characters(String),
}

/// Whether `path` may name a kept file: relative, `/`-separated, every part a plain
/// name. Checked by the agent before it uploads or writes a download, and by the
/// orchestrator before it stores one; so no name reaches outside its stage's folder.
pub fn check_path(path: &str) -> Result<(), PathError> {
    let parts: Vec<&str> = path.split('/').collect();
    if path.is_empty() || path.len() > MAX_PATH_BYTES || parts.len() > MAX_PATH_DEPTH {
        return Err(PathError::Size(shorten(path)));
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(PathError::Escapes(shorten(path)));
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err(PathError::Characters(shorten(path)));
    }
    Ok(())
}

/// Whether a stage name can be the folder its files are mounted under
/// (`/artifacts/<stage>/`): one plain path part.
pub fn is_stage_folder(stage: &str) -> bool {
    !stage.contains('/') && check_path(stage).is_ok()
}

/// `sha256:<hex>` when `digest` is 64 lower-case hex digits after that prefix.
pub fn digest_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn shorten(path: &str) -> String {
    path.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_paths_are_accepted() {
        for ok in ["app.txt", "dist/app-1.0.whl", "a b/ü.txt", ".hidden/x"] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn paths_that_could_leave_their_folder_are_refused() {
        let deep = vec!["d"; MAX_PATH_DEPTH + 1].join("/");
        let long = "x".repeat(MAX_PATH_BYTES + 1);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/.",
            "a/",
            "a\\..\\b",
            "a\nb",
            "a\0b",
            &deep,
            &long,
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        assert!(is_stage_folder("build-3_11"));
        assert!(!is_stage_folder("a/b") && !is_stage_folder("..") && !is_stage_folder(""));
    }

    #[test]
    fn digests_are_sha256_in_lower_case_hex() {
        let hex = "a".repeat(64);
        assert_eq!(digest_hex(&format!("sha256:{hex}")), Some(hex.as_str()));
        assert_eq!(digest_hex(&format!("sha256:{}", "A".repeat(64))), None);
        assert_eq!(digest_hex(&format!("md5:{hex}")), None);
        assert_eq!(digest_hex("sha256:abc"), None);
    }
}
