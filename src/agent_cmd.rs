//! `bosun agent`: a worker on the bus for stage tasks, policy gates and notifications,
//! with `/healthz` and `/metrics`.

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bosun_bus::{Bus, DeadLetterRule};
use bosun_host::agent::metrics::AgentMetrics;
use bosun_host::agent::workspace::WorkspaceCache;
use bosun_host::agent::{Agent, AgentSettings};
use bosun_host::{
    ArtifactCache, ContainerRunner, DockerRunner, DockerSettings, EngineSettings, HostEngine,
    NoContainerRuntime, PluginRegistry, PluginRuntime, ProcessRunner, StepCache,
};
use clap::{Args, ValueEnum};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Where tools run.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ContainersMode {
    /// Hardened containers on the Docker Engine (required to answer).
    Docker,
    /// Plain processes on this host: NOT sandboxed.
    Process,
    /// No tools: plugins that run tools fail with a clear error.
    None,
}

/// Run a stage agent: take tasks from the bus, run plugins, publish results.
///
/// An agent serves stage tasks, policy gates (`policy`) and notifications (`notify`).
///
/// Example: bosun agent --bus kafka://127.0.0.1:9092 --stages lint,test,policy,notify --plugins ./plugins --concurrency 2
#[derive(Args)]
pub struct AgentArgs {
    /// The bus: `kafka://HOST:PORT[,HOST:PORT]` or `memory://`.
    #[arg(long, env = "BOSUN_BUS")]
    bus: String,
    /// Stages this agent serves, comma-separated. Each name serves the stage tasks on
    /// `agent.<name>`, except `policy`, which evaluates policy gates from `agent.policy`,
    /// and `notify`, which formats notifications from `agent.notify`.
    #[arg(long, env = "BOSUN_STAGES", value_delimiter = ',', required = true)]
    stages: Vec<String>,
    /// Plugin folders (watched: drop-in plugins load without a restart); repeatable.
    #[arg(long = "plugins", env = "BOSUN_PLUGINS", value_delimiter = ',')]
    plugins: Vec<PathBuf>,
    /// Tasks run at once per stage.
    #[arg(long, default_value_t = 1, env = "BOSUN_CONCURRENCY")]
    concurrency: usize,
    /// Where repository mirrors and task workspaces live.
    #[arg(long, default_value = ".bosun/agent", env = "BOSUN_WORK_DIR")]
    work_dir: PathBuf,
    /// Where tools run.
    #[arg(long, value_enum, default_value_t = ContainersMode::Docker, env = "BOSUN_CONTAINERS")]
    containers: ContainersMode,
    /// Address for `/healthz` and `/metrics`.
    #[arg(long, default_value = "127.0.0.1:9464", env = "BOSUN_LISTEN")]
    listen: SocketAddr,
    /// This agent's id (default: host name and process id).
    #[arg(long, env = "BOSUN_AGENT_ID")]
    agent_id: Option<String>,
    /// Deliveries a task gets before it goes to the dead-letter topic.
    #[arg(long, default_value_t = 5)]
    max_deliveries: u32,
    /// Plugin call deadline in seconds.
    #[arg(long, default_value_t = 900)]
    stage_timeout: u64,
    /// Seconds a shutdown waits for tasks in flight before releasing them.
    #[arg(long, default_value_t = 30)]
    shutdown_grace: u64,
    /// Names of environment variables holding secrets: masked in every log and output,
    /// and given to tools that ask for `${{ secrets.NAME }}` (e.g. a deploy's kubeconfig).
    #[arg(long = "secret-env", value_delimiter = ',')]
    secret_env: Vec<String>,
    /// `TENANT=VAR`: fetch that tenant's repositories over HTTP(S) with the token in
    /// environment variable VAR (its private repositories); repeatable. The agent holds
    /// it: it never travels on the bus and never reaches a plugin or a log.
    #[arg(long = "clone-token", value_name = "TENANT=VAR", value_delimiter = ',')]
    clone_token: Vec<String>,
    /// The image registry build stages push to (e.g. 127.0.0.1:5000); none: builds are
    /// refused a push.
    #[arg(long, env = "BOSUN_REGISTRY")]
    registry: Option<String>,
    /// Compiled plugin cache.
    #[arg(long, env = "BOSUN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// CA bundle mounted read-only into networked tool containers and named by
    /// `SSL_CERT_FILE`, `PIP_CERT`, `NODE_EXTRA_CA_CERTS`, `npm_config_cafile`, … (for
    /// registries behind a TLS-inspecting proxy). Default: the host's bundle, when present.
    #[arg(long, value_name = "FILE", env = "BOSUN_CA_BUNDLE")]
    ca_bundle: Option<PathBuf>,
    /// Most MiB of command-step caches each tenant keeps on this host (kept under
    /// WORK_DIR/step-cache; least recently used first out).
    #[arg(long, default_value_t = 2048, env = "BOSUN_STEP_CACHE_MIB")]
    step_cache_mib: u64,
    /// The orchestrator's URL (`http://HOST:PORT`, as this host reaches it): command
    /// steps' artifacts are uploaded to and downloaded from it, with each task's own
    /// token. Without it, a stage that keeps or reads artifacts fails on this agent.
    #[arg(long, value_name = "URL", env = "BOSUN_ORCHESTRATOR_URL")]
    orchestrator_url: Option<String>,
}

