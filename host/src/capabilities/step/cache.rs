//! Dependency caches of command steps, kept on the agent host per tenant, repository
//! and key (e.g. a hash of the lockfiles).
//!
//! An entry is a folder holding one copy per cached path and a manifest written last,
//! after everything else is in place, then renamed into place as a whole: an entry
//! without a readable manifest, or whose files do not add up to what the manifest says,
//! is partial or corrupt and is removed instead of restored. Each tenant has its own
//! folder (named by a hash, so no tenant, repository or key can choose a path) and a
//! size cap; the least recently used entries go first.

use super::copy::{self, Access, Copied};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Most bytes one cache entry may hold.
const ENTRY_BUDGET: u64 = 4 << 30;
const MANIFEST: &str = "manifest.json";

/// The caches of every tenant on this agent host.
#[derive(Debug, Clone)]
pub struct StepCache {
    root: PathBuf,
    cap_per_tenant: u64,
}

/// Which cache a step uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheScope {
    pub tenant: String,
    pub repository: String,
    pub key: String,
}

/// A save in progress: holds the entry's lock until dropped.
pub struct Saving {
    entry: PathBuf,
    _lock: fs::File,
}

/// One cached folder: as the config names it, and where the step's copy lives on the host.
#[derive(Debug, Clone)]
pub struct CachedPath {
    pub name: String,
    pub host: PathBuf,
    /// The step's own folder `host` lies in: nothing on the way from it may be a link.
    pub root: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    paths: Vec<String>,
    files: u64,
    bytes: u64,
}

fn hashed(text: &str, len: usize) -> String {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    digest.get(..len).unwrap_or(&digest).to_string()
}

impl StepCache {
    /// Caches under `root`, at most `cap_per_tenant` bytes for each tenant.
    pub fn new(root: PathBuf, cap_per_tenant: u64) -> StepCache {
        StepCache {
            root,
            cap_per_tenant,
        }
    }

    fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.root.join(hashed(tenant, 24))
    }

    fn entry_dir(&self, scope: &CacheScope) -> PathBuf {
        self.tenant_dir(&scope.tenant)
            .join(hashed(&scope.repository, 24))
            .join(hashed(&scope.key, 32))
    }

    /// Copy the cached folders into the step's; returns the bytes restored, `None` when
    /// there was nothing usable (a partial or corrupt entry is removed).
    pub fn restore(
        &self,
        scope: &CacheScope,
        paths: &[CachedPath],
        access: Access,
    ) -> Option<Copied> {
        let entry = self.entry_dir(scope);
        // Shared: other steps may restore at once, but no save swaps the entry midway.
        let _lock = lock(&entry, false)?;
        let restored = self.restore_locked(&entry, paths, access);
        if restored.is_none() {
            // Half a cache is worse than none: the step starts clean.
            for path in paths {
                let _ = copy::fresh_target(&path.root, &path.host);
            }
        }
        restored
    }

    fn restore_locked(&self, entry: &Path, paths: &[CachedPath], access: Access) -> Option<Copied> {
        let entry = entry.to_path_buf();
        let manifest = match read_manifest(&entry) {
            Ok(Some(manifest)) => manifest,
            Ok(None) => return None,
            Err(why) => {
                tracing::warn!(entry = %entry.display(), %why, "discarding a cache entry");
                discard(&entry);
                return None;
            }
        };
        let on_disk = copy::measure(&entry.join("data"));
        if on_disk.files != manifest.files || on_disk.bytes != manifest.bytes {
            tracing::warn!(entry = %entry.display(), "discarding a cache entry whose files do not match its manifest");
            discard(&entry);
            return None;
        }
        let mut restored = Copied::default();
        for path in paths {
            let Some(index) = manifest.paths.iter().position(|p| *p == path.name) else {
                continue;
            };
            let from = entry.join("data").join(index.to_string());
            if !from.is_dir() {
                continue;
            }
            // The checkout may hold a committed link on the way, or at the folder itself.
            if let Err(e) = copy::fresh_target(&path.root, &path.host) {
                tracing::warn!(path = %path.name, error = %e, "not restoring a cached folder there");
                return None;
            }
            match copy::copy_tree(&from, &path.host, access, ENTRY_BUDGET) {
                Ok(copied) => {
                    restored.files += copied.files;
                    restored.bytes += copied.bytes;
                }
                Err(e) => {
                    tracing::warn!(path = %path.name, error = %e, "could not restore a cached folder");
                    return None;
                }
            }
        }
        // Its use is what keeps an entry from eviction.
        let _ = fs::File::options()
            .append(true)
            .open(entry.join(MANIFEST))
            .and_then(|f| f.set_modified(SystemTime::now()));
        Some(restored)
    }

    /// Save the step's folders as the scope's entry, replacing the old one whole; then
    /// evict the tenant's least recently used entries over the cap.
    pub fn save(&self, scope: &CacheScope, paths: &[CachedPath]) -> Result<Copied, String> {
        let saving = self.begin_save(scope)?;
        self.finish_save(saving, &scope.tenant, paths)
    }

    /// Claim the scope's entry for a save: until it is finished, restores of the entry
    /// wait, so a step that starts right after another sees what that one saved.
    pub fn begin_save(&self, scope: &CacheScope) -> Result<Saving, String> {
        let entry = self.entry_dir(scope);
        let lock =
            lock(&entry, true).ok_or_else(|| "could not lock the cache entry".to_string())?;
        Ok(Saving { entry, _lock: lock })
    }

    /// Copy the step's folders into the claimed entry (a staging folder renamed into
    /// place whole), release it, and evict.
    pub fn finish_save(
        &self,
        saving: Saving,
        tenant: &str,
        paths: &[CachedPath],
    ) -> Result<Copied, String> {
        let entry = saving.entry.clone();
        let parent = entry
            .parent()
            .ok_or_else(|| "cache entry has no parent folder".to_string())?;
        let staging = tempfile::Builder::new()
            .prefix(".saving-")
            .tempdir_in(parent)
            .map_err(|e| format!("creating a staging folder in {}: {e}", parent.display()))?;
        let mut total = Copied::default();
        for (index, path) in paths.iter().enumerate() {
            if !path.host.is_dir() {
                continue;
            }
            let to = staging.path().join("data").join(index.to_string());
            let copied = copy::copy_tree(&path.host, &to, Access::Keep, ENTRY_BUDGET)
                .map_err(|e| format!("copying {}: {e}", path.name))?;
            total.files += copied.files;
            total.bytes += copied.bytes;
        }
        if total.bytes > self.cap_per_tenant {
            return Err(format!(
                "{} MiB is more than the tenant's cache cap of {} MiB",
                total.bytes >> 20,
                self.cap_per_tenant >> 20
            ));
        }
        let manifest = Manifest {
            paths: paths.iter().map(|p| p.name.clone()).collect(),
            files: total.files,
            bytes: total.bytes,
        };
        let text = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
        fs::write(staging.path().join(MANIFEST), text)
            .map_err(|e| format!("writing the cache manifest: {e}"))?;
        let staged = staging.keep();
        discard(&entry);
        fs::rename(&staged, &entry).map_err(|e| {
            discard(&staged);
            format!("moving the cache entry into place: {e}")
        })?;
        // Released before evicting, which locks entries (this one among them).
        drop(saving);
        self.evict(tenant);
        Ok(total)
    }

    /// Remove the tenant's least recently used entries until it is within its cap.
    fn evict(&self, tenant: &str) {
        let mut entries = Vec::new();
        let repos = fs::read_dir(self.tenant_dir(tenant)).into_iter().flatten();
        for repo in repos.flatten() {
            for entry in fs::read_dir(repo.path()).into_iter().flatten().flatten() {
                let path = entry.path();
                let used = fs::metadata(path.join(MANIFEST)).and_then(|m| m.modified());
                match (read_manifest(&path), used) {
                    (Ok(Some(manifest)), Ok(used)) => entries.push((used, manifest.bytes, path)),
                    // Another save in progress, or debris: left to its owner.
                    _ => continue,
                }
            }
        }
        entries.sort();
        let mut total: u64 = entries.iter().map(|(_, bytes, _)| bytes).sum();
        for (_, bytes, path) in entries {
            if total <= self.cap_per_tenant {
                break;
            }
            tracing::info!(entry = %path.display(), bytes, "evicting a least recently used cache entry");
            if let Some(_lock) = lock(&path, true) {
                discard(&path);
            }
            total -= bytes;
        }
    }
}

/// A lock on `entry` (a file beside it), shared or exclusive; `None` when it cannot be
/// taken, which skips the cache rather than risk a torn one.
fn lock(entry: &Path, exclusive: bool) -> Option<fs::File> {
    let parent = entry.parent()?;
    fs::create_dir_all(parent).ok()?;
    let file = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(entry.with_extension("lock"))
        .ok()?;
    let locked = if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    };
    match locked {
        Ok(()) => Some(file),
        Err(e) => {
            tracing::warn!(entry = %entry.display(), error = %e, "could not lock a cache entry");
            None
        }
    }
}

