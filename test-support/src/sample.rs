//! The sample repositories under `examples/` (and fixture folders) as tests use them:
//! copied fresh, readable by the tool containers' non-root user, and, for the seed
//! scenario, committed as a git repository.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What a local run or a developer's tools leave in a sample, never part of it.
const LEFTOVERS: [&str; 5] = [
    ".bosun",
    "__pycache__",
    ".pytest_cache",
    "node_modules",
    "reports",
];

/// The workspace's root folder (where `examples/` is).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the workspace root")
}

/// Copies the tree `from` into `to` (created if need be), leaving out run state and
/// tool caches. Folders get mode 0755 and files 0644 (0755 if executable), so a tool
/// container's non-root user can read the copy.
pub fn copy_sample(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    set_mode(to, 0o755);
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if LEFTOVERS.iter().any(|leftover| name == *leftover) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_sample(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copying {}: {e}", entry.path().display()));
            let executable = entry.metadata().unwrap().permissions().mode() & 0o111 != 0;
            set_mode(&target, if executable { 0o755 } else { 0o644 });
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A copy of the Python sample (`examples/python-app`, the seed scenario) at
/// `dir/shop`, committed on `main` as a git repository, with `pipeline` as its
/// `.bosun.yml` when given: its folder, `file://` URL and commit.
pub fn python_sample(dir: &Path, pipeline: Option<&str>) -> (PathBuf, String, String) {
    let repo = dir.join("shop");
    copy_sample(&workspace_root().join("examples/python-app"), &repo);
    if let Some(pipeline) = pipeline {
        std::fs::write(repo.join(".bosun.yml"), pipeline).unwrap();
    }
    crate::git::git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    let sha = crate::git::commit_all(&repo, "shop: cart totals");
    let url = format!("file://{}", repo.display());
    (repo, url, sha)
}
