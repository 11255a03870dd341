//! Copying the files a step keeps out of its private checkout and `/out`, after the
//! commands and before the step's folders go.
//!
//! A pattern is a glob (`dist/*.whl`, `build/**/*.jar`) or a folder (`dist`, kept
//! whole), relative to the workspace or under `/out/`; a file keeps its path relative
//! to the folder it matched in. Only regular files are kept: a link (a step could
//! leave `dist/app -> /etc/shadow`) is skipped and said so, never followed, and a
//! folder on the way that is a link is never walked. The run's cap and a file count
//! bound what one step can make the agent copy.

use crate::capabilities::step::collect::{literal_prefix, matcher, walk};
use crate::capabilities::step::copy::real_dir_under;
use bosun_bus::artifacts::check_path;
use std::fs;
use std::path::Path;

/// Most files one step keeps.
pub const MAX_FILES: usize = 1000;

/// One kept file, in the kept folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFile {
    /// Relative path (checked by `bosun_bus::artifacts::check_path`).
    pub path: String,
    /// Size of the kept file in bytes.
    pub size: u64,
}

/// What a step kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// The files, in the order found.
    pub files: Vec<KeptFile>,
    /// Files not kept and patterns that matched nothing, for the step's log.
    pub skipped: Vec<String>,
    /// Set when the step wrote more than may be kept: the stage fails with it.
    pub over_cap: Option<String>,
}

impl Kept {
    /// Bytes kept.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Copy the files of `workspace` and `out` matching `patterns` into `into` (made
/// afresh), at most `max_bytes` of them; a file whose path holds a secret is skipped.
pub fn keep(
    workspace: &Path,
    out: &Path,
    patterns: &[String],
    into: &Path,
    max_bytes: u64,
    secrets: &crate::capabilities::mask::Masker,
) -> Kept {
    let mut kept = Kept::default();
    if let Err(e) = fs::create_dir_all(into) {
        kept.over_cap = Some(format!("the kept files' folder could not be made: {e}"));
        return kept;
    }
    let mut bytes = 0u64;
    for pattern in patterns {
        let (root, relative) = match pattern.strip_prefix("/out/") {
            Some(rest) => (out, rest.trim_start_matches("./")),
            None => (workspace, pattern.trim_start_matches("./")),
        };
        let relative = relative.trim_end_matches('/');
        // A folder named without a wildcard is kept whole.
        let whole =
            !relative.contains(['*', '?', '[', '{']) && real_dir_under(root, &root.join(relative));
        let glob_text = if whole {
            format!("{relative}/**")
        } else {
            relative.to_string()
        };
        let glob = match matcher(&glob_text) {
            Ok(glob) => glob,
            Err(why) => {
                kept.skipped.push(format!("{pattern}: {why}"));
                continue;
            }
        };
        let base = literal_prefix(&glob_text);
        let before = kept.files.len();
        if real_dir_under(root, &root.join(&base)) {
            let mut walked = 0;
            walk(root, &base, &glob, &mut walked, &mut |rel, path| {
                if kept.over_cap.is_some() {
                    return;
                }
                if let Err(why) = check_path(rel) {
                    kept.skipped.push(why.to_string());
                    return;
                }
                if secrets.mask(rel) != rel {
                    kept.skipped.push(format!(
                        "a file matching {pattern}: its name holds a secret"
                    ));
                    return;
                }
                match copy_one(
                    path,
                    &into.join(rel),
                    max_bytes,
                    &mut bytes,
                    kept.files.len(),
                ) {
                    Ok(size) => kept.files.push(KeptFile {
                        path: rel.to_string(),
                        size,
                    }),
                    Err(Refused::Skip(why)) => kept.skipped.push(format!("{rel}: {why}")),
                    Err(Refused::OverCap(why)) => kept.over_cap = Some(why),
                }
            });
        }
        if kept.over_cap.is_some() {
            break;
        }
        if kept.files.len() == before {
            kept.skipped.push(format!("{pattern}: matched no file"));
        }
    }
    kept.files.sort_by(|a, b| a.path.cmp(&b.path));
    kept
}

enum Refused {
    /// This file is not kept; the others are.
    Skip(String),
    /// The step wrote more than may be kept.
    OverCap(String),
}

fn copy_one(
    from: &Path,
    to: &Path,
    max_bytes: u64,
    bytes: &mut u64,
    files: usize,
) -> Result<u64, Refused> {
    let meta = fs::symlink_metadata(from).map_err(|e| Refused::Skip(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(Refused::Skip(
            "is a symbolic link; artifacts are regular files".into(),
        ));
    }
    if !meta.is_file() {
        return Err(Refused::Skip("is not a regular file".into()));
    }
    if files >= MAX_FILES {
        return Err(Refused::OverCap(format!(
            "the step keeps more than {MAX_FILES} files; name fewer in 'artifacts' (an archive keeps many as one)"
        )));
    }
    if bytes.saturating_add(meta.len()) > max_bytes {
        return Err(Refused::OverCap(format!(
            "the step's artifacts pass the run's cap of {} MiB at {}",
            max_bytes >> 20,
            to.file_name().and_then(|n| n.to_str()).unwrap_or("a file")
        )));
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(Refused::Skip(
            "is kept already (matched in the workspace and in /out)".into(),
        ));
    }
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| Refused::Skip(e.to_string()))?;
    }
    let copied = fs::copy(from, to).map_err(|e| Refused::Skip(e.to_string()))?;
    *bytes += copied;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::mask::Masker;