/// What the Docker runner of an agent is given besides its id.
pub(crate) struct ToolSettings {
    pub registry: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    pub step_cache: Option<StepCache>,
}

/// `TENANT=VAR` pairs read into (tenant, token); a malformed pair or an unset
/// variable is an error naming it, so a private repository never fails later, unseen.
fn clone_tokens(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| {
            let Some((tenant, var)) = pair.split_once('=').filter(|(t, v)| !t.is_empty() && !v.is_empty())
            else {
                anyhow::bail!("--clone-token {pair:?}: expected TENANT=VAR (VAR names the environment variable holding the token)");
            };
            match std::env::var(var) {
                Ok(token) if !token.is_empty() => Ok((tenant.to_string(), token)),
                _ => anyhow::bail!("--clone-token {tenant}={var}: environment variable {var} is unset or empty"),
            }
        })
        .collect()
}

fn default_agent_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "agent".into());
    format!("{host}-{}", std::process::id())
}

/// Connect to the bus, retrying with backoff while the broker is unreachable.
pub async fn connect_with_retry(url: &str) -> Arc<dyn Bus> {
    let mut delay = Duration::from_millis(500);
    loop {
        match bosun_bus::connect_url(url).await {
            Ok(bus) => return bus,
            Err(e) => {
                tracing::error!(error = %e, retry_in_ms = delay.as_millis() as u64, "cannot connect to the bus; retrying");
                eprintln!("bosun: {e}; retrying in {:.1}s", delay.as_secs_f64());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(15));
            }
        }
    }
}

pub(crate) async fn containers(
    mode: ContainersMode,
    agent_id: &str,
    tools: ToolSettings,
) -> anyhow::Result<Arc<dyn ContainerRunner>> {
    Ok(match mode {
        ContainersMode::Docker => {
            if let Some(bundle) = &tools.ca_bundle
                && !bundle.is_file()
            {
                anyhow::bail!(
                    "--ca-bundle {}: no such file (give the PEM bundle networked tools should trust)",
                    bundle.display()
                );
            }
            let defaults = DockerSettings::default();
            let settings = DockerSettings {
                agent_id: agent_id.to_string(),
                registry: tools.registry,
                ca_bundle: tools.ca_bundle.or(defaults.ca_bundle.clone()),
                step_cache: tools.step_cache,
                ..defaults
            };
            let runner = DockerRunner::connect(settings)
                .await
                .map_err(anyhow::Error::msg)
                .context("--containers docker: start the engine (bash scripts/services.sh) or pass --containers process")?;
            runner.sweep_orphans().await.map_err(anyhow::Error::msg)?;
            Arc::new(runner)
        }
        ContainersMode::Process => {
            tracing::warn!("tools run as plain processes on this host: they are NOT sandboxed");
            Arc::new(ProcessRunner::default())
        }
        ContainersMode::None => Arc::new(NoContainerRuntime),
    })
}

