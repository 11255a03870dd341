//! Files under `/workspace` (the repository, read-only) and `/out` (the stage's output).

use crate::StageError;
use std::path::{Component, Path, PathBuf};

/// Where the host mounts the task's repository, read-only.
pub const WORKSPACE: &str = "/workspace";
/// Where the stage may write reports and artifacts.
pub const OUT: &str = "/out";

/// Join a relative path onto a root, refusing absolute paths and `..`.
fn confined(root: &str, relative: &str) -> Result<PathBuf, StageError> {
    let rel = Path::new(relative);
    let escapes = rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(StageError::Io(format!(
            "path {relative:?} must stay inside {root}"
        )));
    }
    Ok(Path::new(root).join(rel))
}

/// The absolute path of a file in the workspace.
pub fn workspace_path(relative: &str) -> Result<PathBuf, StageError> {
    confined(WORKSPACE, relative)
}

/// Read a workspace file as bytes.
pub fn read_workspace(relative: &str) -> Result<Vec<u8>, StageError> {
    let path = workspace_path(relative)?;
    std::fs::read(&path).map_err(|e| StageError::Io(format!("reading {}: {e}", path.display())))
}

/// Read a workspace file as UTF-8 text.
pub fn read_workspace_string(relative: &str) -> Result<String, StageError> {
    let path = workspace_path(relative)?;
    std::fs::read_to_string(&path)
        .map_err(|e| StageError::Io(format!("reading {}: {e}", path.display())))
}

/// Read a file the stage (or its tool) wrote under `/out`.
pub fn read_out(relative: &str) -> Result<Vec<u8>, StageError> {
    let path = confined(OUT, relative)?;
    std::fs::read(&path).map_err(|e| StageError::Io(format!("reading {}: {e}", path.display())))
}

/// Write a file under `/out`, creating parent folders; returns its absolute path.
pub fn write_out(relative: &str, contents: &[u8]) -> Result<String, StageError> {
    let path = confined(OUT, relative)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| StageError::Io(format!("creating {}: {e}", parent.display())))?;
    }
    write_whole(&path, contents)
        .map_err(|e| StageError::Io(format!("writing {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// Write `contents` to `path` under `/out` with one WASI `write` call: std's file
/// writes go through an output stream in 64 KiB chunks, and the host runs each chunk
/// on a thread of its blocking pool and waits for it. For a SARIF log of several MiB
/// those hops cost more than the write (measured: 15–20% of a lint call).
#[cfg(target_arch = "wasm32")]
fn write_whole(path: &Path, contents: &[u8]) -> Result<(), String> {
    use wasip2::filesystem::preopens::get_directories;
    use wasip2::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    let relative = path
        .strip_prefix(OUT)
        .ok()
        .and_then(Path::to_str)
        .ok_or_else(|| format!("not a UTF-8 path under {OUT}"))?;
    let (out, _) = get_directories()
        .into_iter()
        .find(|(_, name)| name == OUT)
        .ok_or_else(|| format!("the host granted no {OUT} folder"))?;
    let file = out
        .open_at(
            PathFlags::empty(),
            relative,
            OpenFlags::CREATE | OpenFlags::TRUNCATE,
            DescriptorFlags::WRITE,
        )
        .map_err(|e| e.to_string())?;
    let mut written = 0;
    while written < contents.len() {
        let rest = contents.get(written..).unwrap_or_default();
        let n = file
            .write(rest, written as u64)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the host accepted no bytes".to_string());
        }
        written = written.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
    }
    Ok(())
}

/// Natively (tests, benchmarks) a plain write.
#[cfg(not(target_arch = "wasm32"))]
fn write_whole(path: &Path, contents: &[u8]) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| e.to_string())
}

/// Every regular file under a workspace folder, as paths relative to `/workspace`,
/// sorted. Hidden folders (`.git`, `.venv`) are skipped.
pub fn walk_workspace(relative_dir: &str) -> Result<Vec<String>, StageError> {
    let root = workspace_path(relative_dir)?;
    let mut pending = vec![root];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| StageError::Io(format!("listing {}: {e}", dir.display())))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| StageError::Io(format!("listing {}: {e}", dir.display())))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| StageError::Io(format!("stat {}: {e}", entry.path().display())))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let full = entry.path();
                if let Ok(rel) = full.strip_prefix(WORKSPACE) {
                    files.push(rel.display().to_string());
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confined_paths_stay_under_their_root() {
        assert_eq!(
            workspace_path("src/app.py").unwrap(),
            PathBuf::from("/workspace/src/app.py")
        );
        assert!(workspace_path("../etc/passwd").is_err());
        assert!(workspace_path("/etc/passwd").is_err());
        assert!(confined(OUT, "a/../../b").is_err());
    }
}
