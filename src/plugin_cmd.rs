//! `bosun plugin check|run|list`: try a plugin before deploying it (`new` is in
//! `plugin_new`).

use crate::agent_cmd::ContainersMode;
use crate::report_view;
use anyhow::{Context, bail};
use bosun_bus::Task;
use bosun_host::{
    ArtifactCache, EngineSettings, HostEngine, LoadedPlugin, PluginRegistry, PluginRuntime,
    PluginSource, StageCall,
};
use clap::Subcommand;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Check a .wasm file: its world, name, version and digest, or why it is refused.
    ///
    /// Example: bosun plugin check target/wasm32-wasip2/release/my_plugin.wasm
    Check {
        /// The component file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run one stage plugin on a folder and print its report.
    ///
    /// Exit code 0 when the stage passes, 1 when it fails, 2 on an error.
    ///
    /// Example: bosun plugin run todo-scan --workspace . --config max_markers=10
    ///
    /// Example (tools in hardened containers): bosun plugin run lint.wasm --workspace
    /// examples/node-app --containers docker
    Run {
        /// A component file, or the name of a built-in plugin.
        plugin: String,
        /// The folder the plugin sees, read-only, as /workspace.
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// The folder the plugin may write, as /out (a fresh temporary folder by default).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A `with:` setting for the stage, as key=value; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Stage name given to the plugin (default: the plugin's name).
        #[arg(long)]
        stage: Option<String>,
        /// Attempt number given to the plugin (tools see it as BOSUN_ATTEMPT).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        attempt: u32,
        /// Where the plugin's tools run: `docker` (hardened containers on the Docker
        /// Engine), `process` (plain processes on this machine: NOT sandboxed) or `none`
        /// (tools are refused).
        #[arg(long, value_enum, default_value_t = ContainersMode::None)]
        containers: ContainersMode,
        /// Wall-clock deadline in seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Print the full result as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// List the plugins a host would load: built-ins plus the given folders.
    ///
    /// Example: bosun plugin list --plugins ./plugins
    List {
        /// A plugin folder; repeatable.
        #[arg(
            long = "plugins",
            value_name = "DIR",
            env = "BOSUN_PLUGINS",
            value_delimiter = ','
        )]
        folders: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    New(crate::plugin_new::NewArgs),
}

#[derive(clap::Args)]
pub struct CacheArgs {
    /// Where compiled plugins are cached (default: ~/.cache/bosun/artifacts).
    #[arg(long, env = "BOSUN_CACHE_DIR", global = true)]
    cache_dir: Option<PathBuf>,
    /// Compile every time instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
}

impl CacheArgs {
    fn cache(&self) -> ArtifactCache {
        if self.no_cache {
            return ArtifactCache::new(None);
        }
        let dir = self.cache_dir.clone().or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/bosun/artifacts"))
        });
        ArtifactCache::new(dir)
    }
}

fn runtime(cache: &CacheArgs, settings: EngineSettings) -> anyhow::Result<PluginRuntime> {
    let engine = HostEngine::new(settings)
        .map_err(anyhow::Error::from)
        .context("failed to create the WebAssembly engine")?;
    PluginRuntime::new(engine, cache.cache())
        .map_err(anyhow::Error::from)
        .context("failed to set up the plugin runtime")
}

fn builtins() -> Vec<(String, Cow<'static, [u8]>)> {
    bosun_builtins::BUILTINS
        .iter()
        .map(|b| (b.file_name.to_string(), Cow::Borrowed(b.bytes)))
        .collect()
}

pub async fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Check { file, json, cache } => check(&file, json, &cache).await,
        PluginCommand::Run {
            plugin,
            workspace,
            out,
            config,
            stage,
            attempt,
            containers,
            timeout,
            json,
            cache,
        } => {
            let mut settings = EngineSettings::default();
            settings.limits.deadline = Duration::from_secs(timeout.max(1));
            let rt = runtime(&cache, settings)?.with_containers(
                crate::agent_cmd::containers(
                    containers,
                    &format!("plugin-run-{}", std::process::id()),
                    crate::agent_cmd::ToolSettings {
                        registry: std::env::var("BOSUN_REGISTRY").ok(),
                        ca_bundle: None,
                        step_cache: None,
                    },
                )
                .await?,
            );
            let loaded = load_for_run(&rt, &plugin).await?;
            let stage = StageArgs {
                config,
                stage,
                attempt,
                containers,
            };
            run_stage(&rt, &loaded, &workspace, out, stage, json).await
        }
        PluginCommand::List {
            folders,
            json,
            cache,
        } => list(folders, json, &cache).await,
        PluginCommand::New(args) => crate::plugin_new::run(args),
    }
}