async fn healthz(State(state): State<Arc<Health>>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": "ok",
        "agent_id": state.agent_id,
        "stages": state.stages,
        "bus": state.bus,
        "containers": state.containers,
        "plugins": state.registry.list().iter().map(|p| serde_json::json!({
            "name": p.id.name, "version": p.id.version, "digest": p.id.digest,
        })).collect::<Vec<_>>(),
        "refused": state.registry.refused(),
    }))
}

async fn metrics(State(state): State<Arc<Health>>) -> String {
    state.agent.metrics.render()
}

struct Health {
    agent_id: String,
    stages: Vec<String>,
    bus: String,
    containers: String,
    registry: Arc<PluginRegistry>,
    agent: Arc<Agent>,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    if args.stages.iter().any(|s| s.trim().is_empty()) {
        bail!("--stages: stage names must not be empty");
    }
    let agent_id = args.agent_id.clone().unwrap_or_else(default_agent_id);
    let mut engine_settings = EngineSettings::default();
    engine_settings.limits.deadline = Duration::from_secs(args.stage_timeout.max(1));
    engine_settings.max_concurrent_instances =
        (args.concurrency * args.stages.len()).max(4) as u32 * 2;
    let engine = HostEngine::new(engine_settings).map_err(anyhow::Error::from)?;
    let cache = args.cache_dir.clone().or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/bosun/artifacts"))
    });
    let agent_metrics = Arc::new(AgentMetrics::default());
    let runner = agent_metrics.timed_runner(
        containers(
            args.containers,
            &agent_id,
            ToolSettings {
                registry: args.registry.clone(),
                ca_bundle: args.ca_bundle.clone(),
                step_cache: Some(StepCache::new(
                    args.work_dir.join("step-cache"),
                    args.step_cache_mib << 20,
                )),
            },
        )
        .await?,
    );
    let runtime = Arc::new(
        PluginRuntime::new(engine, ArtifactCache::new(cache))
            .map_err(anyhow::Error::from)?
            .with_containers(runner.clone()),
    );
    let builtins = bosun_builtins::BUILTINS
        .iter()
        .map(|b| (b.file_name.to_string(), Cow::Borrowed(b.bytes)))
        .collect();
    let registry = PluginRegistry::open(runtime, args.plugins.clone(), builtins).await;
    for refusal in registry.refused() {
        tracing::warn!(reason = %refusal.reason, "plugin refused");
    }
    let _watch = registry.watch(Duration::from_secs(10));

    let bus = connect_with_retry(&args.bus).await;
    let secrets = args
        .secret_env
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let settings = AgentSettings {
        agent_id: agent_id.clone(),
        stages: args.stages.clone(),
        concurrency: args.concurrency.max(1),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        dead_letter: DeadLetterRule::new(args.max_deliveries),
        secrets,
        orchestrator_url: args.orchestrator_url.clone(),
    };
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("cannot create {}", args.work_dir.display()))?;
    let work_dir = args.work_dir.canonicalize()?;
    let workspaces = match args.containers {
        // Unsandboxed tools can write to their workspace: never share one between tasks.
        ContainersMode::Process => WorkspaceCache::new(work_dir).with_private_checkouts(),
        _ => WorkspaceCache::new(work_dir),
    }
    .with_clone_tokens(clone_tokens(&args.clone_token)?);
    let agent = Agent::with_metrics(
        settings,
        bus.clone(),
        registry.clone(),
        workspaces,
        agent_metrics,
    );

    let health = Arc::new(Health {
        agent_id: agent_id.clone(),
        stages: args.stages.clone(),
        bus: bus.describe(),
        containers: runner.describe(),
        registry,
        agent: agent.clone(),
    });
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "health endpoint stopped");
        }
    });

    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing tasks in flight");
        let _ = stop.send(true);
    });
    if let Some(url) = &args.orchestrator_url {
        bosun_host::artifacts::ArtifactClient::new(url)
            .map_err(anyhow::Error::msg)
            .context("--orchestrator-url")?;
    }
    println!(
        "bosun agent {agent_id}: stages {} on {} (tools: {}); health on http://{bound}/healthz",
        args.stages.join(","),
        bus.describe(),
        runner.describe()
    );
    agent.run(stopped).await.context("the agent stopped")?;
    Ok(ExitCode::SUCCESS)
}

pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
