//! `bosun run`'s snapshot: the working tree as it is on disk, committed into a private
//! repository outside it, so the pipeline sees exactly what is there.
//!
//! The snapshot lives under a folder of the user's own in the system temp folder
//! (`bosun-run-<uid>`, mode 0700): a folder another user made, or a symlink planted in
//! its place, is refused rather than followed, so a run never deletes or writes
//! anything but its own snapshot. Sparse files stay sparse in the copy.

use anyhow::{Context, bail};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Folders never copied: version control, Bosun's own state, build and dependency output.
const SKIP: &[&str] = &[
    ".git",
    ".bosun",
    "target",
    "node_modules",
    "__pycache__",
    ".venv",
];

/// Where the snapshot of `dir` goes: `<temp>/bosun-run-<uid>/<hash of dir>/repo`.
pub fn place(dir: &Path) -> anyhow::Result<PathBuf> {
    place_in(&std::env::temp_dir(), dir)
}

/// The uid this process runs as (the owner of its own `/proc` entry).
fn own_uid() -> anyhow::Result<u32> {
    Ok(std::fs::metadata("/proc/self")
        .context("cannot tell which user this is (/proc/self)")?
        .uid())
}

fn place_in(temp: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let uid = own_uid()?;
    let private = temp.join(format!("bosun-run-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&private) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create {}", private.display()));
        }
    }
    // Checked without following a link: it must be our own real folder, closed to others.
    let meta = std::fs::symlink_metadata(&private)
        .with_context(|| format!("cannot inspect {}", private.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if !meta.file_type().is_dir() || meta.uid() != uid || mode & 0o077 != 0 {
        bail!(
            "{} is not a private folder of this user (a symlink, another user's folder, or open to others: mode {mode:o}); remove it and run again",
            private.display()
        );
    }
    Ok(private
        .join(format!("{:016x}", path_hash(dir)))
        .join("repo"))
}

/// A stable, short name for a repository path.
fn path_hash(dir: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut hasher);
    hasher.finish()
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "bosun run")
        .env("GIT_AUTHOR_EMAIL", "run@bosun.invalid")
        .env("GIT_COMMITTER_NAME", "bosun run")
        .env("GIT_COMMITTER_EMAIL", "run@bosun.invalid")
        .output()
        .context("cannot run git (install it: apt-get install git)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Copy one file; a sparse one (fewer blocks than its length needs) keeps its holes:
/// zero blocks are skipped over rather than written.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(from)?;
    if meta.blocks().saturating_mul(512) >= meta.len() {
        std::fs::copy(from, to)?;
        return Ok(());
    }
    let mut source = File::open(from)?;
    let mut target = File::create(to)?;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = source.read(&mut buffer)?;
        let Some(chunk) = buffer.get(..read).filter(|c| !c.is_empty()) else {
            break;
        };
        if chunk.iter().all(|b| *b == 0) {
            target.seek(SeekFrom::Current(read as i64))?;
        } else {
            target.write_all(chunk)?;
        }
    }
    target.set_len(meta.len())?;
    target.set_permissions(meta.permissions())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if SKIP.iter().any(|s| name == *s) {
            continue;
        }
        // The entry's own type: a symlink is copied as a link, never followed.
        let kind = entry.file_type()?;
        let target = to.join(&name);
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            std::os::unix::fs::symlink(&link, &target)
                .with_context(|| format!("cannot copy the link {}", entry.path().display()))?;
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            copy_file(&entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Copy the working tree into the snapshot repository at `into` and commit it; the
/// commit's sha.
pub fn take(dir: &Path, into: &Path) -> anyhow::Result<String> {
    if std::fs::symlink_metadata(into).is_ok() {
        // `remove_dir_all` removes a symlink itself, never what it points at.
        std::fs::remove_dir_all(into)
            .with_context(|| format!("cannot clear {}", into.display()))?;
    }
    copy_tree(dir, into)
        .with_context(|| format!("cannot copy {} into a snapshot", dir.display()))?;
    git(into, &["init", "--quiet", "--initial-branch=main"])?;
    git(into, &["add", "--all"])?;
    git(
        into,
        &[
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "bosun run snapshot",
        ],
    )?;
    git(into, &["rev-parse", "HEAD"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_place_is_a_private_folder_of_this_user() {
        let temp = tempfile::tempdir().unwrap();
        let place = place_in(temp.path(), Path::new("/src/app")).unwrap();
        let private = place.parent().unwrap().parent().unwrap();
        let meta = std::fs::symlink_metadata(private).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        assert_eq!(place, place_in(temp.path(), Path::new("/src/app")).unwrap());
    }

    #[test]
    fn snapshot_place_planted_as_a_symlink_is_refused_and_its_target_untouched() {
        let temp = tempfile::tempdir().unwrap();
        let victim = temp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::write(victim.join("keep.txt"), "precious").unwrap();
        let uid = own_uid().unwrap();
        std::os::unix::fs::symlink(&victim, temp.path().join(format!("bosun-run-{uid}"))).unwrap();
        let err = place_in(temp.path(), Path::new("/src/app"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a private folder"), "{err}");
        assert_eq!(
            std::fs::read_to_string(victim.join("keep.txt")).unwrap(),
            "precious"
        );
    }

    #[test]
    fn snapshot_place_open_to_others_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let uid = own_uid().unwrap();
        let private = temp.path().join(format!("bosun-run-{uid}"));
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = place_in(temp.path(), Path::new("/src/app"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode 777"), "{err}");
    }

    #[test]
    fn snapshot_keeps_sparse_files_sparse_and_symlinks_as_links() {
        let temp = tempfile::tempdir().unwrap();
        let source = temp.path().join("src");
        std::fs::create_dir(&source).unwrap();
        let sparse = File::create(source.join("disk.img")).unwrap();
        sparse.set_len(256 << 20).unwrap();
        drop(sparse);
        let mut edited = std::fs::OpenOptions::new()
            .write(true)
            .open(source.join("disk.img"))
            .unwrap();
        edited.seek(SeekFrom::Start(128 << 20)).unwrap();
        edited.write_all(b"data in the middle").unwrap();
        drop(edited);
        std::os::unix::fs::symlink("/etc/passwd", source.join("passwd")).unwrap();
        let copy = temp.path().join("copy");
        copy_tree(&source, &copy).unwrap();
        let meta = std::fs::metadata(copy.join("disk.img")).unwrap();
        assert_eq!(meta.len(), 256 << 20);
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "{} bytes allocated",
            meta.blocks() * 512
        );
        let bytes = std::fs::read(copy.join("disk.img")).unwrap();
        assert_eq!(&bytes[128 << 20..(128 << 20) + 18], b"data in the middle");
        let link = std::fs::symlink_metadata(copy.join("passwd")).unwrap();
        assert!(
            link.file_type().is_symlink(),
            "copied as a link, not followed"
        );
        assert_eq!(
            std::fs::read_link(copy.join("passwd")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