fn read_manifest(entry: &Path) -> Result<Option<Manifest>, String> {
    let text = match fs::read(entry.join(MANIFEST)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if entry.exists() {
                Err("it has no manifest (a save that did not finish)".into())
            } else {
                Ok(None)
            };
        }
        Err(e) => return Err(format!("reading its manifest: {e}")),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| format!("its manifest is not readable: {e}"))
}

fn discard(path: &Path) {
    if let Err(e) = fs::remove_dir_all(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a cache entry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(tenant: &str, key: &str) -> CacheScope {
        CacheScope {
            tenant: tenant.into(),
            repository: "acme/shop".into(),
            key: key.into(),
        }
    }

    fn step_folder(dir: &Path, name: &str, bytes: usize) -> Vec<CachedPath> {
        let host = dir.join(name);
        fs::create_dir_all(host.join("wheels")).unwrap();
        fs::write(host.join("wheels/pkg.whl"), vec![7u8; bytes]).unwrap();
        vec![CachedPath {
            name: "~/.cache/pip".into(),
            host,
            root: PathBuf::from("/"),
        }]
    }

    #[test]
    fn a_saved_cache_comes_back_for_its_tenant_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(dir.path().join("cache"), 1 << 20);
        let saved = step_folder(dir.path(), "first", 100);
        assert_eq!(cache.save(&scope("acme", ""), &saved).unwrap().bytes, 100);
        let into = vec![CachedPath {
            name: "~/.cache/pip".into(),
            host: dir.path().join("second"),
            root: PathBuf::from("/"),
        }];
        let restored = cache
            .restore(&scope("acme", ""), &into, Access::OpenToStep)
            .unwrap();
        assert_eq!(restored.bytes, 100);
        assert!(dir.path().join("second/wheels/pkg.whl").is_file());
        assert!(
            cache
                .restore(&scope("globex", ""), &into, Access::OpenToStep)
                .is_none()
        );
        assert!(
            cache
                .restore(&scope("acme", "other-key"), &into, Access::OpenToStep)
                .is_none()
        );
    }

    #[test]
    fn partial_and_corrupt_entries_are_discarded_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(dir.path().join("cache"), 1 << 20);
        let saved = step_folder(dir.path(), "first", 10);
        cache.save(&scope("acme", ""), &saved).unwrap();
        let entry = cache.entry_dir(&scope("acme", ""));
        // A file lost after the save: the sizes no longer add up.
        fs::remove_file(entry.join("data/0/wheels/pkg.whl")).unwrap();
        let into = vec![CachedPath {
            name: "~/.cache/pip".into(),
            host: dir.path().join("second"),
            root: PathBuf::from("/"),
        }];
        assert!(
            cache
                .restore(&scope("acme", ""), &into, Access::OpenToStep)
                .is_none()
        );
        assert!(!entry.exists(), "a corrupt entry is removed");
        // A save that stopped before its manifest.
        fs::create_dir_all(entry.join("data/0")).unwrap();
        assert!(
            cache
                .restore(&scope("acme", ""), &into, Access::OpenToStep)
                .is_none()
        );
        assert!(!entry.exists(), "a partial entry is removed");
    }

    #[test]
    fn the_least_recently_used_entries_go_when_a_tenant_is_over_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(dir.path().join("cache"), 250);
        let old = step_folder(dir.path(), "a", 100);
        cache.save(&scope("acme", "old"), &old).unwrap();
        cache.save(&scope("acme", "used"), &old).unwrap();
        let earlier = SystemTime::now() - std::time::Duration::from_secs(3600);
        for key in ["old", "used"] {
            let manifest = cache.entry_dir(&scope("acme", key)).join(MANIFEST);
            let file = fs::File::options().append(true).open(manifest).unwrap();
            file.set_modified(earlier).unwrap();
        }
        // Using "used" makes "old" the least recently used.
        let into = vec![CachedPath {
            name: "~/.cache/pip".into(),
            host: dir.path().join("restored"),
            root: PathBuf::from("/"),
        }];
        assert!(
            cache
                .restore(&scope("acme", "used"), &into, Access::OpenToStep)
                .is_some()
        );
        cache.save(&scope("acme", "new"), &old).unwrap();
        assert!(!cache.entry_dir(&scope("acme", "old")).exists());
        assert!(cache.entry_dir(&scope("acme", "used")).exists());
        assert!(cache.entry_dir(&scope("acme", "new")).exists());
        // Another tenant's entries never count against this one's cap.
        cache.save(&scope("globex", "x"), &old).unwrap();
        assert!(cache.entry_dir(&scope("acme", "used")).exists());
    }
}
