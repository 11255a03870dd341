//! What `bosun run` and `bosun up` share: the repository folder and its state under
//! `DIR/.bosun/`, where tools run (`--containers`), and the embedded system's options, so
//! `bosun up DIR` serves exactly the runs `bosun run DIR` recorded.

use anyhow::{Context, bail};
use bosun::embedded::EmbeddedOptions;
use bosun_host::capabilities::docker::DEFAULT_CACHE_CAP;
use bosun_host::{
    ContainerRunner, DockerRunner, DockerSettings, NoContainerRuntime, ProcessRunner, StepCache,
};
use bosun_orchestrator::settings::ServerSettings;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where tools run.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LocalContainers {
    /// Docker when the engine answers, otherwise plain processes (said plainly).
    Auto,
    /// Hardened containers on the Docker Engine (required to answer).
    Docker,
    /// Plain processes on this machine: NOT sandboxed.
    Process,
    /// No tools: plugins that run tools fail with a clear error.
    None,
}

/// The flags the embedded commands share.
#[derive(Args)]
pub struct LocalArgs {
    /// Where tools run.
    #[arg(long, value_enum, default_value_t = LocalContainers::Auto)]
    pub containers: LocalContainers,
    /// Extra plugin folders besides the built-ins (drop-ins); repeatable or comma-separated.
    #[arg(long = "plugins", value_name = "DIR", value_delimiter = ',')]
    pub plugins: Vec<PathBuf>,
    /// The image registry the build stage pushes to (`scripts/services.sh` starts one here).
    #[arg(long, env = "BOSUN_REGISTRY", default_value = "127.0.0.1:5000")]
    pub registry: String,
}

impl LocalArgs {
    /// Refuse a plugin folder that does not exist: the host would only warn, and the
    /// plugins the user meant to add would be missing from every run without a word.
    pub fn check_plugin_dirs(&self) -> anyhow::Result<()> {
        for dir in &self.plugins {
            if !dir.is_dir() {
                bail!(
                    "--plugins {}: no such folder (create it: .wasm files dropped into it later load without a restart)",
                    dir.display()
                );
            }
        }
        Ok(())
    }
}

/// Server settings from a file; the error names the file, and the line and column of a
/// YAML mistake.
pub fn load_settings(path: &Path) -> anyhow::Result<ServerSettings> {
    // The message already holds the I/O cause; anyhow's chain would print it twice.
    ServerSettings::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A repository folder and the state Bosun keeps in it.
pub struct Repository {
    /// The folder, absolute.
    pub dir: PathBuf,
    /// `DIR/.bosun`: run store, mirrors, workspaces, compiled-plugin cache.
    pub state_dir: PathBuf,
}

impl Repository {
    /// Resolve `dir`; `command` (e.g. `bosun run`) is named in the error so the user
    /// sees which argument to fix.
    pub fn open(dir: &Path, command: &str) -> anyhow::Result<Repository> {
        if !dir.exists() {
            bail!(
                "{command} {}: no such folder (give a repository folder, e.g. {command} examples/python-app)",
                dir.display()
            );
        }
        if !dir.is_dir() {
            bail!(
                "{command} {}: not a folder (give the repository folder, not a file in it)",
                dir.display()
            );
        }
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot open {}", dir.display()))?;
        let state_dir = dir.join(".bosun");
        Ok(Repository { dir, state_dir })
    }

    /// Claim the state folder for this process. One orchestrator per run store: a second
    /// one would resume the first one's runs and run their stages again.
    pub fn lock(&self, command: &str) -> anyhow::Result<StateLock> {
        std::fs::create_dir_all(&self.state_dir)
            .with_context(|| format!("cannot create {}", self.state_dir.display()))?;
        let path = self.state_dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                let mut lock = StateLock { file };
                lock.describe(&format!("{command} (pid {})", std::process::id()))?;
                Ok(lock)
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = Some(holder.trim())
                    .filter(|h| !h.is_empty())
                    .unwrap_or("another bosun process");
                bail!(
                    "{} is in use by {holder}: stop it first, or start runs on a running `bosun up` with `bosun trigger` (POST /api/runs)",
                    self.state_dir.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }

    /// The agent id of this folder's tool containers: the same for every `bosun run`
    /// and `bosun up` on it (they hold its lock in turn), so each sweeps what a killed
    /// predecessor left, and different folders never sweep each other's.
    pub fn agent_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.state_dir.as_os_str().as_encoded_bytes());
        format!("local-{}", hex::encode(&digest[..8]))
    }

    /// The SQLite run store both commands use.
    pub fn store(&self) -> PathBuf {
        self.state_dir.join("bosun.db")
    }

    /// Where command steps keep this repository's dependency caches.
    pub fn step_cache(&self) -> PathBuf {
        self.state_dir.join("cache")
    }

    /// Settings pointed at this repository's state: the run store and the
    /// orchestrator's mirrors under `DIR/.bosun/`, unless `settings` already names
    /// places of their own (anything but the defaults).
    pub fn settings(&self, mut settings: ServerSettings) -> ServerSettings {
        let defaults = ServerSettings::default();
        if settings.store == defaults.store {
            settings.store = self.store().into();
        }
        if settings.work_dir == defaults.work_dir {
            settings.work_dir = self.state_dir.join("orchestrator");
        }
        settings
    }

    /// Options for [`bosun::embedded::Embedded::start`] on this repository's state.
    pub fn embedded_options(
        &self,
        settings: ServerSettings,
        plugin_dirs: Vec<PathBuf>,
        tools: &Tools,
    ) -> EmbeddedOptions {
        EmbeddedOptions {
            settings: self.settings(settings),
            plugin_dirs,
            containers: tools.runner.clone(),
            private_checkouts: tools.unsandboxed,
            work_dir: self.state_dir.join("agent"),
            extra_stages: vec![],
            concurrency: 2,
            tick: Duration::from_millis(20),
        }
    }
}

