//! The plugin registry: every `*.wasm` in the plugin folders plus the built-ins, kept in
//! step with the folders while the host runs.
//!
//! Invariants:
//! - a call holds an `Arc<LoadedPlugin>`, so replacing or removing a file never breaks
//!   a call in flight; the next lookup sees the new set;
//! - a file that loaded once and is then replaced by a broken file keeps serving its
//!   last good version, and the refusal is reported (half-written copies do no harm);
//! - folder plugins may shadow a built-in of the same name; two files claiming one name
//!   are a refusal of the later path.

use crate::inspect::PluginError;
use crate::runtime::{LoadedPlugin, PluginRuntime, PluginSource, sha256_hex};
use notify::{RecursiveMode, Watcher};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// A file (or built-in) that was not accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// The file path or built-in name.
    pub source: String,
    /// The precise reason, naming the file.
    pub reason: String,
}

#[derive(Clone)]
struct FileEntry {
    len: u64,
    modified: Option<SystemTime>,
    digest_of_last_read: Option<String>,
    loaded: Option<Arc<LoadedPlugin>>,
    refusal: Option<String>,
}

#[derive(Default)]
struct State {
    builtins: Vec<Arc<LoadedPlugin>>,
    builtin_refusals: Vec<Refusal>,
    files: BTreeMap<PathBuf, FileEntry>,
    by_name: HashMap<String, Arc<LoadedPlugin>>,
    refused: Vec<Refusal>,
}

/// The set of plugins an agent host can run, by name.
pub struct PluginRegistry {
    runtime: Arc<PluginRuntime>,
    folders: Vec<PathBuf>,
    state: RwLock<State>,
    rescan_lock: tokio::sync::Mutex<()>,
}

/// Keeps a registry watching its folders; dropping it stops the watch.
pub struct WatchHandle {
    _watcher: Option<notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PluginRegistry {
    /// Load the built-ins and every plugin in `folders`.
    pub async fn open(
        runtime: Arc<PluginRuntime>,
        folders: Vec<PathBuf>,
        builtins: Vec<(String, Cow<'static, [u8]>)>,
    ) -> Arc<PluginRegistry> {
        let mut loaded = Vec::new();
        let mut refusals = Vec::new();
        for (name, bytes) in builtins {
            match runtime
                .load(PluginSource::Builtin(name.clone()), &bytes)
                .await
            {
                Ok(plugin) => loaded.push(Arc::new(plugin)),
                Err(e) => refusals.push(Refusal {
                    source: format!("built-in {name}"),
                    reason: e.to_string(),
                }),
            }
        }
        let registry = Arc::new(PluginRegistry {
            runtime,
            folders,
            state: RwLock::new(State {
                builtins: loaded,
                builtin_refusals: refusals,
                ..State::default()
            }),
            rescan_lock: tokio::sync::Mutex::new(()),
        });
        registry.rescan().await;
        registry
    }

    /// The runtime plugins are loaded into.
    pub fn runtime(&self) -> &Arc<PluginRuntime> {
        &self.runtime
    }

    /// The plugin with this name, if loaded.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.state.read().ok()?.by_name.get(name).cloned()
    }

    /// Every loaded plugin, sorted by name.
    pub fn list(&self) -> Vec<Arc<LoadedPlugin>> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        let mut all: Vec<_> = state.by_name.values().cloned().collect();
        all.sort_by(|a, b| a.id.name.cmp(&b.id.name));
        all
    }

    /// Every refused file with its reason.
    pub fn refused(&self) -> Vec<Refusal> {
        self.state
            .read()
            .map(|s| s.refused.clone())
            .unwrap_or_default()
    }

    /// Re-read the plugin folders: load new and changed files, drop removed ones.
    /// Unchanged files (same size and mtime, or same digest) are not reloaded.
    pub async fn rescan(&self) {
        let _one_at_a_time = self.rescan_lock.lock().await;
        let previous = match self.state.read() {
            Ok(state) => state.files.clone(),
            Err(_) => return,
        };
        let mut files = BTreeMap::new();
        let mut folder_problems = Vec::new();
        for folder in &self.folders {
            let paths = match list_wasm_files(folder) {
                Ok(paths) => paths,
                Err(reason) => {
                    folder_problems.push(Refusal {
                        source: folder.display().to_string(),
                        reason,
                    });
                    continue;
                }
            };
            for path in paths {
                let entry = self.refresh(&path, previous.get(&path)).await;
                files.insert(path, entry);
            }
        }
        for path in previous.keys().filter(|p| !files.contains_key(*p)) {
            tracing::info!(path = %path.display(), "plugin file removed");
        }
        let Ok(mut state) = self.state.write() else {
            return;
        };
        let mut refused = state.builtin_refusals.clone();
        refused.extend(folder_problems);
        let mut by_name: HashMap<String, Arc<LoadedPlugin>> = state
            .builtins
            .iter()
            .map(|p| (p.id.name.clone(), p.clone()))
            .collect();
        let mut claimed_by: HashMap<String, PathBuf> = HashMap::new();
        for (path, entry) in &files {
            if let Some(reason) = &entry.refusal {
                refused.push(Refusal {
                    source: path.display().to_string(),
                    reason: reason.clone(),
                });
            }
            let Some(plugin) = &entry.loaded else {
                continue;
            };
            let name = plugin.id.name.clone();
            if let Some(other) = claimed_by.get(&name) {
                refused.push(Refusal {
                    source: path.display().to_string(),
                    reason: PluginError::DuplicateName {
                        path: path.clone(),
                        name,
                        other: other.display().to_string(),
                    }
                    .to_string(),
                });
                continue;
            }
            claimed_by.insert(name.clone(), path.clone());
            by_name.insert(name, plugin.clone());
        }
        state.files = files;
        state.by_name = by_name;
        state.refused = refused;
    }

