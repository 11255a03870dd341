//! Compiled-artifact cache: a restart deserialises plugins instead of recompiling them.
//!
//! Entries are keyed by the `.wasm` sha256 and a hash of the engine's compilation
//! settings, so a changed engine never loads a stale artifact.
//!
//! Invariant: the cache folder is written only by the agent host. Deserialising an
//! artifact trusts its contents (that is what makes it fast), so the folder must not be
//! writable by tenants or plugins.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from on this load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a cached artifact.
    Hit,
    /// Compiled now (and stored, when a cache folder is set).
    Compiled,
}

/// The artifact cache; `None` folder means compile every time.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
}

impl ArtifactCache {
    /// A cache in `dir` (created on first store), or no cache.
    pub fn new(dir: Option<PathBuf>) -> ArtifactCache {
        ArtifactCache { dir }
    }

    /// The cache folder, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn entry_path(&self, engine: &Engine, digest_hex: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Some(dir.join(format!("{digest_hex}-{:016x}.cwasm", hasher.finish())))
    }

    /// Load the component for `bytes` (whose sha256 is `digest_hex`) from the cache, or
    /// compile it and store the artifact. Cache faults only cost a recompile.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest_hex: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let entry = self.entry_path(engine, digest_hex);
        if let Some(entry) = &entry
            && entry.is_file()
        {
            // SAFETY: the cache folder is private to the agent host (module invariant)
            // and wasmtime checks the artifact's engine compatibility header.
            #[allow(unsafe_code)]
            let loaded = unsafe { Component::deserialize_file(engine, entry) };
            match loaded {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => tracing::warn!(
                    path = %entry.display(),
                    error = %e,
                    "discarding unusable cached artifact"
                ),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(entry) = &entry
            && let Err(e) = store_artifact(&component, entry)
        {
            tracing::warn!(path = %entry.display(), error = %e, "could not cache compiled plugin");
        }
        Ok((component, CacheOutcome::Compiled))
    }
}

/// Write atomically (temp file + rename) so a crash never leaves a half artifact.
fn store_artifact(component: &Component, entry: &Path) -> anyhow::Result<()> {
    let serialized = component
        .serialize()
        .map_err(|e| anyhow::anyhow!("serialising component: {e}"))?;
    let dir = entry
        .parent()
        .ok_or_else(|| anyhow::anyhow!("cache entry has no parent folder"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serialized)?;
    std::fs::rename(&tmp, entry)?;
    Ok(())
}
