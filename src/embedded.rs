//! Embedded mode: one process runs the orchestrator, an agent host serving every stage
//! (plus policy gates and notifications) and the HTTP side, over the in-memory bus with
//! SQLite as the run store. The same code runs distributed; only the bus differs.

use anyhow::Context;
use bosun_bus::{Bus, DeadLetterRule, MemoryBus};
use bosun_host::agent::metrics::AgentMetrics;
use bosun_host::agent::workspace::WorkspaceCache;
use bosun_host::agent::{Agent, AgentSettings};
use bosun_host::{
    ArtifactCache, ContainerRunner, EngineSettings, HostEngine, PluginRegistry, PluginRuntime,
};
use bosun_orchestrator::known::KnownAgents;
use bosun_orchestrator::server::{AppState, GuardedListener, router};
use bosun_orchestrator::service::{Orchestrator, ServiceOptions};
use bosun_orchestrator::settings::ServerSettings;
use bosun_orchestrator::store::Store;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The stages an embedded agent serves besides any extra ones asked for.
pub const DEFAULT_STAGES: &[&str] = &[
    "lint", "test", "build", "security", "deploy", "commands", "policy", "notify",
];

/// How to start the embedded system.
pub struct EmbeddedOptions {
    /// Orchestrator settings (listen address, store, tenants…); its bus is ignored.
    pub settings: ServerSettings,
    /// Plugin folders besides the built-ins (watched for drop-ins).
    pub plugin_dirs: Vec<PathBuf>,
    /// Where tools run.
    pub containers: Arc<dyn ContainerRunner>,
    /// Give each task its own checkout (set it when tools run unsandboxed and could
    /// write to their workspace).
    pub private_checkouts: bool,
    /// Where workspaces and the compiled-plugin cache live.
    pub work_dir: PathBuf,
    /// Stages served besides [`DEFAULT_STAGES`].
    pub extra_stages: Vec<String>,
    /// Tasks run at once per stage.
    pub concurrency: usize,
    /// How often the scheduler checks deadlines and retries.
    pub tick: Duration,
}

/// A running embedded system.
pub struct Embedded {
    /// `http://ADDR` of the webhook, API and dashboard.
    pub base_url: String,
    /// The bus.
    pub bus: MemoryBus,
    /// The orchestrator's handle.
    pub orchestrator: Orchestrator,
    /// The plugin registry the agent uses.
    pub registry: Arc<PluginRegistry>,
    /// The agent.
    pub agent: Arc<Agent>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Embedded {
    /// Start everything; the HTTP side listens on `settings.listen` (port 0 picks one).
    pub async fn start(options: EmbeddedOptions) -> anyhow::Result<Embedded> {
        let bus = MemoryBus::new();
        let shared_bus: Arc<dyn Bus> = Arc::new(bus.clone());
        let (stop, stopped) = watch::channel(false);

        let mut stages: Vec<String> = DEFAULT_STAGES.iter().map(|s| s.to_string()).collect();
        stages.extend(options.extra_stages.iter().cloned());
        let engine_settings = EngineSettings {
            max_concurrent_instances: (stages.len() * options.concurrency.max(1) * 2).max(16)
                as u32,
            ..EngineSettings::default()
        };
        let engine = HostEngine::new(engine_settings).map_err(anyhow::Error::from)?;
        let cache = ArtifactCache::new(Some(options.work_dir.join("artifact-cache")));
        let metrics = Arc::new(AgentMetrics::default());
        let runtime = Arc::new(
            PluginRuntime::new(engine, cache)
                .map_err(anyhow::Error::from)?
                .with_containers(metrics.timed_runner(Arc::clone(&options.containers))),
        );
        let builtins = bosun_builtins::BUILTINS
            .iter()
            .map(|b| (b.file_name.to_string(), Cow::Borrowed(b.bytes)))
            .collect();
        let registry = PluginRegistry::open(runtime, options.plugin_dirs.clone(), builtins).await;
        for refusal in registry.refused() {
            tracing::warn!(reason = %refusal.reason, "plugin refused");
        }
        // Bound first: the agent uploads and downloads artifacts through it.
        let listener = tokio::net::TcpListener::bind(&options.settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.settings.listen))?;
        let base_url = reachable_url(listener.local_addr()?);
        let workspaces = options.work_dir.join("workspaces");
        std::fs::create_dir_all(&workspaces)
            .with_context(|| format!("cannot create {}", workspaces.display()))?;
        let agent = Agent::with_metrics(
            AgentSettings {
                agent_id: format!("embedded-{}", std::process::id()),
                stages: stages.clone(),
                concurrency: options.concurrency.max(1),
                shutdown_grace: Duration::from_secs(5),
                dead_letter: DeadLetterRule::new(5),
                secrets: Vec::new(),
                orchestrator_url: Some(base_url.clone()),
            },
            Arc::clone(&shared_bus),
            Arc::clone(&registry),
            embedded_workspaces(
                workspaces.canonicalize()?,
                options.private_checkouts,
                &options.settings,
            ),
            metrics,
        );
        let agent_stages = stages;
        let mut tasks = Vec::new();
        {
            let agent = Arc::clone(&agent);
            let stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = agent.run(stopped).await {
                    tracing::error!(error = %e, "the embedded agent stopped");
                }
            }));
        }

        let settings = Arc::new(options.settings);
        // One agent in this process: the orchestrator knows what it can run, so a
        // misspelt stage or plugin is a config error at once, not a wait for a timeout.
        let loaded = Arc::clone(&registry);
        let service = ServiceOptions {
            tick: options.tick,
            known_agents: Some(KnownAgents {
                stages: agent_stages,
                plugins: Arc::new(move || loaded.list().iter().map(|p| p.id.clone()).collect()),
            }),
            ..ServiceOptions::default()
        };
        let (orchestrator, worker) =
            Orchestrator::start(Arc::clone(&settings), shared_bus, service, stopped.clone())
                .await
                .context("the orchestrator could not start")?;
        tasks.push(worker);
        let reads = Store::open(&settings.store)?;
        let agent_metrics = Arc::clone(&agent.metrics);
        let app = router(AppState {
            orchestrator: orchestrator.clone(),
            reads: Arc::new(Mutex::new(reads)),
            extra_metrics: Some(Arc::new(move || agent_metrics.render())),
        });
        let listener = GuardedListener::new(listener, settings.read_timeout());
        let mut http_stop = stopped;
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the HTTP side stopped");
            }
        }));
        Ok(Embedded {
            base_url,
            bus,
            orchestrator,
            registry,
            agent,
            stop,
            tasks,
        })
    }

    /// Stop everything and wait for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// `http://ADDR` of a bound listener, as this host reaches it (a wildcard address is
/// reached on the loopback).
fn reachable_url(bound: std::net::SocketAddr) -> String {
    let ip = match bound.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, bound.port()))
}

/// The embedded agent's task workspaces: one process holds both sides, so the agent
/// fetches each tenant's repositories with the `clone_token` the orchestrator reads
/// them with (a private repository's config is read and its commit checked out alike).
fn embedded_workspaces(
    root: PathBuf,
    private_checkouts: bool,
    settings: &ServerSettings,
) -> WorkspaceCache {
    let tokens = settings
        .tenants
        .iter()
        .filter_map(|t| Some((t.owner.clone(), t.clone_token.resolve()?)))
        .collect();
    let cache = WorkspaceCache::new(root).with_clone_tokens(tokens);
    if private_checkouts {
        cache.with_private_checkouts()
    } else {
        cache
    }
}