    async fn refresh(&self, path: &Path, previous: Option<&FileEntry>) -> FileEntry {
        let meta = std::fs::metadata(path);
        let (len, modified) = match &meta {
            Ok(m) => (m.len(), m.modified().ok()),
            Err(_) => (0, None),
        };
        if let Some(prev) = previous
            && prev.len == len
            && prev.modified == modified
            && modified.is_some()
        {
            return prev.clone();
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(source) => {
                return self.refused_entry(
                    previous,
                    len,
                    modified,
                    None,
                    PluginError::Read {
                        path: path.to_path_buf(),
                        source,
                    },
                );
            }
        };
        let digest = sha256_hex(&bytes);
        if let Some(prev) = previous
            && prev.digest_of_last_read.as_deref() == Some(digest.as_str())
        {
            let mut same = prev.clone();
            same.len = len;
            same.modified = modified;
            return same;
        }
        match self
            .runtime
            .load_digested(
                PluginSource::File(path.to_path_buf()),
                &bytes,
                digest.clone(),
            )
            .await
        {
            Ok(plugin) => {
                tracing::info!(
                    path = %path.display(),
                    name = %plugin.id.name,
                    version = %plugin.id.version,
                    digest = %plugin.id.digest,
                    "plugin loaded"
                );
                FileEntry {
                    len,
                    modified,
                    digest_of_last_read: Some(digest),
                    loaded: Some(Arc::new(plugin)),
                    refusal: None,
                }
            }
            Err(e) => self.refused_entry(previous, len, modified, Some(digest), e),
        }
    }

    fn refused_entry(
        &self,
        previous: Option<&FileEntry>,
        len: u64,
        modified: Option<SystemTime>,
        digest: Option<String>,
        error: PluginError,
    ) -> FileEntry {
        let kept = previous.and_then(|p| p.loaded.clone());
        let reason = match &kept {
            Some(old) => format!(
                "{error} (still serving the previous version {})",
                old.id.digest
            ),
            None => error.to_string(),
        };
        tracing::warn!(%reason, "plugin refused");
        FileEntry {
            len,
            modified,
            digest_of_last_read: digest,
            loaded: kept,
            refusal: Some(reason),
        }
    }

    /// Watch the plugin folders and rescan on change (debounced), with a periodic
    /// rescan as a safety net for missed events. Stops when the handle is dropped.
    pub fn watch(self: &Arc<Self>, poll_every: Duration) -> WatchHandle {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                let _ = tx.send(());
            }
        });
        let watcher = match watcher {
            Ok(mut watcher) => {
                for folder in &self.folders {
                    if let Err(e) = watcher.watch(folder, RecursiveMode::NonRecursive) {
                        tracing::warn!(folder = %folder.display(), error = %e, "cannot watch plugin folder; polling it");
                    }
                }
                Some(watcher)
            }
            Err(e) => {
                tracing::warn!(error = %e, "file watching unavailable; polling plugin folders");
                None
            }
        };
        let registry = Arc::clone(self);
        let task = tokio::spawn(async move {
            let mut poll = tokio::time::interval(poll_every);
            poll.tick().await;
            loop {
                tokio::select! {
                    event = rx.recv() => {
                        if event.is_none() {
                            // The watcher is gone; keep polling.
                            poll.tick().await;
                        }
                        // Let a burst of events (a copy in progress) settle.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        while rx.try_recv().is_ok() {}
                    }
                    _ = poll.tick() => {}
                }
                registry.rescan().await;
            }
        });
        WatchHandle {
            _watcher: watcher,
            task,
        }
    }
}

fn list_wasm_files(folder: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(folder)
        .map_err(|e| format!("plugin folder {} cannot be read: {e}", folder.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}
