//! The plugin runtime: load and check components, then call them in fresh sandboxed stores.

use crate::artifacts::StepArtifacts;
use crate::bindings::bosun::agent::{containers, log as wit_log, types as wit_types};
use crate::bindings::exports::bosun::agent::{notifier_plugin, policy_plugin, stage_plugin};
use crate::bindings::{Decision, PluginInfo, PolicyInput, RunSummary};
use crate::cache::{ArtifactCache, CacheOutcome};
use crate::capabilities::containers::{ContainerContext, ContainerRunner, NoContainerRuntime};
use crate::capabilities::log::{LiveTap, LogSink};
use crate::capabilities::stdio::CapturedOutput;
use crate::convert::{failure_from_wit, report_from_wit, task_to_wit};
use crate::engine::HostEngine;
use crate::inspect::{PluginError, PluginKind, check_header, classify};
use crate::limits::SandboxLimits;
use crate::state::{ContainerAccess, Limiter, MemoryLimitExceeded, PluginState};
use bosun_bus::{LogLevel, PluginId, StageFailure, StageFailureKind, StageResult, Task};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The call ran past its wall-clock deadline.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
struct DeadlineExceeded;

/// Hex sha256 of a plugin file: its identity in reports and the cache key.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// Compiled into the `bosun` binary.
    Builtin(String),
    /// A file in a plugin folder.
    File(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin(name) => write!(f, "built-in {name}"),
            PluginSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

enum KindExports {
    Stage(stage_plugin::GuestIndices),
    Policy(policy_plugin::GuestIndices),
    Notifier(notifier_plugin::GuestIndices),
}

/// A checked, pre-linked plugin, ready to be instantiated per call.
pub struct LoadedPlugin {
    /// Name, version and sha256 digest.
    pub id: PluginId,
    /// The world it implements.
    pub kind: PluginKind,
    /// Its own description.
    pub description: String,
    /// File or built-in.
    pub source: PluginSource,
    /// Whether this load compiled or hit the artifact cache.
    pub cache: CacheOutcome,
    pre: InstancePre<PluginState>,
    exports: KindExports,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// What a stage call needs beyond the task.
#[derive(Debug, Clone)]
pub struct StageCall {
    /// Host folder of the checked-out repository, mounted read-only at `/workspace`.
    pub workspace: PathBuf,
    /// Host folder for outputs, mounted writable at `/out`.
    pub out: PathBuf,
    /// Whether the tenant grants network access to this stage's tools.
    pub network_allowed: bool,
    /// Named secrets `(name, value)`: values are masked in logs and tool output, and a
    /// tool's environment may refer to them as `${{ secrets.NAME }}`.
    pub secrets: Vec<(String, String)>,
    /// The names among `secrets` this task's tools may resolve.
    pub secrets_granted: Vec<String>,
    /// Secrets withheld from this task, each with the condition of its grant that failed.
    pub secrets_withheld: Vec<(String, String)>,
    /// The only image repository this task may push (none: no pushes).
    pub push_repository: Option<String>,
    /// The only image repository this task may build and tag (else `push_repository`).
    pub image_repository: Option<String>,
}

/// The agent host's runtime: one engine, one linker per plugin kind, the artifact
/// cache and the container runner.
pub struct PluginRuntime {
    engine: HostEngine,
    stage_linker: Linker<PluginState>,
    pure_linker: Linker<PluginState>,
    cache: ArtifactCache,
    containers: Arc<dyn ContainerRunner>,
}

impl PluginRuntime {
    /// A runtime on `engine` with an artifact cache and no container runtime.
    pub fn new(engine: HostEngine, cache: ArtifactCache) -> wasmtime::Result<PluginRuntime> {
        // Stage plugins may run tools; policies and notifiers are pure and only log.
        let mut stage_linker = Linker::new(&engine.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut stage_linker)?;
        wit_types::add_to_linker::<_, HasSelf<_>>(&mut stage_linker, |s| s)?;
        wit_log::add_to_linker::<_, HasSelf<_>>(&mut stage_linker, |s| s)?;
        containers::add_to_linker::<_, HasSelf<_>>(&mut stage_linker, |s| s)?;
        let mut pure_linker = Linker::new(&engine.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut pure_linker)?;
        wit_types::add_to_linker::<_, HasSelf<_>>(&mut pure_linker, |s| s)?;
        wit_log::add_to_linker::<_, HasSelf<_>>(&mut pure_linker, |s| s)?;
        Ok(PluginRuntime {
            engine,
            stage_linker,
            pure_linker,
            cache,
            containers: Arc::new(NoContainerRuntime),
        })
    }

    /// Use `runner` for the `containers` capability.
    pub fn with_containers(mut self, runner: Arc<dyn ContainerRunner>) -> PluginRuntime {
        self.containers = runner;
        self
    }

    /// The runner tools go through (the agent stops a finished run's tools with it).
    pub fn containers(&self) -> &Arc<dyn ContainerRunner> {
        &self.containers
    }

    /// The engine and its settings.
    pub fn engine(&self) -> &HostEngine {
        &self.engine
    }

    /// The container runner's description.
    pub fn container_runtime(&self) -> String {
        self.containers.describe()
    }

    fn limits(&self) -> &SandboxLimits {
        &self.engine.settings.limits
    }

    /// Check, compile (or load from cache), link and describe a plugin.
    pub async fn load(
        &self,
        source: PluginSource,
        bytes: &[u8],
    ) -> Result<LoadedPlugin, PluginError> {
        self.load_digested(source, bytes, sha256_hex(bytes)).await
    }

    /// [`PluginRuntime::load`] for a caller that already hashed the bytes (the
    /// registry hashes a changed file to see whether its content changed at all).
    pub async fn load_digested(
        &self,
        source: PluginSource,
        bytes: &[u8],
        digest: String,
    ) -> Result<LoadedPlugin, PluginError> {
        let path = match &source {
            PluginSource::File(p) => p.clone(),
            PluginSource::Builtin(name) => PathBuf::from(format!("<built-in {name}>")),
        };
        check_header(&path, bytes)?;
        let engine = &self.engine.engine;
        let (component, cache) =
            self.cache
                .load(engine, bytes, &digest)
                .map_err(|e| PluginError::Invalid {
                    path: path.clone(),
                    detail: format!("{e:#}"),
                })?;
        let kind = classify(engine, &path, &component)?;
        let linker = match kind {
            PluginKind::Stage => &self.stage_linker,
            PluginKind::Policy | PluginKind::Notifier => &self.pure_linker,
        };
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Instantiate {
                path: path.clone(),
                detail: format!("{e:#}"),
            })?;
        let missing = |e: wasmtime::Error| PluginError::MissingExport {
            path: path.clone(),
            kind,
            detail: format!("{e:#}"),
        };
        let exports = match kind {
            PluginKind::Stage => {
                KindExports::Stage(stage_plugin::GuestIndices::new(&pre).map_err(missing)?)
            }
            PluginKind::Policy => {
                KindExports::Policy(policy_plugin::GuestIndices::new(&pre).map_err(missing)?)
            }
            PluginKind::Notifier => {
                KindExports::Notifier(notifier_plugin::GuestIndices::new(&pre).map_err(missing)?)
            }
        };
        let mut plugin = LoadedPlugin {
            id: PluginId {
                name: String::new(),
                version: String::new(),
                digest: format!("sha256:{digest}"),
            },
            kind,
            description: String::new(),
            source,
            cache,
            pre,
            exports,
        };
        let info = self.describe(&plugin).await.map_err(|e| match e.kind {
            StageFailureKind::Trapped | StageFailureKind::PluginUnavailable => {
                PluginError::MissingExport {
                    path: path.clone(),
                    kind,
                    detail: e.message,
                }
            }
            _ => PluginError::Instantiate {
                path: path.clone(),
                detail: e.message,
            },
        })?;
        if info.name.is_empty()
            || !info
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PluginError::Instantiate {
                path,
                detail: format!(
                    "its name {:?} must be non-empty and use only letters, digits, '-' and '_'",
                    info.name
                ),
            });
        }
        plugin.id.name = info.name;
        plugin.id.version = info.version;
        plugin.description = info.description;
        Ok(plugin)
    }

    /// A fresh store: no env, no args, no network, only the given preopens.
    fn new_store(
        &self,
        logs: &LogSink,
        dirs: Option<(&Path, &Path)>,
        containers: Option<ContainerAccess>,
        deadline: Instant,
    ) -> Result<Store<PluginState>, StageFailure> {
        let limits = self.limits();
        let mut wasi = WasiCtxBuilder::new();
        let cap = limits.log_line_bytes;
        wasi.stdout(CapturedOutput::new(
            logs.clone(),
            "stdout",
            LogLevel::Info,
            cap,
        ))
        .stderr(CapturedOutput::new(
            logs.clone(),
            "stderr",
            LogLevel::Warn,
            cap,
        ))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        // Workspace files are on local disk: reading them on this thread is far
        // cheaper than a thread-pool hop for every chunk a plugin reads.
        .allow_blocking_current_thread(true);
        if let Some((workspace, out)) = dirs {
            wasi.preopened_dir(workspace, "/workspace", FsPerms::ReadOnly)
                .map_err(|e| infra(format!("workspace {}: {e:#}", workspace.display())))?;
            wasi.preopened_dir(out, "/out", FsPerms::ReadWrite)
                .map_err(|e| infra(format!("output folder {}: {e:#}", out.display())))?;
        }
        let state = PluginState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: Limiter::new(limits.memory_bytes, limits.table_elements, limits.instances),
            logs: logs.clone(),
            containers,
        };
        let mut store = Store::new(&self.engine.engine, state);
        store.limiter(|s| &mut s.limiter);
        if let Some(fuel) = limits.fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| infra(format!("setting fuel: {e:#}")))?;
        }
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                // Yield to the executor at each tick so a busy plugin never starves
                // other tasks on the same thread.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Ok(store)
    }

    async fn describe(&self, plugin: &LoadedPlugin) -> Result<PluginInfo, StageFailure> {
        // The name is not known yet: it is what this call returns.
        let logs = LogSink::new(1024, 16 << 10, Vec::new());
        let budget = Duration::from_secs(5).min(self.limits().deadline);
        self.call_isolated(
            plugin,
            "plugin",
            budget,
            logs,
            async |store, instance| match &plugin.exports {
                KindExports::Stage(ix) => ix.load(&mut *store, instance)?.call_info(store).await,
                KindExports::Policy(ix) => ix.load(&mut *store, instance)?.call_info(store).await,
                KindExports::Notifier(ix) => ix.load(&mut *store, instance)?.call_info(store).await,
            },
        )
        .await
    }

    /// Instantiate `plugin` in a fresh store with no preopens and no container grant,
    /// run `call` on the instance within `budget`, and classify any fault.
    async fn call_isolated<R>(
        &self,
        plugin: &LoadedPlugin,
        name: &str,
        budget: Duration,
        logs: LogSink,
        call: impl AsyncFnOnce(&mut Store<PluginState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, StageFailure> {
        let limits = self.limits();
        let mut store = self.new_store(&logs, None, None, Instant::now() + budget)?;
        let run = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            call(&mut store, &instance).await
        };
        match tokio::time::timeout(budget + Duration::from_secs(1), run).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify_fault(e, name, &logs, limits, budget)),
            Err(_) => Err(deadline_failure(name, budget)),
        }
    }

    /// Instantiate a plugin and call its `info` export: the cheapest full round trip
    /// into a plugin (health checks and the per-call overhead benchmark).
    pub async fn ping(&self, plugin: &LoadedPlugin) -> Result<PluginInfo, StageFailure> {
        self.describe(plugin).await
    }

    /// Run one stage attempt. Never fails: every fault becomes a classified failure in
    /// the result, and the runtime stays ready for the next call.
    pub async fn run_stage(
        &self,
        plugin: &LoadedPlugin,
        task: &Task,
        call: &StageCall,
    ) -> StageResult {
        self.run_stage_until(plugin, task, call, None).await
    }

    /// [`run_stage`](Self::run_stage), ending the call (and its tools) by `until` when
    /// that comes before the runtime's own deadline: the stage's timeout, so a hung
    /// tool never holds the agent past the time the orchestrator waits for it.
    pub async fn run_stage_until(
        &self,
        plugin: &LoadedPlugin,
        task: &Task,
        call: &StageCall,
        until: Option<Instant>,
    ) -> StageResult {
        self.run_stage_with_artifacts(plugin, task, call, until, None)
            .await
    }

    /// [`run_stage_until`](Self::run_stage_until) for a command step that reads the
    /// files of the stages it needs and keeps files of its own (`artifacts`).
    pub async fn run_stage_with_artifacts(
        &self,
        plugin: &LoadedPlugin,
        task: &Task,
        call: &StageCall,
        until: Option<Instant>,
        artifacts: Option<Arc<StepArtifacts>>,
    ) -> StageResult {
        let span = tracing::info_span!(
            "stage",
            run_id = %task.run_id,
            stage = %task.stage,
            attempt = task.attempt,
            plugin = %plugin.id.name,
        );
        self.run_stage_inner(plugin, task, call, until, artifacts, None)
            .instrument(span)
            .await
    }

    /// [`run_stage_with_artifacts`](Self::run_stage_with_artifacts), handing each line
    /// of the attempt's log to `live` as it is kept (tool output as the tools print it,
    /// the plugin's log lines as it logs them), with its index in the result's `logs`.
    pub async fn run_stage_streamed(
        &self,
        plugin: &LoadedPlugin,
        task: &Task,
        call: &StageCall,
        until: Option<Instant>,
        artifacts: Option<Arc<StepArtifacts>>,
        live: LiveTap,
    ) -> StageResult {
        let span = tracing::info_span!(
            "stage",
            run_id = %task.run_id,
            stage = %task.stage,
            attempt = task.attempt,
            plugin = %plugin.id.name,
        );
        self.run_stage_inner(plugin, task, call, until, artifacts, Some(live))
            .instrument(span)
            .await
    }

    async fn run_stage_inner(
        &self,
        plugin: &LoadedPlugin,
        task: &Task,
        call: &StageCall,
        until: Option<Instant>,
        artifacts: Option<Arc<StepArtifacts>>,
        live: Option<LiveTap>,
    ) -> StageResult {
        let started = Instant::now();
        let limits = self.limits().clone();
        let logs = LogSink::new(
            limits.log_line_bytes,
            limits.log_total_bytes,
            call.secrets.iter().map(|(_, v)| v.clone()).collect(),
        );
        if let Some(live) = live {
            logs.stream_to(live);
        }
        let deadline = until.map_or(started + limits.deadline, |until| {
            until.min(started + limits.deadline)
        });
        let allowed = deadline.saturating_duration_since(started);
        let name = plugin.id.name.clone();
        let outcome = match &plugin.exports {
            KindExports::Stage(ix) => {
                let access = ContainerAccess {
                    runner: self.containers.clone(),
                    context: ContainerContext {
                        run_id: task.run_id.clone(),
                        stage: task.stage.clone(),
                        attempt: task.attempt,
                        commit: task.commit.clone(),
                        branch: task.branch.clone(),
                        commit_message: task.commit_message.clone(),
                        tenant: task.tenant.clone(),
                        repository: task.repository.clone(),
                        event: task.event.clone(),
                        workspace: call.workspace.clone(),
                        out: call.out.clone(),
                        network_allowed: call.network_allowed,
                        deadline,
                        secrets: call.secrets.clone(),
                        secrets_granted: call.secrets_granted.clone(),
                        secrets_withheld: call.secrets_withheld.clone(),
                        push_repository: call.push_repository.clone(),
                        image_repository: call.image_repository.clone(),
                        artifacts: artifacts.clone(),
                        tool_log: Some(logs.clone()),
                    },
                };
                match self.new_store(
                    &logs,
                    Some((&call.workspace, &call.out)),
                    Some(access),
                    deadline,
                ) {
                    Err(failure) => Err(failure),
                    Ok(mut store) => {
                        let wit_task = task_to_wit(task);
                        let run = async {
                            let instance = plugin.pre.instantiate_async(&mut store).await?;
                            ix.load(&mut store, &instance)?
                                .call_run(&mut store, &wit_task)
                                .await
                        };
                        match tokio::time::timeout(allowed + Duration::from_secs(1), run).await {
                            Ok(Ok(Ok(report))) => Ok(report_from_wit(report, &limits.report)),
                            Ok(Ok(Err(error))) => {
                                Err(failure_from_wit(error, &name, &limits.report))
                            }
                            Ok(Err(fault)) => {
                                Err(classify_fault(fault, &name, &logs, &limits, allowed))
                            }
                            Err(_) => Err(deadline_failure(&name, allowed)),
                        }
                    }
                }
            }
            _ => Err(StageFailure {
                kind: StageFailureKind::PluginUnavailable,
                message: format!(
                    "plugin {name} is a {} plugin, not a stage plugin",
                    plugin.kind
                ),
            }),
        };
        let (lines, dropped) = logs.take();
        if dropped > 0 {
            tracing::warn!(dropped_bytes = dropped, "plugin log output was capped");
        }
        let secret_values: Vec<String> = call.secrets.iter().map(|(_, v)| v.clone()).collect();
        let (report, failure) = match outcome {
            Ok(mut report) => {
                crate::capabilities::mask::mask_report(&mut report, &secret_values);
                (Some(report), None)
            }
            Err(mut failure) => {
                failure.message =
                    crate::capabilities::log::mask_secrets(&failure.message, &secret_values);
                tracing::warn!(kind = ?failure.kind, message = %failure.message, "stage attempt failed");
                (None, Some(failure))
            }
        };
        StageResult {
            task_id: task.id(),
            plugin: Some(plugin.id.clone()),
            report,
            failure,
            logs: lines,
            logs_dropped_bytes: dropped,
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// Evaluate a policy plugin; faults are reported as failures, never panics.
    pub async fn evaluate_policy(
        &self,
        plugin: &LoadedPlugin,
        input: &PolicyInput,
    ) -> Result<Decision, StageFailure> {
        let KindExports::Policy(ix) = &plugin.exports else {
            return Err(wrong_kind(plugin, PluginKind::Policy));
        };
        let limits = self.limits();
        let logs = LogSink::new(limits.log_line_bytes, limits.log_total_bytes, Vec::new());
        self.call_isolated(
            plugin,
            &plugin.id.name,
            limits.deadline,
            logs,
            async |store, instance| {
                ix.load(&mut *store, instance)?
                    .call_evaluate(store, input)
                    .await
            },
        )
        .await
    }

    /// Format a notification with a notifier plugin.
    pub async fn format_notification(
        &self,
        plugin: &LoadedPlugin,
        summary: &RunSummary,
    ) -> Result<String, StageFailure> {
        let KindExports::Notifier(ix) = &plugin.exports else {
            return Err(wrong_kind(plugin, PluginKind::Notifier));
        };
        let limits = self.limits();
        let logs = LogSink::new(limits.log_line_bytes, limits.log_total_bytes, Vec::new());
        let formatted = self
            .call_isolated(
                plugin,
                &plugin.id.name,
                limits.deadline,
                logs,
                async |store, instance| {
                    ix.load(&mut *store, instance)?
                        .call_format(store, summary)
                        .await
                },
            )
            .await?;
        formatted.map_err(|message| StageFailure {
            kind: StageFailureKind::PluginError,
            message: format!("plugin {}: {message}", plugin.id.name),
        })
    }
}

fn infra(message: String) -> StageFailure {
    StageFailure {
        kind: StageFailureKind::Infrastructure,
        message,
    }
}

fn wrong_kind(plugin: &LoadedPlugin, wanted: PluginKind) -> StageFailure {
    StageFailure {
        kind: StageFailureKind::PluginUnavailable,
        message: format!(
            "plugin {} is a {} plugin, not a {wanted} plugin",
            plugin.id.name, plugin.kind
        ),
    }
}

fn deadline_failure(plugin: &str, budget: Duration) -> StageFailure {
    StageFailure {
        kind: StageFailureKind::DeadlineExceeded,
        message: format!(
            "plugin {plugin}: deadline exceeded ({} ms)",
            budget.as_millis()
        ),
    }
}

/// Turn a trap or host fault into a failure that names its cause.
fn classify_fault(
    error: wasmtime::Error,
    plugin: &str,
    logs: &LogSink,
    limits: &SandboxLimits,
    budget: Duration,
) -> StageFailure {
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return deadline_failure(plugin, budget);
    }
    if let Some(over) = error.downcast_ref::<MemoryLimitExceeded>() {
        return StageFailure {
            kind: StageFailureKind::MemoryLimit,
            message: format!("plugin {plugin}: {over}"),
        };
    }
    let (kind, message) = match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => (
            StageFailureKind::StackOverflow,
            format!(
                "plugin {plugin}: stack overflow (wasm stack limit {} KiB)",
                limits.max_wasm_stack >> 10
            ),
        ),
        Some(Trap::OutOfFuel) => (
            StageFailureKind::FuelExhausted,
            format!(
                "plugin {plugin}: fuel exhausted ({} units)",
                limits.fuel.unwrap_or(0)
            ),
        ),
        Some(trap) => match panic_message(logs) {
            Some(panic) => (
                StageFailureKind::Panicked,
                format!("plugin {plugin} panicked: {panic}"),
            ),
            None if *trap == Trap::MemoryOutOfBounds => (
                StageFailureKind::Trapped,
                // Rust and C plugins keep their own stack in linear memory; running
                // off its end is the usual cause of this trap.
                format!(
                    "plugin {plugin} trapped: {trap} (often a stack overflow in the plugin's own stack, e.g. unbounded recursion)"
                ),
            ),
            None => (
                StageFailureKind::Trapped,
                format!("plugin {plugin} trapped: {trap}"),
            ),
        },
        None => (
            StageFailureKind::Trapped,
            format!("plugin {plugin} failed: {error:#}"),
        ),
    };
    StageFailure { kind, message }
}

/// Recover a Rust panic's message from the plugin's stderr
/// (`panicked at src/lib.rs:10:5:` followed by the message).
fn panic_message(logs: &LogSink) -> Option<String> {
    let tail = logs.tail("stderr", 40);
    let mut lines = tail.lines();
    while let Some(line) = lines.next() {
        if let Some((_, location)) = line.split_once("panicked at ") {
            let location = location.trim_end_matches(':');
            let message: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("note: "))
                .collect();
            return Some(format!("{} (at {location})", message.join(" ").trim()));
        }
    }
    None
}
