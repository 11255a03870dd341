//! `artifacts:` on a command step: the files kept with the attempt after the commands,
//! mounted read-only at `/artifacts/<stage>/` for the later steps that `need` it.
//!
//! ```yaml
//! - name: build
//!   image: bosun/python:3.11
//!   commands: [python -m build --outdir dist]
//!   artifacts: ["dist/*.whl", /out/sbom.json]
//! ```
//!
//! Each entry is a glob relative to the step's workspace (`*` within a folder, `**`
//! across folders), a folder (kept whole), or the same under `/out/`. A file keeps its
//! path relative to the folder it matched in.

use super::positions::YamlPath;
use super::reader::Reader;
use serde_yaml_ng::Value;

/// Most patterns one step lists.
const MAX_PATTERNS: usize = 32;
/// Longest pattern.
const MAX_PATTERN_BYTES: usize = 1024;

/// Reads `artifacts`: a pattern or a list of them, each checked where it is written.
pub(crate) fn read_artifacts(
    reader: &mut Reader,
    value: &Value,
    at: &YamlPath,
    scope: &str,
) -> Vec<String> {
    let Some(patterns) = reader.text_list(value, at, "artifacts", scope) else {
        return Vec::new();
    };
    if patterns.is_empty() || patterns.len() > MAX_PATTERNS {
        reader.at_value(
            at,
            Some("artifacts"),
            format!("{scope}: 'artifacts' lists no paths, or more than {MAX_PATTERNS}"),
            None,
        );
    }
    for (pattern, pattern_at) in &patterns {
        if let Err(why) = check_pattern(pattern) {
            reader.at_value(
                pattern_at,
                Some("artifacts"),
                format!("{scope}: artifact path {pattern:?} {why}"),
                Some(
                    "artifacts are read from the step's workspace or /out, e.g. 'dist/*.whl' or '/out/sbom.json'"
                        .into(),
                ),
            );
        }
    }
    patterns.into_iter().map(|(p, _)| p).collect()
}

/// Why `pattern` cannot name kept files, if it cannot.
pub fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    let rest = pattern
        .strip_prefix("/out/")
        .unwrap_or(pattern)
        .trim_start_matches("./");
    if rest.trim().is_empty() || pattern.len() > MAX_PATTERN_BYTES {
        return Err("is empty or too long");
    }
    if rest.starts_with('/') || rest.starts_with('~') {
        return Err("must be relative to the workspace, or start with /out/");
    }
    if rest.chars().any(char::is_control) || rest.contains('\\') {
        return Err("contains a control character or a backslash");
    }
    if rest.split('/').any(|part| part == "..") {
        return Err("must not contain '..'");
    }
    let balanced = |open: char, close: char| {
        let mut depth = 0i32;
        for c in rest.chars() {
            if c == open {
                depth += 1;
            } else if c == close {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
        }
        depth == 0
    };
    if !balanced('[', ']') || !balanced('{', '}') {
        return Err("has an unclosed '[' or '{'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_pattern;

    #[test]
    fn workspace_and_out_patterns_are_accepted() {
        for ok in [
            "dist/*.whl",
            "dist",
            "./build/**/*.jar",
            "/out/sbom.json",
            "{a,b}/[0-9].txt",
        ] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn patterns_outside_the_workspace_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "~/.ssh/id_rsa",
            "../other-run/x",
            "dist/../../x",
            "/out/../etc",
            "/out/",
            "a\0b",
            "a\\b",
            "dist/[a.txt",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
    }
}