    fn tree(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let ws = dir.join("ws");
        let out = dir.join("out");
        fs::create_dir_all(ws.join("dist/sub")).unwrap();
        fs::create_dir_all(ws.join("node_modules/x/dist")).unwrap();
        fs::create_dir_all(&out).unwrap();
        fs::write(ws.join("dist/app.txt"), "app").unwrap();
        fs::write(ws.join("dist/sub/lib.txt"), "lib").unwrap();
        fs::write(ws.join("node_modules/x/dist/app.txt"), "no").unwrap();
        fs::write(out.join("sbom.json"), "{}").unwrap();
        (ws, out)
    }

    fn paths(kept: &Kept) -> Vec<&str> {
        kept.files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn globs_folders_and_out_files_are_kept_by_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, out) = tree(dir.path());
        let into = dir.path().join("kept");
        let patterns = ["dist/*.txt", "dist/sub", "/out/sbom.json", "missing/*"].map(String::from);
        let kept = keep(&ws, &out, &patterns, &into, 1 << 20, &Masker::new(&[]));
        assert_eq!(
            paths(&kept),
            ["dist/app.txt", "dist/sub/lib.txt", "sbom.json"]
        );
        assert_eq!(kept.bytes(), 8);
        assert_eq!(
            fs::read_to_string(into.join("dist/sub/lib.txt")).unwrap(),
            "lib"
        );
        assert_eq!(kept.skipped, ["missing/*: matched no file"]);
        assert!(kept.over_cap.is_none());
    }

    #[test]
    fn links_are_never_followed_nor_walked() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, out) = tree(dir.path());
        let secret = dir.path().join("host-secret");
        fs::write(&secret, "root:x").unwrap();
        std::os::unix::fs::symlink(&secret, ws.join("dist/leak.txt")).unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("x.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("linked")).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("dist/linked-dir")).unwrap();
        let into = dir.path().join("kept");
        let patterns = ["dist/**", "linked/*.txt", "linked"].map(String::from);
        let kept = keep(&ws, &out, &patterns, &into, 1 << 20, &Masker::new(&[]));
        assert_eq!(paths(&kept), ["dist/app.txt", "dist/sub/lib.txt"]);
        assert!(
            kept.skipped
                .iter()
                .any(|s| s.starts_with("dist/leak.txt") && s.contains("symbolic link")),
            "{:?}",
            kept.skipped
        );
        assert!(!into.join("dist/leak.txt").exists());
        assert!(!into.join("x.txt").exists() && !into.join("linked").exists());
    }

    #[test]
    fn the_run_cap_and_the_file_count_stop_a_step_that_writes_too_much() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, out) = tree(dir.path());
        fs::write(ws.join("dist/big.bin"), vec![0u8; 4096]).unwrap();
        let into = dir.path().join("kept");
        let kept = keep(
            &ws,
            &out,
            &["dist".to_string()],
            &into,
            1024,
            &Masker::new(&[]),
        );
        assert!(
            kept.over_cap.as_deref().is_some_and(|w| w.contains("cap")),
            "{kept:?}"
        );
        let many = ws.join("many");
        fs::create_dir_all(&many).unwrap();
        for i in 0..=MAX_FILES {
            fs::write(many.join(format!("{i}.txt")), "").unwrap();
        }
        let kept = keep(
            &ws,
            &out,
            &["many/*.txt".to_string()],
            &dir.path().join("k2"),
            1 << 30,
            &Masker::new(&[]),
        );
        assert!(
            kept.over_cap
                .as_deref()
                .is_some_and(|w| w.contains("more than 1000 files")),
            "{:?}",
            kept.over_cap
        );
    }

    #[test]
    fn a_file_named_after_a_secret_is_not_kept_nor_listed() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, out) = tree(dir.path());
        fs::write(ws.join("dist/hunter2-token.txt"), "x").unwrap();
        let into = dir.path().join("kept");
        let masker = Masker::new(&["hunter2-token".to_string()]);
        let kept = keep(
            &ws,
            &out,
            &["dist/*.txt".to_string()],
            &into,
            1 << 20,
            &masker,
        );
        assert_eq!(paths(&kept), ["dist/app.txt"]);
        assert!(
            kept.skipped.iter().all(|s| !s.contains("hunter2")),
            "{:?}",
            kept.skipped
        );
    }
}