async fn check(file: &Path, json: bool, cache: &CacheArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rt = runtime(cache, EngineSettings::default())?;
    match rt
        .load(PluginSource::File(file.to_path_buf()), &bytes)
        .await
    {
        Ok(plugin) => {
            if json {
                println!("{}", report_view::plugin_json(&plugin));
            } else {
                println!("accepted  {}", file.display());
                report_view::print_plugin(&plugin);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            if json {
                let value = serde_json::json!({ "accepted": false, "file": file, "reason": refusal.to_string() });
                println!("{value}");
            } else {
                eprintln!("refused: {refusal}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

async fn load_for_run(rt: &PluginRuntime, plugin: &str) -> anyhow::Result<LoadedPlugin> {
    let path = Path::new(plugin);
    if path.exists() {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(rt
            .load(PluginSource::File(path.to_path_buf()), &bytes)
            .await?);
    }
    let wanted = format!("{plugin}.wasm");
    let Some(builtin) = bosun_builtins::BUILTINS
        .iter()
        .find(|b| b.file_name == wanted)
    else {
        let names: Vec<_> = bosun_builtins::BUILTINS
            .iter()
            .map(|b| b.file_name.trim_end_matches(".wasm"))
            .collect();
        bail!(
            "{plugin}: no such file, and no built-in plugin by that name (built-ins: {})",
            names.join(", ")
        );
    };
    Ok(rt
        .load(PluginSource::Builtin(plugin.to_string()), builtin.bytes)
        .await?)
}

fn parse_config(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => bail!("--config {pair:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// What the task given to the plugin says (its `with:` settings, stage and attempt),
/// and where its tools run.
struct StageArgs {
    config: Vec<String>,
    stage: Option<String>,
    attempt: u32,
    containers: ContainersMode,
}

async fn run_stage(
    rt: &PluginRuntime,
    plugin: &LoadedPlugin,
    workspace: &Path,
    out: Option<PathBuf>,
    args: StageArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = parse_config(&args.config)?;
    if !workspace.is_dir() {
        bail!("workspace {} is not a folder", workspace.display());
    }
    let workspace = workspace
        .canonicalize()
        .with_context(|| format!("cannot resolve workspace {}", workspace.display()))?;
    let out = match out {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir
        }
        None => {
            // Kept after the run so the author can look at what the plugin wrote.
            tempfile::Builder::new()
                .prefix("bosun-out-")
                .tempdir()
                .context("cannot create a temporary output folder")?
                .keep()
        }
    };
    let repository = workspace
        .file_name()
        .map(|n| format!("local/{}", n.to_string_lossy()))
        .unwrap_or_else(|| "local/workspace".into());
    let image = repository.to_ascii_lowercase();
    let task = Task {
        run_id: format!("local-{}", std::process::id()),
        stage: args.stage.unwrap_or_else(|| plugin.id.name.clone()),
        attempt: args.attempt,
        tenant: "local".into(),
        repository,
        commit: "0000000000000000000000000000000000000000".into(),
        branch: "local".into(),
        event: "manual".into(),
        commit_message: String::new(),
        config,
    };
    let call = StageCall {
        workspace,
        out: out.clone(),
        network_allowed: false,
        secrets: Vec::new(),
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        // A local run: whoever runs it is the operator, and the image is its own.
        push_repository: Some(image.clone()),
        image_repository: Some(image),
    };
    let result = rt.run_stage(plugin, &task, &call).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        report_view::print_result(&result, &out);
        let wanted_tools = result
            .failure
            .as_ref()
            .is_some_and(|f| f.message.contains("no container runtime"));
        if wanted_tools && matches!(args.containers, ContainersMode::None) {
            eprintln!(
                "hint: this plugin runs tools; pass --containers docker (or --containers process)"
            );
        }
    }
    Ok(if result.failure.is_some() {
        ExitCode::from(2)
    } else if result.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn list(folders: Vec<PathBuf>, json: bool, cache: &CacheArgs) -> anyhow::Result<ExitCode> {
    let rt = Arc::new(runtime(cache, EngineSettings::default())?);
    let registry = PluginRegistry::open(rt, folders, builtins()).await;
    let plugins = registry.list();
    let refused = registry.refused();
    if json {
        let value = serde_json::json!({
            "plugins": plugins.iter().map(|p| report_view::plugin_json(p)).collect::<Vec<_>>(),
            "refused": refused,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        report_view::print_plugin_table(&plugins);
        for r in &refused {
            eprintln!("refused: {}", r.reason);
        }
    }
    Ok(ExitCode::SUCCESS)
}
