//! A Bosun stage plugin: counts the workspace files whose name matches `pattern` and
//! fails the stage when there are more than `max`.
//!
//! `with:` settings: `pattern` (a file-name glob where `*` matches any run of characters
//! and `?` one character; default `*`), `path` (the folder to scan, default the whole
//! workspace) and `max` (fail above this count; default: never fail).

use bosun_sdk::fs;
use bosun_sdk::prelude::*;

/// The stage; public so native builds (unit tests), which do not export it, still use it.
pub struct CountFiles;

impl Stage for CountFiles {
    fn run(task: &Task) -> Result<StageReport, StageError> {
        let pattern = task.config("pattern").unwrap_or("*");
        let root = task.config("path").unwrap_or(".");
        // `max` is optional: without it the stage only reports the count.
        let max = task
            .config("max")
            .map(|_| task.config_u64("max", 0))
            .transpose()?;
        let matching: Vec<String> = fs::walk_workspace(root)?
            .into_iter()
            .filter(|path| glob_match(pattern, file_name(path)))
            .collect();
        let count = matching.len() as u64;
        log::info(&format!("{count} files under {root} match {pattern}"));
        let summary = format!("{count} files match {pattern}");
        let report = match max {
            Some(max) if count > max => {
                // Name the files, so the author sees what to remove or rename.
                let findings = matching
                    .into_iter()
                    .map(|path| {
                        let message = format!("matches {pattern} (at most {max} allowed)");
                        Finding::new(
                            env!("CARGO_PKG_NAME"),
                            "too-many-files",
                            Severity::Low,
                            message,
                        )
                        .at(path, None, None)
                    })
                    .collect();
                StageReport::failure(format!("{summary}, more than {max}")).with_findings(findings)
            }
            _ => StageReport::success(summary),
        };
        Ok(report.with_metric("matching_files", count as f64, "count"))
    }
}

/// The last segment of a workspace path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether `name` matches `pattern`: `*` is any run of characters, `?` exactly one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it currently stands for; on a
    // mismatch the star swallows one more character instead of giving up.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    star = Some((star_p, star_n + 1));
                    p = star_p + 1;
                    n = star_n + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

bosun_sdk::export_stage!(CountFiles);

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_names() {
        assert!(glob_match("*.py", "app.py"));
        assert!(glob_match("test_?.py", "test_a.py"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn globs_refuse_other_names() {
        assert!(!glob_match("*.py", "app.pyc"));
        assert!(!glob_match("test_?.py", "test_ab.py"));
        assert!(!glob_match("a*b", "ac"));
    }
}
