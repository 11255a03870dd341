//! Copying the files a command step wrote (its reports) from the step's private
//! checkout to `/out/workspace/`, where the plugin reads them.
//!
//! Only regular files are copied: a link (a repository could commit
//! `reports/junit.xml -> /etc/shadow`) is skipped and said so, never followed. Each
//! pattern walks only below its literal prefix, so `reports/*.xml` does not walk
//! `node_modules`.

use globset::{GlobBuilder, GlobMatcher};
use std::fs;
use std::path::{Path, PathBuf};

/// Largest single file copied.
const FILE_CAP: u64 = 64 << 20;
/// Most bytes copied for one step.
const TOTAL_CAP: u64 = 256 << 20;
/// Most entries one pattern's walk visits.
const WALK_CAP: usize = 200_000;

/// For each pattern, the workspace-relative files copied for it; and what was skipped.
#[derive(Debug, Default)]
pub struct Collected {
    pub matched: Vec<(String, Vec<String>)>,
    pub skipped: Vec<String>,
}

/// Copy the files of `workspace` that match each pattern into `out/workspace/`.
pub fn collect(workspace: &Path, out: &Path, patterns: &[String]) -> Collected {
    let mut collected = Collected::default();
    let mut budget = TOTAL_CAP;
    // The step had `/out` writable: whatever it left at `workspace` (a link to `/etc`,
    // say) goes, and the copies land in a folder made here.
    let into = out.join("workspace");
    if fs::symlink_metadata(&into).is_ok() {
        let removed = if fs::symlink_metadata(&into).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir_all(&into)
        } else {
            fs::remove_file(&into)
        };
        if let Err(e) = removed {
            collected
                .skipped
                .push(format!("/out/workspace could not be cleared: {e}"));
            return collected;
        }
    }
    if patterns.is_empty() {
        return collected;
    }
    if let Err(e) = fs::create_dir_all(&into) {
        collected
            .skipped
            .push(format!("/out/workspace could not be made: {e}"));
        return collected;
    }
    for pattern in patterns {
        let mut files = Vec::new();
        match matcher(pattern) {
            Ok(glob) => {
                let base = literal_prefix(pattern);
                // The step may have made a folder on the way a link (to `/etc`, say):
                // only real folders of the checkout are walked.
                if !crate::capabilities::step::copy::real_dir_under(
                    workspace,
                    &workspace.join(&base),
                ) {
                    files.sort();
                    collected.matched.push((pattern.clone(), files));
                    continue;
                }
                let mut walked = 0;
                walk(
                    workspace,
                    &base,
                    &glob,
                    &mut walked,
                    &mut |rel, path| match copy_one(
                        path,
                        &out.join("workspace").join(rel),
                        &mut budget,
                    ) {
                        Ok(()) => files.push(rel.to_string()),
                        Err(why) => collected.skipped.push(format!("{rel}: {why}")),
                    },
                );
            }
            Err(why) => collected.skipped.push(format!("{pattern}: {why}")),
        }
        files.sort();
        collected.matched.push((pattern.clone(), files));
    }
    collected
}

pub(crate) fn matcher(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("not a valid pattern: {e}"))
}

/// The folders of `pattern` before its first wildcard (`reports/*.xml` → `reports`).
pub(crate) fn literal_prefix(pattern: &str) -> PathBuf {
    let mut parts: Vec<&str> = pattern.split('/').collect();
    parts.pop();
    parts
        .into_iter()
        .take_while(|part| !part.contains(['*', '?', '[', '{']))
        .filter(|part| !part.is_empty() && *part != ".")
        .collect()
}

pub(crate) fn walk(
    root: &Path,
    rel: &Path,
    glob: &GlobMatcher,
    walked: &mut usize,
    found: &mut dyn FnMut(&str, &Path),
) {
    let Ok(entries) = fs::read_dir(root.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        *walked += 1;
        if *walked > WALK_CAP {
            return;
        }
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let rel = rel.join(&name);
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let Some(text) = rel.to_str() else { continue };
        if kind.is_dir() {
            walk(root, &rel, glob, walked, found);
        } else if glob.is_match(text) {
            found(text, &entry.path());
        }
    }
}

fn copy_one(from: &Path, to: &Path, budget: &mut u64) -> Result<(), String> {
    let meta = fs::symlink_metadata(from).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err("is a symbolic link; reports must be regular files".into());
    }
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > FILE_CAP || meta.len() > *budget {
        return Err(format!(
            "{} MiB is over the size kept of a step's files",
            meta.len() >> 20
        ));
    }
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let copied = fs::copy(from, to).map_err(|e| e.to_string())?;
    *budget = budget.saturating_sub(copied);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_files_are_copied_and_links_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        fs::create_dir_all(ws.join("reports/nested")).unwrap();
        fs::create_dir_all(ws.join("node_modules/x/reports")).unwrap();
        fs::write(ws.join("reports/junit.xml"), "<testsuite/>").unwrap();
        fs::write(ws.join("reports/nested/deep.xml"), "<x/>").unwrap();
        fs::write(ws.join("node_modules/x/reports/junit.xml"), "no").unwrap();
        fs::write(ws.join("coverage.xml"), "<coverage/>").unwrap();
        let secret = dir.path().join("host-secret");
        fs::write(&secret, "root:x").unwrap();
        std::os::unix::fs::symlink(&secret, ws.join("reports/leak.xml")).unwrap();
        let out = dir.path().join("out");
        let patterns = vec![
            "reports/*.xml".to_string(),
            "coverage.xml".to_string(),
            "missing/*.json".to_string(),
        ];
        let got = collect(&ws, &out, &patterns);
        assert_eq!(got.matched[0].1, vec!["reports/junit.xml"]);
        assert_eq!(got.matched[1].1, vec!["coverage.xml"]);
        assert!(got.matched[2].1.is_empty());
        assert!(
            got.skipped
                .iter()
                .any(|s| s.starts_with("reports/leak.xml") && s.contains("symbolic link")),
            "{:?}",
            got.skipped
        );
        assert!(!out.join("workspace/reports/leak.xml").exists());
        assert_eq!(
            fs::read_to_string(out.join("workspace/reports/junit.xml")).unwrap(),
            "<testsuite/>"
        );
        let deep = collect(&ws, &out, &["reports/**/*.xml".to_string()]);
        assert_eq!(
            deep.matched[0].1,
            vec!["reports/junit.xml", "reports/nested/deep.xml"]
        );
    }

    #[test]
    fn prefixes_stop_at_the_first_wildcard() {
        assert_eq!(literal_prefix("reports/*.xml"), PathBuf::from("reports"));
        assert_eq!(literal_prefix("a/b/**/c.xml"), PathBuf::from("a/b"));
        assert_eq!(literal_prefix("junit.xml"), PathBuf::new());
        assert_eq!(literal_prefix("./out/x.xml"), PathBuf::from("out"));
    }
}