/// The claim on a state folder; released when dropped (or when the process dies).
pub struct StateLock {
    file: std::fs::File,
}

impl StateLock {
    /// Say who holds the folder, for the error another command shows.
    pub fn describe(&mut self, holder: &str) -> anyhow::Result<()> {
        use std::io::{Seek, Write};
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "{holder}").context("cannot write the lock file")
    }
}

/// The tool runner chosen, and whether it runs tools unsandboxed (then every task gets
/// its own checkout, since a tool may write to it).
pub struct Tools {
    /// The runner.
    pub runner: Arc<dyn ContainerRunner>,
    /// Tools run as plain processes.
    pub unsandboxed: bool,
    /// The Docker runner, when tools run there: what this process's runs leave behind
    /// (a step network whose clean-up was still under way) is swept when it ends.
    pub docker: Option<Arc<DockerRunner>>,
}

impl Tools {
    /// Remove what this process's tools left on the Docker Engine (containers, step
    /// networks), once its runs are over: a clean-up still in flight when the process
    /// exits would otherwise leave a network behind, and each holds one of the engine's
    /// few address pools.
    pub async fn sweep(&self) {
        if let Some(docker) = &self.docker
            && let Err(e) = docker.sweep_orphans().await
        {
            tracing::warn!(error = %e, "could not sweep this run's leftover containers");
        }
    }
}

/// Pick the tool runner; `command` prefixes what is said on stderr. Containers are
/// labelled with `agent_id`, and what an earlier process with the same id left behind
/// (a killed `bosun up`) is removed first: the caller holds the folder's lock, so no
/// other process of that id is running.
pub async fn tools(
    mode: LocalContainers,
    registry: &str,
    agent_id: &str,
    step_cache: &Path,
    command: &str,
) -> anyhow::Result<Tools> {
    let process = || {
        eprintln!(
            "{command}: tools run as plain processes on this machine: they are NOT sandboxed"
        );
        Tools {
            runner: Arc::new(ProcessRunner::default()),
            unsandboxed: true,
            docker: None,
        }
    };
    match mode {
        LocalContainers::None => Ok(Tools {
            runner: Arc::new(NoContainerRuntime),
            unsandboxed: false,
            docker: None,
        }),
        LocalContainers::Process => Ok(process()),
        LocalContainers::Docker | LocalContainers::Auto => {
            let settings = DockerSettings {
                agent_id: agent_id.to_string(),
                registry: Some(registry.to_string()).filter(|r| !r.is_empty()),
                step_cache: Some(StepCache::new(step_cache.to_path_buf(), DEFAULT_CACHE_CAP)),
                ..DockerSettings::default()
            };
            match DockerRunner::connect(settings).await {
                Ok(docker) => {
                    match docker.sweep_orphans().await {
                        Ok(0) => {}
                        Ok(removed) => eprintln!(
                            "{command}: removed {removed} tool container(s) an earlier, stopped run left behind"
                        ),
                        Err(e) => eprintln!("{command}: could not sweep leftover containers: {e}"),
                    }
                    let docker = Arc::new(docker);
                    Ok(Tools {
                        runner: docker.clone(),
                        unsandboxed: false,
                        docker: Some(docker),
                    })
                }
                Err(e) if matches!(mode, LocalContainers::Auto) => {
                    eprintln!("{command}: the Docker Engine does not answer ({e})");
                    Ok(process())
                }
                Err(e) => bail!(
                    "--containers docker: the Docker Engine does not answer ({e}); start it (bash scripts/services.sh) or pass --containers process"
                ),
            }
        }
    }
}
