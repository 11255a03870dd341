//! Copying folder trees for command steps (checkouts and caches) without following
//! symbolic links: a link is copied as a link, so a repository or a cache can never make
//! the agent read or write outside the tree it copies.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

/// What a copy wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub files: u64,
    pub bytes: u64,
}

/// How a copied tree is opened to the step's user (any uid the image runs as).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Keep the modes as they are (saving a cache).
    Keep,
    /// Folders `0777`, files writable by all: a private copy the step may change.
    OpenToStep,
    /// Owned by this uid and gid: a private copy the step's user may change (the agent
    /// runs as root).
    OwnedBy(u32, u32),
}

/// Whether `path` is a real folder below `root` with no link on the way (a step may
/// replace any folder it can write with a link to `/`).
pub fn real_dir_under(root: &Path, path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix(root) else {
        return false;
    };
    let mut at = root.to_path_buf();
    for part in rest.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_dir() => {}
            _ => return false,
        }
    }
    true
}

/// Make `path` (below `root`) a fresh place to copy into: every folder on the way that
/// exists must be a real folder (the checkout may hold committed links), and whatever
/// is at `path` itself is removed (a link as a link, never followed). Run only while no
/// step is running in `root`.
pub fn fresh_target(root: &Path, path: &Path) -> io::Result<()> {
    let rest = path
        .strip_prefix(root)
        .map_err(|_| io::Error::other("outside the step's folders"))?;
    let mut at = root.to_path_buf();
    let parts: Vec<_> = rest.components().collect();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is a link or a file, not a folder",
                    at.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        }
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copy `from` into `to` (created), links as links; other special files are skipped.
/// Stops with an error once more than `budget` bytes were copied. `from` itself must be
/// a real folder, never a link.
pub fn copy_tree(from: &Path, to: &Path, access: Access, budget: u64) -> io::Result<Copied> {
    if !fs::symlink_metadata(from)?.file_type().is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a folder (a link is never followed)",
            from.display()
        )));
    }
    let mut copied = Copied::default();
    copy_dir(from, to, access, budget, &mut copied)?;
    Ok(copied)
}

fn copy_dir(
    from: &Path,
    to: &Path,
    access: Access,
    budget: u64,
    copied: &mut Copied,
) -> io::Result<()> {
    fs::create_dir_all(to)?;
    match access {
        Access::OpenToStep => fs::set_permissions(to, fs::Permissions::from_mode(0o777))?,
        Access::OwnedBy(uid, gid) => std::os::unix::fs::lchown(to, Some(uid), Some(gid))?,
        Access::Keep => {}
    }
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_symlink() {
            symlink(fs::read_link(entry.path())?, &target)?;
            if let Access::OwnedBy(uid, gid) = access {
                std::os::unix::fs::lchown(&target, Some(uid), Some(gid))?;
            }
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target, access, budget, copied)?;
        } else if kind.is_file() {
            let bytes = fs::copy(entry.path(), &target)?;
            copied.files += 1;
            copied.bytes += bytes;
            if copied.bytes > budget {
                return Err(io::Error::other(format!(
                    "more than {} MiB to copy",
                    budget >> 20
                )));
            }
            match access {
                Access::OpenToStep => {
                    let mode = fs::metadata(&target)?.permissions().mode();
                    fs::set_permissions(&target, fs::Permissions::from_mode(mode | 0o666))?;
                }
                Access::OwnedBy(uid, gid) => {
                    std::os::unix::fs::lchown(&target, Some(uid), Some(gid))?
                }
                Access::Keep => {}
            }
        }
    }
    Ok(())
}

/// Change the owner of `dir` and everything under it; links themselves, not their targets.
pub fn chown_tree(dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            chown_tree(&entry.path(), uid, gid)?;
        } else {
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// What a folder holds, to tell whether a step changed it: files, bytes and the sum
/// of their modification times (a file rewritten at the same size still counts).
pub fn fingerprint(dir: &Path) -> (u64, u64, u128) {
    let mut print = (0, 0, 0u128);
    if !fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_dir()) {
        return print;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return print;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let inner = fingerprint(&entry.path());
            print = (
                print.0 + inner.0,
                print.1 + inner.1,
                print.2.wrapping_add(inner.2),
            );
        } else if let Some(meta) = entry.metadata().ok().filter(|_| kind.is_file()) {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            print = (
                print.0 + 1,
                print.1 + meta.len(),
                print.2.wrapping_add(modified),
            );
        }
    }
    print
}

/// Files and bytes under `dir`, links not followed; zero when it does not exist.
pub fn measure(dir: &Path) -> Copied {
    let (files, bytes, _) = fingerprint(dir);
    Copied { files, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_copied_as_links_and_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("sub/a.txt"), "hello").unwrap();
        let outside = dir.path().join("secret");
        fs::write(&outside, "host file").unwrap();
        symlink(&outside, from.join("link")).unwrap();
        let to = dir.path().join("to");
        let copied = copy_tree(&from, &to, Access::OpenToStep, 1 << 20).unwrap();
        assert_eq!(copied, Copied { files: 1, bytes: 5 });
        assert_eq!(fs::read_to_string(to.join("sub/a.txt")).unwrap(), "hello");
        let link = fs::symlink_metadata(to.join("link")).unwrap();
        assert!(link.file_type().is_symlink(), "a link stays a link");
        let mode = fs::metadata(to.join("sub")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o777, "the step's user may write its copy");
        assert_eq!(measure(&to), copied);
    }

    #[test]
    fn a_tree_over_the_budget_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::create_dir_all(&from).unwrap();
        fs::write(from.join("big"), vec![0u8; 4096]).unwrap();
        let err = copy_tree(&from, &dir.path().join("to"), Access::Keep, 1024).unwrap_err();
        assert!(err.to_string().contains("MiB to copy"), "{err}");
    }
}
